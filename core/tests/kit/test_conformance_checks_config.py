"""The conformance checks of configuration and identity catch the defects they are meant for."""

from __future__ import annotations

import re

import pytest
from patroni_mpp import LoadedEngine
from patroni_mpp.testing import conformance_checks as checks
from patroni_mpp.testing.host import LocalPostgresql

from .kit_engines import GOOD_ENGINE, EngineInstaller, broken

# -- configuration --------------------------------------------------------------------------


def test_valid_sample_rejected(good: LoadedEngine) -> None:
    with pytest.raises(AssertionError, match=r"valid sample .* was rejected"):
        checks.check_valid_config(good, {"database": "app", "colour": "blue"})


def test_strict_model_refuses_numbers_as_strings(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('extra="forbid"', 'extra="forbid", strict=True')))
    with pytest.raises(AssertionError, match=r"PATRONI_KIT.*_\* environment variables"):
        checks.check_valid_config(loaded, {"database": "app", "group": 1})


def test_engine_class_refusing_its_model(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('isinstance(config.get("database"), str)', "False")))
    with pytest.raises(AssertionError, match="validates but builds no engine"):
        checks.check_valid_config(loaded, {"database": "app"})


def test_invalid_sample_accepted(good: LoadedEngine) -> None:
    with pytest.raises(AssertionError, match=r"invalid sample .* was accepted"):
        checks.check_invalid_config(good, {"database": "fine"})


def test_invalid_sample_without_field(engines: EngineInstaller) -> None:
    validator = (
        "    @model_validator(mode='after')\n"
        "    def _check(self):\n"
        "        if self.database == 'bad':\n"
        "            raise ValueError('bad section')\n"
        "        return self\n"
    )
    source = broken(
        ("ConfigDict, Field", "ConfigDict, Field, model_validator"),
        ("\n\ndef accepted(config):", validator + "\n\ndef accepted(config):"),
    )
    loaded = engines.load(source)
    with pytest.raises(AssertionError, match="no problem names a key"):
        checks.check_invalid_config(loaded, {"database": "bad"})
    error = checks.check_invalid_config(loaded, checks.Invalid({"database": "bad"}, ""))
    assert "bad section" in str(error)
    with pytest.raises(AssertionError, match="expected a problem at 'database'"):
        checks.check_invalid_config(loaded, checks.Invalid({"database": "bad"}, "database"))


def test_non_mapping_invalid_sample(good: LoadedEngine) -> None:
    error = checks.check_invalid_config(good, "text")
    assert error.problems[0].location == ""


def test_validate_config_raising(engines: EngineInstaller) -> None:
    loaded = engines.load(
        broken(
            (
                'return isinstance(config, dict) and isinstance(config.get("database"), str)',
                'return isinstance(config["database"], str)',
            )
        )
    )
    with pytest.raises(AssertionError, match=r"None: raised TypeError"):
        checks.check_validate_config_total(loaded.engine_class)


def test_validate_config_answering_non_bool(engines: EngineInstaller) -> None:
    loaded = engines.load(
        broken(
            (
                'return isinstance(config, dict) and isinstance(config.get("database"), str)',
                'return config and config.get("database")',
            )
        )
    )
    with pytest.raises(AssertionError, match=r"returned .*, not a bool"):
        checks.check_validate_config_total(loaded.engine_class)


# -- identity -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "culprit"),
    [(r"^\d*$", "''"), (r"^\w+$", "'a'"), (r"^[0-9]", "'1.0'"), (r"^(0|[1-9][0-9]*)$", None)],
)
def test_group_re_matrix(pattern: str, culprit: str | None) -> None:
    if culprit is None:
        checks.check_group_re(re.compile(pattern))
    else:
        with pytest.raises(AssertionError, match=re.escape(culprit)):
            checks.check_group_re(re.compile(pattern))


def test_group_that_is_not_an_int(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('return self.config["group"]', 'return str(self.config["group"])')))
    engine = loaded.create({"database": "app", "group": 1})
    with pytest.raises(AssertionError, match="group of an enabled engine must be an int"):
        checks.check_identity(engine)


def test_group_re_missing_own_group(engines: EngineInstaller) -> None:
    loaded = engines.load(broken((r'r"^(0|[1-9][0-9]*)$"', r'r"^[0-9]$"')))
    with pytest.raises(AssertionError, match="does not match '12'"):
        checks.check_identity(loaded.create({"database": "app", "group": 12}))


def test_coordinator_and_worker_contradicting(engines: EngineInstaller) -> None:
    extra = "\nKit.is_worker = lambda self: True\n"
    loaded = engines.load(GOOD_ENGINE + extra)
    with pytest.raises(AssertionError, match="exactly one of coordinator and worker"):
        checks.check_identity(loaded.create({"database": "app"}))


def test_mixin_first_gives_wrong_type(engines: EngineInstaller, offline: LocalPostgresql) -> None:
    source = broken(
        (
            "class KitHandler(Kit, AbstractMPPHandler):",
            "class Loud:\n    pass\n\n\nclass KitHandler(Loud, Kit, AbstractMPPHandler):",
        ),
    )
    loaded = engines.load(source)
    engine = loaded.create({"database": "app", "group": 1})
    handler = engine.get_handler_impl(offline)
    with pytest.raises(AssertionError, match=r"handler.type is 'Loud' but the descriptor's is 'Kit'"):
        checks.check_handler_identity(engine, handler, offline)


def test_handler_not_a_handler(good: LoadedEngine, offline: LocalPostgresql) -> None:
    engine = good.create({"database": "app"})
    with pytest.raises(AssertionError, match="is not an AbstractMPPHandler"):
        checks.check_handler_identity(engine, object(), offline)
