"""The shared parts of the test toolkit: environment variables and prerequisites, polling, ports."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from patroni_mpp.testing.environment import (
    RENAMED_VARIABLES,
    SERVER_USER_ENV,
    PrerequisiteError,
    RenamedVariableError,
    getenv,
    server_user,
    unsearchable_directory,
)
from patroni_mpp.testing.network import HOST, free_port
from patroni_mpp.testing.polling import WaitTimeout, wait_for
from patroni_mpp.testing.postgres import (
    PG_BINDIR_ENV,
    PostgresServer,
    PostgresUnavailable,
    check_environment,
    find_bindir,
    running_server,
)

REPOSITORY = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("old", "new"), sorted(RENAMED_VARIABLES.items()))
def test_an_old_name_is_refused_naming_the_new_one(
    monkeypatch: pytest.MonkeyPatch, old: str, new: str
) -> None:
    monkeypatch.setenv(old, "x")
    with pytest.raises(RenamedVariableError, match=f"{old} is no longer read: set {new} instead"):
        getenv(new)


def test_every_new_name_has_the_project_prefix() -> None:
    assert all(new.startswith("PATRONI_MPP_") for new in RENAMED_VARIABLES.values())


def test_the_new_name_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATRONI_MPP_TMP", "/var/tmp")
    assert getenv("PATRONI_MPP_TMP", "/tmp") == "/var/tmp"
    monkeypatch.delenv("PATRONI_MPP_TMP")
    assert getenv("PATRONI_MPP_TMP", "/tmp") == "/tmp"


def test_no_source_reads_an_old_name() -> None:
    """Outside the table of old names, no source or script of the repository names one (docs may)."""
    old = re.compile(r"\b(?:" + "|".join(map(re.escape, RENAMED_VARIABLES)) + r")\b")
    table = Path("core/src/patroni_mpp/testing/environment.py")
    if shutil.which("git") is None or not (REPOSITORY / table).is_file():
        pytest.skip("not run from a git checkout")
    listed = subprocess.run(["git", "ls-files"], cwd=REPOSITORY, capture_output=True, text=True, check=True)
    found = []
    for name in listed.stdout.splitlines():
        path = REPOSITORY / name
        if Path(name) == table or path.suffix == ".md" or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        found += [f"{name}: {match.group(0)}" for match in old.finditer(text)]
    assert not found


def test_wait_for_returns_the_first_truthy_value() -> None:
    answers = iter([None, False, {}, {"leader": "a"}])
    assert wait_for(lambda: next(answers)) == {"leader": "a"}


def test_an_exception_of_the_probe_means_not_yet() -> None:
    calls: list[int] = []

    def probe() -> str | None:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("not up yet")
        return "up"

    assert wait_for(probe) == "up"


def test_wait_for_raises_after_its_timeout_with_the_last_error() -> None:
    def probe() -> None:
        raise ConnectionError("refused")

    with pytest.raises(WaitTimeout, match=r"waiting for the server.*refused") as raised:
        wait_for(probe, 0, what="the server")
    assert isinstance(raised.value.__cause__, ConnectionError)


def test_a_free_port_can_be_bound() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, free_port()))


@pytest.fixture
def bindir() -> Path:
    """The installed PostgreSQL's binaries; skips when there is none."""
    try:
        return find_bindir()
    except PostgresUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def as_root() -> None:
    """Skip unless we are root (only then do the servers run as another user)."""
    if os.geteuid() != 0:
        pytest.skip("needs root: only then do the servers run as the postgres user")


@pytest.fixture
def private_dir() -> Iterator[Path]:
    """A fresh 0700 directory directly under /tmp."""
    path = Path(tempfile.mkdtemp(prefix="toolkit-private-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_a_pg_bindir_that_does_not_exist_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PG_BINDIR_ENV, "/nonexistent/bin")
    with pytest.raises(
        PrerequisiteError, match=f"^{PG_BINDIR_ENV}=/nonexistent/bin does not exist: set it to"
    ):
        find_bindir()


def test_a_pg_bindir_without_the_server_programs_is_an_error(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "initdb").write_text("")
    monkeypatch.setenv(PG_BINDIR_ENV, str(tmp_path))
    with pytest.raises(PrerequisiteError, match=f"={tmp_path} holds no postgres, pg_ctl: set it"):
        find_bindir()


def test_a_pg_bindir_holding_them_is_used(monkeypatch: pytest.MonkeyPatch, bindir: Path) -> None:
    monkeypatch.setenv(PG_BINDIR_ENV, str(bindir))
    assert find_bindir() == bindir


def test_unsearchable_directory_reads_the_mode_bits_as_the_kernel(private_dir: Path) -> None:
    nobody, group = 65534, private_dir.stat().st_gid
    assert unsearchable_directory(private_dir, nobody, {nobody}) == private_dir
    assert unsearchable_directory(private_dir / ".", 0, set()) is None  # root enters everything
    private_dir.chmod(0o701)
    assert unsearchable_directory(private_dir, nobody, {nobody}) is None
    assert unsearchable_directory(private_dir, nobody, {group}) == private_dir  # the group bits apply
    private_dir.chmod(0o710)
    assert unsearchable_directory(private_dir, nobody, {group}) is None
    assert unsearchable_directory(private_dir, private_dir.stat().st_uid, set()) is None


@pytest.mark.usefixtures("as_root", "bindir")
def test_a_temp_dir_the_server_user_cannot_enter_is_an_error(
    private_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocked = f"cannot enter {private_dir} (mode drwx------, owner uid 0): run chmod o+x {private_dir}, or "
    with pytest.raises(PrerequisiteError, match=re.escape(blocked + "pass a base_dir it can enter")):
        PostgresServer(base_dir=str(private_dir / "."))
    assert list(private_dir.iterdir()) == []
    monkeypatch.setattr(tempfile, "tempdir", str(private_dir))
    with pytest.raises(PrerequisiteError, match=re.escape(blocked + "set TMPDIR to one it can enter")):
        check_environment()
    private_dir.chmod(0o711)  # the fix the message gives
    check_environment()


@pytest.mark.usefixtures("as_root")
def test_a_missing_server_user_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_USER_ENV, "kit-no-such-user")
    with pytest.raises(PrerequisiteError, match="no OS user 'kit-no-such-user': as root the test servers"):
        server_user()


@pytest.mark.usefixtures("bindir")
def test_servers_run_as_the_server_user_without_runuser(monkeypatch: pytest.MonkeyPatch) -> None:
    path = os.pathsep.join(part for part in os.environ["PATH"].split(os.pathsep) if "sbin" not in part)
    monkeypatch.setenv("PATH", path)
    assert shutil.which("runuser") is None
    with running_server() as server:
        assert server.execute("SELECT 1") == [(1,)]
        entry = server_user()
        assert server.datadir.stat().st_uid == (entry.pw_uid if entry else os.geteuid())
        if entry is not None:  # its own HOME, as runuser gave it: libpq in the server reads ~/.postgresql
            environ = Path(f"/proc/{server.pid}/environ").read_bytes().split(b"\0")
            assert f"HOME={entry.pw_dir}".encode() in environ
