"""`kb coverage` exactly: which tests were never seen both ways, in rule order, and the percentages."""
from __future__ import annotations

import pytest

from myoivig.engine import KnowledgeBase, normalize
from myoivig.engine.coverage import Coverage, coverage

SEVERE_DM = {"diagnosis": "DM", "severity": "severe", "age_years": 50}
CHILD_IBM = {"diagnosis": "IBM", "severity": "mild", "age_years": 12}


def test_tests_not_seen_both_ways_are_listed_by_rule_then_position(kb: KnowledgeBase) -> None:
    """The report reads rule by rule, each rule's tests in the order written, with what each was seen as."""
    found = coverage(kb, [("a", normalize(kb, SEVERE_DM))])
    assert found.conditions_not_both[:8] == (
        ("caution.iga_antibodies", "iga_deficiency = true", False, False),
        ("caution.iga_antibodies", "anti_iga_antibodies is unknown", True, False),
        ("caution.iga_deficiency", "iga_deficiency = true", False, False),
        ("caution.renal_insufficiency", "renal_insufficiency = true", False, False),
        ("caution.renal_product_choice", "renal_insufficiency = true", False, False),
        ("caution.renal_risk_age", "age_years > 65", False, True),
        ("caution.thrombotic_infusion_rate", "thrombotic_risk = true", False, False),
        ("caution.thrombotic_risk", "thrombotic_risk = true", False, False),
    )
    assert (found.conditions_total, len(found.conditions_not_both)) == (170, 170)
    assert found.fired_by_case["a"][:3] == ("finding.covered_diagnosis", "finding.adult_or_age_unknown",
                                            "finding.severe_or_rapidly_progressive")
    assert len(found.fired_by_case["a"]) == 18


def test_two_patients_give_these_exact_fractions(kb: KnowledgeBase) -> None:
    """17 of 65 rules fired and blocked, 61 of 170 tests seen both ways: fractions, not whole percents."""
    found = coverage(kb, [("a", normalize(kb, SEVERE_DM)), ("b", normalize(kb, CHILD_IBM))])
    assert found.percent == pytest.approx(100.0 * 17 / 65, abs=1e-12)
    assert found.condition_percent == pytest.approx(100.0 * 61 / 170, abs=1e-12)
    assert found.never_fired[:3] == ("caution.renal_insufficiency", "caution.renal_product_choice",
                                     "caution.renal_risk_age")
    assert found.never_blocked == ("finding.covered_diagnosis", "finding.no_known_hard_stop")


def test_no_cases_cover_nothing_and_every_rule_is_both_never_fired_and_never_blocked(kb: KnowledgeBase) -> None:
    """An empty suite: no rule fired, none blocked (0 of 0 patients), no test seen; 0 % of rules."""
    found = coverage(kb, [])
    every = tuple(rule.id for rule in kb.rules)
    assert found == Coverage({}, every, every, (), 0, len(kb.rules))
    assert (found.percent, found.condition_percent) == (0.0, 100.0)


@pytest.mark.parametrize(("uncovered", "not_both", "percent", "condition_percent"), [
    (1, 1, 200 / 3, 200 / 3),
    (2, 2, 100 / 3, 100 / 3),
    (0, 0, 100.0, 100.0),
    (3, 3, 0.0, 0.0),
])
def test_percentages_out_of_three_are_not_rounded(uncovered: int, not_both: int, percent: float,
                                                 condition_percent: float) -> None:
    """Out of three, one uncovered is 66.67 %, not 66 %."""
    fired = tuple(f"r{i}" for i in range(uncovered))
    found = Coverage({}, fired, (), tuple(("r", "t", True, False) for _ in range(not_both)), 3, 3)
    assert found.percent == pytest.approx(percent, abs=1e-12)
    assert found.condition_percent == pytest.approx(condition_percent, abs=1e-12)
