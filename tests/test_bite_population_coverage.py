"""The generated population and case coverage, exactly: the figures `kb diff` and `kb coverage` report."""
from __future__ import annotations

from collections import Counter

import pytest

from myoivig.engine import KnowledgeBase, normalize
from myoivig.engine.coverage import Coverage, coverage
from myoivig.engine.population import generate


def test_the_population_is_the_same_for_the_same_seed_and_another_for_another(kb: KnowledgeBase) -> None:
    """Seed 7 by default: a diff run today and next year compares the same patients."""
    assert generate(kb, 5) == generate(kb, 5, seed=7) != generate(kb, 5, seed=8)
    assert generate(kb, 5, seed=6) != generate(kb, 5)


def test_generated_facts_are_each_allowed_and_about_a_fifth_unknown(kb: KnowledgeBase) -> None:
    """Every value fits the vocabulary; numbers stay in range with one decimal; lists hold 0 to 2 values."""
    patients = generate(kb, 400)
    for patient in patients:
        assert normalize(kb, patient) == patient
        for name, value in patient.items():
            spec = kb.facts[name]
            if spec.type == "number":
                low, high = spec.range or (0, 100)
                assert low <= value <= high and round(value, 1) == value
            if spec.type == "list":
                assert len(value) <= 2 and value == sorted(value)
    given = sum(len(p) for p in patients) / (len(patients) * len(kb.facts))
    assert 0.75 < given < 0.85
    bools = Counter(v for p in patients for n, v in p.items() if kb.facts[n].type == "bool")
    assert 0.25 < bools[True] / (bools[True] + bools[False]) < 0.35  # yes about three times in ten
    lists = Counter(len(v) for p in patients for n, v in p.items() if kb.facts[n].type == "list")
    assert set(lists) == {0, 1, 2}
    assert all(not p for p in generate(kb, 20, unknown=1.0))


def test_coverage_counts_rules_fired_and_blocked_and_tests_seen_both_ways(kb: KnowledgeBase) -> None:
    """One patient fires some rules and blocks the rest: nothing is both, so nothing is covered."""
    patient = normalize(kb, {"diagnosis": "DM", "severity": "severe", "age_years": 50})
    one = coverage(kb, [("a", patient)])
    assert one.rules_total == len(kb.rules) and set(one.fired_by_case) == {"a"}
    assert set(one.never_fired) | set(one.never_blocked) == {rule.id for rule in kb.rules}
    assert set(one.never_fired) & set(one.never_blocked) == set()
    assert one.percent == 0.0
    assert len(one.conditions_not_both) == one.conditions_total  # each test seen one way at most
    other = normalize(kb, {"diagnosis": "IBM", "severity": "mild", "age_years": 12})
    two = coverage(kb, [("a", patient), ("b", other)])
    assert 0.0 < two.percent < 100.0 and len(two.conditions_not_both) < two.conditions_total


@pytest.mark.parametrize(("fired", "blocked", "not_both", "percent", "condition_percent"), [
    ((), (), 0, 100.0, 100.0),
    (("r1",), (), 1, 75.0, 75.0),
    (("r1",), ("r1",), 2, 75.0, 50.0),     # one rule both never fired and never blocked counts once
    (("r1",), ("r2",), 3, 50.0, 25.0),
])
def test_the_percentages_are_exact(fired: tuple[str, ...], blocked: tuple[str, ...], not_both: int,
                                   percent: float, condition_percent: float) -> None:
    """Rules covered out of all, and tests seen both true and false out of all, as percentages."""
    found = Coverage({}, fired, blocked, tuple(("r", "t", True, False) for _ in range(not_both)), 4, 4)
    assert (found.percent, found.condition_percent) == (percent, condition_percent)
    assert Coverage({}, (), (), (), 0, 0).percent == 100.0 == Coverage({}, (), (), (), 0, 0).condition_percent
