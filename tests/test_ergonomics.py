"""The words clinicians use: synonyms, value aliases and units, declared in vocabulary.yaml and shown."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase, normalize

CLINICIAN = """# written from the README alone
age: 58
sex: woman
diagnosis: DM
weakness: severe
dysphagia: yes
medications: [prednisone]
height: 165 cm
weight: 70 kg
"""


def test_the_clinicians_file_gives_advice_on_the_first_run(tmp_path: Path) -> None:
    path = tmp_path / "patient.yaml"
    path.write_text(CLINICIAN)
    result = CliRunner().invoke(cli, ["consult", str(path), "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["patient"] == {"age_years": 58, "sex": "female", "diagnosis": "dermatomyositis", "severity": "severe",
                               "dysphagia": True, "current_therapies": ["corticosteroids"], "height_cm": 165,
                               "weight_kg": 70}
    assert data["read_as"] == ["age -> age_years", "sex: woman -> female", "diagnosis: DM -> dermatomyositis",
                               "weakness -> severity", "medications -> current_therapies",
                               "current_therapies: prednisone -> corticosteroids", "height -> height_cm",
                               "height_cm: 165 cm -> 165 cm", "weight -> weight_kg", "weight_kg: 70 kg -> 70 kg"]
    assert data["summary"]["verdict"] == "indicated" and "corticosteroids" in data["summary"]["combination"]
    text = CliRunner().invoke(cli, ["consult", str(path)]).stdout
    assert "READ AS: age -> age_years; sex: woman -> female;" in text


@pytest.mark.parametrize("written,height", [("1.65 m", 165), ("5 ft 5 in", 165.1), ("65 in", 165.1), ("165cm", 165)])
def test_heights_in_any_declared_unit(kb: KnowledgeBase, written: str, height: float) -> None:
    notes: list[str] = []
    assert normalize(kb, {"height": written}, notes) == {"height_cm": height}
    assert notes[-1] == f"height_cm: {written} -> {height:g} cm"


def test_pounds_are_converted_and_shown(kb: KnowledgeBase) -> None:
    notes: list[str] = []
    assert normalize(kb, {"weight_kg": "154 lb"}, notes) == {"weight_kg": 69.85}
    assert notes == ["weight_kg: 154 lb -> 69.85 kg"]


@pytest.mark.parametrize("raw,message", [
    ({"height": "165 furlongs"}, "fact 'height_cm': unknown unit 'furlongs' in \"165 furlongs\"; allowed: a number in cm, m, in, ft"),
    ({"height": "tall"}, "fact 'height_cm': \"tall\" is not a number"),
    ({"age": 58, "age_years": 59}, "'age_years' and 'age' both give 'age_years'"),
    ({"medications": ["aspirin"]}, "fact 'current_therapies': 'aspirin' is not allowed"),
])
def test_what_cannot_be_read_is_refused_by_name(kb: KnowledgeBase, raw: dict, message: str) -> None:
    from myoivig.engine import InputError
    with pytest.raises(InputError) as caught:
        normalize(kb, raw)
    assert message in str(caught.value)


def test_set_accepts_synonyms_and_units(tmp_path: Path) -> None:
    path = tmp_path / "patient.yaml"
    path.write_text("diagnosis: PM\nheight_cm: 180\n")
    result = CliRunner().invoke(cli, ["consult", str(path), "--set", "height=1.6 m", "--format", "json"])
    data = json.loads(result.stdout)
    assert data["patient"]["height_cm"] == 160 and "height_cm: 1.6 m -> 160 cm" in data["read_as"]


def test_synonyms_may_not_collide(kb_copy: Path) -> None:
    from .builders import edit, problems_of
    edit(kb_copy / "vocabulary.yaml", "    synonyms: [dx]", "    synonyms: [dx, age]")
    assert any("synonym 'age' of 'age_years' is already a synonym of 'diagnosis'" in p for p in problems_of(kb_copy))


def test_the_template_lists_every_fact_and_reads_back(tmp_path: Path, kb: KnowledgeBase) -> None:
    template = CliRunner().invoke(cli, ["facts", "--template"]).stdout
    for name, spec in kb.facts.items():
        assert f"# {spec.question}\n" in template and f"\n{name}: null\n" in template
    path = tmp_path / "patient.yaml"
    path.write_text(template)
    empty = CliRunner().invoke(cli, ["consult", str(path)])
    assert (empty.exit_code, empty.stdout) == (2, "") and "gives no known fact: every fact is empty or null" in empty.stderr
    path.write_text(template.replace("\ndiagnosis: null", "\ndiagnosis: DM").replace("\ndysphagia: null", "\ndysphagia: yes"))
    assert CliRunner().invoke(cli, ["consult", str(path)]).stdout.startswith("IVIG: INDICATED")


def test_examples_list_and_print_patients_that_consult_as_their_case_says(tmp_path: Path) -> None:
    listing = CliRunner().invoke(cli, ["examples"]).stdout
    assert "ibm_dysphagia\n    Inclusion-body myositis with dysphagia" in listing
    patient = tmp_path / "p.yaml"
    patient.write_text(CliRunner().invoke(cli, ["examples", "dm_steroid_contraindication_only"]).stdout)
    assert patient.read_text().startswith("# Dermatomyositis whose only route")
    assert CliRunner().invoke(cli, ["consult", str(patient)]).stdout.startswith("IVIG: MAY BE CONSIDERED")
    wrong = CliRunner().invoke(cli, ["examples", "ibm_dysphagi"])
    assert (wrong.exit_code, wrong.stdout) == (2, "") and "(did you mean 'ibm_dysphagia'?)" in wrong.stderr


def test_the_published_patient_schema_is_current_and_fits_the_clinicians_file(kb: KnowledgeBase) -> None:
    import jsonschema
    import yaml

    from myoivig.engine.serialize import patient_schema

    from .conftest import ROOT
    committed = json.loads((ROOT / "engine" / "schema" / "patient.schema.json").read_text())
    assert committed == patient_schema(kb)  # regenerate: myoivig facts --schema > engine/schema/patient.schema.json
    validator = jsonschema.Draft202012Validator(committed)
    assert list(validator.iter_errors(yaml.safe_load(CLINICIAN))) == []
    wrong = {"diagnossis": "DM", "dysphagia": "sometimes", "height_cm": 1650, "medications": ["aspirin"]}
    assert len(list(validator.iter_errors(wrong))) == 4
    for path in sorted((ROOT / "knowledge_base" / "cases").glob("*.yaml")):
        assert list(validator.iter_errors(yaml.safe_load(path.read_text())["patient"])) == [], path.name


@pytest.mark.parametrize("words,expected", [
    ("myoivig consult p.yaml --set dysp", ["dysphagia="]),
    ("myoivig consult p.yaml --set severity=s", ["severity=severe"]),
    ("myoivig consult p.yaml --what-if anti_iga", ["anti_iga_antibodies="]),
    ("myoivig explain p.yaml contraindication.", ["contraindication.anti_iga_antibodies",
                                                 "contraindication.prior_immunoglobulin_anaphylaxis"]),
    ("myoivig explain p.yaml --why-not ivig_adv", ["ivig_advised"]),
])
def test_shell_completion_of_facts_and_conclusions(words: str, expected: list[str]) -> None:
    import os
    import subprocess
    import sys
    env = dict(os.environ, COMP_WORDS=words, COMP_CWORD=str(len(words.split()) - 1), _MYOIVIG_COMPLETE="bash_complete")
    result = subprocess.run([sys.executable, "-c", "from myoivig.cli.main import main; main()"], env=env,
                            capture_output=True, text=True, check=False)
    assert [line.split(",", 1)[1] for line in result.stdout.splitlines()] == expected


@pytest.mark.parametrize("spelling, value", [("true", True), ("yes", True), ("y", True), ("TRUE", True),
                                             ("false", False), ("no", False), ("n", False), (" No ", False)])
def test_every_documented_spelling_of_yes_and_no_reads_as_it_says(kb: KnowledgeBase, spelling: str,
                                                                   value: bool) -> None:
    assert normalize(kb, {"dysphagia": spelling}) == {"dysphagia": value}
