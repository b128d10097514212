"""`--format json` to the field: the summary, the dose's regimens as lists, the patient-file schema, plain data.

The published output schema: every shipped case's JSON validates against it, and it is strict.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine.model import KINDS
from myoivig.engine.serialize import (
    consultation_to_dict,
    explanation_to_dict,
    patient_schema,
    plain,
    summary,
    what_if_to_dict,
)
from myoivig.engine.verdict import VERDICTS

from .conftest import CASES, KB_DIR

CAUTIOUS = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165,
            "renal_insufficiency": True, "thrombotic_risk": True}
EARLY = {"diagnosis": "IMNM", "autoantibodies": ["anti_hmgcr"], "severity": "moderate", "dysphagia": True,
         "months_since_diagnosis": 3, "sex": "female", "height_cm": 165, "weight_kg": 72, "age_years": 52}
CHILD = {"diagnosis": "DM", "age_years": 12, "flare": True, "months_since_diagnosis": 0}


def _report(kb: KnowledgeBase, patient: dict[str, Any]) -> dict[str, Any]:
    return consultation_to_dict(kb, consult(kb, normalize(kb, patient)))


def test_the_summary_of_a_cautious_indication(kb: KnowledgeBase) -> None:
    """Cautions name the given facts behind them; each caution rule says whether the document or labels back it."""
    assert _report(kb, CAUTIOUS)["summary"] == {
        "verdict": "indicated", "ivig_indicated": True, "strength": "is recommended",
        "verdict_rules": ["indication.severe_or_rapidly_progressive"], "undetermined_by": [], "hard_stops": [],
        "hard_stops_not_given": ["iga_deficiency", "prior_immunoglobulin_anaphylaxis"],  # anti-IgA after IgA
        "cautions_not_given": [],
        "early_initiation": False, "cautions": ["renal_insufficiency", "thrombotic_risk"],
        "caution_rules": [{"rule": "caution.renal_insufficiency", "from": "document"},
                          {"rule": "caution.renal_product_choice", "from": "product labels (local policy)"},
                          {"rule": "caution.thrombotic_risk", "from": "document"},
                          {"rule": "caution.hydration", "from": "product labels (local policy)"}],
        "combination": ["biologic_dmard", "corticosteroids", "synthetic_dmard"], "out_of_scope": [],
        "warnings": [], "cross_checked": True}


def test_a_hard_stop_and_an_early_start_are_in_the_summary(kb: KnowledgeBase) -> None:
    """Anti-IgA antibodies: contraindicated, named as the hard stop; an IMNM patient without it starts early."""
    stopped = _report(kb, {**EARLY, "anti_iga_antibodies": True})
    assert stopped["summary"]["hard_stops"] == ["contraindication.anti_iga_antibodies"]
    assert (stopped["summary"]["verdict"], stopped["summary"]["ivig_indicated"]) == ("contraindicated", False)
    assert stopped["dose"] is None
    assert stopped["dose_note"] == "No dose: IVIG is contraindicated for this patient (hard stop)."
    early = _report(kb, EARLY)["summary"]
    assert early["early_initiation"] is True and early["hard_stops"] == []


def test_a_child_is_out_of_scope_with_the_warning_id(kb: KnowledgeBase) -> None:
    """Out of scope names the scope rule; warnings are listed by id in the summary and with text at the top."""
    report = _report(kb, CHILD)
    assert report["summary"]["out_of_scope"] == ["scope.child"]
    assert report["summary"]["ivig_indicated"] is None
    assert report["summary"]["warnings"] == ["warning.flare_at_diagnosis"]
    assert report["warnings"] == [{"id": "warning.flare_at_diagnosis", "text": (
        'A flare is a relapse after a period of control, but the myositis was diagnosed this month; '
        'check whether "flare" or the time since diagnosis is right.')}]
    [first] = [c for c in report["conclusions"] if c["id"] == "scope.child"]
    assert first["sources"][0] == {
        "ref": "6", "label": "Systematic review in adult PM/DM",
        "evidence": "systematic review, 14 studies and 308 adults in the publication",
        "confidence": "confirmed identification",
        "quote": "A systematic literature review found that IVIG therapy is effective in the treatment of adult "
                 "patients with polymyositis/dermatomyositis"}
    assert first["rests_on"] == {"rules": ["scope.child"], "facts": ["age_years"]}
    assert (first["kind"], first["therapy_class"], first["strength"]) == ("scope", None, None)


def test_the_layout_of_a_report_its_trace_and_what_is_missing(kb: KnowledgeBase) -> None:
    """Keys in their published order, the patient sorted by name, a trace step with the rule's file and line."""
    report = _report(kb, {**EARLY, "anti_iga_antibodies": True})
    assert list(report) == ["knowledge_base", "patient", "summary", "advice", "conclusions", "resolutions", "warnings",
                            "dose", "dose_note", "missing", "trace"]
    assert report["knowledge_base"] == {"name": kb.name, "version": kb.version, "sha256": kb.sha256}
    assert list(report["patient"]) == sorted(report["patient"])
    assert report["trace"][0] == {"order": 1, "rule": "finding.covered_diagnosis",
                                  "file": "rules/indication.yaml", "line": 7,
                                  "matched": [{"fact": "diagnosis", "value": "necrotizing_myopathy",
                                               "origin": "input"}],
                                  "asserted": ["covered_diagnosis"]}
    first = report["missing"][0]
    assert (first["fact"], first["concern"], first["could_change_verdict"]) == ("iga_deficiency", "hard_stop", True)
    second = report["missing"][1]
    assert {key: second[key] for key in ("fact", "question", "concern", "could_change_verdict", "most_decisive")} == {
        "fact": "prior_immunoglobulin_anaphylaxis",
        "question": "Has the patient ever had anaphylaxis or a severe systemic reaction to human immunoglobulin?",
        "concern": "hard_stop", "could_change_verdict": False, "most_decisive": "contraindication"}
    assert "contraindication.prior_immunoglobulin_anaphylaxis" in second["could_change"]
    assert report["resolutions"] == []


def test_the_dose_gives_every_regimen_as_plain_lists(kb: KnowledgeBase) -> None:
    """JSON consumers get lists, not tuples, in every regimen; `give` is the one to give first (cautious here),
    with the standard one and the alternatives beside it."""
    dose = _report(kb, CAUTIOUS)["dose"]
    assert dose["give"] == {
        "role": "give", "label": "Give (cautions apply)", "name": "lower_end", "rule": "dosing.cautious_regimen",
        "g_per_kg": [1, 1], "course_total_g": [57.0, 57.0], "per_day_g": [28.0, 28.0], "days_per_course": [2, 2],
        "interval": "monthly", "duration_months": [1, 6], "text": "57 g over 2 days (28 g/day)"}
    assert [a["name"] for a in dose["alternatives"]] == ["spread", "alternative"]
    assert dose["alternatives"][1] == {
        "role": "alternative", "label": "Alternative", "name": "alternative", "rule": "dosing.alternative_regimen",
        "g_per_kg": [2, 2], "course_total_g": [114.0, 114.0], "per_day_g": [23.0, 57.0], "days_per_course": [2, 5],
        "interval": None, "duration_months": None, "text": "114 g in 2-5 daily doses (23-57 g/day)"}
    assert dose["preferred"] == {"regimen": "cautious", "because": dose["preferred"]["because"],
                                 "rule": "dosing.cautious_regimen"}
    assert dose["alternatives"][0]["days_per_course"] == [5, 5]
    standard = dose["standard"]
    assert (standard["course_total_g"], standard["days_per_course"], standard["g_per_kg"]) == ([57.0, 114.0], [2, 2], [1, 2])
    assert (standard["per_day_g"], standard["interval"], standard["duration_months"]) == ([28.0, 57.0], "monthly", [1, 6])
    assert (dose["weight_basis"], dose["dosing_weight_kg"]) == ("ideal_body_weight", 56.9)
    assert json.loads(json.dumps(dose)) == dose


def test_a_standard_course_without_a_duration_has_none(kb_copy: Path) -> None:
    """A knowledge base may leave the duration out: null in JSON, not an error."""
    from myoivig.engine import load_knowledge_base
    dosing = kb_copy / "rules" / "dosing.yaml"
    text = dosing.read_text()
    assert "      interval: monthly\n      duration_months: [1, 6]\n" in text
    dosing.write_text(text.replace("      interval: monthly\n      duration_months: [1, 6]\n",
                                   "      interval: monthly\n", 1))
    edited = load_knowledge_base(kb_copy)
    dose = _report(edited, CAUTIOUS)["dose"]
    assert dose["standard"]["duration_months"] is None and dose["standard"]["course_total_g"] == [57.0, 114.0]


def test_plain_turns_dataclasses_tuples_and_keys_into_json_data() -> None:
    """Explanations are dataclass trees: each becomes dicts and lists; keys become strings; a class stays itself."""
    @dataclasses.dataclass
    class Step:
        rule: str
        facts: tuple[str, ...]

    assert plain(Step("r", ("a", "b"))) == {"rule": "r", "facts": ["a", "b"]}
    assert plain({1: (Step("r", ()),), "k": [("x", 2)]}) == {"1": [{"rule": "r", "facts": []}], "k": [["x", 2]]}
    assert plain(Step) is Step
    assert plain(None) is None and plain("text") == "text"


def test_an_explanation_carries_only_the_parts_it_has() -> None:
    """`how` for a conclusion reached, `why_not` for one not reached; neither key when absent."""
    assert explanation_to_dict("x.y", "reached") == {"target": "x.y", "verdict": "reached"}
    assert explanation_to_dict("x.y", "reached", how=("a",)) == {"target": "x.y", "verdict": "reached", "how": ["a"]}
    assert explanation_to_dict("x.y", "not reached", why_not={"b": (1,)}) == {
        "target": "x.y", "verdict": "not reached", "why_not": {"b": [1]}}


def test_what_if_gives_before_and_after(kb: KnowledgeBase) -> None:
    """The changes asked, the verdict and indication before then after, and the whole consultation after."""
    before, after = consult(kb, normalize(kb, CHILD)), consult(kb, normalize(kb, CAUTIOUS))
    comparison = SimpleNamespace(changes={"age_years": 50}, before=before, after=after,
                                 differences=[("verdict", "out_of_scope", "indicated")])
    data = what_if_to_dict(kb, comparison)
    assert data["changes"] == {"age_years": 50}
    assert data["verdict"] == ["out_of_scope", "indicated"]
    assert data["ivig_indicated"] == [None, True]
    assert data["differences"] == [["verdict", "out_of_scope", "indicated"]]
    assert data["after"] == consultation_to_dict(kb, after)
    assert summary(kb, after) == data["after"]["summary"]


def test_the_patient_schema_describes_each_kind_of_fact(kb: KnowledgeBase) -> None:
    """Yes/no words for booleans, a range or a measure with units for numbers, words for enums and lists."""
    schema = patient_schema(kb)
    properties = schema["properties"]
    assert properties["rapidly_progressive"]["anyOf"][0]["anyOf"] == [
        {"type": "boolean"}, {"enum": ["false", "n", "no", "true", "y", "yes"]}]
    assert properties["height_cm"]["anyOf"][0]["anyOf"][0] == {"type": "number", "minimum": 50, "maximum": 250}
    assert properties["height_cm"]["description"] == (
        "What is the patient's height in cm? Height, used for the ideal-body-weight formula. Unit: cm (also m, in, ft).")
    assert properties["age_years"]["description"].endswith(" Unit: years.")
    assert properties["diagnosis"]["anyOf"] == [
        {"description": "What is the myositis diagnosis? The myositis subtype diagnosed.",
         "enum": ["ASyS", "DM", "IBM", "IMNM", "PM", "antisynthetase_syndrome", "dermatomyositis",
                  "inclusion_body_myositis", "necrotizing_myopathy", "other", "overlap_myositis", "polymyositis"]},
        {"type": "null"}]
    therapies = properties["current_therapies"]["anyOf"][0]
    assert therapies["type"] == "array" and "MTX" in therapies["items"]["enum"] and "enum" not in therapies
    assert properties["dx"] == {"$ref": "#/properties/diagnosis", "description": "Another name for diagnosis."}
    assert {key: value for key, value in schema.items() if key != "properties"} == {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://myoivig.example/schema/patient.schema.json",
        "title": f"A myoivig patient ({kb.name} {kb.version})",
        "description": "Fact names to values; a fact left out or null is unknown. Generated from vocabulary.yaml "
                       "by `myoivig facts --schema`.",
        "type": "object", "additionalProperties": False}


def test_a_number_without_range_or_other_units_says_so(kb: KnowledgeBase) -> None:
    """No range: no bounds (null); one unit only: no `(also ...)`; no unit: no `Unit:` sentence."""
    height = kb.facts["height_cm"]
    facts = {"h": dataclasses.replace(height, range=None, units={"cm": 1}, synonyms=()),
             "n": dataclasses.replace(height, unit=None, units={}, synonyms=())}
    schema = patient_schema(SimpleNamespace(name="k", version="1", facts=facts))  # type: ignore[arg-type]
    entry = schema["properties"]["h"]["anyOf"][0]
    assert entry["anyOf"][0] == {"type": "number", "minimum": None, "maximum": None}
    assert entry["description"] == ("What is the patient's height in cm? Height, used for the ideal-body-weight "
                                    "formula. Unit: cm.")
    assert schema["properties"]["n"]["description"] == (
        "What is the patient's height in cm? Height, used for the ideal-body-weight formula.")
    assert set(schema["properties"]) == {"h", "n"}


# ---------------------------------------------------------------- The published output schema: every shipped case's JSON valid
SCHEMA = json.loads((KB_DIR.parent / "engine" / "schema" / "consultation.schema.json").read_text())
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


@pytest.mark.slow
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_every_shipped_case_validates(path: Path) -> None:
    data = json.loads(CliRunner().invoke(cli, ["consult", str(path), "--format", "json"]).stdout)
    assert [error.message for error in VALIDATOR.iter_errors(data)] == []


@pytest.mark.slow
def test_what_if_output_validates() -> None:
    result = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "dm_mild_no_indication.yaml"),
                                      "--what-if", "flare=true", "--format", "json"])
    assert [error.message for error in VALIDATOR.iter_errors(json.loads(result.stdout))] == []


@pytest.mark.slow
def test_the_schema_is_strict_about_renamed_fields() -> None:
    data = json.loads(CliRunner().invoke(cli, ["consult", str(CASES[0]), "--format", "json"]).stdout)
    data["summary"]["indicated"] = data["summary"].pop("ivig_indicated")
    assert not VALIDATOR.is_valid(data)


@pytest.mark.slow
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


@pytest.mark.slow
@pytest.mark.parametrize("args", [["indication_met"], ["dosing.actual_weight_if_lower"],
                                  ["--why-not", "combination.without_corticosteroids"], ["contraindication.anti_iga_antibodies"]])
def test_explanations_validate(args: list[str]) -> None:
    result = CliRunner().invoke(cli, ["explain", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"), *args,
                                      "--format", "json"])
    assert result.exit_code == 0
    assert [error.message for error in EXPLANATION.iter_errors(json.loads(result.stdout))] == []
