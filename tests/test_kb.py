"""The knowledge engineer's workbench: validate, test, coverage, diff, save-case."""
from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import check_knowledge_base, load_knowledge_base
from myoivig.engine.cases import load_case
from myoivig.engine.population import threshold_sweep

from .builders import edit, line_of
from .conftest import CASES, KB_DIR


def test_validate_the_shipped_knowledge_base(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["kb", "validate"])
    assert result.exit_code == 0
    kb = load_knowledge_base(KB_DIR)
    assert result.output == (f"{kb.name} {kb.version}: {len(kb.rules)} rules, {len(kb.facts)} facts, "
                             f"{len(kb.derived)} derived facts - valid, "
                             "0 warning(s)\n")


def test_validate_reports_errors_with_exit_3(runner: CliRunner, kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "dosing.yaml", "        - sex: {known: true}", "        - sexe: {known: true}")
    result = runner.invoke(cli, ["kb", "validate", "--kb", str(kb_copy)])
    assert (result.exit_code, result.stdout) == (3, "")
    line = line_of(kb_copy / "rules" / "dosing.yaml", "        - sexe: {known: true}")
    assert (f"knowledge_base/rules/dosing.yaml:{line}:11: error [dosing.ideal_body_weight]: unknown fact "
            "'sexe' - did you mean 'sex'?") in result.stderr


def test_a_condition_that_can_never_hold_is_an_error(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "cautions.yaml", "      age_years: {gt: 65}",
         "      all: [{age_years: {gt: 65}}, {age_years: {lt: 18}}]")
    _, problems = check_knowledge_base(kb_copy)
    assert [(p.severity, p.rule, p.message) for p in problems] == [
        ("error", "caution.renal_risk_age", "the condition can never hold: no number satisfies the bounds on 'age_years'")]


def test_an_alternative_that_can_never_hold_is_a_warning(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "indication.yaml", "        - severity: severe\n",
         "        - severity: severe\n        - all: [{severity: mild}, {severity: moderate}]\n")
    _, problems = check_knowledge_base(kb_copy)
    assert [(p.severity, p.rule) for p in problems] == [("warning", "finding.severe_or_rapidly_progressive")]
    assert "no value of 'severity' satisfies all its tests" in problems[0].message


RULE = "finding.bulbar_or_respiratory_involvement"


def test_a_redundant_rule_is_a_warning(runner: CliRunner, kb_copy: Path) -> None:
    (kb_copy / "rules" / "extra.yaml").write_text(yaml.safe_dump({"rules": [{
        "id": "finding.dysphagia_only", "title": "Dysphagia alone", "when": {"dysphagia": True},
        "derive": ["bulbar_or_respiratory_involvement"],
        "provenance": {"local_policy": "An example of a redundant rule."}}]}))
    result = runner.invoke(cli, ["kb", "validate", "--kb", str(kb_copy)])
    assert result.exit_code == 0
    assert ("warning [finding.dysphagia_only]: redundant: 'finding.bulbar_or_respiratory_involvement' "
            f"(rules/indication.yaml:{load_knowledge_base(KB_DIR).rule(RULE).line}) derives bulbar_or_respiratory_involvement whenever this "
            "rule holds") in result.output.replace(f"{kb_copy.resolve().parent}/", "")
    assert result.output.replace(f"{kb_copy.resolve().parent}/", "").endswith("valid, 1 warning(s)\n")


def test_kb_test_passes_the_shipped_cases(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["kb", "test"])
    assert result.exit_code == 0
    assert result.output.endswith(f"{len(CASES)} passed, 0 failed\n")


def test_kb_test_shows_expected_versus_actual(runner: CliRunner, tmp_path: Path) -> None:
    case = yaml.safe_load((KB_DIR / "cases" / "other_diagnosis.yaml").read_text())
    case["expect"]["cautions"] = ["iga_deficiency"]
    path = tmp_path / "wrong.yaml"
    path.write_text(yaml.safe_dump(case))
    result = runner.invoke(cli, ["kb", "test", str(path)])
    assert result.exit_code == 1
    assert (f"FAIL {path}\n  cautions:\n    expected: ['iga_deficiency']\n    actual:   ['thrombotic_risk']\n"
            "  trace:\n") in result.output
    assert "caution.thrombotic_risk (rules/cautions.yaml:" in result.output
    assert result.output.endswith("0 passed, 1 failed\n")


def test_coverage_of_the_shipped_suite_is_complete(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["kb", "coverage", "--fail-under", "100"])
    assert result.exit_code == 0, result.output
    assert "never fired: none\nnever blocked: none\n" in result.output
    assert f"rules fired and blocked: 100.0% of {len(load_knowledge_base(KB_DIR).rules)}" in result.output
    assert "conditions never seen both true and false:" in result.output  # each listed with what it was seen as
    assert "(only false)" in result.output or "(only true)" in result.output


def test_coverage_fails_under_the_threshold(runner: CliRunner, kb_copy: Path) -> None:
    for name in ("dm_inconsistent_facts.yaml", "child_dermatomyositis.yaml"):
        (kb_copy / "cases" / name).unlink()
    result = runner.invoke(cli, ["kb", "coverage", "--kb", str(kb_copy), "--fail-under", "100"])
    assert result.exit_code == 1
    assert ("never fired: scope.child, warning.flare_at_diagnosis, warning.mild_but_rapidly_progressive"
            in result.stdout)
    assert "never blocked: finding.adult_or_age_unknown\n" in result.stdout  # only the child blocked it
    rules = len(load_knowledge_base(kb_copy).rules)
    assert f"FAIL: rule coverage {100 * (rules - 4) / rules:.1f}% is under 100%" in result.stderr


def test_diff_lists_changed_advice_and_the_rule_behind_it(runner: CliRunner, kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "cautions.yaml", "age_years: {gt: 65}", "age_years: {gt: 60}")
    result = runner.invoke(cli, ["kb", "diff", str(KB_DIR), str(kb_copy), "--population", "200"])
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0] == "rule changed: caution.renal_risk_age"
    assert "  + caution.renal_risk_age" in lines and "  behind it: caution.renal_risk_age" in lines
    changed = sum(1 for line in lines if line.endswith(":") and not line.startswith(" "))
    assert changed > 0
    cases = {path.stem: load_case(path).patient for path in sorted((KB_DIR / "cases").glob("*.yaml"))}
    swept = list(threshold_sweep((load_knowledge_base(KB_DIR), load_knowledge_base(kb_copy)), cases))
    assert any(name.endswith("age_years = 60.01") for name, _ in swept)  # both sides' thresholds are swept
    assert lines[-1] == (f"{changed} of {len(CASES) + len(swept) + 200} patients changed: {changed} conclusions "
                         "gained, 0 lost, 0 doses changed; rules 0 added, 0 removed, 1 changed")


def test_diff_against_a_git_revision(runner: CliRunner) -> None:
    """Independent of uncommitted edits: HEAD against itself, and every order counts the same patients."""
    same = runner.invoke(cli, ["kb", "diff", "HEAD", "HEAD", "--population", "20"])
    assert same.exit_code == 0, same.output
    assert same.output.startswith("0 of ") and same.output.endswith(
        " patients changed: 0 conclusions gained, 0 lost, 0 doses changed; rules 0 added, 0 removed, 0 changed\n")
    counts = set()
    for old, new in (("HEAD", str(KB_DIR)), (str(KB_DIR), "HEAD"), (str(KB_DIR), str(KB_DIR))):
        result = runner.invoke(cli, ["kb", "diff", old, new, "--population", "20"])
        assert result.exit_code == 0, result.output
        counts.add(result.output.splitlines()[-1].split(" patients changed")[0].split(" of ")[1])
    assert len(counts) == 1 and int(counts.pop()) >= len(CASES) + 20


def test_diff_of_nonsense_is_bad_input(runner: CliRunner) -> None:
    result = runner.invoke(cli, ["kb", "diff", "no-such-revision-or-folder", str(KB_DIR)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "neither a knowledge-base folder nor a git revision" in result.stderr


def test_save_case_round_trips(runner: CliRunner, tmp_path: Path) -> None:
    saved = tmp_path / "saved.yaml"
    result = runner.invoke(cli, ["consult", str(KB_DIR / "cases" / "dm_refractory_steroid_contraindicated.yaml"),
                                 "--save-case", str(saved)])
    assert result.exit_code == 0
    case = yaml.safe_load(saved.read_text())
    assert case["expect"]["dose"]["weight_basis"] == "actual_body_weight"
    assert "combination.without_corticosteroids" in case["expect"]["conclusions"]
    assert runner.invoke(cli, ["kb", "test", str(saved)]).output.endswith("1 passed, 0 failed\n")


def test_kb_test_update_rewrites_expectations_and_shows_the_diff(runner: CliRunner, kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "cautions.yaml", "age_years: {gt: 65}", "age_years: {gt: 60}")
    assert runner.invoke(cli, ["kb", "test", "--kb", str(kb_copy)]).exit_code == 1
    update = runner.invoke(cli, ["kb", "test", "--update", "--kb", str(kb_copy)])
    assert update.exit_code == 0
    assert "-  cautions: []\n+  cautions: [age_years]\n" in update.output or "+  - caution.renal_risk_age\n" in update.output
    assert update.output.splitlines()[-1].endswith(f" of {len(CASES)} case files updated")
    rerun = runner.invoke(cli, ["kb", "test", "--kb", str(kb_copy)])
    assert rerun.exit_code == 0 and rerun.output.endswith(f"{len(CASES)} passed, 0 failed\n")
    again = runner.invoke(cli, ["kb", "test", "--update", "--kb", str(kb_copy)])
    assert again.output == f"0 of {len(CASES)} case files updated\n"


def test_missing_is_checked_in_order_with_room_for_new_facts(kb_copy: Path) -> None:
    from myoivig.engine.cases import load_case, run_case
    kb = load_knowledge_base(kb_copy)
    case = load_case(kb_copy / "cases" / "pm_elderly_renal_thrombotic_iga.yaml")
    full = list(case.expect["missing"])
    for expected, passes in ((full[::2], True), (full[1:], True), (list(reversed(full[:2])), False)):
        result = run_case(kb, type(case)(case.name, case.file, case.description, case.patient,
                                         {**case.expect, "missing": expected}))
        assert result.passed is passes, expected


def test_kb_commands_speak_json_for_ci_tools(runner: CliRunner, kb_copy: Path) -> None:
    valid = json.loads(runner.invoke(cli, ["kb", "validate", "--format", "json"]).stdout)
    assert valid["valid"] is True and valid["problems"] == [] and len(valid["knowledge_base"]["sha256"]) == 64
    edit(kb_copy / "rules" / "cautions.yaml", "      thrombotic_risk: true\n", "      thrombotic_rsik: true\n")
    broken = runner.invoke(cli, ["kb", "validate", "--kb", str(kb_copy), "--format", "json"])
    assert broken.exit_code == 3
    [problem] = json.loads(broken.stdout)["problems"]
    assert problem["file"] == str(kb_copy.resolve() / "rules" / "cautions.yaml")  # outside the current folder: absolute
    assert problem["message"] == "unknown fact 'thrombotic_rsik'"
    tested = json.loads(runner.invoke(cli, ["kb", "test", "--format", "json"]).stdout)
    assert (tested["passed"], tested["failed"]) == (len(CASES), 0)
    assert tested["cases"][0]["case"] == "knowledge_base/cases/" + CASES[0].name  # relative to the current folder
    covered = json.loads(runner.invoke(cli, ["kb", "coverage", "--format", "json"]).stdout)
    assert covered["percent"] == 100.0 and covered["never_fired"] == []


def test_kb_diff_exit_code_and_json(runner: CliRunner, kb_copy: Path) -> None:
    same = runner.invoke(cli, ["kb", "diff", str(KB_DIR), str(KB_DIR), "--population", "10", "--exit-code"])
    assert same.exit_code == 0
    edit(kb_copy / "rules" / "cautions.yaml", "age_years: {gt: 65}", "age_years: {gt: 60}")
    changed = runner.invoke(cli, ["kb", "diff", str(KB_DIR), str(kb_copy), "--population", "50", "--exit-code",
                                  "--format", "json"])
    assert changed.exit_code == 1
    data = json.loads(changed.stdout)
    assert data["edits"] == {"caution.renal_risk_age": "changed"}
    assert all(c["gained"] == ["caution.renal_risk_age"] and c["behind"] == ["caution.renal_risk_age"]
               for c in data["changes"]) and data["changes"]
