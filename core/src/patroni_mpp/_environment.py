"""``PATRONI_<SECTION>_<KEY>`` environment variables that override keys of an engine's section.

Patroni itself reads only ``PATRONI_CITUS_GROUP`` and ``PATRONI_CITUS_DATABASE`` for the ``citus``
section. The same naming applies here to any engine: ``PATRONI_`` + the section name + ``_`` + the
key, upper-cased, with every character other than a letter or digit turned into ``_``. Values are
strings; the engine's config model converts them (``"1"`` for an integer field, for example).
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

ENV_PREFIX = "PATRONI_"
"""Prefix of every Patroni environment variable."""

_NOT_NAME_CHAR = re.compile(r"[^0-9A-Za-z]")


def env_var_name(section: str, key: str) -> str:
    """The environment variable that overrides ``key`` of ``section``.

    :param section: the section name, for example ``citus``.
    :param key: the key inside the section, for example ``group``.
    :returns: for example ``PATRONI_CITUS_GROUP``.
    """
    return f"{section_env_prefix(section)}{_NOT_NAME_CHAR.sub('_', key).upper()}"


def section_env_prefix(section: str) -> str:
    """The prefix shared by the variables of ``section``, for example ``PATRONI_CITUS_``."""
    return f"{ENV_PREFIX}{_NOT_NAME_CHAR.sub('_', section).upper()}_"


def environment_overrides(
    section: str, keys: Iterable[str] | None, environ: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The section keys that environment variables set, with their (string) values.

    :param section: the section name.
    :param keys: the keys the section accepts; None accepts every ``PATRONI_<SECTION>_<KEY>``
        variable and takes the key as the lower-cased rest of its name.
    :param environ: the environment (``os.environ`` by default).
    :returns: key -> value, for every variable that is set (an empty value counts as set).
    """
    env = os.environ if environ is None else environ
    if keys is not None:
        return {key: env[name] for key in keys if (name := env_var_name(section, key)) in env}
    prefix = section_env_prefix(section)
    return {
        name[len(prefix) :].lower(): value
        for name, value in env.items()
        if name.startswith(prefix) and len(name) > len(prefix)
    }


def sections_in_environment(names: Iterable[str], environ: Mapping[str, str] | None = None) -> list[str]:
    """The names, among ``names``, for which some ``PATRONI_<NAME>_*`` variable is set.

    :param names: candidate section names (installed or known engines).
    :param environ: the environment (``os.environ`` by default).
    :returns: the matching names, in the order given.
    """
    env = os.environ if environ is None else environ
    prefixes = {name: section_env_prefix(name) for name in names}
    return [name for name, prefix in prefixes.items() if any(var.startswith(prefix) for var in env)]


def apply_environment(
    value: Any,
    section: str,
    keys: Iterable[str] | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Any, dict[str, str]]:
    """Merge the environment overrides of ``section`` into its raw value.

    :param value: the section value from the configuration file (None when the file has none).
    :param section: the section name.
    :param keys: the keys the section accepts (see :func:`environment_overrides`).
    :param environ: the environment (``os.environ`` by default).
    :returns: the merged value (``value`` unchanged when nothing applies or when it is not a mapping, so that
        validation reports it) and the overrides that were applied (key -> variable name).
    """
    overrides = environment_overrides(section, keys, environ)
    if not overrides or not (value is None or isinstance(value, Mapping)):
        return value, {}
    merged = dict(value or {})
    merged.update(overrides)
    return merged, {key: env_var_name(section, key) for key in overrides}


USER_VARIABLE_SUFFIXES = ("_PASSWORD", "_OPTIONS")
"""Patroni reads ``PATRONI_<USER>_PASSWORD`` and ``PATRONI_<USER>_OPTIONS`` as users to create at
bootstrap: a user may be named like an engine section (``PATRONI_CITUS_PASSWORD`` is user ``citus``),
so these variables are never taken for misspelled section keys or section names."""

PATRONI_ENV_ONLY_PREFIXES = frozenset({"REPLICATION", "SUPERUSER", "REWIND", "MPP"})
"""First name parts of ``PATRONI_*`` variables that are not a configuration section: Patroni's
authentication settings (``PATRONI_REPLICATION_USERNAME``, ...) and this project's own ``PATRONI_MPP_*``."""


@dataclass(frozen=True)
class StrayVariable:
    """A ``PATRONI_*`` variable that looks meant for an engine section but that nothing reads.

    :ivar variable: the variable's name.
    :ivar section: the engine section it names, or is one edit away from.
    :ivar suggestion: the variable it was probably meant to be (None when no key is near).
    :ivar misspelled_section: True when the section part is misspelled, False when the key is unknown.
    """

    variable: str
    section: str
    suggestion: str | None
    misspelled_section: bool


def _is_user_variable(name: str) -> bool:
    return name.endswith(USER_VARIABLE_SUFFIXES)


def unknown_key_variables(
    section: str,
    keys: Iterable[str],
    environ: Mapping[str, str] | None = None,
    *,
    other_sections: Iterable[str] = (),
) -> list[StrayVariable]:
    """``PATRONI_<SECTION>_<KEY>`` variables whose KEY is no key of the section: nobody reads them.

    Variables of Patroni's users (:data:`USER_VARIABLE_SUFFIXES`) are left out, and so are those that
    belong to another installed section with a longer name (``PATRONI_MY_ENGINE_GROUP`` is
    ``my_engine``'s, not key ``engine_group`` of ``my``).

    :param section: the section name.
    :param keys: the keys the section accepts.
    :param environ: the environment (``os.environ`` by default).
    :param other_sections: the other installed engine sections.
    :returns: one entry per variable, in name order, each with the known key's variable nearest to it.
    """
    env = os.environ if environ is None else environ
    prefix = section_env_prefix(section)
    longer = [p for other in other_sections if len(p := section_env_prefix(other)) > len(prefix)]
    known = {env_var_name(section, key) for key in keys}
    known_keys = {name[len(prefix) :] for name in known}
    stray = []
    for name in sorted(env):
        if not name.startswith(prefix) or len(name) == len(prefix) or name in known:
            continue
        if _is_user_variable(name) or any(name.startswith(p) for p in longer):
            continue
        near = difflib.get_close_matches(name[len(prefix) :], sorted(known_keys), n=1, cutoff=0.75)
        meant = f"{prefix}{near[0]}" if near else None
        stray.append(StrayVariable(name, section, meant, misspelled_section=False))
    return stray


def _one_edit_apart(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` differ by one insertion, deletion, substitution or swap of neighbours."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y]
        if len(diff) == 1:
            return True
        if len(diff) != 2 or diff[1] != diff[0] + 1:
            return False
        first, second = diff
        return a[first] == b[second] and a[second] == b[first]
    short, long = sorted((a, b), key=len)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def misspelled_section_variables(
    sections: Iterable[str], patroni_sections: Iterable[str], environ: Mapping[str, str] | None = None
) -> list[StrayVariable]:
    """``PATRONI_<X>_<KEY>`` variables whose X is one edit away from an installed engine section.

    Only such variables are considered: Patroni's own (``PATRONI_NAME``, ``PATRONI_RESTAPI_LISTEN``,
    ``PATRONI_ETCD3_HOSTS``, users' ``PATRONI_<USER>_PASSWORD``, ...) and this project's
    ``PATRONI_MPP_*`` never are, nor is a variable whose X is an installed section itself.

    :param sections: the installed engine sections (without ``null``).
    :param patroni_sections: Patroni's own configuration sections.
    :param environ: the environment (``os.environ`` by default).
    :returns: one entry per variable, in name order, with the variable it was probably meant to be.
    """
    env = os.environ if environ is None else environ
    by_prefix = {section_env_prefix(name)[len(ENV_PREFIX) : -1]: name for name in sections}
    taken = set(by_prefix) | PATRONI_ENV_ONLY_PREFIXES | {s.upper() for s in patroni_sections}
    stray = []
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or _is_user_variable(name):
            continue
        parts = name[len(ENV_PREFIX) :].split("_")
        if any("_".join(parts[:k]) in taken for k in range(1, len(parts))):
            continue  # the variable of an installed section, of Patroni or of this project
        for k in range(1, len(parts)):
            head, rest = "_".join(parts[:k]), "_".join(parts[k:])
            near = [prefix for prefix in sorted(by_prefix) if _one_edit_apart(head, prefix)]
            if near and rest:
                meant = f"{ENV_PREFIX}{near[0]}_{rest}"
                stray.append(StrayVariable(name, by_prefix[near[0]], meant, misspelled_section=True))
                break
    return stray
