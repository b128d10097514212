"""The CLI as a clinician uses it, through click's CliRunner."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from myoivig import __version__
from myoivig.cli.main import cli

from .builders import mask
from .conftest import CASES, KB_DIR, ROOT


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_consult_text_is_exactly_the_reviewed_output(runner: CliRunner, path: Path, snapshot: Any) -> None:
    result = runner.invoke(cli, ["consult", str(path)])
    assert result.exit_code == 0, result.output
    assert mask(result.output) == snapshot


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_consult_json_is_exactly_the_reviewed_output(runner: CliRunner, path: Path, snapshot: Any) -> None:
    result = runner.invoke(cli, ["consult", str(path), "--format", "json"])
    assert result.exit_code == 0, result.output
    assert json.loads(mask(result.output)) == snapshot


def test_json_has_the_documented_fields(runner: CliRunner) -> None:
    """The fields the schema documents, holding what the case file expects of the demo patient (read from
    the case and the schema, so a knowledge-base edit changes the case, not this test)."""
    path = KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"
    expect = yaml.safe_load(path.read_text())["expect"]
    result = runner.invoke(cli, ["consult", str(path), "--format", "json"])
    data = json.loads(result.output)
    schema = json.loads((ROOT / "engine" / "schema" / "consultation.schema.json").read_text())
    assert set(data) >= {"knowledge_base", "patient", "summary", "conclusions", "dose", "missing", "trace"}
    assert set(data["knowledge_base"]) == {"name", "version", "sha256"} and len(data["knowledge_base"]["sha256"]) == 64
    summary = data["summary"]
    assert set(summary) == set(schema["properties"]["summary"]["required"])
    for key in ("verdict", "ivig_indicated", "early_initiation", "cautions", "combination", "warnings"):
        assert summary[key] == expect[key], key
    assert summary["cross_checked"] is True and summary["hard_stops"] == []
    assert {c["rule"] for c in summary["caution_rules"]} <= set(expect["conclusions"])
    assert data["patient"]["diagnosis"] == "necrotizing_myopathy"  # the alias IMNM, normalized
    assert sorted(c["id"] for c in data["conclusions"]) == sorted(expect["conclusions"])
    assert [m["fact"] for m in data["missing"]] == expect["missing"]
    dose = data["dose"]
    assert (dose["weight_basis"], dose["dosing_weight_kg"]) == (expect["dose"]["weight_basis"],
                                                                expect["dose"]["dosing_weight_kg"])
    for regimen in ("give", "standard"):
        for key, value in expect["dose"][regimen].items():
            assert dose[regimen][key] == value, (regimen, key)
    assert {a["name"] for a in dose["alternatives"]} and all(
        set(a) >= {"name", "course_total_g", "per_day_g", "days_per_course"} for a in dose["alternatives"])
    first = data["trace"][0]
    assert set(first) == {"order", "rule", "file", "line", "matched", "asserted"}
    assert first["file"].startswith("rules/") and first["line"] > 0  # within the knowledge base
    chained = next(c for c in data["conclusions"] if c["id"] == "indication.dysphagia_or_respiratory_involvement")
    assert chained["rests_on"]["rules"][1:] == ["finding.covered_diagnosis", "finding.adult_or_age_unknown",
                                                "finding.bulbar_or_respiratory_involvement"]
    assert chained["sources"][0]["quote"] == "those with dysphagia or respiratory involvement"


def test_trace_option_adds_the_rule_trace(runner: CliRunner) -> None:
    path = str(KB_DIR / "cases" / "other_diagnosis.yaml")
    plain = runner.invoke(cli, ["consult", path]).output
    traced = runner.invoke(cli, ["consult", path, "--trace"]).output
    assert "RULE TRACE" not in plain
    assert traced.startswith(plain)
    assert "scope.diagnosis_not_discussed (rules/scope.yaml:" in traced
    assert "on thrombotic_risk=true" in traced


def test_set_adds_and_overrides_facts(runner: CliRunner) -> None:
    path = str(KB_DIR / "cases" / "dm_mild_no_indication.yaml")
    before = json.loads(runner.invoke(cli, ["consult", path, "--format", "json"]).output)
    after = json.loads(runner.invoke(cli, ["consult", path, "--format", "json", "--set", "dysphagia=true",
                                           "--set", "iga_deficiency=true"]).output)
    assert before["summary"]["ivig_indicated"] is False
    assert after["summary"]["ivig_indicated"] is True
    assert after["summary"]["cautions"] == ["iga_deficiency"]
    assert after["patient"]["dysphagia"] is True


def test_set_null_makes_a_fact_unknown(runner: CliRunner) -> None:
    path = str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml")
    data = json.loads(runner.invoke(cli, ["consult", path, "--format", "json", "--set", "sex=null"]).output)
    assert "sex" not in data["patient"]
    assert data["dose"] is None
    assert "sex" in [m["fact"] for m in data["missing"]]


def test_patient_from_standard_input_in_json(runner: CliRunner) -> None:
    patient = json.dumps({"diagnosis": "ibm", "age_years": 70})
    result = runner.invoke(cli, ["consult", "-", "--format", "json"], input=patient)
    assert result.exit_code == 0
    data = json.loads(result.output)
    assert data["patient"] == {"age_years": 70, "diagnosis": "inclusion_body_myositis"}
    assert "evidence.inclusion_body_myositis" in [c["id"] for c in data["conclusions"]]
    assert data["summary"]["verdict"] == "undetermined" and data["summary"]["ivig_indicated"] is None


def test_unknown_is_not_false_in_the_text(runner: CliRunner) -> None:
    output = runner.invoke(cli, ["consult", str(KB_DIR / "cases" / "pm_severe_sparse.yaml")]).output
    assert "CAUTIONS: none found on the facts given - NOT GIVEN: renal_insufficiency, thrombotic_risk" in output
    hard_stops = output[output.index("HARD STOPS: none known - NOT GIVEN, ask before the first infusion:"):output.index("CAUTIONS")]
    # serum IgA first: anti-IgA is asked only once IgA is known to be deficient (its ask_when)
    assert "(iga_deficiency)" in hard_stops and "(anti_iga_antibodies)" not in hard_stops
    assert "(prior_immunoglobulin_anaphylaxis)" in hard_stops
    assert "No dose: sex and height_cm not given" in output
    assert "Age was not given" in output
    assert "  - How old is the patient (years)? (age_years; could change the verdict)" in output


def test_facts_lists_the_vocabulary(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["facts"])
    assert result.exit_code == 0
    assert "diagnosis (enum): The myositis subtype diagnosed." in result.output
    assert "    aliases: DM=dermatomyositis, PM=polymyositis, IBM=inclusion_body_myositis" in result.output
    data = json.loads(runner.invoke(cli, ["facts", "--format", "json"]).output)
    assert data["height_cm"]["range"] == [50, 250] and data["height_cm"]["unit"] == "cm"
    assert data["autoantibodies"]["type"] == "list" and "anti_hmgcr" in data["autoantibodies"]["values"]


def test_python_dash_m_runs_the_cli() -> None:
    import subprocess
    import sys
    result = subprocess.run([sys.executable, "-m", "myoivig", "facts", "--format", "json"],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "diagnosis" in json.loads(result.stdout)


# ---------------------------------------------------------------- bad input
BAD_INPUTS = [
    ("diagnossis: DM\n", "unknown fact 'diagnossis' (did you mean 'diagnosis'?)"),
    ("dysphagia: sometimes\n", "fact 'dysphagia': \"sometimes\" is not true or false; allowed: true, false (or yes/no, y/n, in any case)"),
    ("severity: worst\n", "fact 'severity': 'worst' is not allowed; allowed: mild, moderate, severe"),
    ("diagnosis: dermatomyosits\n", "(did you mean 'dermatomyositis'?)"),
    ("height_cm: 1750\n", "fact 'height_cm': 1750 cm is implausible; allowed: a number from 50 to 250 cm"),
    ("age_years: -3\n", "fact 'age_years': -3 years is implausible"),
    ("weight_kg: heavy\n", "fact 'weight_kg': \"heavy\" is not a number"),
    ("autoantibodies: anti_hmgcr\n", "fact 'autoantibodies': \"anti_hmgcr\" is not a list"),
    ("autoantibodies: [anti_xyz]\n", "fact 'autoantibodies': 'anti_xyz' is not allowed"),
    ("ivig_advised: true\n", "'ivig_advised' is concluded by the rules and cannot be given"),
    ("diagnosis: [DM\n", "malformed YAML"),
    ("dysphagia: true\ndysphagia: false\n", "duplicate key 'dysphagia' (first given at line 1)"),
    ("- DM\n", "a patient is a mapping of fact names to values"),
]


@pytest.mark.parametrize("text,message", BAD_INPUTS, ids=[m[:30] for _, m in BAD_INPUTS])
def test_bad_patient_file(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "patient.yaml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["consult", str(path)])
    assert result.exit_code == 2
    assert result.stdout == ""
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert not isinstance(result.exception, Exception) or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize("args,message", [
    (["--set", "dysphagia"], "'dysphagia' is not of the form name=value"),
    (["--set", "dysphagai=true"], "unknown fact 'dysphagai' (did you mean 'dysphagia'?)"),
    (["--set", "height_cm=tall"], "fact 'height_cm': \"tall\" is not a number"),
])
def test_bad_set_option(args: list[str], message: str) -> None:
    result = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"), *args])
    assert (result.exit_code, result.stdout) == (2, "")
    assert message in result.stderr


def test_unreadable_patient_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["consult", str(tmp_path / "nobody.yaml")])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "cannot read the patient file" in result.stderr and "nobody.yaml" in result.stderr


def test_binary_patient_file(tmp_path: Path) -> None:
    path = tmp_path / "patient.yaml"
    path.write_bytes(b"\xff\xfe\x00")
    result = CliRunner().invoke(cli, ["consult", str(path)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "not UTF-8 text" in result.stderr


def test_broken_knowledge_base_gives_no_advice(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "cautions.yaml"
    rules.write_text(rules.read_text().replace("iga_deficiency: true\n    conclude", "iga_deficiency: yes please\n    conclude", 1))
    result = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"),
                                      "--kb", str(kb_copy)])
    assert (result.exit_code, result.stdout) == (3, "")
    assert "knowledge_base/rules/cautions.yaml:" in result.stderr
    assert "'iga_deficiency' is true or false, not 'yes please'" in result.stderr


def test_an_engine_fault_is_exit_4_and_no_advice(monkeypatch: pytest.MonkeyPatch) -> None:
    from myoivig.engine.durable_engine import DurableEngine
    real = DurableEngine.run
    monkeypatch.setattr(DurableEngine, "run", lambda self, facts: real(self, facts)[:-1])
    result = CliRunner().invoke(cli, ["consult", str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml")])
    assert (result.exit_code, result.stdout) == (4, "")
    assert "the rule engine and the direct evaluator disagree on this patient, so no advice is given" in result.stderr
    assert "Traceback" not in result.stderr


def test_conventions_of_the_ecosystem(runner: CliRunner, tmp_path: Path) -> None:
    version = runner.invoke(cli, ["-V"])
    assert version.exit_code == 0 and version.output.startswith(f"myoivig {__version__}, knowledge base myoivig-ivig-")
    assert runner.invoke(cli, ["--version"]).output == version.output
    missing = runner.invoke(cli, ["consult", str(KB_DIR / "cases" / "dm_on_prednisone.yaml"), "--kb", str(tmp_path / "no")])
    assert (missing.exit_code, missing.stdout) == (2, "") and "Invalid value for '--kb'" in missing.stderr
    graph = runner.invoke(cli, ["graph", "kb", "-o", "-"])
    assert graph.exit_code == 0 and graph.stdout.startswith("digraph knowledge_base {") and graph.stderr == ""
    listing = runner.invoke(cli, ["--help"]).output
    commands = listing.split("Commands:")[1]
    assert re.search(r"\n  consult +Advice on IVIG for one patient.\n", commands) and "..." not in commands
