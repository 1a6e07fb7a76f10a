"""Sessions of patroni-mpp: wheels, tests-<package>, lint, types, reliability, e2e, bench.

Plain ``nox`` runs what CI needs: lint, types, every tests-<package> (and the Citus tests once more
on the SQL emulation), reliability, the Citus engine benchmark and e2e. Every
session that installs our packages ``requires`` the ``wheels`` session, which builds every package's
wheel once per nox invocation into ``.nox/_wheels``; sessions install those wheels (never editable
installs, so packaging mistakes show). ``nox --parallel 2`` runs the independent sessions two at a time; e2e
always runs alone.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import nox
from nox.command import CommandFailed

ROOT = Path(__file__).resolve().parent
PYTHON = "3.11"
WHEELS = ROOT / ".nox" / "_wheels"
REPORTS = ROOT / ".nox" / "_reports"

ALL_PACKAGES = {
    # package directory: (short name, distribution file name prefix)
    "core": ("core", "patroni_mpp"),
    "plugins/null": ("null", "patroni_mpp_null"),
    "plugins/citus": ("citus", "patroni_mpp_citus"),
    "plugins/timescaledb-stub": ("timescaledb-stub", "patroni_mpp_timescaledb"),
}
PACKAGES = [pkg for pkg in ALL_PACKAGES if (ROOT / pkg / "pyproject.toml").is_file()]
"""The packages present in this checkout (plugins appear as their authors add them)."""

BUILD_DEPS = ["pip>=24", "hatchling>=1.21"]
TEST_DEPS = ["pytest>=8", "pip>=24", "hatchling>=1.21"]
LINT_DEPS = ["ruff==0.17.6"]
TYPE_DEPS = ["mypy==2.4.1", "types-PyYAML", "types-psutil", "pytest>=8", "hypothesis>=6.100,<7"]
RELIABILITY_DEPS = ["hypothesis>=6.100,<7", "psycopg[binary]>=3.1,<4"]
SOAK_SECONDS_ENV = "PATRONI_MPP_SOAK_SECONDS"
"""Duration of the soak test of the reliability session (default 120 s, as in CI)."""
PATRONI = "patroni[etcd3,psycopg3]>=4.0,<4.2"

PYTEST_NO_TESTS = 5

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True
nox.options.sessions = ["lint", "types", "tests", "tests-lowest", "reliability", "bench-citus", "e2e"]


def _short(package: str) -> str:
    return ALL_PACKAGES[package][0]


def _wheel(session: nox.Session, package: str) -> str:
    prefix = ALL_PACKAGES[package][1]
    found = sorted(WHEELS.glob(f"{prefix}-*.whl"))
    if len(found) != 1:
        session.error(f"expected one {prefix} wheel in {WHEELS}, found {len(found)}: run 'nox -s wheels'")
    return str(found[0])


def _install_packages(
    session: nox.Session, packages: list[str], core_extras: str = "testing", *extra: str
) -> None:
    """Install core (with ``core_extras``), null and ``packages`` from the wheels, plus ``extra``.

    :param session: the nox session.
    :param packages: package directories to install besides core and null.
    :param core_extras: comma-separated extras of core (``testing``, ``patroni``).
    :param extra: further requirements (test tools).
    """
    ordered = ["core", "plugins/null", *[p for p in packages if p not in ("core", "plugins/null")]]
    wheels = [_wheel(session, p) for p in ordered]
    core = f"patroni-mpp[{core_extras}] @ {Path(wheels[0]).as_uri()}" if core_extras else wheels[0]
    session.install("--find-links", str(WHEELS), core, *wheels[1:], *extra)
    # Wheels keep their version between builds: without this a reused venv would keep the old files.
    session.install("--force-reinstall", "--no-deps", *wheels)


def _pytest(session: nox.Session, name: str, *args: str) -> None:
    """Run pytest with a JUnit report (read by scripts/test); collecting no test is no failure."""
    REPORTS.mkdir(parents=True, exist_ok=True)
    report = REPORTS / f"{name}.xml"
    report.unlink(missing_ok=True)
    session.run(
        "pytest",
        f"--junitxml={report}",
        "-o",
        "junit_family=xunit2",
        *args,
        *session.posargs,
        success_codes=[0, PYTEST_NO_TESTS],
    )
    if report.is_file() and 'tests="0"' in report.read_text(encoding="utf-8"):
        session.warn(f"{name}: pytest collected no tests")


@nox.session(python=PYTHON, allow_parallel=True, default=False)
def wheels(session: nox.Session) -> None:
    """Build the wheel of every package into .nox/_wheels (once per nox invocation)."""
    session.install(*BUILD_DEPS)
    if WHEELS.exists():
        shutil.rmtree(WHEELS)
    WHEELS.mkdir(parents=True)
    # One pip process builds them all without isolation: hatchling is already in this venv, so no
    # per-package build environment is created (that would dominate the time on 2 cores).
    session.run(
        "python",
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--wheel-dir",
        str(WHEELS),
        *[str(ROOT / p) for p in PACKAGES],
    )
    for package in PACKAGES:
        _wheel(session, package)


CITUS_MODE_ENV = "PATRONI_MPP_TEST_CITUS"
"""Chooses real Citus or the SQL emulation for the Citus tests (``real``, ``emulated``, ``auto``)."""

CITUS_EMULATED_SESSION = "tests-citus-emulated"
"""The Citus package tests once more, against the SQL emulation whatever is installed."""


def _tests_session(package: str, name: str, env: dict[str, str] | None = None) -> None:
    @nox.session(name=name, python=PYTHON, requires=["wheels"], allow_parallel=True, default=False)
    def tests(session: nox.Session) -> None:
        tests_dir = ROOT / package / "tests"
        if not tests_dir.is_dir():
            session.skip(f"{package} has no tests/ directory yet")
        _install_packages(session, [package], "testing", *TEST_DEPS)
        session.chdir(ROOT / package)
        session.env["PATRONI_MPP_WHEELS"] = str(WHEELS)
        session.env.update(env or {})
        _pytest(session, name, "tests")

    tests.__doc__ = f"Run {package}/tests in a venv holding core, null and {package} wheels."
    if env:
        tests.__doc__ += f" Environment: {env}."


TEST_SESSIONS = [f"tests-{_short(p)}" for p in PACKAGES]
for _package in PACKAGES:
    _tests_session(_package, f"tests-{_short(_package)}")
if "plugins/citus" in PACKAGES:
    # tests-citus uses real Citus where it is installed (scripts/setup builds it); this session keeps
    # the emulation, the fallback of every checkout without Citus, green as well.
    _tests_session("plugins/citus", CITUS_EMULATED_SESSION, {CITUS_MODE_ENV: "emulated"})
    TEST_SESSIONS.append(CITUS_EMULATED_SESSION)


@nox.session(python=False, requires=TEST_SESSIONS, allow_parallel=True)
def tests(session: nox.Session) -> None:
    """Run every tests-<package> session (each in its own venv), and the Citus tests on the emulation."""
    session.log("%s passed", ", ".join(TEST_SESSIONS))


@nox.session(python=PYTHON, allow_parallel=True)
def lint(session: nox.Session) -> None:
    """ruff check and ruff format --check over the repository."""
    session.install(*LINT_DEPS)
    session.run("ruff", "check", str(ROOT))
    session.run("ruff", "format", "--check", str(ROOT))


@nox.session(python=PYTHON, requires=["wheels"], default=False)
def docs(session: nox.Session) -> None:
    """Rewrite docs/hookspecs.md from the hook docstrings (core's tests fail when it is stale)."""
    _install_packages(session, [], "")
    page = ROOT / "docs" / "hookspecs.md"
    session.run("python", "-m", "patroni_mpp._hookspec_docs", str(page))
    session.log("wrote %s", page.relative_to(ROOT))


@nox.session(python=PYTHON, requires=["wheels"], allow_parallel=True)
def types(session: nox.Session) -> None:
    """mypy --strict: one run per package (its sources and its tests together), one over reliability/.

    Tests import only installed packages (the shipped test toolkits), never each other, so a plain run
    sees them as pytest does. core/tests_e2e has a run of its own (its conftest module would clash with
    core/tests'), as have bench/ and demo/.
    """
    _install_packages(session, PACKAGES, "testing", *TYPE_DEPS)
    config = str(ROOT / "mypy.ini")
    runs: list[tuple[list[str], dict[str, str]]] = [
        ([str(path) for path in (ROOT / p / "src", ROOT / p / "tests") if path.is_dir()], {})
        for p in PACKAGES
    ]
    runs.append(([str(ROOT / "reliability")], {}))
    runs.append(([str(ROOT / "core" / "tests_e2e")], {}))
    # the bench scripts import their helper module _common from their own directory
    runs.append(([str(ROOT / "bench")], {}))
    runs.append((sorted(str(path) for path in (ROOT / "demo").glob("*.py")), {}))
    failed = []
    for targets, env in runs:  # every run, even after a failure, so that one report shows all
        try:
            session.run("mypy", "--config-file", config, *targets, env=env)
        except CommandFailed:
            failed.append(" ".join(Path(t).relative_to(ROOT).as_posix() for t in targets[:3]))
    if failed:
        session.error(f"mypy found errors in: {'; '.join(failed)}")


@nox.session(python=PYTHON, requires=["wheels"], allow_parallel=True)
def reliability(session: nox.Session) -> None:
    """Bad input, hostile values, faults, plugin failures, secrets and a soak (reliability/).

    Installs the core, null and citus wheels plus hypothesis and psycopg. The soak runs for
    ``$PATRONI_MPP_SOAK_SECONDS`` seconds (default 120); ``nox -s reliability -- --soak-seconds
    600`` works too.
    """
    if not (ROOT / "reliability").is_dir():
        session.skip("reliability/ does not exist yet")
    plugins = [p for p in ("plugins/citus",) if p in PACKAGES]
    _install_packages(session, plugins, "testing", *TEST_DEPS, *RELIABILITY_DEPS)
    session.chdir(ROOT / "reliability")
    session.env["PATRONI_MPP_WHEELS"] = str(WHEELS)
    session.env[SOAK_SECONDS_ENV] = os.environ.get(SOAK_SECONDS_ENV, "120")
    _pytest(session, "reliability", ".")


LOWEST_CONSTRAINTS = ROOT / "constraints-lowest.txt"
"""Every third-party dependency pinned to the lowest version a pyproject allows."""

LOWEST_SKIPPED: dict[str, str] = {}
"""Packages whose tests tests-lowest does not run yet, and why."""


@nox.session(name="tests-lowest", python=PYTHON, requires=["wheels"], allow_parallel=True)
def tests_lowest(session: nox.Session) -> None:
    """Every package's tests with every dependency at the lowest version allowed (constraints-lowest.txt).

    Checks the lower bounds of the pyprojects: a test that needs a newer dependency than a pyproject
    admits fails here. One venv; each package's tests run while it holds core, null and that package
    only, as in its own tests-<package> session. Part of the default run.
    """
    constraint = ("--constraint", str(LOWEST_CONSTRAINTS))
    session.env["PATRONI_MPP_WHEELS"] = str(WHEELS)
    plugins = [ALL_PACKAGES[p][1].replace("_", "-") for p in PACKAGES if p not in ("core", "plugins/null")]
    session.install("pip>=24")
    # a reused venv may still hold a plugin when an earlier run stopped at a failure
    session.run("python", "-m", "pip", "uninstall", "--yes", *plugins, silent=True)
    for package in PACKAGES:
        if package in LOWEST_SKIPPED:
            session.warn(f"tests-lowest skips {package}: {LOWEST_SKIPPED[package]}")
            continue
        if not (ROOT / package / "tests").is_dir():
            continue
        _install_packages(session, [package], "testing", *TEST_DEPS, *constraint)
        session.chdir(ROOT / package)
        _pytest(session, f"tests-lowest-{_short(package)}", "tests")
        if package not in ("core", "plugins/null"):
            session.run(
                "python", "-m", "pip", "uninstall", "--yes", ALL_PACKAGES[package][1].replace("_", "-")
            )


# Patroni nodes run as the ``postgres`` OS user when the tests run as root, so the e2e venv must be
# usable by that user: built from the system interpreter (pyenv's lives under /root, mode 700).
E2E_PYTHON = "/usr/bin/python3.11" if Path("/usr/bin/python3.11").exists() else PYTHON


E2E_PATRONI = ["4.0.0", "4.0.11", "4.1.5"]
"""Patroni releases the e2e suite runs against: the oldest and newest 4.0.x and the newest 4.1.x.

The bridge's supported range (``SUPPORTED_PATRONI_RANGE``) is what passes here. 4.0.0 is yanked on PyPI (a
replication slot naming fix in 4.0.1, nothing the bridge touches): a range never resolves to it, an exact pin
installs it, and it stays the oldest release we claim.
"""


@nox.session(python=E2E_PYTHON, requires=["wheels"], allow_parallel=False)
@nox.parametrize("patroni", E2E_PATRONI, ids=E2E_PATRONI)
def e2e(session: nox.Session, patroni: str) -> None:
    """End-to-end tests (core/tests_e2e) on one Patroni release: etcd and real nodes through the launcher."""
    if not (ROOT / "core" / "tests_e2e").is_dir():
        session.skip("core/tests_e2e does not exist yet")
    plugins = [p for p in ("plugins/citus",) if p in PACKAGES]
    _install_packages(session, plugins, "testing,patroni", *TEST_DEPS, f"patroni[etcd3,psycopg3]=={patroni}")
    session.run(
        "python", "-c", f"import patroni.version as v; assert v.__version__ == {patroni!r}, v.__version__"
    )
    # The nodes run as the postgres user from this venv. In-process tests run Patroni code that sets the
    # umask to 077, so a __pycache__ made by a later import only root can list, and Patroni 4.0.x's
    # parameter loader walks those directories: compile everything now, then open it to every user.
    compile_all = "import compileall as c, sysconfig as s; c.compile_dir(s.get_paths()['purelib'], quiet=2)"
    session.run("python", "-c", compile_all, success_codes=[0, 1])
    session.run("chmod", "-R", "a+rX", session.virtualenv.location, external=True)
    session.chdir(ROOT / "core")
    session.env["PATRONI_MPP_WHEELS"] = str(WHEELS)
    # The long Citus formation scenarios (marker ``scenario``) run on the newest release only: everything
    # the bridge and the fast switchover patch is exercised on every release by the other tests.
    scenarios = [] if patroni == E2E_PATRONI[-1] else ["-m", "not scenario"]
    suite = f"e2e-patroni-{patroni}"
    _pytest(session, suite, "tests_e2e", "-o", f"junit_suite_name={suite}", *scenarios)


@nox.session(python=PYTHON, requires=["wheels"], default=False)
def bench(session: nox.Session) -> None:
    """Run every bench/*.py (not bench/_*.py) in a venv holding all wheels; each updates its part of
    BENCHMARKS.md."""
    _install_packages(session, PACKAGES, "testing", "pip>=24", "hatchling>=1.21")
    session.env["PATRONI_MPP_WHEELS"] = str(WHEELS)
    # bench/_*.py are helpers the scripts import (their directory is on sys.path), not benchmarks
    scripts = sorted(path for path in (ROOT / "bench").glob("*.py") if not path.name.startswith("_"))
    if not scripts:
        session.skip("no bench/*.py")
    for script in scripts:
        session.run("python", str(script), *session.posargs)


@nox.session(name="bench-citus", python=PYTHON, requires=["wheels"], allow_parallel=True)
def bench_citus(session: nox.Session) -> None:
    """The Citus engine benchmark (bench/citus_engine.py) alone, on real Citus where it is installed.

    Part of the default run, so that CI exercises the engine's hot paths on real Citus; it rewrites
    its section of BENCHMARKS.md in the checkout it runs in.
    """
    if "plugins/citus" not in PACKAGES:
        session.skip("plugins/citus does not exist")
    _install_packages(session, ["plugins/citus"], "testing", "pip>=24")
    session.run("python", str(ROOT / "bench" / "citus_engine.py"), *session.posargs)
