"""The published output schema: every shipped case's JSON validates against it, and it is strict."""
from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine.model import KINDS
from myoivig.engine.verdict import VERDICTS

from .conftest import CASES, KB_DIR

SCHEMA = json.loads((KB_DIR.parent / "engine" / "schema" / "consultation.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_shipped_case_validates(path: Path) -> None:
    data = json.loads(CliRunner().invoke(cli, ["consult", str(path), "--format", "json"]).stdout)
    assert [error.message for error in VALIDATOR.iter_errors(data)] == []


def test_what_if_output_validates() -> None:
    result = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "dm_mild_no_indication.yaml"),
                                      "--what-if", "flare=true", "--format", "json"])
    assert [error.message for error in VALIDATOR.iter_errors(json.loads(result.stdout))] == []


def test_the_schema_is_strict_about_renamed_fields() -> None:
    data = json.loads(CliRunner().invoke(cli, ["consult", str(CASES[0]), "--format", "json"]).stdout)
    data["summary"]["indicated"] = data["summary"].pop("ivig_indicated")
    assert not VALIDATOR.is_valid(data)


def test_the_schema_lists_the_kinds_and_verdicts_of_the_code() -> None:
    summary = SCHEMA["properties"]["summary"]["properties"]
    assert summary["verdict"]["enum"] == list(VERDICTS)
    conclusion = SCHEMA["properties"]["conclusions"]["items"]["properties"]
    assert conclusion["kind"]["enum"] == [kind.name for kind in KINDS]
    from myoivig.engine.schema_check import schema, schema_kinds
    assert schema_kinds() == [kind.name for kind in KINDS]
    case_verdicts = schema()["$defs"]["case_file"]["properties"]["expect"]["properties"]["verdict"]["enum"]
    assert sorted(case_verdicts) == sorted(VERDICTS)


EXPLANATION = jsonschema.Draft202012Validator(
    json.loads((KB_DIR.parent / "engine" / "schema" / "explanation.schema.json").read_text()))


@pytest.mark.parametrize("args", [["indication_met"], ["dosing.actual_weight_if_lower"],
                                  ["--why-not", "combination.without_corticosteroids"], ["contraindication.anti_iga_antibodies"]])
def test_explanations_validate(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["explain", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"), *args,
                                      "--format", "json"])
    assert result.exit_code == 0
    assert [error.message for error in EXPLANATION.iter_errors(json.loads(result.stdout))] == []
