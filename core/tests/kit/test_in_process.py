"""The conformance suite on a hook module imported in-process: nothing installed, edits seen at once."""

from __future__ import annotations

import textwrap
import types

import pytest
from patroni_mpp import EngineLoadError
from patroni_mpp.testing.in_process import load_hook_module

from .kit_engines import GOOD_ENGINE, broken
from .test_plugin import PASSED, conformance_module

pytest_plugins = ["pytester"]

NAME = "kitinproc"
"""The engine's name: no distribution declares it."""


def _in_process_suite() -> str:
    module = conformance_module(NAME)
    for old, new in (
        (
            "from patroni_mpp.testing.conformance import Coordinator, EngineConformance, Invalid\n",
            "import kitinproc_hooks\nfrom patroni_mpp.testing.conformance import Coordinator, Invalid\n"
            "from patroni_mpp.testing.in_process import HookModuleConformance\n",
        ),
        (
            "class TestKitConformance(EngineConformance):\n",
            "class TestKitConformance(HookModuleConformance):\n",
        ),
        (f'    distribution = "{NAME}-engine"\n', "    hook_module = kitinproc_hooks\n"),
    ):
        assert old in module, old
        module = module.replace(old, new)
    return module


def _write_hooks(pytester: pytest.Pytester, source: str) -> None:
    pytester.makepyfile(kitinproc_hooks=textwrap.dedent(source).replace("@NAME@", NAME))


def test_suite_checks_the_module_as_edited(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_kit=_in_process_suite())
    _write_hooks(pytester, GOOD_ENGINE)
    result = pytester.runpytest_subprocess("-rs")
    result.assert_outcomes(passed=PASSED - 3, skipped=3)
    result.stdout.fnmatch_lines(
        ["SKIPPED * the entry point is checked only against the installed distribution*"]
    )
    # an edit shows at the next run, without installing anything
    _write_hooks(pytester, broken(('return slot.get("plugin") == NAME', 'return slot["plugin"] == NAME')))
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=PASSED - 3 - 4, failed=4, skipped=3)
    result.stdout.fnmatch_lines(["E * ignore_replication_slot({}) raised KeyError: 'plugin'*"])


def test_module_breaking_the_hook_contract() -> None:
    module = types.ModuleType("kit_no_engine")
    exec(  # noqa: S102 - a module written for this test
        "from patroni_mpp import hookimpl\n@hookimpl\ndef mpp_engine_class(name):\n    return None\n",
        module.__dict__,
    )
    with pytest.raises(EngineLoadError, match=r"kit_no_engine \(in-process\).*returned None, not a subclass"):
        load_hook_module(module, NAME)
