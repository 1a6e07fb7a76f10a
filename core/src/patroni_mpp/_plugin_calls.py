"""Bounded plugin calls: plugin code runs on a helper thread and the caller waits a limited time.

Importing a plugin and calling its hooks run on a daemon thread; the caller waits at most
:func:`plugin_call_timeout` seconds (``$PATRONI_MPP_HOOK_TIMEOUT``, default 30; ``0`` runs them on
the calling thread, unbounded). When the wait expires the stuck thread is abandoned (Python cannot
stop it; being a daemon it does not keep the process alive) and a later call with the same key
fails at once instead of starting another one.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from collections.abc import Callable, Collection
from typing import Any

from ._errors import redact

logger = logging.getLogger(__name__)

HOOK_TIMEOUT_ENV = "PATRONI_MPP_HOOK_TIMEOUT"
"""Environment variable: seconds discovery waits for a plugin's import or hook (0: no limit)."""

DEFAULT_HOOK_TIMEOUT = 30.0
"""Seconds discovery waits for a plugin's import or hook when ``$PATRONI_MPP_HOOK_TIMEOUT`` is unset."""


def plugin_call_timeout() -> float | None:
    """Seconds to wait for a plugin's import or hook; None means unbounded, on the calling thread.

    Read from ``$PATRONI_MPP_HOOK_TIMEOUT`` at every call; an unusable value is logged and the
    default (:data:`DEFAULT_HOOK_TIMEOUT`) applies.
    """
    raw = os.environ.get(HOOK_TIMEOUT_ENV)
    if raw is None or not raw.strip():
        return DEFAULT_HOOK_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if value == 0:
        return None
    if not (math.isfinite(value) and value > 0):
        logger.warning(
            "%s=%r is not a number of seconds; using %g", HOOK_TIMEOUT_ENV, raw, DEFAULT_HOOK_TIMEOUT
        )
        return DEFAULT_HOOK_TIMEOUT
    return value


class PluginCallTimeout(Exception):  # noqa: N818 - reads as what happened
    """A plugin's import or hook did not return in time (turned into an ``EngineLoadError``)."""

    def __init__(self, what: str, timeout: float, earlier: bool = False) -> None:
        self.what = what
        self.timeout = timeout
        if earlier:
            message = (
                f"{what} is still running since an earlier attempt timed out "
                f"after {timeout:g} s (the plugin hangs)"
            )
        else:
            message = (
                f"{what} did not return within {timeout:g} s (the plugin hangs?); "
                f"{HOOK_TIMEOUT_ENV} sets this limit"
            )
        super().__init__(message)


_stuck_lock = threading.Lock()
_stuck: dict[tuple[str, ...], tuple[threading.Thread, float]] = {}


def call_plugin(key: tuple[str, ...], what: str, func: Callable[[], Any]) -> Any:
    """Run plugin code with a bounded wait (see the module docstring).

    :param key: identifies the plugin and the call (a stuck call of the same key fails at once).
    :param what: the call in words, for the error (``hook mpp_engine_class``).
    :param func: the plugin code.
    :returns: what ``func`` returned.
    :raises PluginCallTimeout: when the wait expired, or an earlier call of ``key`` is still stuck.
    :raises BaseException: what ``func`` raised (``SystemExit`` included: a plugin cannot end the
        process through discovery).
    """
    timeout = plugin_call_timeout()
    with _stuck_lock:
        stuck = _stuck.get(key)
        if stuck is not None:
            if stuck[0].is_alive():
                raise PluginCallTimeout(what, stuck[1], earlier=True)
            del _stuck[key]
    if timeout is None:
        return func()
    outcome: list[Any] = []
    failure: list[BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(func())
        except BaseException as exc:  # handed to the waiting thread
            failure.append(exc)
        finally:
            done.set()

    thread = threading.Thread(target=run, name=f"patroni-mpp {what}", daemon=True)
    thread.start()
    if not done.wait(timeout):
        with _stuck_lock:
            _stuck[key] = (thread, timeout)
        logger.debug("Abandoning the thread of %s after %g s", what, timeout)
        raise PluginCallTimeout(what, timeout)
    if failure:
        raise failure[0]
    return outcome[0]


def call_plugin_or_fail(
    key: tuple[str, ...],
    what: str,
    func: Callable[[], Any],
    fail: Callable[[str], Exception],
    *,
    failed: str,
    secrets: Callable[[], Collection[str]] | None = None,
) -> Any:
    """Run plugin code bounded, turning a timeout or whatever it raised into ``fail(cause)``.

    ``KeyboardInterrupt`` passes through. A timeout gives ``fail(<timeout text>)``; an exception
    gives ``fail("<failed> <Type>: <text>")``, chained to the exception. With ``secrets`` the text
    is masked (those values, URL and ``password=`` passwords), nothing is logged, and the chain is
    dropped when masking changed the text (the original would show the secret).

    :param key: see :func:`call_plugin`.
    :param what: see :func:`call_plugin`.
    :param func: the plugin code.
    :param fail: builds the error to raise from a cause.
    :param failed: what went wrong, in words, before the exception's type (``import failed:``).
    :param secrets: gives the values to mask in the exception's text, asked only on failure (None:
        the text is shown as it is and the traceback logged at DEBUG).
    :returns: what ``func`` returned.
    """
    try:
        return call_plugin(key, what, func)
    except PluginCallTimeout as exc:
        raise fail(str(exc)) from None
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        plain = f"{type(exc).__name__}: {exc}"
        if secrets is None:
            logger.debug("The %s of MPP engine %r failed", what, key[0], exc_info=True)
            cause = plain
        else:
            cause = redact(plain, secrets())
        error = fail(f"{failed} {cause}")
        if cause == plain:
            raise error from exc
        raise error from None
