"""Fake distributions: engine plugins written on the fly as distributions :mod:`importlib.metadata` sees.

A fake distribution is a real one as far as :mod:`importlib.metadata` is concerned: a
``*.dist-info`` directory with ``METADATA`` and ``entry_points.txt`` beside the plugin's modules.
Written into a directory on ``sys.path`` it is installed, and discovery finds it like any other
plugin; written elsewhere, :meth:`FakeDists.entry_points` hands its entry points to
discovery through the ``entry_points=`` argument without installing anything.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

from .. import clear_caches
from .._sections import ENTRY_POINT_GROUP, NULL_ENGINE
from .engines import engine_source

DEFAULT_REQUIRES = ("patroni-mpp>=0.1,<1",)
"""``Requires-Dist`` of a fake distribution unless told otherwise: any core of this series."""


def write_dist_info(
    directory: Path, dist: str, version: str, requires: Iterable[str], entry_points: Mapping[str, str]
) -> Path:
    """Write the ``*.dist-info`` directory of a distribution that declares engine entry points.

    :param directory: where the ``*.dist-info`` directory goes (it must not exist yet).
    :param dist: distribution name.
    :param version: distribution version.
    :param requires: ``Requires-Dist`` lines.
    :param entry_points: entry point name -> value (a module name), in the ``patroni.mpp`` group.
    :returns: the ``*.dist-info`` directory.
    """
    info = directory / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    lines = ["Metadata-Version: 2.1", f"Name: {dist}", f"Version: {version}"]
    lines += [f"Requires-Dist: {requirement}" for requirement in requires]
    (info / "METADATA").write_text("\n".join(lines) + "\n")
    eps = "".join(f"{name} = {value}\n" for name, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{ENTRY_POINT_GROUP}]\n{eps}")
    return info


@dataclass
class FakeDists:
    """Writes fake distributions into ``dist_dir`` and their modules into ``module_dir``.

    The caller puts ``module_dir`` on ``sys.path`` (pytest: ``monkeypatch.syspath_prepend``) and
    calls :meth:`forget` when done.

    :ivar module_dir: a directory on ``sys.path`` for the plugin modules.
    :ivar dist_dir: where ``*.dist-info`` directories go: ``module_dir`` to install them, another
        directory to hand them to discovery through :meth:`entry_points` only.
    :ivar prefix: prepended to every module name (unique per test, so that modules never collide).
    :ivar modules: the names of the modules written so far.
    """

    module_dir: Path
    dist_dir: Path
    prefix: str = ""
    modules: list[str] = field(default_factory=list)

    def module(self, name: str) -> str:
        """The module name for the module key ``name``."""
        return f"{self.prefix}{name}"

    def add(
        self,
        dist: str,
        entry_points: Mapping[str, str],
        modules: Mapping[str, str],
        *,
        version: str = "1.0",
        requires: Iterable[str] = DEFAULT_REQUIRES,
    ) -> None:
        """Write one distribution (discovery caches are left alone: clear them to see it at once).

        :param dist: distribution name.
        :param entry_points: entry point name -> a key of ``modules`` (replaced by that module's
            name) or any other entry point value, written as it is.
        :param modules: module key -> source (dedented); written as ``<prefix><key>.py``.
        :param version: distribution version.
        :param requires: ``Requires-Dist`` lines.
        """
        for key, source in modules.items():
            name = self.module(key)
            (self.module_dir / f"{name}.py").write_text(textwrap.dedent(source))
            self.modules.append(name)
        values = {ep: self.module(value) if value in modules else value for ep, value in entry_points.items()}
        write_dist_info(self.dist_dir, dist, version, requires, values)

    def engine(self, section: str, *, dist: str | None = None, version: str = "1.0") -> None:
        """Write a distribution of the minimal test engine serving ``section``.

        :param section: the section (entry point) name; the module is ``<prefix><section>``.
        :param dist: distribution name (default ``<section>-engine``).
        :param version: distribution version.
        """
        self.add(
            dist or f"{section}-engine",
            {section: section},
            {section: engine_source(section)},
            version=version,
        )

    def entry_points(self) -> list[metadata.EntryPoint]:
        """The ``patroni.mpp`` entry points written so far, plus the installed ``null`` one.

        ``null`` is the fallback every configuration needs.
        """
        found = [
            ep
            for dist in metadata.distributions(path=[str(self.dist_dir)])
            for ep in dist.entry_points
            if ep.group == ENTRY_POINT_GROUP
        ]
        null = metadata.entry_points(group=ENTRY_POINT_GROUP, name=NULL_ENGINE)
        return found + list(null)

    def imported(self) -> list[str]:
        """The modules of these distributions that have been imported."""
        return sorted(name for name in self.modules if name in sys.modules)

    def forget(self) -> None:
        """Drop the imported modules of these distributions and clear the discovery caches."""
        for name in self.modules:
            sys.modules.pop(name, None)
        clear_caches()
