"""Discovery: secrets of the configuration never reach error texts."""

from __future__ import annotations

import pytest
from patroni_mpp import (
    EngineConfigError,
    EngineLoadError,
    get_mpp,
)
from patroni_mpp._errors import redact, secrets_in
from patroni_mpp.testing.distributions import FakeDists

VALID = {"group": 1, "database": "db"}


LEAKY_ENGINE = """
from patroni_mpp import hookimpl
from patroni_mpp.testing.engines import AbstractMinimalEngine


class Leaky(AbstractMinimalEngine):
    validate_config = staticmethod(lambda config: True)

    def __init__(self, config):
        super().__init__(config)
        raise ValueError(f"cannot use {config!r}")


@hookimpl
def mpp_engine_class(name):
    return Leaky
"""


def test_plugin_error_texts_are_masked(fake_dists: FakeDists) -> None:
    fake_dists.add("leaky-engine", {"leaky": "leaky"}, {"leaky": LEAKY_ENGINE})
    config = {
        "postgresql": {"authentication": {"superuser": {"username": "pg", "password": "Su-Pass-1"}}},
        "leaky": {
            "url": "postgres://app:Url-Pass-2@db.example:5432/app",
            "api_token": "Tok-3",
            "dsn": "host=x password='Dsn Pass 4'",
        },
    }
    with pytest.raises(EngineLoadError) as info:
        get_mpp(config, entry_points=fake_dists.entry_points())
    message = str(info.value)
    for secret in ("Url-Pass-2", "Tok-3", "Dsn Pass 4", "Dsn"):
        assert secret not in message
    assert "******" in message
    assert info.value.__cause__ is None
    assert "leaky-engine 1.0" in message


def test_config_errors_never_echo_values(fake_dists: FakeDists) -> None:
    fake_dists.engine("acme")
    with pytest.raises(EngineConfigError) as info:
        get_mpp(
            {"acme": {"group": "postgres://u:Pw-Value-9@h/db", "database": ["Pw-Value-9"]}},
            entry_points=fake_dists.entry_points(),
        )
    assert "Pw-Value-9" not in str(info.value)


def test_secrets_in_and_redact() -> None:
    config = {
        "a": [{"Password": "pw-1"}, "postgresql://u:pw-2@h:5/d", {"x": "host=h password=pw-3 user=u"}],
        "superuser": {"password": 12345, "username": "postgres"},
        "rest": {"auth": {"client_secret": "pw-4", "token_url": "https://h/t"}},
    }
    secrets = secrets_in(config)
    assert {"pw-1", "pw-2", "pw-3", "12345", "pw-4"} <= secrets
    assert "postgres" not in secrets
    text = "pw-1 postgres://v:x@h pw-2 password='q 1' pw-4 abc"
    assert redact(text, secrets | {"abc"}) == (
        "****** postgres://v:******@h ****** password=****** ****** abc"
    )
