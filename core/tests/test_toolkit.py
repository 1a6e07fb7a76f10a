"""The shared parts of the test toolkit: environment variables, polling, ports."""

from __future__ import annotations

import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from patroni_mpp.testing.environment import RENAMED_VARIABLES, RenamedVariableError, getenv
from patroni_mpp.testing.network import HOST, free_port
from patroni_mpp.testing.polling import WaitTimeout, wait_for

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
