"""``PATRONI_<SECTION>_<KEY>`` environment variables that override keys of an engine's section.

Patroni itself reads only ``PATRONI_CITUS_GROUP`` and ``PATRONI_CITUS_DATABASE`` for the ``citus``
section. The same naming applies here to any engine: ``PATRONI_`` + the section name + ``_`` + the
key, upper-cased, with every character other than a letter or digit turned into ``_``. Values are
strings; the engine's config model converts them (``"1"`` for an integer field, for example).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
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
