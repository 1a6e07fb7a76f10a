"""Broken engines the configuration checks and probes must catch, each with the message it must give.

Every engine here is :data:`~.kit_engines.GOOD_ENGINE` with one thing broken: by a text replacement
(:func:`~.kit_engines.broken`) or by module code appended to it.
"""

from __future__ import annotations

import pytest
from patroni_mpp import LoadedEngine
from patroni_mpp.testing import conformance_checks as checks

from .kit_engines import GOOD_ENGINE, INVALID, VALID, EngineInstaller, broken
from .test_plugin import PASSED, conformance_module

DB_DESCRIPTION = ', description="The engine\'s database."'
pytest_plugins = ["pytester"]

GROUP_DESCRIPTION = ', description="The group id; 0 is the coordinator."'

# -- the good engine passes the probes -------------------------------------------------------


def test_good_engine_passes_the_probes(good: LoadedEngine) -> None:
    for config in VALID:
        checks.check_unknown_key(good, config)
        assert checks.check_validate_config_agrees(good, config)
        assert checks.check_validate_config_agrees_on_probes(good, config) > 10
    for sample in INVALID:
        assert not checks.check_validate_config_agrees(good, sample)
    assert checks.check_fields_described(good) == ["database", "group"]


def test_probes_cover_each_key(good: LoadedEngine) -> None:
    texts = [text for text, _ in checks.generated_probes({"database": "app"})]
    assert f"with {checks.UNKNOWN_KEY!r} added" in texts
    assert "without 'database'" in texts
    assert "with 'database' set to None" in texts
    assert next(iter(checks.generated_probes("text"))) == ("a junk section", None)


# -- the unknown-key probe -------------------------------------------------------------------


def test_model_allowing_extra_keys(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('extra="forbid"', 'extra="allow"')))
    with pytest.raises(AssertionError, match=r"accepted the unknown key .* and kept it .*extra='allow'"):
        checks.check_unknown_key(loaded, VALID[0])
    # "ignore" does not excuse keeping the key either
    with pytest.raises(AssertionError, match="kept it in the validated section"):
        checks.check_unknown_key(loaded, VALID[0], "ignore")


def test_model_ignoring_extra_keys(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('extra="forbid"', 'extra="ignore"')))
    message = r"ignoring the unknown key .* dropped without a word.* set unknown_keys = 'ignore'"
    with pytest.raises(AssertionError, match=message):
        checks.check_unknown_key(loaded, VALID[1])
    checks.check_unknown_key(loaded, VALID[1], "ignore")  # declared: dropping the key is fine


def test_hand_validator_ignoring_extra_keys(engines: EngineInstaller) -> None:
    # validate_config checks the keys it knows only: it accepts what the model rejects
    source = GOOD_ENGINE + (
        "\nKit.validate_config = staticmethod(\n"
        "    lambda config: isinstance(config, dict) and isinstance(config.get('database'), str)\n"
        ")\n"
    )
    loaded = engines.load(source)
    message = r"validate_config\(\{'database': 'app', 'conformance_unknown_key': 'probe'\}\) answered True"
    with pytest.raises(AssertionError, match=message):
        checks.check_unknown_key(loaded, VALID[0])


def test_unknown_key_rejected_without_naming_it(engines: EngineInstaller) -> None:
    validator = (
        "    @model_validator(mode='before')\n"
        "    @classmethod\n"
        "    def _known(cls, data):\n"
        "        if isinstance(data, dict) and set(data) - {'database', 'group'}:\n"
        "            raise ValueError('unexpected keys')\n"
        "        return data\n"
    )
    source = broken(
        ("ConfigDict, Field", "ConfigDict, Field, model_validator"),
        ("\n\ndef accepted(config):", validator + "\n\ndef accepted(config):"),
    )
    loaded = engines.load(source)
    with pytest.raises(AssertionError, match=r"no problem names 'conformance_unknown_key'"):
        checks.check_unknown_key(loaded, VALID[0])


# -- validate_config agrees with the model ---------------------------------------------------


def test_validate_config_always_true(engines: EngineInstaller) -> None:
    loaded = engines.load(GOOD_ENGINE + "\nKit.validate_config = staticmethod(lambda config: True)\n")
    message = (
        r"validate_config\(\{'database': ''\}\) answered True, but the config model rejects it "
        r"\(database: .*\)\. Patroni's get_mpp\(\) builds the engine of the first section"
    )
    with pytest.raises(AssertionError, match=message):
        checks.check_validate_config_agrees(loaded, INVALID[0])
    with pytest.raises(AssertionError, match="answered True, but the config model rejects it"):
        checks.check_validate_config_agrees_on_probes(loaded, VALID[0])


def test_validate_config_missing_a_model_rule(engines: EngineInstaller) -> None:
    # checks the types but not the bounds: group -1 passes
    source = GOOD_ENGINE + (
        "\nKit.validate_config = staticmethod(lambda config: isinstance(config, dict)"
        " and isinstance(config.get('database'), str) and isinstance(config.get('group', 0), int))\n"
    )
    loaded = engines.load(source)
    with pytest.raises(AssertionError, match=r"validate_config\(\{'database': 'app', 'group': -1\}\)"):
        checks.check_validate_config_agrees(loaded, INVALID[1])


def test_validate_config_stricter_than_the_model(engines: EngineInstaller) -> None:
    source = GOOD_ENGINE + (
        "\nKit.validate_config = staticmethod(lambda config: isinstance(config, dict)"
        " and 'group' in config and accepted(config))\n"
    )
    loaded = engines.load(source)
    message = r"validate_config\(\{'database': 'app'\}\) \(the raw sample\) does not answer True"
    with pytest.raises(AssertionError, match=message):
        checks.check_validate_config_agrees(loaded, VALID[0])


def test_validate_config_raising_on_a_probe(engines: EngineInstaller) -> None:
    source = GOOD_ENGINE + (
        "\nKit.validate_config = staticmethod(\n"
        "    lambda config: isinstance(config, dict) and bool(config['database']) and accepted(config)\n"
        ")\n"
    )
    loaded = engines.load(source)
    with pytest.raises(AssertionError, match=r"validate_config\(\{'group': 2\}\) raised KeyError"):
        checks.check_validate_config_agrees_on_probes(loaded, VALID[1])


# -- descriptions ----------------------------------------------------------------------------


def test_fields_without_descriptions(engines: EngineInstaller) -> None:
    loaded = engines.load(broken((DB_DESCRIPTION, ""), (GROUP_DESCRIPTION, "")))
    message = r"section keys without a description: \['database', 'group'\]\. `patroni-mpp schema kit"
    with pytest.raises(AssertionError, match=message):
        checks.check_fields_described(loaded)


def test_one_field_without_description(engines: EngineInstaller) -> None:
    loaded = engines.load(broken((GROUP_DESCRIPTION, "")))
    with pytest.raises(AssertionError, match=r"without a description: \['group'\]"):
        checks.check_fields_described(loaded)


def test_nested_model_described_by_its_docstring(engines: EngineInstaller) -> None:
    nested = '\nclass Pool(BaseModel):\n    """Connection pool settings."""\n\n    size: int = 1\n\n'
    source = broken(
        ("\nclass KitConfig(BaseModel):", nested + "\nclass KitConfig(BaseModel):"),
        ("\n\ndef accepted(config):", "    pool: Pool = Pool()\n\n\ndef accepted(config):"),
    )
    loaded = engines.load(source)
    assert checks.check_fields_described(loaded) == ["database", "group", "pool"]


# -- what the kit already checked, one broken engine each --------------------------------------


def test_engine_changing_its_config(engines: EngineInstaller) -> None:
    source = (
        GOOD_ENGINE
        + "\nKit.__init__ = lambda self, config: AbstractMPP.__init__(self, dict(config, mode=1))\n"
    )
    loaded = engines.load(source)
    with pytest.raises(AssertionError, match=r"the engine's config .* differs from the validated"):
        checks.check_valid_config(loaded, VALID[0])


def test_numbers_as_strings_validating_differently(engines: EngineInstaller) -> None:
    loaded = engines.load(
        broken(("group: int = Field(default=0, ge=0", "group: int | str = Field(default=0"))
    )
    with pytest.raises(AssertionError, match=r"numbers given as strings validate to .*'2'.*, not"):
        checks.check_valid_config(loaded, VALID[1])


def test_model_accepting_an_invalid_sample(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(("Field(min_length=1, ", "Field(")))
    with pytest.raises(AssertionError, match=r"invalid sample \{'database': ''\} was accepted"):
        checks.check_invalid_config(loaded, INVALID[0])


def test_problem_without_message(engines: EngineInstaller) -> None:
    validator = (
        "    @field_validator('database')\n"
        "    @classmethod\n"
        "    def _named(cls, value):\n"
        "        if value == 'silent':\n"
        "            raise PydanticCustomError('silent', '')\n"
        "        return value\n"
    )
    source = broken(
        ("ConfigDict, Field", "ConfigDict, Field, field_validator"),
        ("import re\n", "import re\nfrom pydantic_core import PydanticCustomError\n"),
        ("\n\ndef accepted(config):", validator + "\n\ndef accepted(config):"),
    )
    loaded = engines.load(source)
    with pytest.raises(AssertionError, match="the problem at 'database' has no message"):
        checks.check_invalid_config(loaded, {"database": "silent"})


def test_schema_not_an_object(engines: EngineInstaller) -> None:
    loaded = engines.load(broken(('extra="forbid"', 'extra="forbid", json_schema_extra={"type": "array"}')))
    with pytest.raises(AssertionError, match="is not an object schema"):
        checks.check_json_schema(loaded)


# -- through the conformance class ------------------------------------------------------------


def test_conformance_class_reports_each_probe(pytester: pytest.Pytester, engines: EngineInstaller) -> None:
    source = broken(('extra="forbid"', 'extra="allow"'), (DB_DESCRIPTION, "")) + (
        "\nKit.validate_config = staticmethod(lambda config: True)\n"
        "Kit.coordinator_group_id = property(lambda self: 1)\n"
    )
    name = engines.install(source)
    pytester.makepyfile(test_kit=conformance_module(name))
    result = pytester.runpytest()
    result.assert_outcomes(passed=PASSED - 10, failed=10)
    result.stdout.fnmatch_lines_random(
        [
            "E * accepted the unknown key 'conformance_unknown_key' and kept it *",
            "E * section keys without a description: [[]'database'[]]. *",
            "E * the sample marked Coordinator(...) is not the coordinator: *coordinator_group_id 1.*",
            "E * Kit.validate_config({'database': ''}) answered True, but the config model rejects it*",
            "FAILED test_kit.py::TestKitConformance::test_unknown_key_rejected[[]valid1[]]*",
            "FAILED test_kit.py::TestKitConformance::test_config_fields_described*",
            "FAILED test_kit.py::TestKitConformance::test_coordinator_sample[[]valid0[]]*",
            "FAILED test_kit.py::TestKitConformance::test_validate_config_agrees_on_invalid[[]invalid3[]]*",
            "FAILED test_kit.py::TestKitConformance::test_validate_config_agrees_on_probes[[]valid0[]]*",
        ]
    )
