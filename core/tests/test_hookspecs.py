"""The hook specifications, and the docs page that mirrors them (docs/hookspecs.md)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest
from patroni_mpp import hookimpl, hookspecs

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "hookspecs.md"


def _hooks() -> list[tuple[str, Callable[..., Any]]]:
    return [
        (name, obj)
        for name, obj in vars(hookspecs).items()
        if callable(obj) and hasattr(obj, f"{hookspecs.PROJECT_NAME}_spec")
    ]


def signature(function: Callable[..., Any]) -> str:
    """The hook's signature as the docs page writes it: ``name(arg: type, ...) -> type``."""
    annotations = dict(function.__annotations__)
    returns = annotations.pop("return")
    args = ", ".join(f"{name}: {annotation}" for name, annotation in annotations.items())
    return f"def {function.__name__}({args}) -> {returns}"


def _normalise(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def page() -> str:
    return DOCS_PAGE.read_text(encoding="utf-8")


def test_hooks_exist() -> None:
    assert [name for name, _ in _hooks()] == [
        "mpp_config_model",
        "mpp_engine_class",
        "mpp_handler",
        "mpp_status",
        "mpp_metrics",
    ]


@pytest.mark.parametrize(("name", "function"), _hooks(), ids=[name for name, _ in _hooks()])
def test_hook_is_firstresult(name: str, function: Callable[..., Any]) -> None:
    assert getattr(function, f"{hookspecs.PROJECT_NAME}_spec")["firstresult"] is True


@pytest.mark.parametrize(("name", "function"), _hooks(), ids=[name for name, _ in _hooks()])
def test_hook_is_documented(page: str, name: str, function: Callable[..., Any]) -> None:
    assert f"\n## `{name}`\n" in page, f"docs/hookspecs.md has no '## `{name}`' heading"
    assert signature(function) in page, (
        f"docs/hookspecs.md lacks the signature of {name}: {signature(function)}"
    )
    doc = inspect.getdoc(function)
    assert doc, f"hook {name} has no docstring"
    assert _normalise(doc) in _normalise(page), f"docs/hookspecs.md does not mirror the docstring of {name}"


def test_page_documents_no_other_hook(page: str) -> None:
    documented = re.findall(r"^## `(\w+)`$", page, flags=re.MULTILINE)
    assert documented == [name for name, _ in _hooks()]


def test_page_mirrors_module_docstring(page: str) -> None:
    assert hookspecs.__doc__
    assert _normalise(inspect.cleandoc(hookspecs.__doc__)) in _normalise(page)


def test_markers_belong_to_the_project() -> None:
    assert hookspecs.PROJECT_NAME == "patroni_mpp"
    assert hookimpl is hookspecs.hookimpl
    assert isinstance(hookspecs.hookspec, pluggy.HookspecMarker)
    assert hookspecs.hookspec.project_name == "patroni_mpp"
    assert hookimpl.project_name == "patroni_mpp"


def test_first_non_none_answer_wins() -> None:
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)

    class Declines:
        @hookimpl
        def mpp_engine_class(self, name: str) -> None:
            return None

    class Answers:
        @hookimpl
        def mpp_engine_class(self, name: str) -> str:
            return f"answer for {name}"

    manager.register(Answers())
    manager.register(Declines())
    assert manager.hook.mpp_engine_class(name="x") == "answer for x"


def render_page() -> str:
    """The docs page as generated from the docstrings (``python core/tests/test_hookspecs.py``)."""
    lines = [
        "# Hook reference: what an engine plugin implements\n",
        "This page mirrors the docstrings of `patroni_mpp.hookspecs`",
        "(core/src/patroni_mpp/hookspecs.py), the engine author's reference.",
        "`core/tests/test_hookspecs.py` fails when a hook, its signature or its docstring is",
        "missing here; `python core/tests/test_hookspecs.py` rewrites this page from them.\n",
        "## Overview\n",
        inspect.cleandoc(hookspecs.__doc__ or "") + "\n",
        "Markers: `from patroni_mpp import hookimpl` (also `patroni_mpp.hookspecs.hookimpl`); the",
        "specifications use `patroni_mpp.hookspecs.hookspec`. Both belong to the pluggy project",
        "name `patroni_mpp`.\n",
    ]
    for name, function in _hooks():
        spec = getattr(function, f"{hookspecs.PROJECT_NAME}_spec")
        lines += [
            f"## `{name}`\n",
            "```python",
            f"@hookspec(firstresult={spec['firstresult']})",
            signature(function),
            "```\n",
            (inspect.getdoc(function) or "") + "\n",
        ]
    return "\n".join(lines).rstrip() + "\n"


if __name__ == "__main__":
    DOCS_PAGE.write_text(render_page(), encoding="utf-8")
