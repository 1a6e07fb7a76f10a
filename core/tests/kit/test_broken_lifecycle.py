"""Broken engines the kit catches because its host follows Patroni's lifecycle: no config and no
server at start-up, no I/O where Patroni's loops wait, time limits, malformed events, slow imports."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import pytest
from patroni_mpp import LoadedEngine
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.host import Cluster, LocalPostgresql, cluster, member

from .kit_engines import VALID, EngineInstaller, broken, handler_of, start_up

CTOR = "        self.stopped = threading.Event()\n"
GUCS = '        value = parameters.get("shared_preload_libraries") or ""\n'
SLOT = '        return slot.get("plugin") == NAME\n'
EVENT = "    def handle_event(self, cluster, event):\n        return None\n"
SYNC = "    def sync_meta_data(self, cluster):\n        return None\n"


def _view() -> Cluster:
    return cluster(member("node1", "127.0.0.1", 1, role="primary"))


def test_good_engine_passes_the_lifecycle(good: LoadedEngine, offline: LocalPostgresql) -> None:
    for config in VALID:
        start_up(good, config)
        handler = handler_of(good, config, offline)
        try:
            assert checks.check_malformed_events(handler, _view()) == 0  # it ignores them all
        finally:
            handler.stop()


def test_constructor_probing_config_safely_passes(engines: EngineInstaller) -> None:
    # getattr with a default is how Patroni's own engines cope: it gives None at start-up
    loaded = engines.load(broken((CTOR, CTOR + '        self.cfg = getattr(postgresql, "config", None)\n')))
    start_up(loaded, VALID[1])


# -- start-up: no config, conn_kwargs {}, nothing listening -----------------------------------


def test_constructor_reading_config(engines: EngineInstaller) -> None:
    loaded = engines.load(broken((CTOR, CTOR + "        self.superuser = postgresql.config.superuser\n")))
    with pytest.raises(
        AssertionError,
        match=r"^the handler constructor read postgresql.config: postgresql.config does not exist yet: "
        r"Patroni builds the MPP handler inside its PostgreSQL object's constructor, before",
    ):
        start_up(loaded, VALID[1])


def test_first_gucs_reading_config(engines: EngineInstaller) -> None:
    loaded = engines.load(broken((GUCS, "        self.postgresql.config.superuser\n" + GUCS)))
    with pytest.raises(
        AssertionError,
        match=r"^adjust_postgres_gucs\(parameters\), its first call read postgresql.config: "
        r"postgresql.config does not exist yet",
    ):
        start_up(loaded, VALID[1])


def test_constructor_connecting_by_itself(engines: EngineInstaller) -> None:
    # past the host's pool: the connection is refused, and the kit says where it was
    connect = (
        "        import psycopg\n        psycopg.connect(postgresql.connection_string, connect_timeout=1)\n"
    )
    loaded = engines.load(broken((CTOR, CTOR + connect)))
    with pytest.raises(
        AssertionError,
        match=r"(?s)^the handler constructor raised EngineLoadError: .* building the handler raised "
        r"OperationalError: .*; here the host is as Patroni's is at start-up: .* nothing listens at "
        r"postgres://127.0.0.1:\d+/postgres\. Patroni builds the handler before PostgreSQL may run",
    ):
        start_up(loaded, VALID[1])


@pytest.mark.parametrize("swallowed", [False, True], ids=["raised", "swallowed"])
def test_constructor_running_a_query(engines: EngineInstaller, swallowed: bool) -> None:
    query = 'postgresql.connection_pool.get("kit").query("SELECT 1")'
    line = (
        f"        try:\n            {query}\n        except Exception:\n            pass\n"
        if swallowed
        else f"        {query}\n"
    )
    loaded = engines.load(broken((CTOR, CTOR + line)))
    with pytest.raises(
        AssertionError,
        match=r"^the handler constructor sent 1 statement\(s\) to PostgreSQL \('SELECT 1' on connection "
        r"'kit'\); it must do no I/O: Patroni builds the handler before PostgreSQL may run; register",
    ):
        start_up(loaded, VALID[1])


def test_gucs_running_a_query(engines: EngineInstaller) -> None:
    query = '        self.postgresql.connection_pool.get("kit").query("SHOW max_connections")\n'
    loaded = engines.load(broken((GUCS, query + GUCS)))
    with pytest.raises(
        AssertionError,
        match=r"^adjust_postgres_gucs\(parameters\), its first call sent 1 statement\(s\) to PostgreSQL "
        r"\('SHOW max_connections' on connection 'kit'\); it must do no I/O: Patroni calls it on its main",
    ):
        start_up(loaded, VALID[1])


def test_slot_check_running_a_query(engines: EngineInstaller) -> None:
    query = '        self.postgresql.connection_pool.get("kit").query("SELECT 1 FROM pg_replication_slots")\n'
    loaded = engines.load(broken((SLOT, query + SLOT)))
    with pytest.raises(
        AssertionError,
        match=r"^ignore_replication_slot\(\{\}\) sent 1 statement\(s\) to PostgreSQL \('SELECT 1 FROM "
        r"pg_replication_slots' on connection 'kit'\); it must do no I/O: Patroni's HA loop calls it",
    ):
        start_up(loaded, VALID[1])


def test_gucs_reading_the_user(engines: EngineInstaller) -> None:
    user = '        parameters["kit.user"] = self.postgresql.connection_pool.conn_kwargs["user"]\n'
    loaded = engines.load(broken((GUCS, user + GUCS)))
    with pytest.raises(
        AssertionError,
        match=r"^adjust_postgres_gucs\(parameters\), its first call raised KeyError: 'user'; here the "
        r"host is as Patroni's is at start-up: postgresql.config does not exist yet, "
        r"connection_pool.conn_kwargs is \{\} and nothing listens at postgres://127.0.0.1:\d+/postgres",
    ):
        start_up(loaded, VALID[1])


# -- time limits ----------------------------------------------------------------------------


def test_sync_sleeping(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        ("import re\n", "import re\nimport time\n"), (SYNC, SYNC.replace("return None", "time.sleep(20)"))
    )
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(
        AssertionError,
        match=r"^sync_meta_data\(cluster\) was still running after 1\.\d\d s, over the limit of 1 s \(the "
        r"kit stopped waiting for it\): Patroni calls it on its main thread, .* raise call_time_limit",
    ):
        checks.check_handler_calls(handler, _view())
    # the kit gave up while the hook still sleeps: its thread is still there
    assert any(t.name == "conformance call sync_meta_data(cluster)" for t in threading.enumerate())


def test_gucs_over_a_tight_limit(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(("import re\n", "import re\nimport time\n"), (GUCS, "        time.sleep(0.3)\n" + GUCS))
    handler = handler_of(engines.load(source), VALID[1], offline)
    with pytest.raises(AssertionError, match=r"over the limit of 0\.05 s"):
        checks.check_adjust_postgres_gucs(handler, time_limit=0.05)


def test_import_sleeping(engines: EngineInstaller, tmp_path: Path) -> None:
    name = engines.install(broken(("import re\n", "import re\nimport time\ntime.sleep(3)\n")))
    with pytest.raises(AssertionError) as caught:
        checks.check_loads_in_fresh_interpreter(name, tmp_path)
    message = str(caught.value)
    assert message.startswith(
        f"loading engine {name!r} in a new interpreter was still running after the limit of 2.5 s "
        "(import_time_limit; the kit stopped it there): Patroni and every patroni-mpp command import"
    ), message
    assert re.search(rf'File ".*{name}_engine\.py", line 4 in <module>', message), message


# -- malformed events -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            '        if not isinstance(event, dict):\n            raise ValueError("not an object")\n'
            '        self.last = (event["type"], event["group"])\n',
            r"^handle_event\(cluster, \{\}\) raised KeyError: 'type' for a malformed event \(an empty "
            r"object\)\. The host hands handle_event the request body unvalidated, exactly as parsed "
            r"from JSON: reject a malformed event with ValueError",
        ),
        (
            '        if event["type"] == "before_demote":\n            return None\n',
            r"^handle_event\(cluster, None\) raised TypeError: 'NoneType' object is not subscriptable "
            r"for a malformed event \(a JSON NoneType, not an object\)",
        ),
        (
            "        if isinstance(event, dict) and isinstance(event.get('timeout'), int):\n"
            "            event['timeout'] + 1\n"
            "        elif isinstance(event, dict):\n            return event.get('group')\n",
            r"^handle_event\(cluster, \{'type': 'after_promote', 'group': 3, 'leader': "
            r"'conformance-worker', 'cooldown': 10\}\) returned 3 for a malformed event \(no 'timeout'\)",
        ),
    ],
    ids=["KeyError", "TypeError", "answer"],
)
def test_malformed_event(engines: EngineInstaller, offline: LocalPostgresql, body: str, message: str) -> None:
    loaded = engines.load(
        broken((EVENT, EVENT.replace("        return None\n", body + "        return None\n")))
    )
    handler = handler_of(loaded, VALID[1], offline)
    with pytest.raises(AssertionError, match=message):
        checks.check_malformed_events(handler, _view())


def test_rejecting_with_value_error_passes(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    keys = "{'type', 'group', 'leader', 'timeout', 'cooldown'}"
    body = f"        if not isinstance(event, dict) or not {keys} <= set(event):\n"
    body += "            raise ValueError('malformed event')\n"
    loaded = engines.load(
        broken((EVENT, EVENT.replace("        return None\n", body + "        return None\n")))
    )
    handler = handler_of(loaded, VALID[1], offline)
    rejected = checks.check_malformed_events(handler, _view())
    assert rejected == 6 + 1 + 5 + 1  # non-objects, {}, each key missing, the lone unknown type


def test_events_cover_every_key(good: LoadedEngine) -> None:
    (sample, *_) = checks.sample_events(good.create(VALID[0]))
    assert set(checks.WRONG_EVENT_VALUES) == set(sample)
