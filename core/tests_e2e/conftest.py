"""Fixtures of the end-to-end tests: a local etcd, Patroni nodes through the launcher, the probe engine.

Everything runs on 127.0.0.1 with free ports, Patroni and PostgreSQL as the ``postgres`` OS user when we are
root, and every process is stopped by pid at teardown (see :mod:`patroni_mpp.testing.formation`). The
interpreter running the tests (or ``$PATRONI_MPP_E2E_PYTHON``) runs the nodes, so it must have Patroni and
the wheels installed and be runnable by that user. ``PATRONI_MPP_E2E_KEEP=1`` keeps the temp directory (logs)
after the run.
"""

from __future__ import annotations

import itertools
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from patroni_mpp.testing.environment import getenv
from patroni_mpp.testing.etcd import Etcd, local_etcd
from patroni_mpp.testing.formation import Formation
from patroni_mpp.testing.patroni_node import NodeOptions
from patroni_mpp.testing.postgres import find_bindir
from patroni_mpp.testing.processes import check_interpreter, make_base_dir
from patroni_mpp.testing.wheelhouse import checked, pack_wheel, pip

_counter = itertools.count(1)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _failed(request: pytest.FixtureRequest) -> bool:
    node = request.node
    return any(
        getattr(getattr(item, f"rep_{when}", None), "failed", False)
        for item in ([node] if isinstance(node, pytest.Item) else node.session.items)
        for when in ("setup", "call")
    )


@pytest.fixture(scope="session")
def pg_bin() -> Path:
    return find_bindir()


@pytest.fixture(scope="session")
def node_python() -> str:
    python = getenv("PATRONI_MPP_E2E_PYTHON") or sys.executable
    check_interpreter(python)
    return python


@pytest.fixture(scope="session")
def base_dir() -> Iterator[Path]:
    base = make_base_dir("pmpp-e2e-")
    yield base
    if not getenv("PATRONI_MPP_E2E_KEEP"):
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def etcd(base_dir: Path) -> Iterator[Etcd]:
    with local_etcd(base_dir) as server:
        yield server


def _new_formation(base_dir: Path, etcd: Etcd, pg_bin: Path, label: str) -> Formation:
    directory = base_dir / f"{label}-{next(_counter)}"
    directory.mkdir()
    shutil.chown(directory, *_owner(base_dir))
    return Formation(directory, etcd, pg_bin=pg_bin)


def _owner(path: Path) -> tuple[str, str]:
    stat = path.stat()
    import grp
    import pwd

    return pwd.getpwuid(stat.st_uid).pw_name, grp.getgrgid(stat.st_gid).gr_name


def _teardown(formation: Formation, request: pytest.FixtureRequest) -> None:
    if _failed(request):
        for node in formation.nodes:
            print(f"\n===== log of {node.name} (pid {node.pid}) =====\n{node.log_tail(60)}")
    formation.stop_all()


@pytest.fixture
def formation(
    base_dir: Path, etcd: Etcd, pg_bin: Path, node_python: str, request: pytest.FixtureRequest
) -> Iterator[Formation]:
    """Nodes for one test; all stopped at teardown."""
    made = _new_formation(base_dir, etcd, pg_bin, request.node.name[:20].replace("[", "-"))
    yield made
    _teardown(made, request)


@pytest.fixture(scope="module")
def module_formation(
    base_dir: Path, etcd: Etcd, pg_bin: Path, node_python: str, request: pytest.FixtureRequest
) -> Iterator[Formation]:
    """Nodes shared by the tests of one module; all stopped after the module."""
    made = _new_formation(base_dir, etcd, pg_bin, request.module.__name__.rsplit(".", 1)[-1][:20])
    yield made
    _teardown(made, request)


@pytest.fixture(scope="session")
def probe_path(base_dir: Path) -> Path:
    """Directory holding the installed probe engine wheel (for ``PYTHONPATH``)."""
    build_dir = base_dir / "probe-build"
    build_dir.mkdir()
    wheel = pack_wheel(
        Path(__file__).parent / "probe_engine",
        build_dir,
        name="patroni-mpp-e2eprobe",
        version="0.1.0",
        requires=["patroni-mpp>=0.1,<0.2", "pydantic>=2.6,<3"],
        entry_points={"patroni.mpp": {"e2eprobe": "patroni_mpp_e2eprobe"}},
    )
    target = base_dir / "probe-site"
    checked(pip("install", "--quiet", "--no-deps", "--no-index", "--target", target, wheel))
    for path in [target, *target.rglob("*")]:
        path.chmod(0o755 if path.is_dir() else 0o644)
    return target


@pytest.fixture
def node_options(node_python: str) -> Callable[..., NodeOptions]:
    """Factory of node options running the test interpreter through the launcher."""

    def make(**kwargs: Any) -> NodeOptions:
        kwargs.setdefault("python", node_python)
        return NodeOptions(**kwargs)

    return make


@pytest.fixture
def ctl(node_python: str) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``patroni-mpp ctl -c CONFIG ARGS...`` as a subprocess (root may run patronictl)."""

    def run(
        config: Path, *args: str, env: dict[str, str] | None = None, timeout: float = 120
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [node_python, "-m", "patroni_mpp", "ctl", "-c", str(config), *args],
            capture_output=True, text=True, timeout=timeout, check=False,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", **(env or {})},
            stdin=subprocess.DEVNULL,
        )  # fmt: skip

    return run


@pytest.fixture(scope="session")
def citus_ready(pg_bin: Path) -> None:
    """Skip (fail under ``PATRONI_MPP_TEST_CITUS=real``) where the citus extension or engine is missing."""
    from patroni_mpp_citus.testing.cluster import citus_unavailable_reason

    reason = citus_unavailable_reason(pg_bin)
    if reason is not None:
        if os.environ.get("PATRONI_MPP_TEST_CITUS", "").strip().lower() == "real":
            pytest.fail(f"PATRONI_MPP_TEST_CITUS=real, but {reason}", pytrace=False)
        pytest.skip(reason)
