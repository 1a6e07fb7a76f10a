"""Faults injected into a Citus test server: a ``pg_catalog`` function that raises."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from .server import CitusTestServer


@contextmanager
def broken_function(citus: CitusTestServer, name: str) -> Iterator[None]:
    """Make ``pg_catalog.<name>`` raise ``injected failure of <name>``; restored when the block ends.

    Works on the emulation (a PL/pgSQL function) and on real Citus (a C function of the extension):
    the function is replaced, with the same signature, by a PL/pgSQL body that raises, and the
    original definition (``pg_get_functiondef``) is executed again afterwards.
    """
    with citus.connect(application_name="reliability-fault") as conn:
        rows = conn.execute(
            "SELECT pg_catalog.pg_get_functiondef(p.oid), pg_catalog.pg_get_function_arguments(p.oid), "
            "pg_catalog.pg_get_function_result(p.oid) FROM pg_catalog.pg_proc p "
            "WHERE p.proname = %s AND p.pronamespace = 'pg_catalog'::regnamespace",
            (name,),
        ).fetchall()
        assert len(rows) == 1, f"expected one pg_catalog.{name}, found {len(rows)}"
        original, arguments, result = (str(value) for value in rows[0])
        if citus.is_real:
            # a function of the extension is not distributed, but never let Citus propagate this
            conn.execute("SET citus.enable_ddl_propagation TO off")
        conn.execute(
            f"CREATE OR REPLACE FUNCTION pg_catalog.{name}({arguments}) RETURNS {result} "
            f"LANGUAGE plpgsql AS $fault$ BEGIN RAISE EXCEPTION 'injected failure of {name}'; END $fault$"
        )
        try:
            yield
        finally:
            conn.execute(original)
            restored = conn.execute(
                "SELECT pg_catalog.pg_get_functiondef(p.oid) FROM pg_catalog.pg_proc p "
                "WHERE p.proname = %s AND p.pronamespace = 'pg_catalog'::regnamespace",
                (name,),
            ).fetchall()
            assert [str(row[0]) for row in restored] == [original], f"{name} was not restored"
