"""Messages of the errors operators read."""

from __future__ import annotations

from patroni_mpp import (
    EngineConfigError,
    EngineConflictError,
    EngineLoadError,
    EngineNotInstalledError,
    EngineSource,
    FieldProblem,
    MPPError,
    MultipleEnginesError,
)

A = EngineSource("twin-a", "1.0", "twin_a.hooks")
B = EngineSource("twin-b", "2.0", "twin_b")


def test_every_error_is_an_mpp_error() -> None:
    for cls in (
        EngineConfigError,
        EngineConflictError,
        EngineLoadError,
        EngineNotInstalledError,
        MultipleEnginesError,
    ):
        assert issubclass(cls, MPPError)


def test_config_error_lists_every_field() -> None:
    error = EngineConfigError("citus", [FieldProblem("group", "required"), FieldProblem("", "bad")])
    assert str(error) == "invalid MPP configuration section 'citus':\n  citus.group: required\n  citus: bad"
    assert isinstance(error, ValueError)


def test_conflict_names_both_distributions() -> None:
    text = str(EngineConflictError("twin", [A, B]))
    assert "twin-a 1.0 (twin_a.hooks) and twin-b 2.0 (twin_b)" in text


def test_load_error_names_everything() -> None:
    text = str(EngineLoadError("twin", A, "0.1.0", "import failed: boom"))
    assert text == (
        "MPP engine 'twin' from twin-a 1.0 (entry point twin_a.hooks) is unusable "
        "(core: patroni-mpp 0.1.0): import failed: boom"
    )


def test_not_installed_with_and_without_wheel() -> None:
    assert "pip install patroni-mpp-citus" in str(EngineNotInstalledError("citus", "patroni-mpp-citus"))
    assert "'patroni.mpp' entry-point group" in str(EngineNotInstalledError("foo", None))


def test_multiple_sections() -> None:
    assert str(MultipleEnginesError(["citus", "foo"])) == (
        "only one MPP engine section may be configured, found 2: 'citus', 'foo'"
    )
