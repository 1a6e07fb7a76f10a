"""The README's configuration reference matches the section model."""

from __future__ import annotations

import re
from pathlib import Path

from patroni_mpp import env_var_name
from patroni_mpp_citus import CitusConfig

README = Path(__file__).resolve().parents[1] / "README.md"


def reference_rows() -> dict[str, list[str]]:
    text = README.read_text()
    block = text.split("<!-- config-reference:start -->")[1].split("<!-- config-reference:end -->")[0]
    rows: dict[str, list[str]] = {}
    for line in block.strip().splitlines()[2:]:
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        key = re.fullmatch(r"`(\w+)`", cells[0])
        assert key, line
        rows[key.group(1)] = cells[1:]
    return rows


def test_every_key_is_documented_and_nothing_else() -> None:
    rows = reference_rows()
    assert list(rows) == list(CitusConfig.model_fields)


def test_documented_types_requirements_and_variables() -> None:
    rows = reference_rows()
    schema = CitusConfig.model_json_schema()
    one_of = {key for alternative in schema["oneOf"] for key in alternative["required"]}
    for key, (kind, required, environment, meaning) in rows.items():
        field = schema["properties"][key]
        kinds = {
            "integer": "integer",
            "string": "non-empty string",
            "boolean": "`true` or `false`",
            "array": "list of non-empty strings",
        }
        assert kind.startswith(kinds[field.get("type") or field["anyOf"][0]["type"]])
        if key in one_of:
            assert required == f"one of `{'` and `'.join(sorted(one_of))}`"
        else:
            assert (required == "yes") == (key in schema["required"])
        assert environment == f"`{env_var_name('citus', key)}`"
        assert meaning
    assert (
        "2147483647" in rows["group"][0] and str(schema["properties"]["group"]["maximum"]) in rows["group"][0]
    )
    assert str(schema["properties"]["database"]["maxLength"]) in rows["database"][0]
    assert str(schema["properties"]["database"]["maxLength"]) in rows["databases"][0]
