"""FHIR R4 input: every shipped case's Bundle twin gives its YAML twin's advice, and the mapping is open-world.

The FHIR reader (engine/fhir.py), rule by rule and exactly: what each resource gives, what it is
listed as when it gives nothing (the exact reason a clinician reads), the provenance line, the dates
and the boundaries of every comparison (birthdays, month days, thresholds, comparators).

The FHIR reader's rules one by one, in process: what each kind of resource and value gives.
"""
from __future__ import annotations

import copy
import dataclasses
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import InputError, KnowledgeBase, load_knowledge_base
from myoivig.engine.bindings import SOURCES, Bindings, check_bindings, load_bindings
from myoivig.engine.fhir import (
    Evidence,
    FhirReading,
    Unmapped,
    read_fhir,
    resources_of,
    validate_resources,
    validate_shell,
)
from myoivig.engine.patient import is_fhir
from myoivig.engine.schema_check import schema
from myoivig.engine.serialize import reading_to_dict

from .builders import ANTIBODIES, NEG, POS, SCT, antibody, bundle, condition, observation, quantity, read
from .conftest import KB_DIR

KB = KB_DIR
CASES = sorted((KB / "cases").glob("*.yaml"))
TWINS = KB / "cases" / "fhir"
"""The twins `kb twins` writes from each case's YAML and the bindings."""
VARIATIONS = TWINS / "variations"
"""Hand-made twins: what EHRs send (pounds, several weights, eGFR, ICD codes), each giving its case's advice."""


def consult_json(*args: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["consult", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    return dict(json.loads(result.output))


def advice(data: dict[str, Any]) -> dict[str, Any]:
    return {key: data[key] for key in ("patient", "summary", "conclusions", "dose", "missing", "warnings")}


@pytest.mark.slow
def test_every_case_has_a_fhir_twin_as_kb_twins_writes_it() -> None:
    """A case without its Bundle twin would leave the FHIR path of that advice untested; `kb twins --check`
    says each is what the YAML and the bindings make (a variation by hand is named after a case)."""
    assert sorted(p.stem for p in TWINS.glob("*.json")) == [p.stem for p in CASES]
    assert {p.stem for p in VARIATIONS.glob("*.json")} <= {p.stem for p in CASES}
    check = CliRunner().invoke(cli, ["kb", "twins", "--check"])
    assert check.exit_code == 0, check.output


@pytest.mark.slow
@pytest.mark.parametrize("twin", sorted(TWINS.glob("*.json")) + sorted(VARIATIONS.glob("*.json")),
                         ids=lambda p: str(p.relative_to(TWINS).with_suffix("")))
def test_bundle_twin_gives_the_same_advice(twin: Path) -> None:
    """Same facts, verdict, conclusions, dose and missing facts from FHIR as from the YAML case."""
    case = KB / "cases" / f"{twin.stem}.yaml"
    from_yaml = consult_json(str(case))
    from_fhir = consult_json(str(twin))
    assert advice(from_fhir) == advice(from_yaml)
    assert {e["fact"] for e in from_fhir["fhir"]["provenance"]} == set(from_yaml["patient"])
    assert from_fhir["fhir"]["as_of"] == "2026-01-15" and from_fhir["fhir"]["as_of_from"] == "Bundle.timestamp"


@pytest.mark.slow
@pytest.mark.parametrize(("code", "value", "unit", "fact", "expected"), [
    ("29463-7", 154.32, "[lb_av]", "weight_kg", 70),
    ("29463-7", 70500, "g", "weight_kg", 70.5),
    ("8302-2", 65, "[in_i]", "height_cm", 165.1),
    ("8302-2", 1.62, "m", "height_cm", 162),
    ("2458-8", 0.05, "g/L", "iga_deficiency", True),
    ("2458-8", 0.07, "g/L", "iga_deficiency", False),
    ("98979-8", 59.9, "mL/min/{1.73_m2}", "renal_insufficiency", True),
    ("98979-8", 60, "mL/min/{1.73_m2}", "renal_insufficiency", False),
])
def test_units_are_converted_exactly_and_thresholds_are_strict(code: str, value: float, unit: str, fact: str,
                                                               expected: Any) -> None:
    """lb, g, in, m and g/L convert by their factors; a threshold's own value is on the normal side."""
    reading = read(bundle(observation(code, quantity(value, unit))))
    assert reading.facts[fact] == expected
    assert reading.evidence[-1].resource == "Observation/o" and reading.evidence[-1].local_policy


@pytest.mark.slow
def test_an_unknown_unit_is_refused_by_name_not_guessed() -> None:
    """A weight in stones is listed as unmapped with the allowed units, and the weight stays unknown."""
    reading = read(bundle(observation("29463-7", quantity(11, "[stone_av]")), ))
    assert "weight_kg" not in reading.facts
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("Observation/o", "unit '[stone_av]' is not one myoivig converts for weight_kg; allowed: kg, g, [lb_av] (UCUM)")]


@pytest.mark.slow
def test_the_most_recent_observation_wins_and_its_date_is_shown() -> None:
    """An older weight is kept as evidence but the newest one is the fact."""
    reading = read(bundle(observation("29463-7", quantity(80, "kg"), "old", "2025-01-01"),
                          observation("29463-7", quantity(72, "kg"), "new", "2025-12-01"),
                          observation("29463-7", quantity(90, "kg"), "prelim", "2026-01-10", status="preliminary")))
    assert reading.facts["weight_kg"] == 72
    assert [(e.resource, e.date) for e in reading.evidence if e.fact == "weight_kg"] == [
        ("Observation/old", "2025-01-01"), ("Observation/new", "2025-12-01")]
    assert ("Observation/prelim", "status preliminary: only final results are read") in [
        (u.resource, u.reason) for u in reading.unmapped]


@pytest.mark.slow
def test_a_conflict_on_one_date_leaves_the_fact_unknown_with_a_warning() -> None:
    """Two eGFRs on one day that disagree: renal insufficiency is unknown, never one of them at random."""
    reading = read(bundle(observation("98979-8", quantity(45, "mL/min/{1.73_m2}"), "a"),
                          observation("98979-8", quantity(75, "mL/min/{1.73_m2}"), "b")))
    assert "renal_insufficiency" not in reading.facts
    assert reading.warnings == ("renal_insufficiency: Observation/a says true, Observation/b says false "
                                "on 2026-01-05; left unknown",)


@pytest.mark.slow
def test_two_covered_diagnoses_leave_the_diagnosis_unknown() -> None:
    """Dermatomyositis and IBM in one chart: the subtype must be settled by the clinician."""
    reading = read(bundle(condition(SCT, "396230008", "dm", onsetDateTime="2025-01-10"),
                          condition(SCT, "72315009", "ibm", onsetDateTime="2024-01-10")))
    assert "diagnosis" not in reading.facts
    assert reading.warnings == ("diagnosis: resources name dermatomyositis, inclusion_body_myositis; left unknown",)


@pytest.mark.slow
@pytest.mark.parametrize(("resource", "reason"), [
    (condition(SCT, "396230008", verification="entered-in-error"), "entered in error"),
    (condition(SCT, "396230008", verification="provisional"), "verification status provisional: sets no fact until confirmed"),
    (condition(SCT, "40739000", clinical="resolved"), "clinical status resolved: not a current dysphagia"),
    (condition(SCT, "22298006"), "no binding for SNOMED 22298006"),
    ({**condition(SCT, "40739000"), "subject": {"reference": "Patient/someone-else"}},
     "about another patient (Patient/someone-else)"),
    ({"resourceType": "Encounter", "id": "c", "status": "finished", "class": {"code": "AMB"}},
     "myoivig reads no Encounter resources"),
])
def test_what_maps_to_nothing_is_listed_with_its_reason(resource: dict[str, Any], reason: str) -> None:
    """Never ignored silently: each excluded resource is named with why, and sets no fact."""
    reading = read(bundle(resource))
    assert [(u.resource.split("/")[1], u.reason) for u in reading.unmapped] == [("c", reason)]
    assert set(reading.facts) == {"age_years", "sex"}


@pytest.mark.slow
def test_a_refuted_condition_is_the_only_way_a_condition_says_no() -> None:
    """Refuted dysphagia is false; an absent dysphagia Condition leaves it unknown (open world)."""
    assert read(bundle(condition(SCT, "40739000", verification="refuted", clinical="")))\
        .facts["dysphagia"] is False
    assert "dysphagia" not in read(bundle()).facts


@pytest.mark.slow
def test_removing_a_resource_makes_its_fact_unknown_and_missing() -> None:
    """Drop the dysphagia Condition from a twin: dysphagia is not false but asked for in MISSING."""
    twin = json.loads((VARIATIONS / "ibm_dysphagia.json").read_text())
    reduced = copy.deepcopy(twin)
    reduced["entry"] = [e for e in twin["entry"]
                        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") != "40739000"]
    assert len(reduced["entry"]) == len(twin["entry"]) - 1
    reading = read(reduced)
    assert "dysphagia" not in reading.facts


@pytest.mark.slow
def test_antibody_results_make_a_list_and_only_a_whole_negative_panel_means_none_found() -> None:
    """Positives are listed; one negative leaves the list unknown, naming what was not tested; all eight
    negative is the empty list ("tested, none found")."""
    assert read(bundle(antibody("anti_hmgcr", POS), antibody("anti_jo1", NEG))).facts["autoantibodies"] == ["anti_hmgcr"]
    one = read(bundle(antibody("anti_jo1", NEG)))
    assert "autoantibodies" not in one.facts
    assert one.warnings == ("autoantibodies: anti_jo1 negative, anti_hmgcr, anti_mda5, anti_mi2, anti_nxp2, anti_sae, "
                            "anti_srp, anti_tif1g not tested: left unknown (an empty list means all tested, none found)",)
    assert read(bundle(*(antibody(name, NEG) for name in ANTIBODIES))).facts["autoantibodies"] == []


@pytest.mark.slow
def test_each_antibody_is_its_latest_result_and_a_same_day_disagreement_is_unknown() -> None:
    """An old positive does not outlive a new negative; positive and negative on one day leave it unknown."""
    later_negative = read(bundle(antibody("anti_hmgcr", POS, "2015-01-01"), antibody("anti_hmgcr", NEG, "2026-01-05"),
                                 antibody("anti_srp", POS)))
    assert later_negative.facts["autoantibodies"] == ["anti_srp"]
    same_day = read(bundle(antibody("anti_hmgcr", POS), antibody("anti_hmgcr", NEG, "2026-01-05") | {"id": "b"}))
    assert "autoantibodies" not in same_day.facts and same_day.conflicting == ("autoantibodies",)
    assert same_day.warnings[0] == "autoantibodies: anti_hmgcr is both positive and negative on 2026-01-05; anti_hmgcr left unknown"


@pytest.mark.slow
@pytest.mark.parametrize(("extensions", "gender", "expected"), [
    ([{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-sex", "valueCode": "248152002"}], "male",
     "female"),
    ([{"url": "http://hl7.org/fhir/us/core/StructureDefinition/us-core-birthsex", "valueCode": "M"}], "female",
     "male"),
    ([], "female", "female"),
    ([], "other", None),
])
def test_sex_follows_its_precedence(extensions: list[dict[str, Any]], gender: str, expected: str | None) -> None:
    """US Core sex, then birth sex, then gender; other and unknown leave sex unknown."""
    document = bundle()
    patient = document["entry"][0]["resource"]
    patient.update({"gender": gender, **({"extension": extensions} if extensions else {})})
    assert read(document).facts.get("sex") == expected


@pytest.mark.slow
def test_age_and_months_count_to_the_reference_date(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Whole years and months, to --as-of, else the Bundle's timestamp."""
    monkeypatch.chdir(tmp_path)
    document = bundle(condition(SCT, "31384009", onsetDateTime="2025-10-16"))
    reading = read(document)
    assert (reading.facts["age_years"], reading.facts["months_since_diagnosis"]) == (55, 2)
    data = consult_json(_write(document), "--as-of", "2026-03-01")
    assert (data["patient"]["age_years"], data["patient"]["months_since_diagnosis"]) == (56, 4)
    assert data["fhir"]["as_of_from"] == "--as-of"


def _write(document: dict[str, Any], name: str = "bundle.json") -> str:
    path = Path.cwd() / name
    path.write_text(json.dumps(document))
    return str(path)


@pytest.mark.slow
def test_invalid_fhir_is_refused_with_the_element_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A bad birthDate is exit 2 naming entry[0].birthDate, with no traceback and no advice."""
    monkeypatch.chdir(tmp_path)
    document = bundle()
    document["entry"][0]["resource"]["birthDate"] = "1970-13-01"
    result = CliRunner().invoke(cli, ["consult", _write(document)])
    assert result.exit_code == 2
    assert result.output == ("Error: entry[0].birthDate: Patient/p is not valid FHIR R4: Value error, Date value "
                             "string does not match spec regex.\n")
    assert "Traceback" not in result.output and "IVIG:" not in result.output


@pytest.mark.slow
def test_text_advice_says_where_each_fact_came_from() -> None:
    """The clinician sees each fact's resource, code, date and conversion, and the unmapped ones."""
    result = CliRunner().invoke(cli, ["consult", str(VARIATIONS / "dm_on_prednisone.json")])
    assert result.exit_code == 0
    text = result.output
    assert "FROM FHIR - ages and months as of 2026-01-15 (Bundle.timestamp)" in text
    assert ("weight_kg = 70 <- Observation/obs-4 LOINC 29463-7, 2026-01-05: 154.32 [lb_av] = 70 kg [local "
            "policy]") in " ".join(text.split())
    assert "UNMAPPED Condition/cond-error: entered in error" in text


@pytest.mark.slow
def test_is_fhir_tells_a_bundle_and_a_hook_request_from_a_patient_file() -> None:
    """A patient file with a fact named like a FHIR key is still a patient file."""
    assert is_fhir({"resourceType": "Bundle"}) and is_fhir({"hook": "patient-view", "context": {}})
    assert not is_fhir({"diagnosis": "DM"}) and not is_fhir({"hook": "x"})


@pytest.mark.slow
def test_binding_sources_match_the_schema() -> None:
    """One list of binding sources: the schema's enum and the code's tuple agree."""
    assert list(SOURCES) == schema()["$defs"]["binding"]["properties"]["from"]["enum"]


@pytest.mark.slow
@pytest.mark.parametrize(("old", "new", "message"), [
    ("  dysphagia:\n    from: condition", "  dysphagea:\n    from: condition", "'dysphagea' is not a fact of the vocabulary"),
    ("      mild: [", "      slight: [", "'slight' is not a value of 'severity'"),
    ("code: SNOMED 40739000", "code: SNOMEDCT 40739000", "code system 'SNOMEDCT' is not one of `systems`"),
    ("    true_below: 60\n", "", "`true_below` goes with `from: threshold`, and only there"),
    ("code: SNOMED 24484000", "code: SNOMED 6736007", "SNOMED 6736007 is bound twice: to severity=moderate and to "
                                                     "severity=severe"),
    ("verified: secondary", "verified: maybe", "'maybe' is not allowed here; allowed: authoritative, secondary, unverified, local"),
    ("code: ICD10CM M33.22", "code: SNOMED 72315009", "SNOMED 72315009 is bound twice: to diagnosis=polymyositis and "
                                                       "to diagnosis=inclusion_body_myositis"),
    ("    units: {cm: 1, m: 100, \"[in_i]\": 2.54}\n", "", "a binding from quantity needs `units`"),
    ("  height_cm:\n    from: quantity", "  height_cn:\n    from: quantity", "'height_cn' is not a fact of the vocabulary"),
    ("  dysphagia:\n    from: condition\n", "  dysphagia:\n    from: condition\n    units: {x: 1}\n",
     "a binding from condition takes no `units`"),
])
def test_kb_validate_checks_the_bindings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str,
                                         message: str) -> None:
    """A broken binding fails `kb validate` with file:line, and FHIR input is then refused (exit 3)."""
    copy_kb = tmp_path / "kb"
    shutil.copytree(KB, copy_kb)
    path = copy_kb / "fhir" / "bindings.yaml"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["kb", "validate", "--kb", str(copy_kb)])
    assert result.exit_code == 3, result.output
    assert message in result.output
    assert "kb/fhir/bindings.yaml:" in result.output
    twin = str(VARIATIONS / "pm_severe_sparse.json")
    refused = CliRunner().invoke(cli, ["consult", twin, "--kb", str(copy_kb)])
    assert refused.exit_code == 3 and "IVIG:" not in refused.output


@pytest.mark.slow
@pytest.mark.parametrize(("old", "new", "message"), [
    ("code: ICD10CM M33.22", "code: ICDX M33.22", "error: code system 'ICDX' is not one of "
                                                  "`systems` - known: SNOMED, ICD10CM, LOINC, RXNORM, MYOIVIG, UCUM"),
    ("code: SNOMED 40739000", "code: ICDX 40739000", "error: code system 'ICDX'"),
])
def test_a_binding_problem_points_at_its_code(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, old: str, new: str,
                                              message: str) -> None:
    """Under `values` or under `codes`, the editor is sent to the very code: the line and column where the
    shipped file has it (read from the file, so that a comment added above moves the expectation too)."""
    copy_kb = tmp_path / "kb"
    shutil.copytree(KB, copy_kb)
    path = copy_kb / "fhir" / "bindings.yaml"
    text = path.read_text()
    before = text[:text.index(old)]
    line, column = before.count("\n") + 1, len(before) - before.rfind("\n")  # where `code:` stands
    path.write_text(text.replace(old, new, 1))
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["kb", "validate", "--kb", str(copy_kb)])
    assert f"bindings.yaml:{line}:{column}: {message}" in result.output, result.output


@pytest.mark.slow
def test_an_unreadable_bindings_file_is_an_error_at_its_first_line(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder where the file should be: file:1:1, the reason, exit 3."""
    copy_kb = tmp_path / "kb"
    shutil.copytree(KB, copy_kb)
    (copy_kb / "fhir" / "bindings.yaml").unlink()
    (copy_kb / "fhir" / "bindings.yaml").mkdir()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["kb", "validate", "--kb", str(copy_kb)])
    assert result.exit_code == 3
    assert "kb/fhir/bindings.yaml:1:1: error: cannot read the file: Is a directory" in result.output


@pytest.mark.slow
def test_without_a_bindings_file_fhir_is_refused_but_rules_stand(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """No bindings is a warning for the knowledge base and exit 3 for FHIR input, never a guess."""
    copy_kb = tmp_path / "kb"
    shutil.copytree(KB, copy_kb)
    (copy_kb / "fhir" / "bindings.yaml").unlink()
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["kb", "validate", "--kb", str(copy_kb)])
    assert result.exit_code == 0 and "kb/fhir/bindings.yaml:1:1: warning: no FHIR bindings file" in result.output
    refused = CliRunner().invoke(cli, ["consult", str(VARIATIONS / "pm_severe_sparse.json"), "--kb", str(copy_kb)])
    assert refused.exit_code == 3 and "no FHIR bindings file" in refused.output


@pytest.mark.slow
def test_unverified_codes_are_listed_on_request() -> None:
    """`--codes` warns of each code that is not authoritative; without it, the shipped bindings are clean."""
    kb = load_knowledge_base(None)
    quiet = check_bindings(kb)[1]
    loud = check_bindings(kb, unverified=True)[1]
    assert quiet == []
    bound = yaml.safe_load((KB / "fhir" / "bindings.yaml").read_text())
    entries = [entry for spec in bound["facts"].values()
               for entry in (spec.get("codes", []) + [e for codes in spec.get("values", {}).values() for e in codes])]
    assert len(loud) == sum(entry["verified"] != "authoritative" for entry in entries)  # counted from the file
    assert all(p.severity == "warning" for p in loud)
    first = next(e for e in entries if e["verified"] != "authoritative")
    assert any(p.message.startswith(f"{first['code']} ({first['display']}) is ") for p in loud)


@pytest.mark.slow
def test_batch_reads_bundles_as_it_reads_patient_files(tmp_path: Path) -> None:
    """A folder of Bundle twins and a JSON-lines file of them advise like the YAML cases; a bad Bundle
    gets an error record naming the element and the batch goes on."""
    yaml_dir, fhir_dir = tmp_path / "yaml", tmp_path / "fhir"
    shutil.copytree(KB / "cases", yaml_dir, ignore=shutil.ignore_patterns("fhir"))
    shutil.copytree(TWINS, fhir_dir)
    bad = bundle()
    bad["entry"][0]["resource"]["birthDate"] = "next week"
    lines = [json.dumps(json.loads(p.read_text())) for p in sorted(TWINS.glob("*.json"))] + [json.dumps(bad)]
    (tmp_path / "twins.jsonl").write_text("\n".join(lines) + "\n")
    outputs = {}
    for name, source in (("yaml", yaml_dir), ("fhir", fhir_dir), ("jsonl", tmp_path / "twins.jsonl")):
        result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(tmp_path / f"{name}.jsonl"), "-q"])
        assert result.exit_code == (1 if name == "jsonl" else 0), result.output
        outputs[name] = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
    assert [advice(r) for r in outputs["fhir"]] == [advice(r) for r in outputs["yaml"]]
    assert [advice(r) for r in outputs["jsonl"][:-1]] == [advice(r) for r in outputs["yaml"]]
    assert all(r["fhir"]["as_of_from"] == "Bundle.timestamp" for r in outputs["fhir"])
    assert outputs["jsonl"][0]["id"] == "twin-child-dermatomyositis"
    assert outputs["jsonl"][-1]["error"]["problems"][0]["field"] == "entry[0].birthDate"


# ---------------------------------------------------------------- The FHIR reader (engine/fhir.py), rule by rule and exactly:
LOINC, UCUM = "http://loinc.org", "http://unitsofmeasure.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "http://example.org/myoivig/CodeSystem/assessment"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
AS_OF = dt.date(2026, 1, 15)
EGFR_UNIT = "mL/min/{1.73_m2}"


@pytest.fixture(scope="module")
def bindings(kb: KnowledgeBase) -> Bindings:
    return load_bindings(kb)


# -- building tiny inputs ---------------------------------------------------------------------------

def patient(pid: str = "p", **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, **fields}


def fhir_bundle(*resources: dict[str, Any], timestamp: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in resources]}
    if timestamp:
        document["timestamp"] = timestamp
    return document


def fhir_observation(code: str, value: dict[str, Any], rid: str = "o", date: str | None = "2026-01-05",
                status: str = "final", system: str = LOINC) -> dict[str, Any]:
    found = {"resourceType": "Observation", "id": rid, "status": status, "subject": {"reference": "Patient/p"},
             "code": {"coding": [{"system": system, "code": code}]}, **value}
    if date:
        found["effectiveDateTime"] = date
    return found


def fhir_quantity(value: float, code: str, comparator: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"value": value, "unit": code, "system": UCUM, "code": code}
    if comparator:
        found["comparator"] = comparator
    return {"valueQuantity": found}


def fhir_condition(system: str, code: str, rid: str = "c", verification: str | None = "confirmed",
              clinical: str | None = "active", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p"},
                             "code": {"coding": [{"system": system, "code": code}]}, **extra}
    if verification:
        found["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]}
    if clinical:
        found["clinicalStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}]}
    return found


def medication(kind: str = "MedicationRequest", rid: str = "m", code: str | None = "8640", status: str = "active",
               **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"resourceType": kind, "id": rid, "status": status, **extra}
    if kind == "MedicationRequest":
        found.setdefault("intent", "order")
        found.setdefault("subject", {"reference": "Patient/p"})
    else:
        found.setdefault("subject", {"reference": "Patient/p"})
    if code is not None:
        found["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": code}]}
    return found


def hook(patient_id: Any = "p", **prefetch: Any) -> dict[str, Any]:
    return {"hook": "patient-view", "hookInstance": "i", "context": {"patientId": patient_id}, "prefetch": prefetch}


def read_with(bindings: Bindings, *resources: dict[str, Any], as_of: dt.date | None = AS_OF) -> FhirReading:
    return read_fhir(bindings, fhir_bundle(*resources), as_of)


def unmapped(reading: FhirReading) -> list[tuple[str, str]]:
    return [(u.resource, u.reason) for u in reading.unmapped]


def evidence(reading: FhirReading, fact: str | None = None) -> list[tuple[Any, ...]]:
    return [(e.fact, e.value, e.resource, e.code, e.date, e.read) for e in reading.evidence
            if fact is None or e.fact == fact]


# -- reading the input's shell: Bundle, prefetch, entries ------------------------------------------

def test_a_bundle_gives_its_resources_and_its_patients_full_urls_only() -> None:
    """Only a Patient entry's fullUrl names the patient: an Observation's fullUrl is no patient reference."""
    document = fhir_bundle(patient(), fhir_observation("29463-7", fhir_quantity(70, "kg")))
    document["entry"][0]["fullUrl"] = "urn:uuid:pat"
    document["entry"][1]["fullUrl"] = "urn:uuid:obs"
    given = resources_of(document)
    assert [r["resourceType"] for r in given.resources] == ["Patient", "Observation"]
    assert given.patient_id is None and given.patient_urls == frozenset({("p", "urn:uuid:pat")}) and given.skipped == ()


def test_a_full_url_that_is_not_text_is_not_a_patient_reference() -> None:
    """Only a string fullUrl can be matched against a reference."""
    document = fhir_bundle(patient())
    document["entry"][0]["fullUrl"] = 12
    assert resources_of(document).patient_urls == frozenset()


def test_a_resource_referring_to_a_non_patient_full_url_is_about_another_patient(bindings: Bindings) -> None:
    """A subject naming the fullUrl of an Observation is not this patient."""
    document = fhir_bundle(patient(), fhir_observation("29463-7", fhir_quantity(70, "kg"), "w") | {"subject": {"reference": "urn:uuid:obs"}},
                      fhir_observation("8302-2", fhir_quantity(165, "cm"), "h"))
    document["entry"][2]["fullUrl"] = "urn:uuid:obs"
    reading = read_fhir(bindings, document, AS_OF)
    assert unmapped(reading) == [("Observation/w", "about another patient (urn:uuid:obs)")]
    assert reading.facts == {"height_cm": 165}


def test_an_entry_without_a_type_is_gathered_for_its_refusal_later() -> None:
    """Gathering only looks for Patients' full URLs; a typeless resource waits for validate_resources to
    be refused by its place ("entry[0] has no resourceType"), not for a TypeError here."""
    gathered = resources_of(fhir_bundle({"id": "x"}, patient()))
    assert gathered.resources == [{"id": "x"}, patient()]
    with pytest.raises(InputError) as refused:
        validate_resources(gathered.resources, "entry")
    assert str(refused.value) == "entry[0] has no resourceType"


def test_a_bundle_without_entries_gives_nothing() -> None:
    """An empty collection is valid and simply holds no facts."""
    given = resources_of({"resourceType": "Bundle", "type": "collection"})
    assert (given.resources, given.patient_id, given.patient_urls, given.skipped) == ([], None, frozenset(), ())


def test_an_entry_that_is_not_an_object_is_listed_by_its_place() -> None:
    """A bare string where an entry should be is named, not a traceback."""
    document = fhir_bundle(patient())
    document["entry"].append("junk")
    document["entry"].append({"resource": "junk"})
    assert resources_of(document).skipped == (Unmapped("entry[1]", "an entry without a resource"),
                                              Unmapped("entry[2]", "an entry without a resource"))


def test_a_prefetch_opens_its_bundles_and_takes_its_single_resources() -> None:
    """Each prefetch key is a Bundle (opened, its places named under the key), a resource, null or junk."""
    search = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": fhir_observation("29463-7", fhir_quantity(70, "kg"))}, {"search": {"mode": "match"}},
                        {"fullUrl": "urn:uuid:p2", "resource": patient("p2")}]}
    document = hook(patient_id=7, patient=patient("7"), allergy={"resourceType": "AllergyIntolerance", "id": "a"},
                    search=search, nothing=None, junk=[1, 2], untyped={"id": "x"})
    given = resources_of(document)
    assert [r["resourceType"] for r in given.resources] == ["Patient", "AllergyIntolerance", "Observation", "Patient"]
    assert given.patient_id == "7" and given.patient_urls == frozenset({("p2", "urn:uuid:p2")})
    assert given.skipped == (Unmapped("prefetch.search.entry[1]", "an entry without a resource"),
                             Unmapped("prefetch.junk", "not a FHIR resource"),
                             Unmapped("prefetch.untyped", "not a FHIR resource"))


@pytest.mark.parametrize("document", [
    {"hook": "patient-view", "context": "p"},
    {"hook": "patient-view", "context": {}},
    {"hook": "patient-view", "context": {"patientId": None}, "prefetch": None},
])
def test_a_request_without_a_patient_id_names_no_patient(document: dict[str, Any]) -> None:
    """No context.patientId (or no context object, or a null prefetch): no patient named, nothing read."""
    given = resources_of(document)
    assert given.patient_id is None and given.resources == [] and given.skipped == ()


@pytest.mark.parametrize("prefetch", [[], "x", 3])
def test_a_prefetch_that_is_not_an_object_is_refused_with_its_field(prefetch: Any) -> None:
    """The client's mistake is named with the field to fix."""
    with pytest.raises(InputError) as refused:
        resources_of({"hook": "patient-view", "context": {"patientId": "p"}, "prefetch": prefetch})
    assert str(refused.value) == "prefetch is an object of prefetch keys to FHIR resources"
    assert refused.value.field == "prefetch"


def test_an_entry_that_is_not_a_list_is_refused_with_its_place() -> None:
    """Under a prefetch key, the message says which key's Bundle is broken."""
    with pytest.raises(InputError) as refused:
        resources_of(hook(search={"resourceType": "Bundle", "type": "searchset", "entry": {"resource": {}}}))
    assert (str(refused.value), refused.value.field) == (
        "prefetch.search.entry is a list of entries", "prefetch.search.entry")


def test_a_bundle_shell_that_is_not_fhir_is_refused_with_its_element() -> None:
    """A Bundle's own elements are checked: the element path, the Bundle, and pydantic's first reason."""
    with pytest.raises(InputError) as refused:
        validate_shell({"resourceType": "Bundle", "type": "collection", "timestamp": "yesterday"}, "prefetch.x.")
    assert refused.value.field == "prefetch.x.timestamp"
    assert str(refused.value).startswith("prefetch.x.timestamp: the Bundle is not valid FHIR R4: ")
    validate_shell({"resourceType": "Bundle", "type": "collection", "entry": None})  # no entry element is fine


@pytest.mark.parametrize("resource", [{"id": "x"}, {"resourceType": "", "id": "x"}, {"resourceType": 5}])
def test_a_resource_without_a_type_is_refused_with_its_place(resource: dict[str, Any]) -> None:
    """The place is the entry's index in the input, so the sender can find it."""
    with pytest.raises(InputError) as refused:
        validate_resources([patient(), resource], "prefetch")
    assert (str(refused.value), refused.value.field) == ("prefetch[1] has no resourceType",
                                                            "prefetch[1].resourceType")


def test_an_invalid_resource_without_id_is_named_with_a_question_mark() -> None:
    """The message names the element, the resource (its id, or ? without one) and the reason."""
    with pytest.raises(InputError) as refused:
        validate_resources([{"resourceType": "Patient", "birthDate": "1970-13-01"}])
    assert refused.value.field == "entry[0].birthDate"
    assert str(refused.value) == ("entry[0].birthDate: Patient/? is not valid FHIR R4: Value error, Date value "
                                     "string does not match spec regex.")


@pytest.mark.parametrize(("contained", "rid", "reason"), [
    ({"resourceType": "Foo"}, "c", "'R4.FooType'"),
    ({"resourceType": 5}, None, "can only concatenate str (not \"int\") to str"),
])
def test_a_resource_the_fhir_library_cannot_parse_is_refused_not_a_traceback(contained: dict[str, Any], rid: str | None,
                                                                              reason: str) -> None:
    """A contained resource of no FHIR type breaks the parser itself: still an input error at the entry."""
    resource: dict[str, Any] = {"resourceType": "Condition", "subject": {"reference": "Patient/p"},
                                "contained": [contained]}
    if rid:
        resource["id"] = rid
    with pytest.raises(InputError) as refused:
        validate_resources([patient(), resource])
    assert refused.value.field == "entry[1]"
    assert str(refused.value) == f"entry[1]: Condition/{rid or '?'} is not valid FHIR R4: {reason}"


@pytest.mark.parametrize(("document", "expected"), [
    ({"resourceType": "Bundle"}, True), ({"hook": "patient-view", "context": {}}, True),
    ({"resourceType": "Patient"}, False), ({"hook": "patient-view"}, False), ({"context": {}}, False),
    ({"diagnosis": "DM"}, False)])
def test_fhir_input_is_told_apart_from_a_patient_file(document: dict[str, Any], expected: bool) -> None:
    """A Bundle, or a CDS Hooks request (hook and context), is FHIR; anything else is a patient file."""
    assert is_fhir(document) is expected


def test_valid_resources_are_parsed_and_unknown_types_kept_as_given() -> None:
    """Known types become FHIR models; a type FHIR R4 lacks is kept as the dict, to be listed later."""
    parsed = validate_resources([patient(), {"resourceType": "Foo", "id": "f"}])
    assert parsed[0].get_resource_type() == "Patient" and parsed[0].id == "p"
    assert parsed[1] == {"resourceType": "Foo", "id": "f"}


# -- the reference date and the reading's own fields ------------------------------------------------

def test_the_reference_date_comes_from_as_of_then_timestamp_then_today(bindings: Bindings) -> None:
    """Ages are counted to --as-of, else the Bundle's timestamp (its day), else today; the output says which."""
    stamped = fhir_bundle(patient(birthDate="1970-03-01"), timestamp="2026-03-01T23:59:00+05:00")
    given = read_fhir(bindings, stamped, dt.date(2026, 2, 28))
    assert (given.as_of, given.as_of_from, given.facts["age_years"]) == ("2026-02-28", "--as-of", 55)
    from_stamp = read_fhir(bindings, stamped)
    assert (from_stamp.as_of, from_stamp.as_of_from, from_stamp.facts["age_years"]) == (
        "2026-03-01", "Bundle.timestamp", 56)
    today = read_fhir(bindings, fhir_bundle(patient()))
    assert (today.as_of, today.as_of_from) == (dt.date.today().isoformat(), "today")
    request = read_fhir(bindings, hook(patient=patient()))
    assert (request.as_of, request.as_of_from) == (dt.date.today().isoformat(), "today")


def test_a_reading_carries_the_bindings_checksum_and_the_patient(bindings: Bindings) -> None:
    """The advice cites which bindings read the chart, for audit."""
    reading = read_with(bindings, patient("p1"))
    assert (reading.bindings_file, reading.bindings_sha256, reading.patient) == (
        bindings.file, bindings.sha256, "Patient/p1")
    assert reading.bindings_file == "fhir/bindings.yaml"  # within the knowledge base, wherever the process runs


def weight_policy(bindings: Bindings) -> str | None:
    return next(b.local_policy for b in bindings.bindings if b.fact == "weight_kg" and b.source == "quantity")


def test_reading_to_dict_is_the_json_of_the_reading(bindings: Bindings) -> None:
    """Every field of the `fhir` part of a consultation's JSON, in order."""
    reading = read_with(bindings, patient(gender="male"), {"resourceType": "Foo", "id": "f"},
                   fhir_observation("29463-7", fhir_quantity(70, "kg"), "a"), fhir_observation("29463-7", fhir_quantity(80, "kg"), "b"))
    assert reading_to_dict(reading) == {
        "as_of": "2026-01-15", "as_of_from": "--as-of", "patient": "Patient/p",
        "bindings": {"file": bindings.file, "sha256": bindings.sha256},
        "provenance": [
            {"fact": "sex", "value": "male", "resource": "Patient/p", "code": None, "date": None,
             "read": "gender male", "local_policy": bindings.patient_policies["sex"]},
            {"fact": "weight_kg", "value": 70, "resource": "Observation/a", "code": "LOINC 29463-7",
             "date": "2026-01-05", "read": "70 kg", "local_policy": weight_policy(bindings)},
            {"fact": "weight_kg", "value": 80, "resource": "Observation/b", "code": "LOINC 29463-7",
             "date": "2026-01-05", "read": "80 kg", "local_policy": weight_policy(bindings)}],
        "unmapped": [{"resource": "Foo/f", "reason": "myoivig reads no Foo resources"}],
        "warnings": ["weight_kg: Observation/a says 70, Observation/b says 80 on 2026-01-05; left unknown"]}
    assert reading.conflicting == ("weight_kg",)


def test_conflicting_facts_are_listed_sorted(bindings: Bindings) -> None:
    """Several facts in conflict are named in a stable order."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(70, "kg"), "w1"), fhir_observation("29463-7", fhir_quantity(80, "kg"), "w2"),
                   fhir_observation("8302-2", fhir_quantity(160, "cm"), "h1"), fhir_observation("8302-2", fhir_quantity(170, "cm"), "h2"))
    assert reading.conflicting == ("height_cm", "weight_kg")
    assert reading.facts == {}


# -- patients ---------------------------------------------------------------------------------------

def test_two_copies_of_one_patient_read_once_and_the_copy_is_listed(bindings: Bindings) -> None:
    """The same Patient twice (say, from two searches) gives its facts once; the copy is named, not read."""
    reading = read_with(bindings, patient(birthDate="1970-03-01"), patient(birthDate="1970-03-01"))
    assert unmapped(reading) == [("Patient/p (a copy)", "an identical copy: read once")]
    assert [e[0] for e in evidence(reading)] == ["age_years"]


@pytest.mark.parametrize("count", [2, 3])
def test_more_than_one_patient_is_refused_with_the_count(bindings: Bindings, count: int) -> None:
    """One consultation is one patient's."""
    with pytest.raises(InputError) as refused:
        read_with(bindings, *(patient(f"p{n}") for n in range(count)))
    assert (str(refused.value), refused.value.field) == (
        f"the input holds {count} patients; give one patient's resources", "Patient")


def test_the_named_patient_absent_means_no_patient_is_read(bindings: Bindings) -> None:
    """context.patientId names someone not in the prefetch: no other patient is read in their place."""
    search = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": patient("a", birthDate="1970-03-01")},
                        {"resource": patient("b", birthDate="1980-03-01")}]}
    reading = read_fhir(bindings, hook(patient_id="z", search=search), AS_OF)
    assert reading.patient == "Patient/z" and reading.facts == {}
    assert unmapped(reading) == [("Patient/a", "another patient"), ("Patient/b", "another patient")]


def test_a_resource_about_another_patient_is_listed_and_an_absolute_reference_is_the_patient(
        bindings: Bindings) -> None:
    """References are matched as Patient/id, a fullUrl, or an absolute URL ending in /Patient/id."""
    other = fhir_observation("29463-7", fhir_quantity(70, "kg"), "w") | {"subject": {"reference": "Patient/q"}}
    absolute = fhir_observation("8302-2", fhir_quantity(165, "cm"), "h") | {
        "subject": {"reference": "https://ehr.example/fhir/Patient/p"}}
    similar = fhir_observation("98979-8", fhir_quantity(40, EGFR_UNIT), "e") | {"subject": {"reference": "Patient/pp"}}
    reading = read_with(bindings, patient(), other, absolute, similar)
    assert reading.facts == {"height_cm": 165}
    assert unmapped(reading) == [("Observation/w", "about another patient (Patient/q)"),
                                 ("Observation/e", "about another patient (Patient/pp)")]


def test_without_a_patient_the_one_patient_its_resources_name_is_read(bindings: Bindings) -> None:
    """A Bundle of results alone (no Patient) is read when every result names the same patient."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(70, "kg")) | {"subject": {"reference": "Patient/q"}})
    assert reading.facts == {"weight_kg": 70} and reading.patient == "Patient/q" and reading.unmapped == ()


def test_without_a_patient_resources_naming_two_patients_are_refused(bindings: Bindings) -> None:
    """Patient/a's diagnosis, Patient/b's weight: no consultation can mix them."""
    with pytest.raises(InputError, match="the input holds no Patient and its resources name 2 patients"):
        read_with(bindings, fhir_condition(ICD, "M33.10") | {"subject": {"reference": "Patient/a"}},
             fhir_observation("29463-7", fhir_quantity(130, "kg")) | {"subject": {"reference": "Patient/b"}})


def test_a_resource_naming_the_patient_by_identifier_is_read_and_another_identifier_is_not(bindings: Bindings) -> None:
    """A subject with only an identifier is the patient's when the Patient carries that identifier."""
    mrn = {"system": "urn:hospital:mrn", "value": "123"}
    reading = read_with(bindings, patient(identifier=[mrn]),
                   fhir_observation("29463-7", fhir_quantity(70, "kg"), rid="w") | {"subject": {"identifier": mrn}},
                   fhir_observation("8302-2", fhir_quantity(165, "cm"), rid="h")
                   | {"subject": {"identifier": {"system": "urn:hospital:mrn", "value": "999"},
                                  "display": "another patient"}})
    assert reading.facts.get("weight_kg") == 70 and "height_cm" not in reading.facts
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("Observation/h", "about a patient named by identifier 999, which the Patient does not carry")]


@pytest.mark.parametrize(("born", "as_of", "years"), [
    ("1970-03-01", dt.date(2026, 3, 1), 56),    # the birthday itself
    ("1970-03-01", dt.date(2026, 2, 28), 55),   # the day before
    ("1970-03-01", dt.date(2026, 3, 2), 56),
    ("1970-03-15", dt.date(2026, 3, 14), 55),   # same month, a day short
    ("1970-03-15", dt.date(2026, 3, 16), 56),
    ("1970-02-15", dt.date(2026, 3, 14), 56),   # an earlier month, a later day
    ("1970-04-14", dt.date(2026, 3, 15), 55),   # a later month, an earlier day
    ("2000-02-29", dt.date(2026, 2, 28), 25),
    ("2000-02-29", dt.date(2026, 3, 1), 26),
    ("2026-01-15", dt.date(2026, 1, 15), 0),
])
def test_age_is_whole_years_turning_on_the_birthday(bindings: Bindings, born: str, as_of: dt.date, years: int) -> None:
    """A patient is a year older on their birthday, not the day before or after."""
    reading = read_with(bindings, patient(birthDate=born), as_of=as_of)
    assert evidence(reading) == [("age_years", years, "Patient/p", None, born,
                                  f"born {born}: {years} years on {as_of.isoformat()}")]
    assert reading.evidence[0].local_policy == bindings.patient_policies["age_years"]
    assert reading.facts == {"age_years": years}


@pytest.mark.parametrize("born", ["1970", "1970-03"])
def test_a_partial_birth_date_gives_no_age_and_says_why(bindings: Bindings, born: str) -> None:
    """A year (or month) of birth names no birthday: age stays unknown, listed on the element."""
    reading = read_with(bindings, patient(birthDate=born))
    assert reading.facts == {}
    assert unmapped(reading) == [("Patient/p.birthDate", f"a partial birth date ({born}) gives no age")]


def test_two_different_copies_of_the_patient_are_not_read_without_a_version(bindings: Bindings) -> None:
    """Two Patient resources with one id that disagree, with nothing to tell which is current: neither is
    read (whose birth date is right?), and the reading says so; a version decides."""
    reading = read_with(bindings, patient(birthDate="1970-01-01"), patient(birthDate="1990-01-01"))
    assert reading.facts == {}
    assert reading.warnings[0].startswith("Patient/p appears 2 times with different content")
    versioned = read_with(bindings, patient(birthDate="1970-01-01", meta={"versionId": "2"}),
                     patient(birthDate="1990-01-01", meta={"versionId": "1"}))
    assert versioned.facts == {"age_years": 56}


def test_a_birth_date_after_the_as_of_date_gives_no_age_and_says_why(bindings: Bindings) -> None:
    """A birth date in the future is an error in the record: the age stays unknown and listed, not -4."""
    reading = read_with(bindings, patient(birthDate="2030-01-01"))
    assert reading.facts == {}
    assert unmapped(reading) == [("Patient/p.birthDate", "a birth date after 2026-01-15 (2030-01-01) gives no age")]
    assert evidence(read_with(bindings, patient(birthDate="2026-01-15"))) == [
        ("age_years", 0, "Patient/p", None, "2026-01-15", "born 2026-01-15: 0 years on 2026-01-15")]


def test_an_age_is_the_difference_of_the_years_however_far_apart(bindings: Bindings) -> None:
    """An implausible birth year still gives its exact age, which the vocabulary then refuses by name."""
    assert read_with(bindings, patient(birthDate="1000-06-01")).facts == {"age_years": 1025}


def test_no_birth_date_and_no_gender_give_nothing(bindings: Bindings) -> None:
    """Open world: a Patient with no data sets no fact and lists nothing."""
    reading = read_with(bindings, patient())
    assert reading.facts == {} and reading.unmapped == () and reading.evidence == ()


def sex_of(bindings: Bindings, extensions: list[dict[str, Any]], gender: str | None = None) -> list[tuple[Any, ...]]:
    fields: dict[str, Any] = {"extension": extensions} if extensions else {}
    if gender:
        fields["gender"] = gender
    reading = read_with(bindings, patient(**fields))
    assert all(e.local_policy == bindings.patient_policies["sex"] for e in reading.evidence)
    return [(e[1], e[5]) for e in evidence(reading, "sex")]


SEX, BIRTHSEX = US_CORE + "us-core-sex", US_CORE + "us-core-birthsex"


@pytest.mark.parametrize(("extensions", "gender", "expected"), [
    ([{"url": SEX, "valueCode": "248152002"}, {"url": SEX, "valueCode": "248153007"}], "female",
     []),                                        # two US Core sexes disagree: unknown, and gender is not asked
    ([{"url": SEX, "valueCode": "F"}], "male", [("female", "US Core sex F")]),
    ([{"url": SEX, "valueCode": "male"}], None, [("male", "US Core sex male")]),
    ([{"url": SEX, "valueCode": "other"}, {"url": SEX, "valueCode": "M"}], None, [("male", "US Core sex M")]),
    ([{"url": SEX, "valueCoding": {"system": SCT, "code": "248152002"}},
      {"url": SEX, "valueCoding": {"system": SCT, "code": "248152002"}}], None,
     [("female", "US Core sex 248152002")]),                               # the same twice is no disagreement
    ([{"url": SEX, "valueCoding": {"system": SCT, "code": "33791000087105"}},
      {"url": SEX, "valueCoding": {"system": SCT, "code": "248153007"}}], None, [("male", "US Core sex 248153007")]),
    ([{"url": SEX, "valueCoding": {"system": SCT, "code": "33791000087105"}}], "female",
     [("female", "gender female")]),
    ([{"url": BIRTHSEX, "valueCode": "F"}], "male", [("female", "US Core birth sex F")]),
    ([{"url": BIRTHSEX, "valueCode": "F"}, {"url": BIRTHSEX, "valueCode": "M"}], None, []),  # they disagree
    ([{"url": BIRTHSEX, "valueCode": "UNK"}], "male", [("male", "gender male")]),
    ([{"url": BIRTHSEX, "valueCode": "female"}], None, []),                 # birth sex is F or M only
    ([{"url": SEX, "valueCode": "248153007"}, {"url": BIRTHSEX, "valueCode": "F"}], "female",
     [("male", "US Core sex 248153007")]),
    ([], "male", [("male", "gender male")]),
    ([], "unknown", []),
    ([], None, []),
])
def test_sex_is_read_by_its_precedence_and_says_from_what(bindings: Bindings, extensions: list[dict[str, Any]],
                                                         gender: str | None, expected: list[tuple[str, str]]) -> None:
    """US Core sex, then birth sex, then gender; the provenance says which gave it; one extension that
    says both female and male leaves sex unknown (the ideal body weight would depend on a guess)."""
    assert sex_of(bindings, extensions, gender) == expected


# -- conditions -------------------------------------------------------------------------------------

def test_an_active_condition_gives_its_fact_with_provenance(bindings: Bindings) -> None:
    """Fact, value, resource, code, onset date and the clinical status read, with the binding's policy."""
    reading = read_with(bindings, fhir_condition(SCT, "40739000", "d", onsetDateTime="2025-05-06T10:00:00Z"))
    assert evidence(reading) == [("dysphagia", True, "Condition/d", "SNOMED 40739000", "2025-05-06T10:00:00Z",
                                  "active condition")]
    assert reading.evidence[0].local_policy == next(b.local_policy for b in bindings.bindings if b.fact == "dysphagia")


@pytest.mark.parametrize("clinical", ["active", "recurrence", "relapse"])
def test_a_recurring_condition_is_current(bindings: Bindings, clinical: str) -> None:
    """Recurrence and relapse are current, and the provenance says which."""
    reading = read_with(bindings, fhir_condition(SCT, "40739000", clinical=clinical, recordedDate="2025-02-03"))
    assert evidence(reading) == [("dysphagia", True, "Condition/c", "SNOMED 40739000", "2025-02-03",
                                  f"{clinical} condition")]


@pytest.mark.parametrize("clinical", ["inactive", "remission", "resolved"])
def test_a_past_condition_is_listed_not_read(bindings: Bindings, clinical: str) -> None:
    """A resolved or remitted condition is not a current one."""
    reading = read_with(bindings, fhir_condition(SCT, "709044004", clinical=clinical))
    assert reading.facts == {} and unmapped(reading) == [
        ("Condition/c", f"clinical status {clinical}: not a current renal_insufficiency")]


def test_a_condition_is_dated_by_onset_before_recorded_date(bindings: Bindings) -> None:
    """The onset is the condition's date; the recorded date only when no onset is given."""
    reading = read_with(bindings, fhir_condition(SCT, "40739000", "a", onsetDateTime="2024-01-02", recordedDate="2025-01-02"),
                   fhir_condition(SCT, "709044004", "b", recordedDate="2025-03-04"),
                   fhir_condition(SCT, "233703007", "n"))
    assert [(e.resource, e.date) for e in reading.evidence] == [
        ("Condition/a", "2024-01-02"), ("Condition/b", "2025-03-04"), ("Condition/n", None)]


def test_entered_in_error_is_listed_before_its_code_is_looked_at(bindings: Bindings) -> None:
    """An erroneous entry is named as such even when its code is not bound."""
    assert unmapped(read_with(bindings, fhir_condition(SCT, "22298006", verification="entered-in-error"))) == [
        ("Condition/c", "entered in error")]


@pytest.mark.parametrize("verification", ["unconfirmed", "provisional", "differential"])
def test_an_unconfirmed_diagnosis_sets_nothing_and_dates_nothing(bindings: Bindings, verification: str) -> None:
    """A suspected dermatomyositis gives no diagnosis and no months since diagnosis."""
    reading = read_with(bindings, fhir_condition(SCT, "396230008", verification=verification, onsetDateTime="2025-01-10",
                                       severity={"coding": [{"system": SCT, "code": "24484000"}]}))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Condition/c", f"verification status {verification}: sets no fact until confirmed")]


def test_a_refuted_yes_no_condition_is_false_with_its_date(bindings: Bindings) -> None:
    """Refuted dysphagia is explicit evidence of no dysphagia, and the provenance says 'refuted'."""
    reading = read_with(bindings, fhir_condition(SCT, "40739000", verification="refuted", clinical="resolved",
                                       recordedDate="2025-06-07"))
    assert evidence(reading) == [("dysphagia", False, "Condition/c", "SNOMED 40739000", "2025-06-07", "refuted")]
    assert reading.facts == {"dysphagia": False} and reading.unmapped == ()


def test_a_refuted_diagnosis_sets_no_value_and_dates_nothing(bindings: Bindings) -> None:
    """Refuting dermatomyositis does not say which myositis it is, nor when it began."""
    reading = read_with(bindings, fhir_condition(SCT, "396230008", verification="refuted", onsetDateTime="2025-01-10"))
    assert reading.facts == {}
    assert unmapped(reading) == [("Condition/c", "a refuted diagnosis sets no value")]


def test_refuting_a_combination_code_sets_none_of_its_facts(bindings: Bindings) -> None:
    """M33.11 refuted says nothing of respiratory involvement alone: each part is listed, none set."""
    reading = read_with(bindings, fhir_condition(ICD, "M33.11", verification="refuted", clinical=None))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Condition/c", "a refuted diagnosis sets no value"),
                                 ("Condition/c", "a refuted respiratory_involvement sets no value")]


def test_no_verification_status_is_read_as_confirmed(bindings: Bindings) -> None:
    """A Condition with neither status is taken as an active, confirmed entry on the problem list."""
    reading = read_with(bindings, fhir_condition(SCT, "40739000", verification=None, clinical=None))
    assert evidence(reading) == [("dysphagia", True, "Condition/c", "SNOMED 40739000", None, "active condition")]


def test_a_combination_code_gives_each_fact_and_dates_the_diagnosis_once(bindings: Bindings) -> None:
    """ICD-10-CM M33.11 is dermatomyositis and respiratory involvement; its onset dates the disease."""
    reading = read_with(bindings, fhir_condition(ICD, "M33.11", onsetDateTime="2025-10-15",
                                       severity={"coding": [{"system": SCT, "code": "6736007"}]}))
    assert evidence(reading) == [
        ("diagnosis", "dermatomyositis", "Condition/c", "ICD10CM M33.11", "2025-10-15", "active condition"),
        ("severity", "moderate", "Condition/c", "SNOMED 6736007", "2025-10-15", "Condition.severity"),
        ("respiratory_involvement", True, "Condition/c", "ICD10CM M33.11", "2025-10-15", "active condition"),
        ("months_since_diagnosis", 3, "Condition/c", None, "2025-10-15", "onsetDateTime 2025-10-15: 3 months on 2026-01-15")]


def test_an_unbound_severity_is_listed_on_its_element(bindings: Bindings) -> None:
    """A severity the bindings do not know is named on Condition.severity; the diagnosis still stands."""
    reading = read_with(bindings, fhir_condition(SCT, "31384009", severity={"coding": [{"system": SCT, "code": "1234"}]}))
    assert reading.facts == {"diagnosis": "polymyositis"}
    assert unmapped(reading) == [("Condition/c.severity", "no binding for SNOMED 1234")]
    text_only = read_with(bindings, fhir_condition(SCT, "31384009", severity={"text": "bad"}))
    assert unmapped(text_only) == [("Condition/c.severity", "no binding for 'bad' (no coding)")]


def test_the_first_bound_severity_coding_is_read(bindings: Bindings) -> None:
    """A severity coded twice (an unbound code first) is read from its bound coding, once."""
    reading = read_with(bindings, fhir_condition(SCT, "31384009", severity={"coding": [
        {"system": "http://other.example", "code": "s"}, {"system": SCT, "code": "24484000"},
        {"system": SCT, "code": "255604002"}]}))
    assert reading.facts == {"diagnosis": "polymyositis", "severity": "severe"} and reading.unmapped == ()
    assert [e.read for e in reading.evidence if e.fact == "severity"] == ["Condition.severity"]


@pytest.mark.parametrize(("code", "reason"), [
    ({"coding": [{"system": "http://other.example", "code": "x1"}]}, "no binding for http://other.example|x1"),
    ({"coding": [{"system": SCT, "code": "1"}, {"system": ICD, "code": "Z1"}]}, "no binding for SNOMED 1, ICD10CM Z1"),
    ({"coding": [{"code": "nosystem"}]}, "no binding for a resource with no code"),
    ({"text": "myositis?"}, "no binding for 'myositis?' (no coding)"),
])
def test_an_unbound_condition_is_named_by_its_codes(bindings: Bindings, code: dict[str, Any], reason: str) -> None:
    """The knowledge engineer sees which codes to bind: short names for known systems, URIs otherwise."""
    resource = fhir_condition(SCT, "x")
    resource["code"] = code
    assert unmapped(read_with(bindings, resource)) == [("Condition/c", reason)]


# -- months since diagnosis -------------------------------------------------------------------------

@pytest.mark.parametrize(("onset", "months"), [
    ("2026-01-15", 0), ("2026-01-01", 0), ("2025-12-16", 0), ("2025-12-15", 1), ("2025-01-15", 12),
    ("2025-01-16", 11), ("2024-02-29", 22), ("2025-10-16T23:00:00+10:00", 2),
])
def test_months_since_diagnosis_are_whole_months_to_the_reference_date(bindings: Bindings, onset: str,
                                                                       months: int) -> None:
    """A month is complete on the same day of a later month, not the day before."""
    reading = read_with(bindings, fhir_condition(SCT, "31384009", onsetDateTime=onset))
    day = onset[:10]
    assert evidence(reading, "months_since_diagnosis") == [
        ("months_since_diagnosis", months, "Condition/c", None, day, f"onsetDateTime {day}: {months} months on 2026-01-15")]
    assert reading.evidence[-1].local_policy == bindings.patient_policies["months_since_diagnosis"]


@pytest.mark.parametrize("onset", ["2026-01-16", "2027-01-01"])
def test_a_diagnosis_after_the_reference_date_gives_no_months_but_a_warning(bindings: Bindings, onset: str) -> None:
    """A future onset is a data error to look at, not a negative month count."""
    reading = read_with(bindings, fhir_condition(SCT, "31384009", onsetDateTime=onset))
    assert "months_since_diagnosis" not in reading.facts
    assert reading.warnings == (f"Condition/c: the diagnosis is dated {onset}, after the reference date 2026-01-15",)


def test_onset_period_start_then_recorded_date_date_the_disease(bindings: Bindings) -> None:
    """Without onsetDateTime, the period's start; without either, the recorded date (so at least this long)."""
    period = read_with(bindings, fhir_condition(SCT, "31384009", onsetPeriod={"start": "2025-11-15"}, recordedDate="2025-01-01"))
    assert evidence(period, "months_since_diagnosis")[0][4:] == (
        "2025-11-15", "onsetPeriod.start 2025-11-15: 2 months on 2026-01-15")
    recorded = read_with(bindings, fhir_condition(SCT, "31384009", onsetPeriod={"end": "2025-11-15"}, recordedDate="2025-09-15"))
    assert evidence(recorded, "months_since_diagnosis")[0][4:] == (
        "2025-09-15", "recordedDate (so at least this long) 2025-09-15: 4 months on 2026-01-15")


def test_a_partial_onset_is_not_replaced_by_a_later_element(bindings: Bindings) -> None:
    """The onset given (if partial) is the one that counts: the recorded date does not stand in for it."""
    reading = read_with(bindings, fhir_condition(SCT, "31384009", onsetDateTime="2025-10", recordedDate="2025-11-01"))
    assert "months_since_diagnosis" not in reading.facts
    assert unmapped(reading) == [("Condition/c.onsetDateTime", "a partial date (2025-10) gives no months since diagnosis")]
    assert reading.evidence[0].date == "2025-10"   # the diagnosis is dated as given


def test_the_earliest_of_several_diagnosis_conditions_dates_the_disease(bindings: Bindings) -> None:
    """Two dermatomyositis entries: the disease is as old as the first one."""
    reading = read_with(bindings, fhir_condition(SCT, "396230008", "late", onsetDateTime="2025-06-01"),
                   fhir_condition(ICD, "M33.10", "early", onsetDateTime="2024-06-01"),
                   fhir_condition(ICD, "M33.12", "partial", onsetDateTime="2023"))
    assert reading.facts["months_since_diagnosis"] == 19
    assert evidence(reading, "months_since_diagnosis")[0][2] == "Condition/early"
    assert ("Condition/partial.onsetDateTime", "a partial date (2023) gives no months since diagnosis") in unmapped(reading)


def test_a_diagnosis_without_any_date_gives_no_months(bindings: Bindings) -> None:
    """No onset, no recorded date: months unknown, nothing listed."""
    reading = read_with(bindings, fhir_condition(SCT, "31384009"))
    assert reading.facts == {"diagnosis": "polymyositis"} and reading.unmapped == () and reading.warnings == ()


# -- observations -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_results_are_read(bindings: Bindings, status: str) -> None:
    """A corrected weight is a result like a final one."""
    assert read_with(bindings, fhir_observation("29463-7", fhir_quantity(70, "kg"), status=status)).facts == {"weight_kg": 70}


@pytest.mark.parametrize("status", ["registered", "preliminary", "cancelled", "entered-in-error", "unknown"])
def test_other_statuses_are_listed(bindings: Bindings, status: str) -> None:
    """Only final results are read, and the status is named."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(70, "kg"), status=status))
    assert reading.facts == {} and unmapped(reading) == [("Observation/o", f"status {status}: only final results are read")]


def test_an_unbound_observation_is_listed_before_its_status(bindings: Bindings) -> None:
    """An unbound code is named, whatever its status."""
    reading = read_with(bindings, fhir_observation("1234-5", fhir_quantity(70, "kg"), status="preliminary"))
    assert unmapped(reading) == [("Observation/o", "no binding for LOINC 1234-5")]


def test_an_undated_observation_has_no_date(bindings: Bindings) -> None:
    """No effective time and no issue: the provenance shows no date."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(70, "kg"), date=None))
    assert evidence(reading) == [("weight_kg", 70, "Observation/o", "LOINC 29463-7", None, "70 kg")]


def test_a_dated_value_beats_an_undated_one(bindings: Bindings) -> None:
    """An undated result is the oldest: any dated one is more recent, and the reading says which was read."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(90, "kg"), "u", date=None),
                   fhir_observation("29463-7", fhir_quantity(70, "kg"), "d", date="2001-01-01"))
    assert reading.facts == {"weight_kg": 70}
    assert reading.warnings[0] == "weight_kg: Observation/u undated (90); the dated Observation/d (70, 2001-01-01) is read"


def test_two_undated_values_that_disagree_are_a_conflict_without_a_day(bindings: Bindings) -> None:
    """The warning says no day when there is none."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(90, "kg"), "a", date=None),
                   fhir_observation("29463-7", fhir_quantity(70, "kg"), "b", date=None))
    assert reading.warnings == ("weight_kg: Observation/a says 90, Observation/b says 70; left unknown",)


def test_the_same_value_twice_on_one_day_is_no_conflict(bindings: Bindings) -> None:
    """A repeated weight agrees with itself."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(70, "kg"), "a"),
                   fhir_observation("29463-7", fhir_quantity(70000, "g"), "b"))
    assert reading.facts == {"weight_kg": 70} and reading.warnings == () and reading.conflicting == ()


def test_the_newest_of_three_dates_wins_whatever_the_order(bindings: Bindings) -> None:
    """Most recent by date, not by position in the Bundle."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(71, "kg"), "a", "2025-06-01"),
                   fhir_observation("29463-7", fhir_quantity(72, "kg"), "b", "2025-12-01T08:00:00Z"),
                   fhir_observation("29463-7", fhir_quantity(70, "kg"), "c", "2024-01-01"))
    assert reading.facts == {"weight_kg": 72}


def test_an_effective_time_is_kept_as_its_utc_instant(bindings: Bindings) -> None:
    """A dateTime with an offset keeps its time, in UTC, so two values of one day are ordered; midnight with
    an offset is an instant too (00:00-10:00 is 10:00Z, after a 05:00Z value of that day)."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(70, "kg"), date="2025-12-01T23:30:00+10:00"))
    assert reading.evidence[0].date == "2025-12-01T13:30:00Z"
    later = read_with(bindings, fhir_observation("29463-7", fhir_quantity(60, "kg"), "a", date="2026-01-05T00:00:00-10:00"),
                 fhir_observation("29463-7", fhir_quantity(90, "kg"), "b", date="2026-01-05T05:00:00+00:00"))
    assert later.facts == {"weight_kg": 60} and later.evidence[0].date == "2026-01-05T10:00:00Z"


@pytest.mark.parametrize(("value", "unit", "read_as", "fact_value"), [
    (154.32, "[lb_av]", "154.32 [lb_av] = 70 kg", 70),
    (100, "[lb_av]", "100 [lb_av] = 45.36 kg", 45.36),
    (70500, "g", "70500 g = 70.5 kg", 70.5),
    (70, "kg", "70 kg", 70),
    (70.25, "kg", "70.25 kg", 70.25),
    (70.0, "kg", "70.0 kg", 70),
])
def test_a_weight_is_converted_and_said_exactly(bindings: Bindings, value: float, unit: str, read_as: str,
                                               fact_value: float) -> None:
    """The provenance line shows what was read and what it became; whole numbers become integers."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(value, unit)))
    assert evidence(reading) == [("weight_kg", fact_value, "Observation/o", "LOINC 29463-7", "2026-01-05", read_as)]
    assert type(reading.facts["weight_kg"]) is type(fact_value)


@pytest.mark.parametrize(("value", "expected"), [({"valueQuantity": {"unit": "kg", "code": "kg"}}, None),
                                                  ({"valueInteger": 70}, None), ({"valueString": "70"}, None)])
def test_a_weight_without_a_quantity_value_is_listed(bindings: Bindings, value: dict[str, Any], expected: None) -> None:
    """No number in a valueQuantity: nothing guessed, the reason named."""
    reading = read_with(bindings, fhir_observation("29463-7", value))
    assert reading.facts.get("weight_kg") is expected
    assert unmapped(reading) == [("Observation/o", "no valueQuantity for weight_kg")]


def test_a_quantity_without_unit_is_refused_with_the_allowed_units(bindings: Bindings) -> None:
    """A bare number has no unit: it is never taken as kg."""
    reading = read_with(bindings, fhir_observation("29463-7", {"valueQuantity": {"value": 70}}))
    assert unmapped(reading) == [("Observation/o", "a unit that is not a UCUM code (no unit): units are read from "
                                                    "UCUM (http://unitsofmeasure.org) only")]


def test_the_code_of_a_quantity_wins_over_its_display_unit(bindings: Bindings) -> None:
    """UCUM code 'g' with a display unit 'kg' is read as grams."""
    reading = read_with(bindings, fhir_observation("29463-7", {"valueQuantity": {"value": 70000, "unit": "kg", "code": "g",
                                                                       "system": UCUM}}))
    assert reading.facts == {"weight_kg": 70}


def test_a_count_is_read_from_an_integer(bindings: Bindings) -> None:
    """IVIG courses given as valueInteger, unit '1'; as a quantity of {course}."""
    counted = read_with(bindings, fhir_observation("ivig-courses-given", {"valueInteger": 3}, system=LOCAL))
    assert evidence(counted) == [("ivig_courses_given", 3, "Observation/o", "MYOIVIG ivig-courses-given", "2026-01-05",
                                  "3 1")]
    quantity_read = read_with(bindings, fhir_observation("ivig-courses-given", fhir_quantity(2, "{course}"), system=LOCAL))
    assert evidence(quantity_read)[0][1:] == (2, "Observation/o", "MYOIVIG ivig-courses-given", "2026-01-05",
                                              "2 {course}")


@pytest.mark.parametrize(("value", "unit", "comparator", "expected", "read_as"), [
    (6.99, "mg/dL", None, True, "6.99 mg/dL: below 7"),
    (7, "mg/dL", None, False, "7 mg/dL: not below 7"),
    (7.01, "mg/dL", None, False, "7.01 mg/dL: not below 7"),
    (7, "mg/dL", "<", True, "<7 mg/dL: below 7"),
    (6, "mg/dL", "<=", True, "<=6 mg/dL: below 7"),
    (7, "mg/dL", ">=", False, ">=7 mg/dL: not below 7"),
    (7, "mg/dL", ">", False, ">7 mg/dL: not below 7"),
    (8, "mg/dL", ">", False, ">8 mg/dL: not below 7"),
])
def test_a_threshold_reads_each_side_and_says_which(bindings: Bindings, value: float, unit: str, comparator: str | None,
                                                   expected: bool, read_as: str) -> None:
    """IgA below 7 mg/dL is deficiency; the threshold itself is not below; a bound decides when it can."""
    reading = read_with(bindings, fhir_observation("2458-8", fhir_quantity(value, unit, comparator)))
    assert evidence(reading) == [("iga_deficiency", expected, "Observation/o", "LOINC 2458-8", "2026-01-05", read_as)]
    assert reading.evidence[0].local_policy == next(b.local_policy for b in bindings.bindings if b.name == "iga_level")


@pytest.mark.parametrize(("value", "comparator", "expected"), [
    (0.0699, None, True), (0.07, None, False), (0.05, "<", True), (0.0701, ">=", False)])
def test_a_threshold_in_another_unit_is_compared_after_conversion(bindings: Bindings, value: float,
                                                                  comparator: str | None, expected: bool) -> None:
    """IgA in g/L is multiplied by 100 before it meets the 7 mg/dL threshold."""
    reading = read_with(bindings, fhir_observation("2458-8", fhir_quantity(value, "g/L", comparator)))
    assert reading.facts == {"iga_deficiency": expected}


def test_a_converted_threshold_value_names_the_threshold_unit(bindings: Bindings) -> None:
    """The clinician checks '0.0699 g/L = 6.99 mg/dL' against the chart, not '6.99 None'."""
    reading = read_with(bindings, fhir_observation("2458-8", fhir_quantity(0.0699, "g/L")))
    assert reading.evidence[0].read == "0.0699 g/L = 6.99 mg/dL: below 7"


def test_an_inclusive_bound_at_the_threshold_does_not_decide(bindings: Bindings) -> None:
    """'<=7' may be 7 itself, which is not below 7: the fact must stay unknown."""
    reading = read_with(bindings, fhir_observation("2458-8", fhir_quantity(7, "mg/dL", "<=")))
    assert "iga_deficiency" not in reading.facts


@pytest.mark.parametrize(("value", "comparator", "shown"), [
    (7.01, "<", "<7.01 mg/dL"), (10, "<=", "<=10 mg/dL"), (6.99, ">", ">6.99 mg/dL"), (5, ">=", ">=5 mg/dL")])
def test_a_bound_on_the_wrong_side_leaves_the_threshold_open(bindings: Bindings, value: float, comparator: str,
                                                            shown: str) -> None:
    """'<7.01' may be 7.005 or 3: the side of 7 is not known, and the line says so."""
    reading = read_with(bindings, fhir_observation("2458-8", fhir_quantity(value, "mg/dL", comparator)))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Observation/o", f"{shown} is a bound that does not say which side of 7 the value lies")]


def test_a_bound_is_not_a_weight(bindings: Bindings) -> None:
    """'>150 [lb_av]' is named with its conversion, and the weight stays unknown."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(150, "[lb_av]", ">")))
    assert unmapped(reading) == [("Observation/o", ">150 [lb_av] = >68.04 kg is a bound, not a value")]


def test_an_egfr_threshold_shows_its_fractional_threshold_exactly(bindings: Bindings) -> None:
    """eGFR 59.5 is below 60; the line names the unit as UCUM writes it."""
    reading = read_with(bindings, fhir_observation("33914-3", fhir_quantity(59.5, EGFR_UNIT)))
    assert evidence(reading) == [("renal_insufficiency", True, "Observation/o", "LOINC 33914-3", "2026-01-05",
                                  "59.5 mL/min/{1.73_m2}: below 60")]


# -- assessments ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "value", "read_as"), [(True, True, "answered yes"), (False, False, "answered no")])
def test_an_assessment_answered_yes_or_no(bindings: Bindings, answer: bool, value: bool, read_as: str) -> None:
    """A clinician's yes or no is the fact, with the assessment's code."""
    reading = read_with(bindings, fhir_observation("flare", {"valueBoolean": answer}, system=LOCAL))
    assert evidence(reading) == [("flare", value, "Observation/o", "MYOIVIG flare", "2026-01-05", read_as)]


def test_an_assessment_answered_with_a_bound_code(bindings: Bindings) -> None:
    """Thrombotic risk answered with a recorded risk factor's code is true, and names the code."""
    reading = read_with(bindings, fhir_observation("thrombotic-risk", {"valueCodeableConcept": {"coding": [
        {"system": "http://other.example", "code": "z"}, {"system": ICD, "code": "D68.61"}]}}, system=LOCAL))
    assert evidence(reading) == [("thrombotic_risk", True, "Observation/o", "MYOIVIG thrombotic-risk", "2026-01-05",
                                  "answered ICD10CM D68.61")]


def test_a_severity_assessment_gives_the_severity_code_it_names(bindings: Bindings) -> None:
    """Answered 'Mild' it is mild."""
    reading = read_with(bindings, fhir_observation("myositis-severity", {"valueCodeableConcept": {"coding": [
        {"system": SCT, "code": "255604002"}]}}, system=LOCAL))
    assert evidence(reading) == [("severity", "mild", "Observation/o", "MYOIVIG myositis-severity", "2026-01-05",
                                  "answered SNOMED 255604002")]


@pytest.mark.parametrize("value", [{}, {"valueString": "yes"}, {"valueCodeableConcept": {"coding": [
    {"system": LOCAL, "code": "flare"}]}}])
def test_an_assessment_with_no_readable_answer_is_listed(bindings: Bindings, value: dict[str, Any]) -> None:
    """Text or an unbound code (even the question's own code) is no answer."""
    reading = read_with(bindings, fhir_observation("flare", value, system=LOCAL))
    assert reading.facts == {}
    assert unmapped(reading) == [("Observation/o", "an assessment is answered by valueBoolean or a bound "
                                                    "valueCodeableConcept, and this one has neither")]


# -- results (antibodies) ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "positive"), [
    (POS, True), (NEG, False),
    ({"interpretation": [{"coding": [{"system": V3, "code": "POS"}]}]}, True),
    ({"interpretation": [{"coding": [{"system": V3, "code": "H"}]}, {"coding": [{"system": V3, "code": "NEG"}]}]}, False),
    ({"valueString": " POSITIVE"}, True), ({"valueString": "Negative "}, False),
    ({"valueBoolean": True}, True), ({"valueBoolean": False}, False),
    ({**POS, "interpretation": [{"coding": [{"system": V3, "code": "NEG"}]}]}, True),  # positive named first wins
])
def test_a_yes_no_result_is_positive_or_negative(bindings: Bindings, value: dict[str, Any], positive: bool) -> None:
    """Anti-IgA antibodies: a code, an interpretation, a word or a boolean say positive or negative."""
    reading = read_with(bindings, fhir_observation("anti-iga", value, system=LOCAL))
    assert evidence(reading) == [("anti_iga_antibodies", positive, "Observation/o", "MYOIVIG anti-iga", "2026-01-05",
                                  "positive" if positive else "negative")]
    assert reading.facts == {"anti_iga_antibodies": positive}


@pytest.mark.parametrize("value", [{"valueQuantity": {"value": 40, "unit": "U"}}, {"valueString": "borderline"},
                                   {"interpretation": [{"coding": [{"system": V3, "code": "H"}]}]}])
def test_a_result_that_is_neither_is_listed_with_why(bindings: Bindings, value: dict[str, Any]) -> None:
    """A titre alone is not read: cut-offs differ by assay."""
    reading = read_with(bindings, fhir_observation("93493-5", value))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Observation/o", "neither positive nor negative (a bare number is not read: "
                                                    "cut-offs are assay-specific)")]




def fhir_antibody(name: str, value: dict[str, Any], date: str | None = "2026-01-05", rid: str | None = None) -> dict[str, Any]:
    code, system = ANTIBODIES[name]
    return fhir_observation(code, value, rid or name.replace("_", "-"), date, system=system)


def test_a_positive_antibody_is_listed_with_its_evidence(bindings: Bindings) -> None:
    """The list holds the positive antibodies, sorted; each result is cited."""
    reading = read_with(bindings, fhir_antibody("anti_srp", POS), fhir_antibody("anti_hmgcr", POS), fhir_antibody("anti_jo1", NEG))
    assert reading.facts == {"autoantibodies": ["anti_hmgcr", "anti_srp"]}
    assert evidence(reading) == [
        ("autoantibodies", "anti_srp", "Observation/anti-srp", "LOINC 33921-8", "2026-01-05", "positive"),
        ("autoantibodies", "anti_hmgcr", "Observation/anti-hmgcr", "LOINC 93493-5", "2026-01-05", "positive"),
        ("autoantibodies", "anti_jo1", "Observation/anti-jo1", "LOINC 33571-1", "2026-01-05", "negative")]
    assert reading.warnings == ()


def test_a_whole_negative_panel_is_the_empty_list_and_one_missing_leaves_it_unknown(bindings: Bindings) -> None:
    """Seven of eight negative is not 'none found': the untested one is named."""
    names = sorted(ANTIBODIES)
    assert read_with(bindings, *(fhir_antibody(n, NEG) for n in names)).facts == {"autoantibodies": []}
    seven = read_with(bindings, *(fhir_antibody(n, NEG) for n in names if n != "anti_sae"))
    assert seven.facts == {} and seven.conflicting == ()
    assert seven.warnings == ("autoantibodies: anti_hmgcr, anti_jo1, anti_mda5, anti_mi2, anti_nxp2, anti_srp, "
                              "anti_tif1g negative, anti_sae not tested: left unknown (an empty list means all "
                              "tested, none found)",)


@pytest.mark.parametrize(("results", "expected"), [
    ([("2015-01-01", POS), ("2026-01-05", NEG), ("2020-01-01", POS)], []),     # a newer negative ends a positive
    ([("2026-01-05", POS), ("2015-01-01", NEG)], ["anti_hmgcr"]),             # a newer positive ends a negative
    ([(None, NEG), ("2000-01-01", POS)], ["anti_hmgcr"]),                     # undated is oldest
    ([("2026-01-05", POS), ("2026-01-05", POS)], ["anti_hmgcr"]),             # agreeing repeats are one answer
])
def test_each_antibody_is_its_latest_result(bindings: Bindings, results: list[tuple[str | None, dict[str, Any]]],
                                           expected: list[str]) -> None:
    """Only the latest result of an antibody counts; the rest of the panel is negative here."""
    others = [fhir_antibody(n, NEG) for n in sorted(ANTIBODIES) if n != "anti_hmgcr"]
    history = [fhir_antibody("anti_hmgcr", value, date, f"h{i}") for i, (date, value) in enumerate(results)]
    reading = read_with(bindings, *history, *others)
    assert reading.facts == {"autoantibodies": expected} and reading.warnings == ()


def test_a_same_day_disagreement_leaves_that_antibody_unknown(bindings: Bindings) -> None:
    """Positive and negative on one day: the antibody is unknown, so is the list unless another is positive."""
    undated = read_with(bindings, fhir_antibody("anti_mi2", POS, None, "a"), fhir_antibody("anti_mi2", NEG, None, "b"))
    assert undated.facts == {} and undated.conflicting == ("autoantibodies",)
    assert undated.warnings[0] == "autoantibodies: anti_mi2 is both positive and negative on an undated day; anti_mi2 left unknown"
    with_positive = read_with(bindings, fhir_antibody("anti_mi2", POS, rid="a"), fhir_antibody("anti_mi2", NEG, rid="b"),
                         fhir_antibody("anti_srp", POS))
    assert with_positive.facts == {"autoantibodies": ["anti_srp"]}
    assert with_positive.warnings == ("autoantibodies: anti_mi2 is both positive and negative on 2026-01-05; "
                                      "anti_mi2 left unknown",)


# -- medications and lists --------------------------------------------------------------------------

def test_active_therapies_make_a_sorted_list_without_repeats(bindings: Bindings) -> None:
    """Each bound active therapy once, whatever the order and however many records name it."""
    reading = read_with(bindings, medication(rid="a", code="105585", authoredOn="2025-12-01"),
                   medication("MedicationStatement", "b", "8640", dateAsserted="2025-11-02T10:00:00Z"),
                   medication(rid="c", code="312615"), medication("MedicationStatement", "d", "6851", status="intended"))
    assert reading.facts == {"current_therapies": ["corticosteroids", "methotrexate"]}
    assert evidence(reading) == [
        ("current_therapies", "methotrexate", "MedicationRequest/a", "RXNORM 105585", "2025-12-01", "active MedicationRequest"),
        ("current_therapies", "corticosteroids", "MedicationStatement/b", "RXNORM 8640", "2025-11-02T10:00:00Z",
         "active MedicationStatement"),
        ("current_therapies", "corticosteroids", "MedicationRequest/c", "RXNORM 312615", None, "active MedicationRequest"),
        ("current_therapies", "methotrexate", "MedicationStatement/d", "RXNORM 6851", None, "intended MedicationStatement")]


@pytest.mark.parametrize(("resource", "reason"), [
    (medication(status="completed"), "status completed: not a current therapy"),
    (medication(status="on-hold"), "status on-hold: not a current therapy"),
    (medication("MedicationStatement", status="stopped"), "status stopped: not a current therapy"),
    (medication(intent="proposal"), "intent proposal: not a current therapy"),
    (medication(intent="option"), "intent option: not a current therapy"),
    (medication(code="999"), "no binding for RXNORM 999"),
    (medication(code=None, medicationReference={"reference": "Medication/absent"}),
     "no binding for a resource with no code"),
])
def test_a_medication_that_is_not_a_current_bound_therapy_is_listed(bindings: Bindings, resource: dict[str, Any],
                                                                   reason: str) -> None:
    """Stopped, proposed or unbound: named with why, and the list stays unknown."""
    reading = read_with(bindings, resource)
    assert reading.facts == {} and unmapped(reading) == [(f"{resource['resourceType']}/m", reason)]


@pytest.mark.parametrize("intent", ["order", "original-order", "reflex-order", "filler-order", "instance-order", "plan"])
def test_every_order_intent_is_a_current_therapy(bindings: Bindings, intent: str) -> None:
    """An order of any kind, or a plan, is a therapy the patient takes."""
    assert read_with(bindings, medication(intent=intent)).facts == {"current_therapies": ["corticosteroids"]}


def test_a_referenced_medication_gives_its_code(bindings: Bindings) -> None:
    """Medication read through the request; the Medication itself is not listed as unmapped."""
    drug = {"resourceType": "Medication", "id": "drug", "code": {"coding": [{"system": RXNORM, "code": "1256"}]}}
    unbound = {"resourceType": "Medication", "id": "other", "code": {"coding": [{"system": RXNORM, "code": "1"}]}}
    reading = read_with(bindings, drug, unbound, medication(code=None, medicationReference={"reference": "Medication/drug"}),
                   medication(rid="n", code=None, medicationReference={"reference": "Medication/other"}))
    assert reading.facts == {"current_therapies": ["azathioprine"]}
    assert unmapped(reading) == [("MedicationRequest/n", "no binding for RXNORM 1")]


def nil_list(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "List", "id": "l", "status": "current", "mode": "snapshot",
            "code": {"coding": [{"system": LOINC, "code": "10160-0"}]}, "subject": {"reference": "Patient/p"},
            "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                        "code": "nilknown"}]}, **extra}


def test_an_empty_medication_list_nil_known_is_no_current_therapy(bindings: Bindings) -> None:
    """'Nil known' is explicit evidence: the list is empty, and the List is cited."""
    reading = read_with(bindings, nil_list(date="2025-12-20T10:00:00Z"))
    assert reading.facts == {"current_therapies": []}
    assert evidence(reading) == [("current_therapies", None, "List/l", "LOINC 10160-0", "2025-12-20T10:00:00Z",
                                  "an empty list: nil known")]
    assert reading.unmapped == ()
    with_therapy = read_with(bindings, nil_list(), medication())
    assert with_therapy.facts == {"current_therapies": ["corticosteroids"]}


@pytest.mark.parametrize("change", [
    {"emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                 "code": "notasked"}]}},
    {"emptyReason": None},
    {"code": {"coding": [{"system": LOINC, "code": "1-8"}]}},
    {"entry": [{"item": {"reference": "MedicationStatement/x"}}], "emptyReason": None},
])
def test_any_other_list_is_listed_as_not_read(bindings: Bindings, change: dict[str, Any]) -> None:
    """Not asked, not a medication list, or a list with entries: only 'nil known' is read."""
    resource = {k: v for k, v in {**nil_list(), **change}.items() if v is not None}
    reading = read_with(bindings, resource)
    assert reading.facts == {}
    assert unmapped(reading) == [("List/l", "only an empty current-medication list (emptyReason nilknown) is read")]


def test_both_empty_medication_searches_are_no_current_therapy(bindings: Bindings) -> None:
    """Two empty searchsets answer the question; one with an entry or a missing one does not."""
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    both = read_fhir(bindings, hook(patient=patient(), medicationRequests=empty,
                                    medicationStatements={"resourceType": "Bundle", "type": "searchset"}), AS_OF)
    assert both.facts == {"current_therapies": []}
    assert evidence(both) == [("current_therapies", None, "prefetch medicationRequests and medicationStatements", None,
                               None, "both searches for active medication came back empty")]
    assert both.evidence[0].local_policy == next(b.local_policy for b in bindings.bindings if b.fact == "current_therapies")
    filled = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": medication(code="1")}]}
    one = read_fhir(bindings, hook(patient=patient(), medicationRequests=filled, medicationStatements=empty), AS_OF)
    assert one.facts == {}
    missing = read_fhir(bindings, hook(patient=patient(), medicationRequests=empty), AS_OF)
    assert missing.facts == {}
    not_bundle = read_fhir(bindings, hook(patient=patient(), medicationRequests=empty,
                                          medicationStatements=patient()), AS_OF)
    assert "current_therapies" not in not_bundle.facts


# -- resources not read -----------------------------------------------------------------------------

def test_each_unread_kind_of_resource_is_listed_in_order(bindings: Bindings) -> None:
    """Nested Bundles, EHR errors and types myoivig does not read are named, in input order."""
    reading = read_with(bindings, {"resourceType": "Bundle", "type": "collection"},
                   {"resourceType": "OperationOutcome", "id": "oo", "issue": [{"severity": "error", "code": "timeout"}]},
                   {"resourceType": "Encounter", "id": "e", "status": "finished", "class": {"code": "AMB"}},
                   {"resourceType": "Medication", "id": "m"}, {"resourceType": "Foo"})
    assert unmapped(reading) == [("Bundle/(no id)", "a Bundle inside the input is not opened"),
                                 ("OperationOutcome/oo", "an error the EHR returned in place of data"),
                                 ("Encounter/e", "myoivig reads no Encounter resources"),
                                 ("Foo/(no id)", "myoivig reads no Foo resources")]


# -- which value stands -----------------------------------------------------------------------------

def test_two_diagnoses_over_time_leave_the_diagnosis_unknown_and_a_repeat_does_not(bindings: Bindings) -> None:
    """An old polymyositis and a new dermatomyositis name two diseases; the same one twice is one."""
    two = read_with(bindings, fhir_condition(SCT, "31384009", "old", onsetDateTime="2020-01-01"),
               fhir_condition(SCT, "396230008", "new", onsetDateTime="2025-01-01"))
    assert "diagnosis" not in two.facts and two.conflicting == ("diagnosis",)
    assert two.warnings == ("diagnosis: resources name dermatomyositis, polymyositis; left unknown",)
    same = read_with(bindings, fhir_condition(SCT, "31384009", "old", onsetDateTime="2020-01-01"),
                fhir_condition(ICD, "M33.20", "new", onsetDateTime="2025-01-01"))
    assert same.facts["diagnosis"] == "polymyositis" and same.warnings == ()


def test_a_diagnosis_in_conflict_leaves_every_other_fact_read(bindings: Bindings) -> None:
    """The conflict is the diagnosis's alone: facts read after it (weight, age) still stand."""
    reading = read_with(bindings, fhir_condition(SCT, "31384009", "old", onsetDateTime="2020-01-01"),
                   fhir_condition(SCT, "396230008", "new", onsetDateTime="2025-01-01"),
                   fhir_observation("29463-7", fhir_quantity(70, "kg")), patient(birthDate="1970-01-01"))
    assert reading.conflicting == ("diagnosis",)
    assert {k: reading.facts.get(k) for k in ("weight_kg", "age_years")} == {"weight_kg": 70, "age_years": 56}


def test_an_older_different_value_of_another_fact_is_superseded_silently(bindings: Bindings) -> None:
    """A weight that changed is no conflict: the newest stands."""
    reading = read_with(bindings, fhir_observation("29463-7", fhir_quantity(80, "kg"), "a", "2025-12-01"),
                   fhir_observation("29463-7", fhir_quantity(70, "kg"), "b", "2026-01-06"))
    assert reading.facts == {"weight_kg": 70} and reading.warnings == () and reading.conflicting == ()


def test_an_active_condition_stands_against_a_newer_false(bindings: Bindings) -> None:
    """A problem-list CKD outweighs today's normal eGFR, with a warning naming both and the eGFR's date."""
    reading = read_with(bindings, fhir_condition(SCT, "709044004", "ckd"),
                   fhir_observation("98979-8", fhir_quantity(75, EGFR_UNIT), "egfr", date=None),
                   fhir_observation("98979-8", fhir_quantity(80, EGFR_UNIT), "egfr2", date="2025-01-01"))
    assert reading.facts == {"renal_insufficiency": True}
    assert reading.warnings == ("renal_insufficiency: Condition/ckd (active) says true, Observation/egfr2 (2025-01-01) "
                                "says false; the active Condition stands [local policy]",)
    undated = read_with(bindings, fhir_condition(SCT, "709044004", "ckd", onsetDateTime="2020-01-01"),
                   fhir_observation("98979-8", fhir_quantity(75, EGFR_UNIT), "egfr", date="2026-01-01"),
                   fhir_observation("98979-8", fhir_quantity(75, EGFR_UNIT), "old", date=None))
    assert undated.facts == {"renal_insufficiency": True}


def test_a_true_lab_and_a_refuted_condition_follow_the_newest(bindings: Bindings) -> None:
    """Only an active Condition stands against a newer false; a newer true simply wins."""
    reading = read_with(bindings, fhir_condition(SCT, "709044004", "ckd", verification="refuted", recordedDate="2020-01-01"),
                   fhir_observation("98979-8", fhir_quantity(40, EGFR_UNIT), "egfr"))
    assert reading.facts == {"renal_insufficiency": True} and reading.warnings == ()
    refuted_newer = read_with(bindings, fhir_condition(SCT, "709044004", "ckd", verification="refuted", recordedDate="2026-01-10"),
                         fhir_observation("98979-8", fhir_quantity(40, EGFR_UNIT), "egfr"))
    assert refuted_newer.facts == {"renal_insufficiency": False} and refuted_newer.warnings == ()


def test_a_false_answer_without_a_standing_condition_is_false(bindings: Bindings) -> None:
    """An assessment answered no, with no active Condition, is simply false."""
    reading = read_with(bindings, fhir_observation("thrombotic-risk", {"valueBoolean": False}, system=LOCAL))
    assert reading.facts == {"thrombotic_risk": False} and reading.warnings == ()


def test_a_conflict_of_booleans_is_said_in_lower_case(bindings: Bindings) -> None:
    """true/false as the vocabulary writes them."""
    reading = read_with(bindings, fhir_observation("flare", {"valueBoolean": True}, "a", system=LOCAL),
                   fhir_observation("flare", {"valueBoolean": False}, "b", system=LOCAL))
    assert reading.warnings == ("flare: Observation/a says true, Observation/b says false on 2026-01-05; left unknown",)
    assert reading.facts == {} and reading.conflicting == ("flare",)


def test_evidence_is_a_plain_record() -> None:
    """Provenance records compare by value (the report and cards match them to facts)."""
    assert Evidence("f", 1, "R/1", None, None, "r") == Evidence("f", 1, "R/1", None, None, "r", None)


# -- boundaries found by comparing the reader against its own variants ----------------------------

def test_a_bundle_with_an_unknown_element_is_refused() -> None:
    """Every element of the Bundle but its entries is checked, whatever its name."""
    with pytest.raises(InputError) as refused:
        validate_shell({"resourceType": "Bundle", "type": "collection", "abc": 1})
    assert (str(refused.value), refused.value.field) == (
        "abc: the Bundle is not valid FHIR R4: Extra inputs are not permitted", "abc")


def test_other_people_in_the_input_are_not_patients(bindings: Bindings) -> None:
    """A Practitioner or a RelatedPerson is listed, never counted as a second patient."""
    reading = read_with(bindings, patient(birthDate="1970-03-01"), {"resourceType": "Practitioner", "id": "dr"},
                   {"resourceType": "RelatedPerson", "id": "rp", "patient": {"reference": "Patient/p"}})
    assert reading.facts == {"age_years": 55} and reading.patient == "Patient/p"
    assert unmapped(reading) == [("Practitioner/dr", "myoivig reads no Practitioner resources"),
                                 ("RelatedPerson/rp", "myoivig reads no RelatedPerson resources")]


@pytest.mark.parametrize("other", ["q", "a"])
def test_the_context_patient_is_read_and_the_other_listed(bindings: Bindings, other: str) -> None:
    """Of two patients in a request, only the one context.patientId names gives facts."""
    search = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": patient(other, birthDate="2010-03-01")},
                        {"resource": patient("p", birthDate="1970-03-01")}]}
    reading = read_fhir(bindings, hook(search=search), AS_OF)
    assert reading.facts == {"age_years": 55} and reading.patient == "Patient/p"
    assert unmapped(reading) == [(f"Patient/{other}", "another patient")]


def test_a_resource_type_sorting_before_bundle_is_not_a_bundle(bindings: Bindings) -> None:
    """An AllergyIntolerance is a resource read for its substance, not a nested Bundle."""
    reading = read_with(bindings, {"resourceType": "AllergyIntolerance", "id": "a", "patient": {"reference": "Patient/p"}})
    assert unmapped(reading) == [("AllergyIntolerance/a", "no binding for a resource with no code")]


def test_a_prefetched_resource_sorting_before_bundle_is_taken_as_a_resource(bindings: Bindings) -> None:
    """A single AllergyIntolerance under a prefetch key is a resource, not a Bundle to open."""
    reading = read_fhir(bindings, hook(allergy={"resourceType": "AllergyIntolerance", "id": "a",
                                                "patient": {"reference": "Patient/p"}}), AS_OF)
    assert unmapped(reading) == [("AllergyIntolerance/a", "no binding for a resource with no code")]


@pytest.mark.parametrize("url", ["http://aaa.example/sex", "http://zzz.example/sex", US_CORE + "us-core-birthsex"])
def test_only_the_us_core_sex_extension_gives_sex_by_code(bindings: Bindings, url: str) -> None:
    """An extension of another URL (or birth sex with a SNOMED code) with a sex code is not the sex."""
    assert sex_of(bindings, [{"url": url, "valueCode": "male"}], "female") == [("female", "gender female")]
    assert sex_of(bindings, [{"url": url, "valueCoding": {"system": SCT, "code": "248153007"}}], "female") == [
        ("female", "gender female")]


@pytest.mark.parametrize("url", ["http://aaa.example/birthsex", "http://zzz.example/birthsex"])
def test_only_the_us_core_birth_sex_extension_gives_birth_sex(bindings: Bindings, url: str) -> None:
    """Another extension coded M is not the birth sex."""
    assert sex_of(bindings, [{"url": url, "valueCode": "M"}], "female") == [("female", "gender female")]


def test_a_condition_that_gives_nothing_dates_nothing(bindings: Bindings) -> None:
    """An erroneous or unbound Condition's onset is never the disease's onset."""
    reading = read_with(bindings, fhir_condition(SCT, "396230008", "err", verification="entered-in-error",
                                       onsetDateTime="2025-01-10"),
                   fhir_condition(SCT, "22298006", "mi", onsetDateTime="2025-01-10"))
    assert reading.facts == {} and reading.evidence == () and reading.warnings == ()
    assert unmapped(reading) == [("Condition/err", "entered in error"), ("Condition/mi", "no binding for SNOMED 22298006")]


def test_an_observation_is_dated_by_its_period_else_its_issue(bindings: Bindings) -> None:
    """effectiveDateTime, else effectivePeriod.start, else issued (its day)."""
    period = fhir_observation("29463-7", fhir_quantity(70, "kg"), "p", date=None) | {"effectivePeriod": {"start": "2025-11-02"}}
    issued = fhir_observation("8302-2", fhir_quantity(165, "cm"), "i", date=None) | {"issued": "2025-10-03T08:00:00Z"}
    both = fhir_observation("98979-8", fhir_quantity(70, EGFR_UNIT), "b", date="2025-09-01") | {
        "effectivePeriod": None, "issued": "2025-10-03T08:00:00Z"}
    both = {k: v for k, v in both.items() if v is not None}
    reading = read_with(bindings, period, issued, both)
    assert [(e.resource, e.date) for e in reading.evidence] == [
        ("Observation/p", "2025-11-02"), ("Observation/i", "2025-10-03T08:00:00Z"), ("Observation/b", "2025-09-01")]


@pytest.mark.parametrize(("code", "value", "unit", "read_as", "fact_value"), [
    ("8302-2", 1.62, "m", "1.62 m = 162 cm", 162),
    ("8302-2", 65, "[in_i]", "65 [in_i] = 165.1 cm", 165.1),
    ("29463-7", -1.5, "[lb_av]", "-1.5 [lb_av] = -0.68 kg", -0.68),
    ("29463-7", -1.5, "kg", "-1.5 kg", -1.5),
])
def test_every_conversion_is_shown_and_negatives_kept(bindings: Bindings, code: str, value: float, unit: str,
                                                     read_as: str, fact_value: float) -> None:
    """Any factor other than 1 shows its result; a negative is passed on as read for the range check."""
    reading = read_with(bindings, fhir_observation(code, fhir_quantity(value, unit)))
    assert [(e.value, e.read) for e in reading.evidence] == [(fact_value, read_as)]


@pytest.mark.parametrize("text", ["weakly reactive", "not detected", "equivocal", "present"])
def test_result_words_other_than_positive_and_negative_are_not_guessed(bindings: Bindings, text: str) -> None:
    """Only the words positive and negative count; everything else is listed."""
    reading = read_with(bindings, fhir_observation("anti-iga", {"valueString": text}, system=LOCAL))
    assert reading.facts == {} and [u.reason for u in reading.unmapped] == [
        "neither positive nor negative (a bare number is not read: cut-offs are assay-specific)"]


def test_a_newer_negative_replaces_an_older_positive_without_a_warning(bindings: Bindings) -> None:
    """Anti-IgA antibodies that have gone: the newest result stands, with no conflict."""
    reading = read_with(bindings, fhir_observation("anti-iga", POS, "old", "2020-01-01", system=LOCAL),
                   fhir_observation("anti-iga", NEG, "new", "2026-01-01", system=LOCAL))
    assert reading.facts == {"anti_iga_antibodies": False} and reading.warnings == () and reading.conflicting == ()


@pytest.mark.parametrize(("answer", "system"), [("31384009", SCT), ("Z86.718", ICD)])
def test_a_severity_question_is_answered_only_by_a_severity_code(bindings: Bindings, answer: str, system: str) -> None:
    """A diagnosis or a risk-factor code is no answer to 'how severe'."""
    reading = read_with(bindings, fhir_observation("myositis-severity", {"valueCodeableConcept": {"coding": [
        {"system": system, "code": answer}]}}, system=LOCAL))
    assert reading.facts == {} and [u.reason for u in reading.unmapped] == [
        "an assessment is answered by valueBoolean or a bound valueCodeableConcept, and this one has neither"]


def test_what_was_read_cannot_be_altered_afterwards(bindings: Bindings) -> None:
    """Provenance is a record: the reading, its evidence and its unmapped lines are immutable."""
    reading = read_with(bindings, patient(gender="male"), {"resourceType": "Foo", "id": "f"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.evidence[0].value = "female"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.unmapped[0].reason = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.patient = "Patient/q"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        resources_of(fhir_bundle()).patient_id = "q"  # type: ignore[misc]


# ---------------------------------------------------------------- The FHIR reader's rules one by one, in process: what each ki
POSITIVE = {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "10828004"}]}}


def hook_request(*resources: dict[str, Any], patient_id: str = "p", **prefetch: Any) -> dict[str, Any]:
    """A CDS Hooks request whose prefetch holds these resources (the first Patient under `patient`)."""
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    others = [r for r in resources if r["resourceType"] != "Patient"]
    found: dict[str, Any] = {"patient": patients[0] if patients else None,
                             "conditions": {"resourceType": "Bundle", "type": "searchset",
                                            "entry": [{"resource": r} for r in others + patients[1:]]}}
    return {"hook": "patient-view", "hookInstance": "i", "context": {"patientId": patient_id},
            "prefetch": {**found, **prefetch}}


def read_request(document: dict[str, Any]) -> Any:
    return read_fhir(load_bindings(load_knowledge_base(None)), document, dt.date(2026, 1, 15))




def test_converted_values_keep_two_decimals() -> None:
    """100 lb is 45.36 kg, not 45.4: the rounding is the documented two decimals."""
    assert read(bundle(observation("29463-7", quantity(100, "[lb_av]")))).facts["weight_kg"] == 45.36


def test_a_negative_non_integer_is_kept_as_read_for_the_range_check() -> None:
    """The reader passes -1.5 on (the vocabulary's range then refuses it), never a rounded -1."""
    assert read(bundle(observation("29463-7", quantity(-1.5, "kg")))).facts["weight_kg"] == -1.5


def test_an_unknown_resource_type_is_listed_and_the_rest_still_read() -> None:
    """A type FHIR R4 lacks is unmapped by name; resources after it are read."""
    reading = read(bundle({"resourceType": "Foo", "id": "x"}, observation("29463-7", quantity(70, "kg"))))
    assert reading.facts["weight_kg"] == 70
    assert [(u.resource, u.reason) for u in reading.unmapped] == [("Foo/x", "myoivig reads no Foo resources")]


def test_an_unknown_contained_resource_is_invalid_fhir() -> None:
    """A Condition containing a resource of no FHIR type is refused with its place, not a traceback."""
    bad = {**condition(SCT, "31384009"), "contained": [{"resourceType": "Foo"}]}
    with pytest.raises(InputError, match=r"^entry\[1\]: Condition/c is not valid FHIR R4: 'R4.FooType'$"):
        read(bundle(bad))


def test_a_hook_request_is_read_from_its_prefetch_and_counts_to_today() -> None:
    """Errors name the prefetch; without --as-of a request's ages count to the reference date given."""
    with pytest.raises(InputError) as refused:
        read_request(hook_request(patient(birthDate="1970-13-01")))
    assert refused.value.field == "prefetch[0].birthDate"
    document = hook_request(patient(birthDate="1970-03-01"))
    today = read_fhir(load_bindings(load_knowledge_base(None)), document)
    assert today.as_of_from == "today" and today.as_of == dt.date.today().isoformat()
    assert read_request(document).facts["age_years"] == 55


def test_a_bundle_without_timestamp_counts_to_today() -> None:
    """No --as-of and no timestamp: today, and the output says so."""
    document = bundle()
    del document["timestamp"]
    assert read_fhir(load_bindings(load_knowledge_base(None)), document).as_of_from == "today"


def test_the_context_patient_is_the_one_read() -> None:
    """Of two patients in the prefetch, the one context.patientId names gives the facts; the other is listed."""
    reading = read_request(hook_request(patient("p", birthDate="1970-03-01"), patient("q", birthDate="2010-03-01")))
    assert reading.facts["age_years"] == 55 and reading.patient == "Patient/p"
    assert [(u.resource, u.reason) for u in reading.unmapped] == [("Patient/q", "another patient")]


def test_a_bundle_of_two_patients_is_refused_and_one_without_a_patient_is_read() -> None:
    """One patient's resources make one consultation; a Bundle of two is an input error."""
    two = bundle(patient("q"))
    with pytest.raises(InputError, match="the input holds 2 patients; give one patient's resources"):
        read(two)
    alone = bundle(observation("29463-7", quantity(70, "kg")))
    alone["entry"] = alone["entry"][1:]
    assert read(alone).facts == {"weight_kg": 70} and read(alone).patient == "Patient/p"  # the one its results name


def test_a_resource_without_subject_is_not_the_patients() -> None:
    """A 130 kg weight that names no patient does not set this patient's dose: it is listed, not read."""
    weight = observation("29463-7", quantity(130, "kg"))
    del weight["subject"]
    reading = read(bundle(weight))
    assert "weight_kg" not in reading.facts
    assert [(u.resource, u.reason) for u in reading.unmapped if u.resource.startswith("Observation")] == [
        (f"Observation/{weight['id']}", "names no patient (no subject): not read as this patient's")]


def test_a_medication_named_by_reference_is_read_from_the_medication() -> None:
    """MedicationStatement.medicationReference to a Medication in the Bundle gives its therapy."""
    medication = {"resourceType": "Medication", "id": "m",
                  "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}
    statement = {"resourceType": "MedicationStatement", "id": "s", "status": "active",
                 "medicationReference": {"reference": "Medication/m"}, "subject": {"reference": "Patient/p"}}
    assert read(bundle(medication, statement)).facts["current_therapies"] == ["corticosteroids"]


def test_an_operation_outcome_in_place_of_data_is_listed() -> None:
    """A prefetch the EHR could not fill is reported, not read as data."""
    outcome = {"resourceType": "OperationOutcome", "id": "oo",
               "issue": [{"severity": "error", "code": "timeout"}]}
    reading = read_request(hook_request(patient(), outcome))
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("OperationOutcome/oo", "an error the EHR returned in place of data")]


@pytest.mark.parametrize(("extensions", "gender", "expected"), [
    ([{"url": "http://example.org/other", "valueCode": "male"}], "female", "female"),
    ([{"url": US_CORE + "us-core-sex", "valueCoding": {"system": SCT, "code": "248153007"}}], "female", "male"),
    ([{"url": "http://zzz.example/sex", "valueCoding": {"system": SCT, "code": "248153007"}}], "female", "female"),
    ([{"url": "http://aaa.example/birthsex", "valueCode": "M"}], "female", "female"),
    ([{"url": "http://zzz.example/birthsex", "valueCode": "M"}], "female", "female"),
])
def test_only_the_us_core_extensions_say_sex(extensions: list[dict[str, Any]], gender: str, expected: str) -> None:
    """Another extension with a sex-like code is not the patient's sex; US Core sex as a Coding is."""
    document = bundle()
    document["entry"][0]["resource"].update({"gender": gender, "extension": extensions})
    assert read(document).facts["sex"] == expected


def test_only_the_diagnosis_dates_the_disease_and_carries_its_severity() -> None:
    """A dysphagia Condition's onset and severity are not the myositis's."""
    reading = read(bundle(condition(SCT, "40739000", onsetDateTime="2025-01-10",
                                    severity={"coding": [{"system": SCT, "code": "24484000"}]})))
    assert reading.facts == {"age_years": 55, "sex": "female", "dysphagia": True}


def test_months_are_whole_on_the_same_day_of_the_month() -> None:
    """Onset on the 15th, reference date the 15th three months later: 3 months, not 2."""
    assert read(bundle(condition(SCT, "31384009", onsetDateTime="2025-10-15"))).facts["months_since_diagnosis"] == 3


def test_a_partial_onset_date_gives_no_months_and_says_why() -> None:
    """"2025-10" names no day: months since diagnosis stay unknown, listed, never a crash."""
    reading = read(bundle(condition(SCT, "31384009", onsetDateTime="2025-10")))
    assert "months_since_diagnosis" not in reading.facts and reading.facts["diagnosis"] == "polymyositis"
    assert ("Condition/c.onsetDateTime", "a partial date (2025-10) gives no months since diagnosis") in [
        (u.resource, u.reason) for u in reading.unmapped]


def test_a_severity_assessment_reads_only_severity_codes() -> None:
    """Answered with a severity code it gives that severity; with another fact's code it is unmapped."""
    local = "http://example.org/myoivig/CodeSystem/assessment"
    severe = observation("myositis-severity", {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "24484000"}]}},
                         system=local)
    assert read(bundle(severe)).facts["severity"] == "severe"
    other = observation("myositis-severity", {"valueCodeableConcept": {"coding": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z86.718"}]}}, system=local)
    reading = read(bundle(other))
    assert "severity" not in reading.facts
    assert reading.unmapped[0].reason.startswith("an assessment is answered by valueBoolean or a bound")


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueString": "Positive"}, ["positive"]),
    ({"valueString": " negative "}, ["negative"]),
    ({"valueBoolean": True}, ["positive"]),
    ({"valueBoolean": False}, ["negative"]),
    ({"valueString": "weakly reactive"}, []),
])
def test_a_result_is_positive_or_negative_or_not_read(value: dict[str, Any], expected: list[str]) -> None:
    """Words and booleans count; any other text is not guessed at."""
    reading = read(bundle(observation("93493-5", value)))
    assert [e.read for e in reading.evidence if e.fact == "autoantibodies"] == expected
    assert (reading.facts.get("autoantibodies") == ["anti_hmgcr"]) == (expected == ["positive"])


@pytest.mark.parametrize(("code", "value", "unit", "fact", "expected"), [
    ("2458-8", "<", 5, "iga_deficiency", True),           # under 5 is under 7
    ("2458-8", "<", 7, "iga_deficiency", True),
    ("2458-8", "<", 10, "iga_deficiency", None),          # under 10 may or may not be under 7
    ("2458-8", ">", 7, "iga_deficiency", False),
    ("98979-8", ">", 60, "renal_insufficiency", False),
    ("98979-8", "<", 60, "renal_insufficiency", True),
    ("98979-8", ">=", 30, "renal_insufficiency", None),
    ("29463-7", "<", 100, "weight_kg", None),             # a bound is not a weight
])
def test_a_comparator_decides_a_threshold_only_when_it_can(code: str, value: str, unit: float, fact: str,
                                                           expected: bool | None) -> None:
    """'<10 mg/dL' IgA is not 'not deficient': a bound that leaves the side open leaves the fact unknown, listed."""
    units = {"2458-8": "mg/dL", "98979-8": "mL/min/{1.73_m2}", "29463-7": "kg"}[code]
    quantity = {"valueQuantity": {"value": unit, "comparator": value, "unit": units,
                                  "system": "http://unitsofmeasure.org", "code": units}}
    reading = read(bundle(observation(code, quantity)))
    assert reading.facts.get(fact) == expected
    if expected is None:
        assert reading.unmapped[0].resource == "Observation/o" and "bound" in reading.unmapped[0].reason


def test_a_threshold_is_compared_before_rounding() -> None:
    """IgA 6.999 mg/dL is below 7, though it shows as 7.0 rounded."""
    assert read(bundle(observation("2458-8", quantity(6.999, "mg/dL")))).facts["iga_deficiency"] is True


def test_an_active_condition_stands_against_a_newer_normal_lab() -> None:
    """CKD on the problem list and a normal eGFR today: the caution stays, with a warning to reconcile."""
    reading = read(bundle(condition(SCT, "709044004", "ckd", onsetDateTime="2020-01-01"),
                          observation("98979-8", quantity(62, "mL/min/{1.73_m2}"), "egfr")))
    assert reading.facts["renal_insufficiency"] is True
    assert reading.warnings == ("renal_insufficiency: Condition/ckd (active) says true, Observation/egfr (2026-01-05) "
                                "says false; the active Condition stands [local policy]",)


def test_references_by_full_url_reach_the_patient() -> None:
    """Synthea and transaction Bundles name the patient by its fullUrl (urn:uuid:...)."""
    document = bundle(observation("29463-7", quantity(70, "kg")) | {"subject": {"reference": "urn:uuid:1234"}})
    document["entry"][0]["fullUrl"] = "urn:uuid:1234"
    assert read(document).facts["weight_kg"] == 70
    other = bundle(observation("29463-7", quantity(70, "kg")) | {"subject": {"reference": "urn:uuid:9999"}})
    other["entry"][0]["fullUrl"] = "urn:uuid:1234"
    assert "weight_kg" not in read(other).facts


def test_entries_without_resources_and_nested_bundles_are_listed() -> None:
    """Nothing in the input disappears without a line saying so."""
    document = bundle({"resourceType": "Bundle", "id": "inner", "type": "collection"})
    document["entry"].append({"fullUrl": "urn:uuid:x"})
    reading = read(document)
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("entry[2]", "an entry without a resource"), ("Bundle/inner", "a Bundle inside the input is not opened")]


@pytest.mark.parametrize(("change", "message"), [
    ({"timestamp": "yesterday"}, "timestamp: the Bundle is not valid FHIR R4"),
    ({"entry": {"resource": {}}}, "entry is a list of entries"),
    ({"type": None}, "type: the Bundle is not valid FHIR R4"),
])
def test_a_broken_bundle_is_refused_with_its_element(change: dict[str, Any], message: str) -> None:
    """The Bundle itself is checked as FHIR R4, not only its resources."""
    document = {**bundle(), **change}
    document = {k: v for k, v in document.items() if v is not None}
    with pytest.raises(InputError, match=message):
        read(document)


def test_a_prefetch_that_is_not_an_object_is_refused() -> None:
    """A request whose prefetch is a list is the client's mistake, named."""
    with pytest.raises(InputError, match="prefetch is an object of prefetch keys to FHIR resources"):
        read_request({"hook": "patient-view", "hookInstance": "i", "context": {"patientId": "p"}, "prefetch": []})


def test_both_medication_searches_empty_mean_no_current_therapy() -> None:
    """Two empty searchsets say no active medication; a missing or null search leaves the list unknown."""
    empty = {"resourceType": "Bundle", "type": "searchset"}
    both = read_request(hook_request(patient(), medicationRequests=empty, medicationStatements=empty))
    assert both.facts["current_therapies"] == []
    evidence = [e for e in both.evidence if e.fact == "current_therapies"]
    assert [(e.resource, e.read) for e in evidence] == [
        ("prefetch medicationRequests and medicationStatements", "both searches for active medication came back empty")]
    one = read_request(hook_request(patient(), medicationRequests=empty, medicationStatements=None))
    assert "current_therapies" not in one.facts


def test_a_code_with_only_text_is_named_by_its_text() -> None:
    """A Condition coded by free text alone is listed with that text."""
    free = {**condition(SCT, "x"), "code": {"text": "myositis, unsure"}}
    assert read(bundle(free)).unmapped[0].reason == "no binding for 'myositis, unsure' (no coding)"


def test_refuting_a_combination_code_says_nothing_of_its_parts() -> None:
    """M33.11 refuted (dermatomyositis with respiratory involvement) does not mean no respiratory involvement."""
    reading = read(bundle(condition("http://hl7.org/fhir/sid/icd-10-cm", "M33.11", verification="refuted", clinical="")))
    assert "respiratory_involvement" not in reading.facts and "diagnosis" not in reading.facts
    assert {u.reason for u in reading.unmapped} == {"a refuted diagnosis sets no value",
                                                    "a refuted respiratory_involvement sets no value"}


def evidence_of(reading: Any, fact: str) -> list[tuple[str | None, str]]:
    return [(e.date, e.read) for e in reading.evidence if e.fact == fact]


def test_what_was_read_is_said_exactly() -> None:
    """The provenance line is what a clinician checks against the chart: unit, conversion, threshold side."""
    reading = read(bundle(observation("29463-7", quantity(100, "[lb_av]"), "w"),
                          observation("8302-2", quantity(165, "cm"), "h"),
                          observation("98979-8", quantity(42, "mL/min/{1.73_m2}"), "e"),
                          condition(SCT, "40739000", "d", clinical="")))
    assert evidence_of(reading, "weight_kg") == [("2026-01-05", "100 [lb_av] = 45.36 kg")]
    assert evidence_of(reading, "height_cm") == [("2026-01-05", "165 cm")]
    assert evidence_of(reading, "renal_insufficiency") == [("2026-01-05", "42 mL/min/{1.73_m2}: below 60")]
    assert evidence_of(reading, "dysphagia") == [(None, "active condition")]


def test_an_observation_is_dated_by_its_period_or_its_issue() -> None:
    """effectiveDateTime, else effectivePeriod.start, else issued."""
    period = observation("29463-7", quantity(70, "kg"), "p")
    del period["effectiveDateTime"]
    period["effectivePeriod"] = {"start": "2025-11-02"}
    issued = observation("8302-2", quantity(165, "cm"), "i")
    del issued["effectiveDateTime"]
    issued["issued"] = "2025-10-03T08:00:00Z"
    reading = read(bundle(period, issued))
    assert evidence_of(reading, "weight_kg")[0][0] == "2025-11-02"
    assert evidence_of(reading, "height_cm")[0][0] == "2025-10-03T08:00:00Z"  # an instant keeps its time


def test_counts_are_read_and_unit_only_quantities_are_not() -> None:
    """IVIG courses as valueInteger; a quantity with a unit in words but no UCUM code is not read."""
    local = "http://example.org/myoivig/CodeSystem/assessment"
    courses = observation("ivig-courses-given", {"valueInteger": 3}, "c", system=local)
    weight = observation("29463-7", {"valueQuantity": {"value": 70, "unit": "kg"}}, "w")
    facts = read(bundle(courses, weight)).facts
    assert facts["ivig_courses_given"] == 3 and "weight_kg" not in facts


def test_age_counts_a_birthday_already_passed_this_year() -> None:
    """Born 10 January 1970, on 15 January 2026: 56."""
    document = bundle()
    document["entry"][0]["resource"]["birthDate"] = "1970-01-10"
    assert read(document).facts["age_years"] == 56


def test_only_a_readable_diagnosis_dates_the_disease() -> None:
    """An entered-in-error dermatomyositis with an old onset does not date the polymyositis."""
    reading = read(bundle(condition(SCT, "396230008", "old", verification="entered-in-error", onsetDateTime="2010-01-10"),
                          condition(SCT, "31384009", "pm", onsetDateTime="2025-10-10")))
    assert reading.facts["months_since_diagnosis"] == 3 and reading.facts["diagnosis"] == "polymyositis"


def test_an_unconfirmed_condition_sets_nothing() -> None:
    """Unconfirmed, like provisional and differential, is not yet a fact."""
    reading = read(bundle(condition(SCT, "40739000", verification="unconfirmed")))
    assert "dysphagia" not in reading.facts
    assert reading.unmapped[0].reason == "verification status unconfirmed: sets no fact until confirmed"


def test_other_resource_types_are_not_patients_and_do_not_stop_the_reading() -> None:
    """A Practitioner is listed, not counted as a second patient; a Medication first does not end the reading."""
    medication = {"resourceType": "Medication", "id": "m"}
    practitioner = {"resourceType": "Practitioner", "id": "dr"}
    reading = read(bundle(medication, practitioner, observation("29463-7", quantity(70, "kg"))))
    assert reading.facts["weight_kg"] == 70
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("Practitioner/dr", "myoivig reads no Practitioner resources")]


def test_a_medication_statement_is_dated_when_asserted() -> None:
    """The date a statement was made is the date shown."""
    statement = {"resourceType": "MedicationStatement", "id": "s", "status": "active", "dateAsserted": "2025-12-24",
                 "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": {"coding": [
                     {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}
    assert evidence_of(read(bundle(statement)), "current_therapies") == [("2025-12-24", "active MedicationStatement")]


def test_a_partial_recorded_date_is_named_by_its_element() -> None:
    """The unmapped line names the element that held the partial date."""
    reading = read(bundle(condition(SCT, "31384009", recordedDate="2024")))
    assert ("Condition/c.recordedDate", "a partial date (2024) gives no months since diagnosis") in [
        (u.resource, u.reason) for u in reading.unmapped]


def test_an_invalid_resource_is_named_by_its_first_problem() -> None:
    """Two problems in one resource: the message names the first, in the order FHIR lists elements."""
    with pytest.raises(InputError) as refused:
        read(bundle(condition(SCT, "31384009", onsetDateTime="2025-13-01", recordedDate="someday")))
    assert refused.value.field == "entry[1].onsetDateTime"


@pytest.mark.parametrize("deceased", [{"deceasedBoolean": True}, {"deceasedDateTime": "2026-01-02"}])
def test_a_deceased_patient_gets_no_advice_and_is_told_why(deceased: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="Patient/p is recorded as deceased") as refused:
        document = bundle()
        document["entry"][0]["resource"].update(deceased)
        read(document)
    assert refused.value.field == "Patient.deceased"


def test_conditions_of_another_patients_mrn_give_no_advice(tmp_path: Path) -> None:
    """A Bundle without a Patient whose Conditions name another patient's MRN, and a weight naming nobody:
    refused as two patients, never merged into one consultation."""
    other = {"resourceType": "Condition", "id": "c1", "subject": {"identifier": {"system": "urn:mrn", "value": "9"},
                                                                   "display": "another patient"},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M33.10"}]}}
    mine = observation("29463-7", quantity(70, "kg"))
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": other}, {"resource": mine}]}))
    result = CliRunner().invoke(cli, ["consult", str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert "its resources name 2 patients" in result.stderr


def _allergy(code: str | None = "112133008", text: str | None = None, manifestation: str | None = None,
             verification: str = "confirmed", clinical: str = "active", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p"},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                           "allergyintolerance-verification", "code": verification}]},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                       "code": clinical}]},
        "code": {"coding": [{"system": SCT, "code": code}]} if code else {"text": text}, **extra}
    if manifestation:
        found["reaction"] = [{"manifestation": [{"coding": [{"system": SCT, "code": manifestation,
                                                             "display": "a reaction"}]}]}]
    return found


@pytest.mark.parametrize(("allergy", "expected"), [
    (_allergy(manifestation="39579001"), True),                              # anaphylaxis
    (_allergy(criticality="high"), True),                                     # high criticality
    (_allergy(reaction=[{"manifestation": [{"text": "collapse"}], "severity": "severe"}]), True),
    (_allergy(manifestation="271807003"), None),                              # a rash: shown, not a hard stop
    (_allergy(manifestation="39579001", verification="entered-in-error"), None),
    (_allergy(manifestation="39579001", verification="refuted"), None),
    (_allergy(manifestation="39579001", clinical="inactive"), None),
    (_allergy(code=None, text="IVIG - anaphylaxis 2019"), None),              # text only: shown to confirm
])
def test_an_immune_globulin_allergy_is_a_hard_stop_only_when_it_is_one(allergy: dict[str, Any], expected: Any) -> None:
    """An active, confirmed allergy to immunoglobulin with anaphylaxis is the labels' hard stop; nothing else
    about it is read as one, and nothing about it is dropped silently."""
    reading = read(bundle(allergy))
    assert reading.facts.get("prior_immunoglobulin_anaphylaxis") is expected
    told = [u.reason for u in reading.unmapped if u.resource == "AllergyIntolerance/a1"] + [
        w for w in reading.warnings if w.startswith("AllergyIntolerance/a1")]
    assert (expected is True) == (told == [])


def test_an_anaphylaxis_allergy_makes_the_consultation_contraindicated(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(condition(SCT, "396230008"), _allergy(manifestation="39579001"))))
    data = json.loads(CliRunner().invoke(cli, ["consult", str(path), "--format", "json"]).stdout)
    assert data["summary"]["verdict"] == "contraindicated" and data["dose"] is None
    [evidence] = [e for e in data["fhir"]["provenance"] if e["fact"] == "prior_immunoglobulin_anaphylaxis"]
    assert evidence["resource"] == "AllergyIntolerance/a1" and evidence["read"] == "an immunoglobulin allergy with anaphylaxis"


def test_myositis_unspecified_asks_which_myositis_rather_than_calling_it_other() -> None:
    """ICD-10-CM M60.9 says a myositis without its subtype: the diagnosis stays unknown and is asked, never
    'other' (out of scope); M60.8 is a header, not a code, and its billable children are 'other'."""
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    unspecified = read(bundle(condition(icd, "M60.9")))
    assert "diagnosis" not in unspecified.facts and unspecified.asked == ("diagnosis",)
    assert any("ICD10CM M60.9 without its type" in w for w in unspecified.warnings)
    assert read(bundle(condition(icd, "M60.9", verification="refuted"))).asked == ()
    assert read(bundle(condition(icd, "M60.89"))).facts["diagnosis"] == "other"
    assert read(bundle(condition(icd, "M33.13"))).facts["diagnosis"] == "dermatomyositis"  # without myopathy


def test_a_newer_no_does_not_cancel_an_active_anaphylaxis_allergy() -> None:
    """A past anaphylaxis does not become untrue: the active allergy stands against a later 'no', with a warning."""
    later_no = {"resourceType": "Observation", "id": "o-no", "status": "final", "subject": {"reference": "Patient/p"},
                "effectiveDateTime": "2025-06-01", "valueBoolean": False,
                "code": {"coding": [{"system": "http://example.org/myoivig/CodeSystem/assessment",
                                     "code": "immunoglobulin-anaphylaxis"}]}}
    reading = read(bundle(_allergy(manifestation="39579001", recordedDate="2019-01-01"), later_no))
    if any(u.resource == "Observation/o-no" for u in reading.unmapped):
        pytest.skip("no assessment code for this fact in the shipped bindings")
    assert reading.facts["prior_immunoglobulin_anaphylaxis"] is True
    assert any("the active AllergyIntolerance stands" in w for w in reading.warnings)


def test_another_patients_full_url_is_not_this_patient() -> None:
    """Patient p2's fullUrl in a prefetched Bundle does not make its Condition and allergy the consulted p1's."""
    other = {"resourceType": "Patient", "id": "p2"}
    condition_of_p2 = condition(SCT, "396230008") | {"subject": {"reference": "urn:uuid:other"}}
    allergy_of_p2 = _allergy(manifestation="39579001") | {"patient": {"reference": "urn:uuid:other"}}
    document = {"hook": "patient-view", "hookInstance": "d3f6a1c2-0000-4000-8000-000000000001",
                "context": {"patientId": "p"},
                "prefetch": {"patient": patient(), "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [
                    {"fullUrl": "urn:uuid:other", "resource": other}, {"resource": condition_of_p2},
                    {"resource": allergy_of_p2}]}}}
    reading = read_request(document)
    assert "diagnosis" not in reading.facts and "prior_immunoglobulin_anaphylaxis" not in reading.facts


def test_two_patients_without_ids_are_not_merged() -> None:
    document = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "gender": "female"}},
        {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Patient", "gender": "male"}}]}
    with pytest.raises(InputError, match="not all with an id"):
        read(document)


def test_a_versioned_reference_is_the_patient() -> None:
    reading = read(bundle(_allergy(manifestation="39579001") | {"patient": {"reference": "Patient/p/_history/3"}}))
    assert reading.facts["prior_immunoglobulin_anaphylaxis"] is True


@pytest.mark.parametrize("reaction", [
    {"manifestation": [{"text": "Anaphylaxis"}]},
    {"manifestation": [{"coding": [{"system": SCT, "code": "241931001", "display": "Anaphylactic shock"}]}]},
    {"manifestation": [{"text": "collapse"}], "description": "anaphylactic reaction during the infusion"},
])
def test_anaphylaxis_in_words_is_asked_never_called_no_hard_stop(reaction: dict[str, Any]) -> None:
    reading = read(bundle(_allergy(reaction=[reaction])))
    assert "prior_immunoglobulin_anaphylaxis" not in reading.facts  # unknown: asked before the first infusion
    [warning] = [w for w in reading.warnings if w.startswith("AllergyIntolerance/a1")]
    assert "reads like anaphylaxis" in warning and "not a hard stop" not in warning


# ---------------------------------------------------------------- versions, times, contained, units (#22)
def _versioned(resource: dict[str, Any], version: str | None = None, updated: str | None = None) -> dict[str, Any]:
    meta = {k: v for k, v in (("versionId", version), ("lastUpdated", updated)) if v}
    return {**resource, "meta": meta} if meta else resource


def test_a_history_bundle_reads_the_newest_version_and_entered_in_error_supersedes() -> None:
    """The entered-in-error version 2 of a Condition is read, not the active version 1 before it."""
    v1 = _versioned(condition(SCT, "396230008", rid="c1"), "1")
    v2 = _versioned(condition(SCT, "396230008", rid="c1", verification="entered-in-error"), "2")
    for order in ((v2, v1), (v1, v2)):
        document = {**bundle(*order), "type": "history"}
        reading = read(document)
        assert "diagnosis" not in reading.facts
        assert any(u.resource == "Condition/c1 (version 1)" and "older version" in u.reason for u in reading.unmapped)


def test_a_deletion_in_a_history_bundle_reads_nothing_of_that_resource() -> None:
    document = bundle(_versioned(condition(SCT, "396230008", rid="c1"), "1"))
    document["type"] = "history"
    document["entry"].insert(1, {"request": {"method": "DELETE", "url": "Condition/c1/_history/2"}})
    reading = read(document)
    assert "diagnosis" not in reading.facts
    assert any("deleted" in u.reason for u in reading.unmapped if u.resource.startswith("Condition/c1"))


def test_copies_of_one_resource_identical_versioned_or_undecidable() -> None:
    """Identical copies are read once; versions pick the newest; copies that differ with nothing to order them
    are not read, and the reading says so."""
    weight = observation("29463-7", quantity(70, "kg"), rid="w")
    twice = read(bundle(weight, dict(weight)))
    assert twice.facts["weight_kg"] == 70 and any(u.reason == "an identical copy: read once" for u in twice.unmapped)
    newer = read(bundle(_versioned(weight, "1"), _versioned(observation("29463-7", quantity(90, "kg"), rid="w"), "2")))
    assert newer.facts["weight_kg"] == 90
    later = read(bundle(_versioned(weight, updated="2026-01-06T08:00:00Z"),
                        _versioned(observation("29463-7", quantity(90, "kg"), rid="w"), updated="2026-01-05T08:00:00Z")))
    assert later.facts["weight_kg"] == 70
    opaque = read(bundle(_versioned(weight, "abc"), _versioned(observation("29463-7", quantity(90, "kg"), rid="w"), "1")))
    assert "weight_kg" not in opaque.facts  # versionId is opaque: "abc" is neither older nor newer than "1"
    superscript = read(bundle(_versioned(weight, "\u00b2"), _versioned(observation("29463-7", quantity(90, "kg"),
                                                                                     rid="w"), "1")))
    assert "weight_kg" not in superscript.facts  # a digit to str.isdigit, not to int(): no crash
    unclear = read(bundle(weight, observation("29463-7", quantity(90, "kg"), rid="w")))
    assert "weight_kg" not in unclear.facts
    assert any(w.startswith("Observation/w appears 2 times with different content") for w in unclear.warnings)


def test_two_weights_of_one_day_are_ordered_by_their_times() -> None:
    """07:00 and 19:00 on one day are not a conflict: the later one is read, the earlier marked as not read."""
    early = observation("29463-7", quantity(70, "kg"), rid="w1", date="2026-01-05T07:00:00+00:00")
    late = observation("29463-7", quantity(90, "kg"), rid="w2", date="2026-01-05T14:00:00-05:00")
    for order in ((early, late), (late, early)):
        reading = read(bundle(*order))
        assert reading.facts["weight_kg"] == 90 and not reading.conflicting
        [older] = [e for e in reading.evidence if e.resource == "Observation/w1"]
        assert older.date == "2026-01-05T07:00:00Z" and "not read: Observation/w2 is newer" in older.read


def test_an_old_or_undated_dosing_weight_is_flagged() -> None:
    """A weight more than the binding's window before the reference date is flagged; so is an undated one
    beside a dated one (the dated one is read)."""
    bindings = load_bindings(load_knowledge_base(None))
    window = next(b.stale_after_days for b in bindings.bindings if b.fact == "weight_kg")
    assert window
    old = observation("29463-7", quantity(70, "kg"), rid="w1", date="2019-03-01")
    undated = observation("29463-7", quantity(90, "kg"), rid="w2")
    del undated["effectiveDateTime"]
    reading = read(bundle(old, undated))
    assert reading.facts["weight_kg"] == 70
    assert any("Observation/w2 undated (90); the dated Observation/w1 (70, 2019-03-01) is read" in w
               for w in reading.warnings)
    assert any(f"(more than {window})" in w and "Observation/w1 is dated 2019-03-01" in w for w in reading.warnings)
    recent = read(bundle(observation("29463-7", quantity(70, "kg"), rid="w1", date="2026-01-05")))
    assert not any("weight_kg" in w for w in recent.warnings)


def test_a_quantity_is_read_only_from_ucum() -> None:
    """`kg` without a system, or in another system, is not UCUM's kilogram: listed, never read."""
    for unit in ({"value": 70, "code": "kg"}, {"value": 70, "unit": "kg"},
                 {"value": 70, "code": "kg", "system": "http://example.org/units"}):
        reading = read(bundle(observation("29463-7", {"valueQuantity": unit}, rid="w")))
        assert "weight_kg" not in reading.facts
        assert any(u.resource == "Observation/w" and "not a UCUM code" in u.reason for u in reading.unmapped)


def test_a_contained_medication_is_read_through_the_reference() -> None:
    statement = {"resourceType": "MedicationStatement", "id": "ms", "status": "active",
                 "subject": {"reference": "Patient/p"}, "medicationReference": {"reference": "#med"},
                 "contained": [{"resourceType": "Medication", "id": "med", "code": {"coding": [
                     {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}]}
    assert read(bundle(statement)).facts["current_therapies"] == ["corticosteroids"]


def test_a_vital_signs_panel_gives_its_components() -> None:
    panel = observation("85353-1", {"component": [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, **quantity(70, "kg")},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, **quantity(165, "cm")},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}, **quantity(80, "/min")}]},
        rid="vs")
    reading = read(bundle(panel))
    assert (reading.facts["weight_kg"], reading.facts["height_cm"]) == (70, 165)
    assert {e.resource for e in reading.evidence} >= {"Observation/vs.component[0]", "Observation/vs.component[1]"}


def test_a_diagnostic_report_gives_its_contained_results_and_names_those_not_sent() -> None:
    iga = {**observation("2458-8", quantity(3, "mg/dL"), rid="iga")}
    del iga["subject"]
    report = {"resourceType": "DiagnosticReport", "id": "dr", "status": "final", "subject": {"reference": "Patient/p"},
              "code": {"text": "Immunoglobulins"}, "contained": [iga],
              "result": [{"reference": "#iga"}, {"reference": "Observation/not-sent"}]}
    reading = read(bundle(report))
    assert reading.facts["iga_deficiency"] is True
    assert [e.resource for e in reading.evidence if e.fact == "iga_deficiency"] == ["DiagnosticReport/dr#iga"]
    assert any(u.resource == "DiagnosticReport/dr" and "Observation/not-sent" in u.reason for u in reading.unmapped)


@pytest.mark.parametrize("allergy", [
    _allergy(code=None, text="IVIG"),  # the substance in words only
    {**_allergy(), "reaction": [{"manifestation": [{"text": "anaphylactic shock"}]}]},  # the reaction in words
])
def test_a_reaction_in_words_only_withholds_the_dose_until_confirmed(tmp_path: Path, allergy: dict[str, Any]) -> None:
    """Never read as the hard stop, never ignored: the dose waits for a clinician to confirm it."""
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(condition(SCT, "396230008", severity={"coding": [
        {"system": SCT, "code": "24484000"}]}), observation("8302-2", quantity(165, "cm"), rid="h"), allergy)))
    data = json.loads(CliRunner().invoke(cli, ["consult", str(path), "--format", "json"]).stdout)
    assert data["patient"]["immunoglobulin_reaction_to_confirm"] is True
    assert "prior_immunoglobulin_anaphylaxis" not in data["patient"]
    assert data["dose"] is None and data["summary"]["verdict"] != "contraindicated"
    assert "warning.immunoglobulin_reaction_to_confirm" in data["summary"]["warnings"]
    assert "immunoglobulin_reaction_to_confirm" not in data["missing"]


def test_a_refuted_allergy_in_words_is_not_to_confirm() -> None:
    reading = read(bundle(_allergy(code=None, text="IVIG", verification="refuted")))
    assert "immunoglobulin_reaction_to_confirm" not in reading.facts
