"""Secret probes: a Patroni configuration with a password in every usual place, and a leak check.

An engine must never let these passwords reach a log record, an exception's text or a status
document: build the configuration with :func:`patroni_config`, collect every text the engine
produced, and call :func:`assert_no_secret` on them.
"""

from __future__ import annotations

from typing import Any

SUPERUSER_PASSWORD = "Super-Secret-Pw-1"  # noqa: S105 - a probe, not a credential
"""The superuser's password."""
URL_PASSWORD = "Url-Secret-Pw-2"  # noqa: S105 - a probe, not a credential
"""The password in the DCS URL."""
REST_PASSWORD = "Rest-Secret-Pw-3"  # noqa: S105 - a probe, not a credential
"""The REST API's password."""
EXTRA_PASSWORD = "Extra-Secret-Pw-4"  # noqa: S105 - a probe, not a credential
"""A password under a key of the tester's choice."""
SECRETS = (SUPERUSER_PASSWORD, URL_PASSWORD, REST_PASSWORD, EXTRA_PASSWORD)
"""Every probe password; none may appear in a log record, an error or a status document."""


def patroni_config(section: Any, name: str = "citus") -> dict[str, Any]:
    """A Patroni configuration with passwords in the usual places and ``section`` as section ``name``.

    :param section: the engine's section.
    :param name: the engine's section name.
    """
    return {
        "scope": "demo",
        "etcd3": {"url": f"http://root:{URL_PASSWORD}@127.0.0.1:2379"},
        "restapi": {"authentication": {"username": "api", "password": REST_PASSWORD}},
        "postgresql": {
            "connect_address": "127.0.0.1:5432",
            "authentication": {"superuser": {"username": "postgres", "password": SUPERUSER_PASSWORD}},
        },
        name: section,
    }


def assert_no_secret(texts: list[str]) -> None:
    """Fail, showing where, when one of ``texts`` holds one of :data:`SECRETS`."""
    for text in texts:
        for secret in SECRETS:
            if secret in text:
                at = text.index(secret)
                raise AssertionError(f"{secret!r} leaked in: ...{text[max(0, at - 400) : at + 200]}")
