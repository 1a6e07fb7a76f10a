"""The hook specifications, and the docs page that mirrors them (docs/hookspecs.md)."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pluggy
import pytest
from patroni_mpp import _hookspec_docs as hookspec_docs
from patroni_mpp import hookimpl, hookspecs
from patroni_mpp._contract import hook_specifications

DOCS_PAGE = Path(__file__).resolve().parents[2] / "docs" / "hookspecs.md"


def _hooks() -> list[tuple[str, Callable[..., Any]]]:
    return hook_specifications()


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
    assert hookspec_docs.signature(function) in page, (
        f"docs/hookspecs.md lacks the signature of {name}: {hookspec_docs.signature(function)}"
    )
    doc = inspect.getdoc(function)
    assert doc, f"hook {name} has no docstring"
    assert _normalise(hookspec_docs.to_markdown(doc)) in _normalise(page), (
        f"docs/hookspecs.md does not mirror the docstring of {name}"
    )


def test_page_documents_no_other_hook(page: str) -> None:
    documented = re.findall(r"^## `(\w+)`$", page, flags=re.MULTILINE)
    assert documented == [name for name, _ in _hooks()]


def test_page_mirrors_module_docstring(page: str) -> None:
    assert hookspecs.__doc__
    assert _normalise(hookspec_docs.to_markdown(hookspecs.__doc__)) in _normalise(page)


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


def test_page_is_current(page: str) -> None:
    assert page == hookspec_docs.render_page(), "docs/hookspecs.md is stale: run 'nox -s docs'"


def test_page_is_plain_markdown(page: str) -> None:
    """No reST survives on the page: roles, double backquotes and ``::`` render literally in Markdown."""
    assert not re.search(r":(data|class|func|meth|attr|mod|exc):`", page)
    assert "``" not in page.replace("```", "")
    assert not re.search(r"::\s*$", page, flags=re.MULTILINE)
    assert not re.search(r"^:(param|returns|raises)", page, flags=re.MULTILINE)


def test_markdown_of_the_rest_constructs_used() -> None:
    text = """Use :func:`mpp_status` and ``x``::

        code()

    :param name: the section
        name.
    :returns: the model.
    :raises ValueError: on bad input.
    """
    assert hookspec_docs.to_markdown(text) == (
        "Use `mpp_status` and `x`:\n\n```python\ncode()\n```\n\n"
        "- `name`: the section\n  name.\n- Returns: the model.\n- Raises `ValueError`: on bad input.\n"
    )
