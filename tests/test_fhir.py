"""FHIR R4 input: every shipped case's Bundle twin gives its YAML twin's advice, and the mapping is open-world."""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import load_knowledge_base
from myoivig.engine.bindings import SOURCES, check_bindings
from myoivig.engine.fhir import is_fhir
from myoivig.engine.schema_check import schema

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


def test_every_case_has_a_fhir_twin_as_kb_twins_writes_it() -> None:
    """A case without its Bundle twin would leave the FHIR path of that advice untested; `kb twins --check`
    says each is what the YAML and the bindings make (a variation by hand is named after a case)."""
    assert sorted(p.stem for p in TWINS.glob("*.json")) == [p.stem for p in CASES]
    assert {p.stem for p in VARIATIONS.glob("*.json")} <= {p.stem for p in CASES}
    check = CliRunner().invoke(cli, ["kb", "twins", "--check"])
    assert check.exit_code == 0, check.output


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


def test_an_unknown_unit_is_refused_by_name_not_guessed() -> None:
    """A weight in stones is listed as unmapped with the allowed units, and the weight stays unknown."""
    reading = read(bundle(observation("29463-7", quantity(11, "[stone_av]")), ))
    assert "weight_kg" not in reading.facts
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("Observation/o", "unit '[stone_av]' is not one myoivig converts for weight_kg; allowed: kg, g, [lb_av] (UCUM)")]


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


def test_a_conflict_on_one_date_leaves_the_fact_unknown_with_a_warning() -> None:
    """Two eGFRs on one day that disagree: renal insufficiency is unknown, never one of them at random."""
    reading = read(bundle(observation("98979-8", quantity(45, "mL/min/{1.73_m2}"), "a"),
                          observation("98979-8", quantity(75, "mL/min/{1.73_m2}"), "b")))
    assert "renal_insufficiency" not in reading.facts
    assert reading.warnings == ("renal_insufficiency: Observation/a says true, Observation/b says false "
                                "on 2026-01-05; left unknown",)


def test_two_covered_diagnoses_leave_the_diagnosis_unknown() -> None:
    """Dermatomyositis and IBM in one chart: the subtype must be settled by the clinician."""
    reading = read(bundle(condition(SCT, "396230008", "dm", onsetDateTime="2025-01-10"),
                          condition(SCT, "72315009", "ibm", onsetDateTime="2024-01-10")))
    assert "diagnosis" not in reading.facts
    assert reading.warnings == ("diagnosis: resources name dermatomyositis, inclusion_body_myositis; left unknown",)


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


def test_a_refuted_condition_is_the_only_way_a_condition_says_no() -> None:
    """Refuted dysphagia is false; an absent dysphagia Condition leaves it unknown (open world)."""
    assert read(bundle(condition(SCT, "40739000", verification="refuted", clinical="")))\
        .facts["dysphagia"] is False
    assert "dysphagia" not in read(bundle()).facts


def test_removing_a_resource_makes_its_fact_unknown_and_missing() -> None:
    """Drop the dysphagia Condition from a twin: dysphagia is not false but asked for in MISSING."""
    twin = json.loads((VARIATIONS / "ibm_dysphagia.json").read_text())
    reduced = copy.deepcopy(twin)
    reduced["entry"] = [e for e in twin["entry"]
                        if e["resource"].get("code", {}).get("coding", [{}])[0].get("code") != "40739000"]
    assert len(reduced["entry"]) == len(twin["entry"]) - 1
    reading = read(reduced)
    assert "dysphagia" not in reading.facts


def test_antibody_results_make_a_list_and_only_a_whole_negative_panel_means_none_found() -> None:
    """Positives are listed; one negative leaves the list unknown, naming what was not tested; all eight
    negative is the empty list ("tested, none found")."""
    assert read(bundle(antibody("anti_hmgcr", POS), antibody("anti_jo1", NEG))).facts["autoantibodies"] == ["anti_hmgcr"]
    one = read(bundle(antibody("anti_jo1", NEG)))
    assert "autoantibodies" not in one.facts
    assert one.warnings == ("autoantibodies: anti_jo1 negative, anti_hmgcr, anti_mda5, anti_mi2, anti_nxp2, anti_sae, "
                            "anti_srp, anti_tif1g not tested: left unknown (an empty list means all tested, none found)",)
    assert read(bundle(*(antibody(name, NEG) for name in ANTIBODIES))).facts["autoantibodies"] == []


def test_each_antibody_is_its_latest_result_and_a_same_day_disagreement_is_unknown() -> None:
    """An old positive does not outlive a new negative; positive and negative on one day leave it unknown."""
    later_negative = read(bundle(antibody("anti_hmgcr", POS, "2015-01-01"), antibody("anti_hmgcr", NEG, "2026-01-05"),
                                 antibody("anti_srp", POS)))
    assert later_negative.facts["autoantibodies"] == ["anti_srp"]
    same_day = read(bundle(antibody("anti_hmgcr", POS), antibody("anti_hmgcr", NEG, "2026-01-05") | {"id": "b"}))
    assert "autoantibodies" not in same_day.facts and same_day.conflicting == ("autoantibodies",)
    assert same_day.warnings[0] == "autoantibodies: anti_hmgcr is both positive and negative on 2026-01-05; anti_hmgcr left unknown"


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


def test_text_advice_says_where_each_fact_came_from() -> None:
    """The clinician sees each fact's resource, code, date and conversion, and the unmapped ones."""
    result = CliRunner().invoke(cli, ["consult", str(VARIATIONS / "dm_on_prednisone.json")])
    assert result.exit_code == 0
    text = result.output
    assert "FROM FHIR - ages and months as of 2026-01-15 (Bundle.timestamp)" in text
    assert ("weight_kg = 70 <- Observation/obs-4 LOINC 29463-7, 2026-01-05: 154.32 [lb_av] = 70 kg [local "
            "policy]") in " ".join(text.split())
    assert "UNMAPPED Condition/cond-error: entered in error" in text


def test_is_fhir_tells_a_bundle_and_a_hook_request_from_a_patient_file() -> None:
    """A patient file with a fact named like a FHIR key is still a patient file."""
    assert is_fhir({"resourceType": "Bundle"}) and is_fhir({"hook": "patient-view", "context": {}})
    assert not is_fhir({"diagnosis": "DM"}) and not is_fhir({"hook": "x"})


def test_binding_sources_match_the_schema() -> None:
    """One list of binding sources: the schema's enum and the code's tuple agree."""
    assert list(SOURCES) == schema()["$defs"]["binding"]["properties"]["from"]["enum"]


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
