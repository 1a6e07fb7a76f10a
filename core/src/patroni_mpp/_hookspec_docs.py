"""The hook reference page (docs/hookspecs.md), written in Markdown from the docstrings of :mod:`hookspecs`.

The docstrings are reST, as Python docstrings are, because editors and ``help()`` show them; the
page is Markdown, because that is what a repository renders. ``nox -s docs`` rewrites the page with
``python -m patroni_mpp._hookspec_docs docs/hookspecs.md``; core's tests fail when it is stale.
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from . import hookspecs
from ._contract import hook_specifications

_ROLE = re.compile(r":(?:data|class|func|meth|attr|mod|exc|obj):`~?([^`]+)`")
_LITERAL = re.compile(r"``([^`]+)``")
_FIELD = re.compile(r"^:(param|returns|raises)\s*([^:]*):\s*(.*)$")
_FIELD_TITLES = {"param": "", "returns": "Returns", "raises": "Raises"}

HEADER = """\
# Hook reference: what an engine plugin implements

This page is generated from the docstrings of `patroni_mpp.hookspecs`
(core/src/patroni_mpp/hookspecs.py), the engine author's reference: edit those, then run
`nox -s docs`. Core's tests fail when this page is stale.
"""

MARKERS = """\
Markers: `from patroni_mpp import hookimpl` (also `patroni_mpp.hookspecs.hookimpl`); the
specifications use `patroni_mpp.hookspecs.hookspec`. Both belong to the pluggy project
name `patroni_mpp`.
"""


def signature(function: Callable[..., Any]) -> str:
    """The hook's signature as the page writes it: ``def name(arg: type, ...) -> type``."""
    annotations = dict(function.__annotations__)
    returns = annotations.pop("return")
    args = ", ".join(f"{name}: {annotation}" for name, annotation in annotations.items())
    return f"def {function.__name__}({args}) -> {returns}"


def _inline(text: str) -> str:
    """Inline reST (roles, double-backquoted literals) as Markdown code spans."""
    return _LITERAL.sub(r"`\1`", _ROLE.sub(r"`\1`", text))


def _language(block: list[str]) -> str:
    """The fence language of a literal block: TOML for a table header, else Python."""
    return "toml" if block and block[0].lstrip().startswith("[") else "python"


def _paragraphs(lines: list[str]) -> Iterator[str]:
    """The Markdown lines of reST ``lines``: literal blocks fenced, field lists as bullet lists."""
    index = 0
    while index < len(lines):
        line = lines[index]
        field = _FIELD.match(line)
        if field:
            kind, argument, text = field.groups()
            title = _FIELD_TITLES[kind]
            label = f"`{argument.strip()}`" if kind == "param" else title
            if kind == "raises" and argument.strip():
                label = f"{title} `{argument.strip()}`"
            yield f"- {label}: {_inline(text)}"
            index += 1
            while index < len(lines) and lines[index].startswith(" ") and lines[index].strip():
                yield "  " + _inline(lines[index].strip())
                index += 1
            continue
        if line.endswith("::"):
            yield _inline(line[:-2].rstrip() + (":" if not line[:-2].endswith(" ") else ""))
            index += 1
            block: list[str] = []
            while index < len(lines) and (not lines[index].strip() or lines[index].startswith(" ")):
                block.append(lines[index])
                index += 1
            while block and not block[-1].strip():
                block.pop()
            body = inspect.cleandoc("\n".join(block)).splitlines()
            yield ""
            yield f"```{_language(body)}"
            yield from body
            yield "```"
            yield ""
            continue
        yield _inline(line)
        index += 1


def to_markdown(docstring: str) -> str:
    """A reST docstring as Markdown (the subset the hook docstrings use)."""
    lines: list[str] = []
    fenced = False
    for line in _paragraphs(inspect.cleandoc(docstring).splitlines()):
        fenced ^= line.startswith("```")
        if fenced or line or (lines and lines[-1]):  # one blank line between paragraphs
            lines.append(line)
    return "\n".join(lines).strip() + "\n"


def render_page() -> str:
    """The whole page, as ``nox -s docs`` writes it."""
    parts = [HEADER, "## Overview\n", to_markdown(hookspecs.__doc__ or ""), MARKERS]
    for name, function in hook_specifications():
        spec = getattr(function, f"{hookspecs.PROJECT_NAME}_spec")
        parts += [
            f"## `{name}`\n",
            f"```python\n@hookspec(firstresult={spec['firstresult']})\n{signature(function)}\n```\n",
            to_markdown(inspect.getdoc(function) or ""),
        ]
    return "\n".join(parts).rstrip() + "\n"


def main(argv: list[str]) -> None:
    """Write the page to the one path given."""
    if len(argv) != 1:
        raise SystemExit("usage: python -m patroni_mpp._hookspec_docs PATH")
    Path(argv[0]).write_text(render_page(), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
