"""The checks of the engine conformance suite, as plain functions, by topic.

:class:`patroni_mpp.testing.conformance.EngineConformance` runs them; an engine's own tests may call
them directly too. Each check raises :class:`AssertionError` with a message that names what is
wrong and, where it helps, why the host needs it. Exceptions raised by the engine itself propagate
unchanged unless the contract says the call must not raise (then the check turns them into a
failure naming the input).

The topics: :mod:`.distribution` (entry point, core requirement, loading alone), :mod:`.hooks`
(the hook module and the factory hooks, through :mod:`patroni_mpp._contract`, as discovery checks
them), :mod:`.configuration`, :mod:`.probes` (sections the kit generates), :mod:`.identity`,
:mod:`.handler_calls`, :mod:`.answers` (the author's expected answers), :mod:`.lifecycle` (the
handler in Patroni's start-up order, without I/O), :mod:`.events` (malformed events) and
:mod:`.threads`; :mod:`.time_limits` bounds the calls that must not block, and the sample data
they use is in :mod:`.samples`. Every check is also importable from this package.
"""

from __future__ import annotations

from .answers import EventSample, SlotSample, check_event_answers, check_slot_answers
from .configuration import (
    Coordinator,
    Invalid,
    check_invalid_config,
    check_json_schema,
    check_valid_config,
    check_validate_config_total,
)
from .distribution import (
    check_core_requirement,
    check_loads_in_fresh_interpreter,
    core_requirement,
    installed_entry_point,
)
from .events import check_malformed_events
from .failure import fail
from .handler_calls import (
    GUC_VALUE_TYPES,
    ExpectedError,
    check_adjust_postgres_gucs,
    check_bootstrap,
    check_handler_calls,
    check_ignore_replication_slot,
    preload_entries,
)
from .hooks import (
    FOREIGN_NAME,
    check_factories,
    check_hook_module,
    declared_hooks,
    plugin_manager,
)
from .identity import (
    K8S_LABEL_RE,
    check_coordinator_mark,
    check_group_re,
    check_handler_identity,
    check_identity,
    check_type_fits_section,
)
from .lifecycle import check_no_io, check_start_up
from .probes import (
    UNKNOWN_KEY,
    UnknownKeys,
    check_fields_described,
    check_unknown_key,
    check_validate_config_agrees,
    check_validate_config_agrees_on_probes,
    generated_probes,
)
from .samples import (
    BASE_PARAMETERS,
    EVENT_TYPES,
    GROUP_STRINGS,
    JUNK_SECTIONS,
    PRELOAD_SAMPLES,
    WRONG_EVENT_VALUES,
    CaseInsensitiveParameters,
    malformed_events,
    parameter_samples,
    sample_events,
    sample_slots,
    slot_databases,
)
from .threads import (
    check_no_thread_left,
    check_threads_are_daemons,
    new_threads,
)
from .time_limits import DEFAULT_CALL_TIME_LIMIT, DEFAULT_IMPORT_TIME_LIMIT, call_within

__all__ = [
    "BASE_PARAMETERS",
    "DEFAULT_CALL_TIME_LIMIT",
    "DEFAULT_IMPORT_TIME_LIMIT",
    "EVENT_TYPES",
    "FOREIGN_NAME",
    "GROUP_STRINGS",
    "GUC_VALUE_TYPES",
    "JUNK_SECTIONS",
    "K8S_LABEL_RE",
    "PRELOAD_SAMPLES",
    "UNKNOWN_KEY",
    "WRONG_EVENT_VALUES",
    "CaseInsensitiveParameters",
    "Coordinator",
    "EventSample",
    "ExpectedError",
    "Invalid",
    "SlotSample",
    "UnknownKeys",
    "call_within",
    "check_adjust_postgres_gucs",
    "check_bootstrap",
    "check_coordinator_mark",
    "check_core_requirement",
    "check_event_answers",
    "check_factories",
    "check_fields_described",
    "check_group_re",
    "check_handler_calls",
    "check_handler_identity",
    "check_hook_module",
    "check_identity",
    "check_ignore_replication_slot",
    "check_invalid_config",
    "check_json_schema",
    "check_loads_in_fresh_interpreter",
    "check_malformed_events",
    "check_no_io",
    "check_no_thread_left",
    "check_slot_answers",
    "check_start_up",
    "check_threads_are_daemons",
    "check_type_fits_section",
    "check_unknown_key",
    "check_valid_config",
    "check_validate_config_agrees",
    "check_validate_config_agrees_on_probes",
    "check_validate_config_total",
    "core_requirement",
    "declared_hooks",
    "fail",
    "generated_probes",
    "installed_entry_point",
    "malformed_events",
    "new_threads",
    "parameter_samples",
    "plugin_manager",
    "preload_entries",
    "sample_events",
    "sample_slots",
    "slot_databases",
]
