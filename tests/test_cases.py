"""The shipped case suite: exact expectations, and every rule both fired and blocked.

`kb test` exactly: each expectation's failure as (what, expected, actual), and case files checked with positions.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml

from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine.cases import (
    Case,
    case_from_consultation,
    check_cases,
    expectations,
    load_case,
    run_case,
    updated_case,
)
from myoivig.engine.errors import InputError, KnowledgeBaseError

from .conftest import CASES


@pytest.mark.slow
@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_passes(kb: KnowledgeBase, path: Path) -> None:
    result = run_case(kb, load_case(path))
    assert result.failures == []


@pytest.mark.slow
def test_every_case_states_complete_expectations() -> None:
    for path in CASES:
        expect = load_case(path).expect
        assert {"ivig_indicated", "conclusions", "dose", "missing"} <= set(expect), path.name


@pytest.mark.slow
def test_every_rule_is_fired_by_one_case_and_blocked_by_another(kb: KnowledgeBase) -> None:
    fired_by: dict[str, list[str]] = {rule.id: [] for rule in kb.rules}
    for path in CASES:
        for rule_id in run_case(kb, load_case(path)).fired:
            fired_by[rule_id].append(path.stem)
    never_fired = [rule for rule, cases in fired_by.items() if not cases]
    never_blocked = [rule for rule, cases in fired_by.items() if len(cases) == len(CASES)]
    assert never_fired == []
    assert never_blocked == []


@pytest.mark.slow
def test_a_failing_expectation_is_reported_as_expected_versus_actual(kb: KnowledgeBase) -> None:
    case = load_case(CASES[0])
    wrong = dict(case.expect, ivig_indicated=not case.expect["ivig_indicated"], absent=["side_effects.common"])
    result = run_case(kb, type(case)(case.name, case.file, case.description, case.patient, wrong))
    what = [failure[0] for failure in result.failures]
    assert "ivig_indicated" in what
    assert ("absent side_effects.common" in what) == ("side_effects.common" in case.expect["conclusions"])


@pytest.mark.slow
def test_shipped_cases_are_found(kb: KnowledgeBase) -> None:
    from myoivig.engine.cases import case_paths
    assert [p.name for p in case_paths(kb)] == [p.name for p in CASES] and len(CASES) >= 20


ELDERLY = "pm_elderly_renal_thrombotic_iga"
WRONG = [
    ("verdict", "not_indicated", "verdict"),
    ("ivig_indicated", None, "ivig_indicated"),
    ("early_initiation", True, "early_initiation"),
    ("cautions", ["age_years"], "cautions"),
    ("combination", [], "combination"),
    ("warnings", ["warning.height_below_devine_range"], "warnings"),
    ("conclusions", ["side_effects.common"], "conclusions"),
    ("absent", ["side_effects.common"], "absent side_effects.common"),
    ("missing", ["weight_kg"], "missing"),
    ("dose", None, "dose"),
    ("dose", {"dosing_weight_kg": 70.4}, "dose.dosing_weight_kg"),
    ("dose", {"course_total_g": [70, 141]}, "dose.course_total_g"),
]


@pytest.mark.slow
@pytest.mark.parametrize("key,value,what", WRONG, ids=[f"{k}={v}" for k, v, _ in WRONG])
def test_kb_test_fails_on_each_kind_of_wrong_expectation(kb: KnowledgeBase, key: str, value: object,
                                                          what: str) -> None:
    case = load_case(next(path for path in CASES if path.stem == ELDERLY))
    assert run_case(kb, case).failures == []
    wrong = type(case)(case.name, case.file, case.description, case.patient, {**case.expect, key: value})
    failures = run_case(kb, wrong).failures
    assert [failure[0] for failure in failures] == [what]
    expected = "absent" if key == "absent" else next(iter(value.values())) if isinstance(value, dict) else value
    assert failures[0][1] == expected


# ---------------------------------------------------------------- `kb test` exactly: each expectation's failure as (what, expe
SEVERE = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165}


@pytest.fixture(scope="module")
def today(kb: KnowledgeBase) -> dict[str, Any]:
    """What the shipped knowledge base advises SEVERE today: the tests below pin the mechanics, not the advice."""
    return expectations(kb, consult(kb, normalize(kb, SEVERE)))


def _failures(kb: KnowledgeBase, expect: dict[str, Any]) -> list[tuple[str, Any, Any]]:
    return run_case(kb, Case("c", "c.yaml", "", SEVERE, expect)).failures


def test_a_case_whose_patient_does_not_fit_the_vocabulary_names_the_case_and_the_fact(kb: KnowledgeBase) -> None:
    """The knowledge engineer sees which case file holds the bad value, and which fact (the field)."""
    with pytest.raises(InputError) as caught:
        run_case(kb, Case("c", "cases/c.yaml", "", {"sex": "x"}, {}))
    assert str(caught.value) == "case cases/c.yaml: fact 'sex': 'x' is not allowed; allowed: female, male"
    assert caught.value.field == "sex"


def test_a_case_stating_todays_advice_passes_and_records_what_fired(kb: KnowledgeBase) -> None:
    """The expectations `--save-case` writes are met exactly; the result keeps the rules fired and the report."""
    result = run_case(kb, Case("c", "c.yaml", "", SEVERE, expectations(kb, consult(kb, normalize(kb, SEVERE)))))
    assert result.passed and result.failures == []
    assert result.fired[:3] == ("finding.covered_diagnosis", "finding.adult_or_age_unknown",
                                "finding.severe_or_rapidly_progressive")
    assert result.report["summary"]["verdict"] == "indicated"


def test_every_wrong_expectation_is_one_failure_in_a_fixed_order(kb: KnowledgeBase, today: dict[str, Any]) -> None:
    """Summary keys in their order, then conclusions, absent ones, missing and the dose: expected then actual."""
    failures = _failures(kb, {
        "warnings": ["w"], "verdict": "not_indicated", "ivig_indicated": False, "early_initiation": True,
        "cautions": ["thrombotic_risk"], "combination": [],
        "conclusions": ["side_effects.common"], "absent": ["side_effects.common", "scope.child"],
        "missing": ["weight_kg", "anti_iga_antibodies"], "dose": {"dosing_weight_kg": 60, "weight_basis": "ideal_body_weight"}})
    assert failures == [
        ("verdict", "not_indicated", today["verdict"]), ("ivig_indicated", False, today["ivig_indicated"]),
        ("early_initiation", True, today["early_initiation"]), ("cautions", ["thrombotic_risk"], today["cautions"]),
        ("combination", [], today["combination"]), ("warnings", ["w"], today["warnings"]),
        ("conclusions", ["side_effects.common"], today["conclusions"]),
        ("absent side_effects.common", "absent", "present"),
        ("missing", ["weight_kg", "anti_iga_antibodies"], today["missing"]),
        ("dose.dosing_weight_kg", 60, today["dose"]["dosing_weight_kg"]),
    ]


def test_conclusions_are_compared_as_a_set_in_any_order(kb: KnowledgeBase, today: dict[str, Any]) -> None:
    conclusions = today["conclusions"]
    assert _failures(kb, {"conclusions": list(reversed(conclusions))}) == []
    assert _failures(kb, {"conclusions": conclusions[1:]}) == [("conclusions", conclusions[1:], conclusions)]


@pytest.mark.parametrize(("pick", "passes"), [
    ([], True),
    ([1], True),
    ([1, 4, -1], True),   # in order, others between
    ([4, 1], False),      # out of order
    ([1, 1], False),      # asked once only
    (["sex"], False),     # given, so not asked
])
def test_missing_facts_are_expected_in_the_order_asked(kb: KnowledgeBase, today: dict[str, Any], pick: list[Any],
                                                       passes: bool) -> None:
    """Facts declared later may come between the expected ones, but the order asked must hold."""
    missing = [today["missing"][i] if isinstance(i, int) else i for i in pick]
    assert _failures(kb, {"missing": missing}) == ([] if passes else [("missing", missing, today["missing"])])


def test_the_dose_compares_only_the_keys_given_and_numbers_by_value(kb: KnowledgeBase, today: dict[str, Any]) -> None:
    """`course_total_g: [57, 114]` in YAML (ints) matches 57.0 and 114.0; a tuple matches a list; a regimen
    is compared on the fields the case names."""
    low, high = today["dose"]["give"]["course_total_g"]
    days = today["dose"]["give"]["days_per_course"]
    assert _failures(kb, {"dose": {"give": {"course_total_g": (int(low), int(high)), "days_per_course": [
        float(days[0]), days[1]]}}}) == []
    per_day = today["dose"]["standard"]["per_day_g"]
    wrong = [int(per_day[0]), int(per_day[1]) + 1]
    assert _failures(kb, {"dose": {"standard": {"per_day_g": wrong}}}) == [
        ("dose.standard", {"per_day_g": wrong}, {"per_day_g": per_day})]
    assert _failures(kb, {"dose": {"rounding": "x"}})[0][:2] == ("dose.rounding", "x")


def test_no_dose_expected_or_given(kb: KnowledgeBase, today: dict[str, Any]) -> None:
    """`dose: null` against a dose fails with the whole dose; a dose against none fails with None."""
    [(what, expected, actual)] = _failures(kb, {"dose": None})
    assert (what, expected, actual["give"]["course_total_g"]) == ("dose", None, today["dose"]["give"]["course_total_g"])
    child = Case("c", "c.yaml", "", {"diagnosis": "DM", "age_years": 12}, {"dose": {"dosing_weight_kg": 1}})
    assert run_case(kb, child).failures == [("dose", {"dosing_weight_kg": 1}, None)]
    assert run_case(kb, Case("c", "c.yaml", "", {"diagnosis": "DM", "age_years": 12}, {"dose": None})).passed


def test_expectations_pin_the_summary_conclusions_dose_and_missing(kb: KnowledgeBase) -> None:
    """What `--save-case` writes: six summary keys, sorted conclusion ids, the dose, missing in the order asked."""
    consultation = consult(kb, normalize(kb, SEVERE))
    written = expectations(kb, consultation)
    assert list(written) == ["verdict", "ivig_indicated", "early_initiation", "cautions", "combination", "warnings",
                             "conclusions", "dose", "missing"]
    assert written["verdict"] == consultation.verdict.value
    assert written["conclusions"] == sorted(c.id for c in consultation.conclusions)
    assert written["missing"] == [m.fact for m in consultation.missing]
    assert list(written["dose"]) == ["weight_basis", "dosing_weight_kg", "give", "standard"]
    child = expectations(kb, consult(kb, normalize(kb, {"diagnosis": "DM", "age_years": 12})))
    assert child["dose"] is None


def test_a_saved_case_reads_back_as_the_same_case(kb: KnowledgeBase, tmp_path: Path) -> None:
    """`consult --save-case` then `kb test`: the file loads and passes."""
    consultation = consult(kb, normalize(kb, SEVERE))
    path = tmp_path / "saved.yaml"
    path.write_text(case_from_consultation(kb, consultation, "A severe DM case."))
    case = load_case(path)
    assert (case.name, case.file, case.description) == ("saved", str(path), "A severe DM case.")
    assert case.patient == dict(consultation.patient)
    assert run_case(kb, case).passed


def test_updating_a_case_rewrites_only_its_expectations(kb: KnowledgeBase, tmp_path: Path,
                                                       today: dict[str, Any]) -> None:
    """`kb test --update`: the description and the patient as written stay; expect is today's advice."""
    path = tmp_path / "old.yaml"
    path.write_text("description: An old case.\npatient:\n  diagnosis: DM\n  severity: severe\n  age_years: 50\n"
                    "  sex: female\n  height_cm: 165\nexpect:\n  verdict: not_indicated\n")
    document = yaml.safe_load(updated_case(kb, path))
    assert document["description"] == "An old case."
    assert document["patient"] == SEVERE
    assert document["expect"]["verdict"] == today["verdict"] and document["expect"]["dose"] == today["dose"]


def test_a_case_file_that_cannot_be_read_is_a_problem_at_its_start_or_its_error(tmp_path: Path) -> None:
    """A missing file at 1:1 with the OS's words; malformed YAML at the parser's line and column."""
    with pytest.raises(KnowledgeBaseError) as missing:
        load_case(tmp_path / "none.yaml")
    assert [str(p) for p in missing.value.problems] == [
        f"{tmp_path / 'none.yaml'}:1:1: error: cannot read the case: No such file or directory"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("description: x\npatient: {a: [}\n")
    with pytest.raises(KnowledgeBaseError) as malformed:
        load_case(bad)
    assert [str(p) for p in malformed.value.problems] == [
        f"{bad}:2:15: error: malformed YAML: expected the node content, but found '}}'"]


def test_check_cases_locates_each_bad_fact_and_unknown_rule(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Every bad patient fact at its key, every unknown rule named in expect (conclusions and absent)."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "a.yaml").write_text(
        "description: x\npatient:\n  diagnosis: DM\n  sex: x\n  colour: blue\nexpect:\n  verdict: indicated\n"
        "  conclusions: [side_effects.common, no.such]\n  absent: [also.none]\n")
    (cases / "b.yaml").write_text("description: ok\npatient:\n  diagnosis: DM\nexpect:\n  verdict: indicated\n")
    (cases / "notes.txt").write_text("not a case")
    file = str(cases / "a.yaml")
    hint = "cases use the facts of vocabulary.yaml"
    found = check_cases(dataclasses.replace(kb, root=tmp_path))
    assert [(p.file, p.line, p.column, p.message, p.hint) for p in found] == [
        (file, 4, 3, "patient: fact 'sex': 'x' is not allowed; allowed: female, male", hint),
        (file, 5, 3, "patient: unknown fact 'colour'; allowed: see `myoivig facts`", hint),
        (file, 6, 1, "expect names unknown rule 'no.such'", None),
        (file, 6, 1, "expect names unknown rule 'also.none'", None),
    ]


def test_the_shipped_cases_are_clean(kb: KnowledgeBase) -> None:
    assert check_cases(kb) == []


def test_a_case_description_is_trimmed_and_may_be_left_out(tmp_path: Path) -> None:
    """A block-scalar description loses its trailing newline; no description is an empty one."""
    path = tmp_path / "described.yaml"
    path.write_text("description: |\n  Two lines\n  of text.\npatient: {diagnosis: DM}\nexpect: {verdict: indicated}\n")
    case = load_case(path)
    assert (case.name, case.description, case.patient, case.expect) == (
        "described", "Two lines\nof text.", {"diagnosis": "DM"}, {"verdict": "indicated"})
    bare = tmp_path / "bare.yaml"
    bare.write_text("patient: {diagnosis: DM}\nexpect: {verdict: indicated}\n")
    assert load_case(bare).description == ""


def test_a_case_file_against_the_schema_is_refused_with_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("description: x\npatient: [a]\nexpect: {verdict: 3}\n")
    with pytest.raises(KnowledgeBaseError) as caught:
        load_case(path)
    assert [(p.line, p.message.split(":")[0]) for p in caught.value.problems] == [(3, "expect.verdict"),
                                                                                 (2, "patient")]
