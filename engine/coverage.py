"""Rule and condition coverage of a case suite: what the cases exercise, and what they never do."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import conditions as cond
from .evaluator import evaluate_rules
from .model import KnowledgeBase


@dataclass(frozen=True)
class Coverage:
    fired_by_case: Mapping[str, tuple[str, ...]]
    never_fired: tuple[str, ...]
    never_blocked: tuple[str, ...]
    conditions_not_both: tuple[tuple[str, str, bool, bool], ...]  # rule, test, seen true, seen false
    conditions_total: int
    rules_total: int

    @property
    def percent(self) -> float:
        """Share of rules both fired by some case and blocked by another."""
        if not self.rules_total:
            return 100.0
        uncovered = set(self.never_fired) | set(self.never_blocked)
        return 100.0 * (self.rules_total - len(uncovered)) / self.rules_total

    @property
    def condition_percent(self) -> float:
        if not self.conditions_total:
            return 100.0
        return 100.0 * (self.conditions_total - len(self.conditions_not_both)) / self.conditions_total


def coverage(kb: KnowledgeBase, patients: Sequence[tuple[str, Mapping[str, Any]]]) -> Coverage:
    """Coverage of normalized patients, each given with its case name."""
    fired_by_case: dict[str, tuple[str, ...]] = {}
    fired_count = {rule.id: 0 for rule in kb.rules}
    seen: dict[tuple[str, int], set[bool]] = {}
    labels: dict[tuple[str, int], str] = {}
    for name, facts in patients:
        evaluation = evaluate_rules(kb, facts)
        fired_by_case[name] = tuple(evaluation.fired)
        for rule_id in evaluation.fired:
            fired_count[rule_id] += 1
        view = evaluation.view(facts)
        for rule in kb.rules:
            for index, test in enumerate(cond.tests(rule.when)):
                truth = cond.evaluate_test(test, view)
                labels[(rule.id, index)] = test.describe()
                if truth is not None:
                    seen.setdefault((rule.id, index), set()).add(truth)
                else:
                    seen.setdefault((rule.id, index), set())
    total = len(patients)
    not_both = tuple((rule_id, labels[(rule_id, index)], True in values, False in values)
                     for (rule_id, index), values in sorted(seen.items(), key=lambda item: item[0])
                     if values != {True, False})
    return Coverage(
        fired_by_case=fired_by_case,
        never_fired=tuple(r for r, n in fired_count.items() if n == 0),
        never_blocked=tuple(r for r, n in fired_count.items() if n == total),
        conditions_not_both=not_both, conditions_total=len(seen), rules_total=len(kb.rules))
