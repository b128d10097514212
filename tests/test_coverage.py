"""`kb coverage` exactly: which tests were never seen both ways, in rule order, and the percentages.
"""
from __future__ import annotations

import pytest

from myoivig.engine import KnowledgeBase, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.coverage import Coverage, coverage
from myoivig.engine.evaluator import evaluate_rules

SEVERE_DM = {"diagnosis": "DM", "severity": "severe", "age_years": 50}
CHILD_IBM = {"diagnosis": "IBM", "severity": "mild", "age_years": 12}


def test_tests_not_seen_both_ways_are_listed_by_rule_then_position(kb: KnowledgeBase) -> None:
    """The report reads rule by rule, each rule's tests in the order written, with what each was seen as.

    Expectations come from the knowledge base and the direct evaluator, not from the shipped rules' names."""
    facts = normalize(kb, SEVERE_DM)
    found = coverage(kb, [("a", facts)])
    written = [(rule.id, index, test) for rule in sorted(kb.rules, key=lambda r: r.id)
               for index, test in enumerate(cond.tests(rule.when))]
    view = evaluate_rules(kb, facts).view(facts)
    truths = [cond.evaluate_test(test, view) for _, _, test in written]
    assert found.conditions_not_both == tuple((rule_id, test.describe(), truth is True, truth is False)
                                              for (rule_id, _, test), truth in zip(written, truths, strict=True))
    assert found.conditions_total == len(written)  # one patient sees no test both ways
    assert found.fired_by_case["a"] == tuple(evaluate_rules(kb, facts).fired)
    assert found.fired_by_case["a"][:3] == ("finding.covered_diagnosis", "finding.adult_or_age_unknown",
                                            "finding.severe_or_rapidly_progressive")


def test_two_patients_give_fractions_not_whole_percents(kb: KnowledgeBase) -> None:
    """A rule counts when one patient fires it and another does not; a test when seen true and false."""
    patients = [("a", normalize(kb, SEVERE_DM)), ("b", normalize(kb, CHILD_IBM))]
    found = coverage(kb, patients)
    fired = [set(evaluate_rules(kb, facts).fired) for _, facts in patients]
    every = [rule.id for rule in kb.rules]
    assert found.never_fired == tuple(r for r in every if not any(r in f for f in fired))
    assert found.never_blocked == tuple(r for r in every if all(r in f for f in fired))
    covered = len(every) - len(set(found.never_fired) | set(found.never_blocked))
    assert 0 < covered < len(every)
    assert found.percent == pytest.approx(100.0 * covered / len(every), abs=1e-12)
    assert found.condition_percent == pytest.approx(
        100.0 * (found.conditions_total - len(found.conditions_not_both)) / found.conditions_total, abs=1e-12)
    assert "finding.covered_diagnosis" in found.never_blocked  # both patients have a covered diagnosis


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
