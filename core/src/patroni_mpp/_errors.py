"""Exceptions raised by engine discovery, configuration checks and handler creation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass


class MPPError(Exception):
    """Base class of every error raised by patroni-mpp."""


@dataclass(frozen=True)
class EngineSource:
    """Where an engine comes from: the installed distribution that declares its entry point.

    :ivar name: distribution name, for example ``patroni-mpp-citus``.
    :ivar version: distribution version, ``"unknown"`` when the metadata does not say.
    :ivar value: the entry point's value (the module holding the hook implementations).
    """

    name: str
    version: str
    value: str

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class EngineNotInstalledError(MPPError):
    """A configuration section names an engine whose plugin is not installed."""

    def __init__(self, section: str, wheel: str | None) -> None:
        self.section = section
        self.wheel = wheel
        if wheel:
            hint = f"install the wheel that provides it: pip install {wheel}"
        else:
            hint = "no installed distribution declares it in the 'patroni.mpp' entry-point group"
        super().__init__(f"MPP engine for section '{section}' is not installed: {hint}")


class EngineLoadError(MPPError):
    """A configured engine is installed but cannot be used (import failure, broken hooks, ...)."""

    def __init__(self, section: str, source: EngineSource, core_version: str, cause: str) -> None:
        self.section = section
        self.source = source
        self.cause = cause
        super().__init__(
            f"MPP engine '{section}' from {source} (entry point {source.value}) "
            f"is unusable (core: patroni-mpp {core_version}): {cause}"
        )


class EngineConflictError(MPPError):
    """Two installed distributions claim the same engine name."""

    def __init__(self, section: str, sources: list[EngineSource]) -> None:
        self.section = section
        self.sources = sources
        names = " and ".join(f"{s} ({s.value})" for s in sources)
        super().__init__(
            f"MPP engine name '{section}' is claimed by more than one distribution: {names}; "
            "uninstall all but one"
        )


class MultipleEnginesError(MPPError):
    """The configuration has more than one MPP engine section."""

    def __init__(self, sections: list[str]) -> None:
        self.sections = sections
        listed = ", ".join(f"'{s}'" for s in sections)
        super().__init__(f"only one MPP engine section may be configured, found {len(sections)}: {listed}")


@dataclass(frozen=True)
class FieldProblem:
    """One problem found in an engine's configuration section.

    :ivar location: dotted path of the offending key inside the section (``""`` for the whole section).
    :ivar message: what is wrong, in words meant for an operator.
    """

    location: str
    message: str


class EngineConfigError(MPPError, ValueError):
    """An engine's configuration section is invalid; :attr:`problems` lists every field."""

    def __init__(self, section: str, problems: list[FieldProblem]) -> None:
        self.section = section
        self.problems = problems
        lines = [f"  {section}{_joined(p.location)}: {p.message}" for p in problems]
        super().__init__(f"invalid MPP configuration section '{section}':\n" + "\n".join(lines))


def _joined(location: str) -> str:
    if not location:
        return ""
    return location if location.startswith("[") else f".{location}"


class HandlerNotFoundError(MPPError):
    """An engine could not produce a handler for the host's PostgreSQL object."""


SECRET_KEY_WORDS = ("password", "passwd", "secret", "token", "passphrase", "credential", "apikey")
"""A configuration value is treated as a secret when its key contains one of these (any case)."""

REDACTED = "******"
"""What a secret is replaced with in error texts."""

MIN_SECRET_LENGTH = 4
"""Known secrets shorter than this are not searched for in texts: one to three characters cannot be
told apart from the text around them (masking them would garble every message); URL and
``password=`` passwords are masked whatever their length."""

_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*:)(?P<secret>[^@/?#\s]+)@")
_DSN_PASSWORD = re.compile(r"(?P<head>\bpassword\s*=\s*)(?P<secret>'(?:[^'\\]|\\.)*'|[^\s']+)")
_MAX_SECRET_DEPTH = 32


def _is_secret_key(key: object) -> bool:
    text = str(key).lower().replace("_", "").replace("-", "")
    return any(word in text for word in SECRET_KEY_WORDS)


def secrets_in(value: object) -> set[str]:
    """Every secret a configuration value holds.

    Secrets are the string values of keys named like a password (see :data:`SECRET_KEY_WORDS`), at
    any depth, and the passwords of URLs (``scheme://user:password@host``) and of libpq key-value
    strings (``password=...``) found in any string value.

    :param value: a configuration (mapping, list or scalar); cycles and very deep nesting are cut.
    :returns: the secrets, never empty strings.
    """
    found: set[str] = set()
    seen: set[int] = set()

    def visit(item: object, depth: int, secret: bool) -> None:
        if depth > _MAX_SECRET_DEPTH or id(item) in seen:
            return
        if isinstance(item, str):
            if secret and item:
                found.add(item)
            found.update(m["secret"] for m in _URL_PASSWORD.finditer(item))
            found.update(m["secret"].strip("'") for m in _DSN_PASSWORD.finditer(item))
            return
        if isinstance(item, Mapping):
            seen.add(id(item))
            for key, sub in list(item.items()):
                visit(sub, depth + 1, secret or _is_secret_key(key))
        elif isinstance(item, list | tuple | set | frozenset):
            seen.add(id(item))
            for sub in list(item):
                visit(sub, depth + 1, secret)
        elif secret and isinstance(item, int | float) and not isinstance(item, bool):
            found.add(str(item))

    visit(value, 0, False)
    found.discard("")
    return found


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """``text`` with every secret of ``secrets`` and every URL or ``password=`` password masked.

    :param text: an error or log text.
    :param secrets: known secret values (longest are replaced first; see :data:`MIN_SECRET_LENGTH`).
    :returns: the text, safe to show.
    """
    for secret in sorted(set(secrets), key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, REDACTED)
    text = _URL_PASSWORD.sub(lambda m: m["head"] + REDACTED + "@", text)
    return _DSN_PASSWORD.sub(lambda m: m["head"] + REDACTED, text)


def redact_error(error: BaseException, secrets: Iterable[str]) -> bool:
    """Mask secrets in an exception's text, in place; drop its chained cause if that showed one.

    :param error: an exception whose ``args`` hold its message (as every :class:`MPPError` does).
    :param secrets: known secret values.
    :returns: True when something was masked.
    """
    secrets = [s for s in secrets if s]
    changed = False
    new_args = []
    for arg in error.args:
        if isinstance(arg, str):
            masked = redact(arg, secrets)
            changed = changed or masked != arg
            new_args.append(masked)
        else:
            new_args.append(arg)
    if changed:
        error.args = tuple(new_args)
    for linked in (error.__cause__, error.__context__):
        if linked is not None and redact(str(linked), secrets) != str(linked):
            error.__cause__ = None
            error.__suppress_context__ = True
            changed = True
            break
    return changed
