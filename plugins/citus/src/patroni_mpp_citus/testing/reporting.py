"""Which tests ran on real Citus: a JUnit property that ``scripts/test`` counts in its closing lines."""

from __future__ import annotations

from typing import Any

__all__ = ["CITUS_PROPERTY", "record_citus_mode"]

CITUS_PROPERTY = "citus"
"""Name of the test-case property holding ``real`` or ``emulated``."""


def record_citus_mode(request: Any, server_fixture: str = "citus_server") -> None:
    """Record the Citus mode of the test being set up, when it uses the Citus test server.

    Call it from an autouse fixture; tests that do not use ``server_fixture`` get no property (and
    do not start a server because of it).

    :param request: the test's ``pytest.FixtureRequest``.
    :param server_fixture: name of the fixture giving the :class:`~.server.CitusTestServer`.
    """
    if server_fixture in request.fixturenames:
        mode = request.getfixturevalue(server_fixture).mode
        request.node.user_properties.append((CITUS_PROPERTY, mode))
