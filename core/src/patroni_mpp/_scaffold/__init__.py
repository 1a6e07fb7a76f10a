"""Templates and rendering of ``patroni-mpp new-engine``: a ready-to-build engine package.

The templates (``*.tmpl`` beside this module) hold ``{{ key }}`` placeholders for the values of
:class:`EngineNames`; rendering refuses a placeholder it has no value for, so a template mistake
shows up in the tests rather than in an author's package.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import asdict, dataclass
from importlib import resources

from packaging.version import InvalidVersion, Version

from .._sections import KNOWN_ENGINE_WHEELS, NULL_ENGINE, PATRONI_SECTIONS

NAME_RE = re.compile(r"^[a-z][a-z0-9_]*$")
"""What an engine (section) name may look like: lower-case letters, digits and ``_``."""

MAX_NAME_LENGTH = 40
"""Longest accepted engine name (the Kubernetes label ``<type>-group`` must stay under 64)."""

DEFAULT_CORE_SERIES = "0.1"
"""The core series generated packages declare when the installed core's version is unknown."""

FILES: tuple[tuple[str, str], ...] = (
    ("pyproject.toml.tmpl", "pyproject.toml"),
    ("README.md.tmpl", "README.md"),
    ("gitignore.tmpl", ".gitignore"),
    ("init.py.tmpl", "src/{module}/__init__.py"),
    ("engine.py.tmpl", "src/{module}/engine.py"),
    ("hooks.py.tmpl", "src/{module}/hooks.py"),
    ("py.typed.tmpl", "src/{module}/py.typed"),
    ("test_conformance.py.tmpl", "tests/test_conformance.py"),
    ("test_engine.py.tmpl", "tests/test_engine.py"),
)
"""Template file -> path in the generated package (``{module}`` is the import name)."""

_PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class ScaffoldError(ValueError):
    """The engine name or the target cannot be used; the message says why."""


@dataclass(frozen=True)
class EngineNames:
    """Every name derived from an engine (section) name.

    :ivar section: the configuration section and entry point name, e.g. ``my_engine``.
    :ivar module: the import name, ``patroni_mpp_<section>``.
    :ivar dist: the distribution name, ``patroni-mpp-<section with dashes>``.
    :ivar cls: the descriptor class name in CamelCase, e.g. ``MyEngine``.
    :ivar env: the environment variable prefix, e.g. ``PATRONI_MY_ENGINE``.
    :ivar core_range: the version range on ``patroni-mpp``, e.g. ``>=0.1,<0.2``.
    """

    section: str
    module: str
    dist: str
    cls: str
    env: str
    core_range: str


def check_name(name: str) -> str:
    """Validate an engine name.

    :param name: the name given on the command line.
    :returns: the name.
    :raises ScaffoldError: when it is not a usable section name or is already taken.
    """
    if not NAME_RE.match(name):
        raise ScaffoldError(
            f"invalid engine name {name!r}: use lower-case letters, digits and '_', starting with "
            "a letter (it becomes the configuration section, e.g. 'my_engine:')"
        )
    if len(name) > MAX_NAME_LENGTH:
        raise ScaffoldError(f"engine name {name!r} is longer than {MAX_NAME_LENGTH} characters")
    if keyword.iskeyword(name):
        raise ScaffoldError(f"engine name {name!r} is a Python keyword")
    if name in PATRONI_SECTIONS:
        raise ScaffoldError(f"engine name {name!r} is a section of Patroni's own configuration")
    if name == NULL_ENGINE or name in KNOWN_ENGINE_WHEELS:
        raise ScaffoldError(
            f"engine name {name!r} is taken by the published engine "
            f"{KNOWN_ENGINE_WHEELS.get(name, 'patroni-mpp-null')}; choose another name"
        )
    return name


def core_range(version: str) -> str:
    """The ``patroni-mpp`` range a new engine should declare: the series of ``version``.

    While core is 0.x a minor release may change the hook specifications, so the range stops at
    the next minor version; from 1.0 on, at the next major version.

    :param version: the installed core version (``0+unknown`` from a source tree).
    """
    try:
        parsed = Version(version)
    except InvalidVersion:
        parsed = Version(DEFAULT_CORE_SERIES)
    if parsed.major == 0 and parsed.minor == 0:
        parsed = Version(DEFAULT_CORE_SERIES)
    if parsed.major == 0:
        return f">=0.{parsed.minor},<0.{parsed.minor + 1}"
    return f">={parsed.major}.{parsed.minor},<{parsed.major + 1}"


def engine_names(name: str, version: str) -> EngineNames:
    """Derive every name of a new engine package.

    :param name: a valid engine name (see :func:`check_name`).
    :param version: the installed core version.
    """
    section = check_name(name)
    return EngineNames(
        section=section,
        module=f"patroni_mpp_{section}",
        dist="patroni-mpp-" + section.replace("_", "-"),
        cls="".join(part.capitalize() for part in section.split("_")),
        env=f"PATRONI_{section.upper()}",
        core_range=core_range(version),
    )


def render(text: str, values: dict[str, str]) -> str:
    """Replace every ``{{ key }}`` in ``text`` by its value.

    :param text: a template.
    :param values: the values by key.
    :raises KeyError: for a placeholder without a value.
    """

    def substitute(match: re.Match[str]) -> str:
        return values[match.group(1)]

    return _PLACEHOLDER.sub(substitute, text)


def render_package(names: EngineNames) -> dict[str, str]:
    """Render every template for ``names``.

    :param names: the new engine's names.
    :returns: relative path in the package -> file content.
    """
    values = asdict(names)
    templates = resources.files(__name__)
    return {
        target.format(module=names.module): render((templates / template).read_text(encoding="utf-8"), values)
        for template, target in FILES
    }
