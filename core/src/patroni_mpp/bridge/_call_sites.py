"""Finding one call in Patroni's source, and answering that call, and only that one, differently.

A patch of the fast switchover mode (:mod:`patroni_mpp.bridge._fast_switchover`) changes what a single call
in a single Patroni function does (a ``time.sleep(1)``, a ``polling_loop(timeout)``) without copying or
rewriting the function around it. At install, :func:`locate` finds the call in the module's syntax tree and
checks the statement that encloses it, so that a Patroni whose code there has changed is refused instead of
patched blindly. At run time a stand-in for the module-level name the call goes through (a
:class:`RoutedModule` for ``time`` or ``multiprocessing``, :class:`RoutedPollingLoop` for ``polling_loop``)
recognises the call by the calling frame's function and line, and hands it to its route; every other call
goes to the real object unchanged.
"""

from __future__ import annotations

import ast
import functools
import importlib
import inspect
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

SiteKey = tuple[str, int]
"""How a running call is recognised: the calling code's ``co_qualname`` and the line of the call."""


class CallSiteError(Exception):
    """The call a patch replaces is not where the patch expects it, or does not look as expected."""


@dataclass(frozen=True)
class CallSite:
    """One call inside one function of a Patroni module, and the surroundings that give it its meaning."""

    module: str
    """The module, e.g. ``patroni.ha``."""
    function: str
    """The dotted path of ``class``/``def`` names to the function, e.g. ``Ha.demote.on_shutdown``."""
    call: str
    """The call as :func:`ast.unparse` writes it, e.g. ``time.sleep(1)``; it must occur exactly once there."""
    enclosing: tuple[str, ...] = ()
    """Texts the innermost ``def``/``if``/``for``/``while`` around the call must contain (as unparsed)."""

    @property
    def where(self) -> str:
        """``module:function`` for messages."""
        return f"{self.module}:{self.function}"


def _children(node: ast.AST, name: str) -> Iterator[ast.AST]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef) and child.name == name:
            yield child
        elif not isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            yield from _children(child, name)


def _function_node(tree: ast.Module, site: CallSite) -> tuple[ast.AST, str]:
    """The node of ``site.function`` and its ``__qualname__`` (nested functions get ``<locals>``)."""
    node: ast.AST = tree
    qualname: list[str] = []
    for name in site.function.split("."):
        found = list(_children(node, name))
        if len(found) != 1:
            raise CallSiteError(f"{site.where}: {len(found)} definitions of {name!r} where 1 was expected")
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            qualname.append("<locals>")
        node = found[0]
        qualname.append(name)
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise CallSiteError(f"{site.where} is not a function")
    return node, ".".join(qualname)


_COMPOUND = (ast.FunctionDef, ast.AsyncFunctionDef, ast.If, ast.For, ast.While)


def _calls(node: ast.AST, text: str, around: ast.AST) -> Iterator[tuple[ast.Call, ast.AST]]:
    """Calls unparsed as ``text`` under ``node`` (not in nested functions), each with its enclosing block."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda | ast.ClassDef):
            continue
        if isinstance(child, ast.Call) and ast.unparse(child) == text:
            yield child, around
        yield from _calls(child, text, child if isinstance(child, _COMPOUND) else around)


@functools.lru_cache(maxsize=8)
def _parsed(source: str) -> ast.Module:
    """The syntax tree of a module's source, parsed once for all of its call sites."""
    return ast.parse(source)


def locate(site: CallSite, source: str | None = None) -> SiteKey:
    """Find ``site`` in its module's source; return the key its running call is recognised by.

    :param site: the call to find.
    :param source: the module's source (default: read from the imported module).
    :raises CallSiteError: the function, the call or its surroundings are not as ``site`` describes.
    """
    if source is None:
        try:
            source = inspect.getsource(importlib.import_module(site.module))
        except (ImportError, OSError, TypeError) as exc:
            raise CallSiteError(f"{site.module}: source not readable ({exc})") from exc
    function, qualname = _function_node(_parsed(source), site)
    found = list(_calls(function, site.call, function))
    if len(found) != 1:
        raise CallSiteError(f"{site.where} calls {site.call} {len(found)} times where once was expected")
    call, around = found[0]
    text = ast.unparse(around)
    missing = [part for part in site.enclosing if part not in text]
    if missing:
        header = text.splitlines()[0]
        raise CallSiteError(
            f"{site.where}: the code around {site.call} (in `{header}`) no longer contains {missing[0]!r}"
        )
    return qualname, call.lineno


def caller_key(depth: int = 2) -> SiteKey:
    """The :data:`SiteKey` of the frame ``depth`` levels up (2: the caller of the function calling this)."""
    frame = sys._getframe(depth)
    try:
        return frame.f_code.co_qualname, frame.f_lineno
    finally:
        del frame


def caller_locals(depth: int = 2) -> dict[str, Any]:
    """A copy of the local (and closure) variables of the frame ``depth`` levels up."""
    frame = sys._getframe(depth)
    try:
        return dict(frame.f_locals)
    finally:
        del frame


CallRoute = Callable[..., Any]
"""Answers a routed call: gets the calling frame's variables, then the call's own arguments."""


class RoutedModule:
    """Stands in for a module inside one Patroni module; routed calls of one of its functions go elsewhere.

    A call of that function from a routed call site goes to the site's route. Every other attribute, and the
    function itself when called from anywhere else, is the real module's, so ``time.time()``,
    ``time.monotonic()`` and unrouted sleeps behave exactly as before.
    """

    def __init__(self, real: Any, function: str, routes: Mapping[SiteKey, CallRoute]) -> None:
        self._real = real
        self._function = function
        self._routes = dict(routes)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):  # not set yet (copy, pickle) or private: never the real module's
            raise AttributeError(name)
        if name == self._function:
            return self._dispatch
        return getattr(self._real, name)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} of {self._real!r}: {len(self._routes)} routed call sites>"

    def _dispatch(self, *args: Any, **kwargs: Any) -> Any:
        route = self._routes.get(caller_key())
        if route is None:
            return getattr(self._real, self._function)(*args, **kwargs)
        return route(caller_locals(), *args, **kwargs)


IntervalRoute = Callable[[], float | None]
"""Gives the polling interval for a routed ``polling_loop`` call, or None to keep the caller's own."""


class RoutedPollingLoop:
    """Stands in for Patroni's ``polling_loop`` inside one module; routed calls get the route's interval."""

    def __init__(self, real: Callable[..., Iterator[int]], routes: Mapping[SiteKey, IntervalRoute]) -> None:
        self._real = real
        self._routes = dict(routes)

    def __call__(self, timeout: float, interval: float = 1) -> Iterator[int]:
        """``polling_loop(timeout, interval)``, with the route's interval for a routed call site."""
        route = self._routes.get(caller_key())
        chosen = route() if route is not None else None
        return self._real(timeout, interval if chosen is None else chosen)
