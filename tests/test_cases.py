"""The shipped case suite: exact expectations, and every rule both fired and blocked."""
from __future__ import annotations

from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase
from myoivig.engine.cases import load_case, run_case

from .conftest import CASES


@pytest.mark.parametrize("path", CASES, ids=lambda p: p.stem)
def test_case_passes(kb: KnowledgeBase, path: Path) -> None:
    result = run_case(kb, load_case(path))
    assert result.failures == []


def test_every_case_states_complete_expectations() -> None:
    for path in CASES:
        expect = load_case(path).expect
        assert {"ivig_indicated", "conclusions", "dose", "missing"} <= set(expect), path.name


def test_every_rule_is_fired_by_one_case_and_blocked_by_another(kb: KnowledgeBase) -> None:
    fired_by: dict[str, list[str]] = {rule.id: [] for rule in kb.rules}
    for path in CASES:
        for rule_id in run_case(kb, load_case(path)).fired:
            fired_by[rule_id].append(path.stem)
    never_fired = [rule for rule, cases in fired_by.items() if not cases]
    never_blocked = [rule for rule, cases in fired_by.items() if len(cases) == len(CASES)]
    assert never_fired == []
    assert never_blocked == []


def test_a_failing_expectation_is_reported_as_expected_versus_actual(kb: KnowledgeBase) -> None:
    case = load_case(CASES[0])
    wrong = dict(case.expect, ivig_indicated=not case.expect["ivig_indicated"], absent=["side_effects.common"])
    result = run_case(kb, type(case)(case.name, case.file, case.description, case.patient, wrong))
    what = [failure[0] for failure in result.failures]
    assert "ivig_indicated" in what
    assert ("absent side_effects.common" in what) == ("side_effects.common" in case.expect["conclusions"])


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
