"""How, why not, and what if: a clinician's questions, answered from the rules themselves.

`how` reads the recorded trace; `why_not` judges each candidate rule's
conditions with the same three-valued evaluator the oracle uses and searches
for the fewest facts that would make it fire; `what_if` consults twice and
compares. Nothing here is written per rule.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from . import conditions as cond
from .advice import advise, amount
from .conditions import Truth
from .consultation import consult
from .dose import BODY_FACTS
from .errors import InputError
from .evaluator import evaluate_rules, input_dependencies
from .missing import candidate_values
from .model import Conclusion, Consultation, KnowledgeBase, MatchedFact, Quote, Rule
from .suggestions import suggest

MAX_CHANGED_FACTS = 3
MAX_SUGGESTIONS = 6


# ---------------------------------------------------------------- how
@dataclass(frozen=True)
class Derivation:
    """One step of a derivation and, below it, how each derived fact it used was reached."""

    rule: str
    title: str
    where: str
    order: int
    statement: str | None
    matched: tuple[MatchedFact, ...]
    sources: tuple[Quote, ...]
    local_policy: str | None
    derived: tuple[str, ...]
    children: tuple[Derivation, ...]


def targets(kb: KnowledgeBase) -> list[str]:
    """What may be asked about: conclusion ids and derived fact names."""
    return [rule.id for rule in kb.rules if rule.conclude] + list(kb.derived)


def check_target(kb: KnowledgeBase, target: str) -> None:
    if target not in targets(kb):
        raise InputError(f"'{target}' is neither a conclusion nor a derived fact of the knowledge base",
                         field="conclusion", suggestion=suggest(target, targets(kb)),
                         allowed=None if suggest(target, targets(kb)) else "see `consult --format json`")


def how(kb: KnowledgeBase, consultation: Consultation, target: str) -> Derivation | None:
    """The derivation of a conclusion (or derived fact) reached for this patient; None if not reached."""
    check_target(kb, target)
    by_rule = {firing.rule: firing for firing in consultation.trace}
    derived_by = {name: firing for firing in consultation.trace for name in firing.asserted}
    firing = by_rule.get(target) or derived_by.get(target)
    if firing is None:
        return None

    def build(rule_id: str) -> Derivation:
        step = by_rule[rule_id]
        rule = kb.rule(rule_id)
        children = tuple(build(derived_by[m.name].rule) for m in step.matched if m.origin == "derived")
        return Derivation(rule.id, rule.title, rule.where, step.order,
                          rule.conclude.statement if rule.conclude else None, step.matched,
                          rule.provenance.sources, rule.provenance.local_policy, step.asserted, children)

    return build(firing.rule)


# ---------------------------------------------------------------- why not
@dataclass(frozen=True)
class ConditionCheck:
    description: str
    fact: str
    status: str  # held | failed | unknown
    value: Any
    group: str  # "all" or "any": how this test combines with its siblings


@dataclass(frozen=True)
class RuleCheck:
    rule: str
    title: str
    where: str
    fired: bool
    conditions: tuple[ConditionCheck, ...]
    minimal_changes: tuple[Mapping[str, Any], ...]
    needs: tuple[WhyNot, ...]  # derived facts this rule needs that were not derived


@dataclass(frozen=True)
class WhyNot:
    target: str
    kind: str  # "conclusion" or "derived fact"
    reached: bool
    candidates: tuple[RuleCheck, ...]


_STATUS = {True: "held", False: "failed", None: "unknown"}
MARKS = {"held": "+", "failed": "x", "unknown": "?"}
"""How a condition's status is marked wherever it is shown (text and graphs)."""


def _leaves(condition: cond.Condition, negated: bool = False, group: str = "all"
            ) -> Iterator[tuple[cond.Test, bool, str]]:
    if isinstance(condition, cond.Test):
        yield condition, negated, group
    elif isinstance(condition, cond.Not):
        yield from _leaves(condition.item, not negated, group)
    else:
        inner = "all" if isinstance(condition, cond.All) != negated else "any"
        for item in condition.items:
            yield from _leaves(item, negated, inner)


def condition_checks(rule: Rule, view: Mapping[str, Any]) -> tuple[ConditionCheck, ...]:
    """Each test of the rule, judged on the facts (and derived facts) the patient has."""
    checks = []
    for test, negated, group in _leaves(rule.when):
        truth: Truth = cond.evaluate_test(test, view)
        if negated and truth is not None:
            truth = not truth
        checks.append(ConditionCheck(("not " if negated else "") + test.describe(), test.fact,
                                     _STATUS[truth], view.get(test.fact), group))
    return tuple(checks)


def minimal_changes(kb: KnowledgeBase, facts: Mapping[str, Any], rule: Rule
                    ) -> tuple[dict[str, Any], ...]:
    """The smallest sets of input facts (at most three) whose values would make the rule fire.

    Each set is verified by evaluating every rule again with it applied.
    """
    relevant = sorted(input_dependencies(kb)[rule.id])
    for size in range(1, MAX_CHANGED_FACTS + 1):
        found: list[dict[str, Any]] = []
        for names in itertools.combinations(relevant, size):
            options = [[v for v in candidate_values(kb, n) if v != facts.get(n)] for n in names]
            for values in itertools.product(*options):
                change = dict(zip(names, values, strict=True))
                if evaluate_rules(kb, {**facts, **change}).rules[rule.id] is True:
                    found.append(change)
                    break  # one value set per group of facts is enough to show the way
            if len(found) >= MAX_SUGGESTIONS:
                break
        if found:
            # changes that only fill in unknown facts first: they contradict nothing the clinician said
            found.sort(key=lambda change: (sum(name in facts for name in change), sorted(change)))
            return tuple(found)
    return ()


def why_not(kb: KnowledgeBase, facts: Mapping[str, Any], target: str,
            _seen: frozenset[str] = frozenset()) -> WhyNot:
    """Every rule that could have reached `target`, each condition judged, and what would make it fire."""
    check_target(kb, target)
    evaluation = evaluate_rules(kb, facts)
    view = evaluation.view(facts)
    if target in kb.derived:
        rules = [rule for rule in kb.rules if target in rule.derive]
        kind, reached = "derived fact", evaluation.derived[target] is True
    else:
        rules = [kb.rule(target)]
        kind, reached = "conclusion", evaluation.rules[target] is True
    seen = _seen | {target}
    candidates = []
    for rule in rules:
        fired = evaluation.rules[rule.id] is True
        needs = tuple(why_not(kb, facts, test.fact, seen)
                      for test in cond.tests(rule.when)
                      if test.fact in kb.derived and test.fact not in seen
                      and evaluation.derived[test.fact] is not True) if not fired else ()
        candidates.append(RuleCheck(rule.id, rule.title, rule.where, fired, condition_checks(rule, view),
                                    () if fired else minimal_changes(kb, facts, rule), needs))
    return WhyNot(target, kind, reached, tuple(candidates))


# ---------------------------------------------------------------- what if
@dataclass(frozen=True)
class Difference:
    change: str  # gained | lost | changed | dose
    conclusion: str | None
    before: Any
    after: Any
    rule: str | None
    because_of: tuple[str, ...]  # the changed facts it depends on


@dataclass(frozen=True)
class WhatIf:
    changes: Mapping[str, Any]
    before: Consultation
    after: Consultation
    differences: tuple[Difference, ...]


def what_if(kb: KnowledgeBase, facts: Mapping[str, Any], changes: Mapping[str, Any]) -> WhatIf:
    """The consultation before and after changing some facts, as a difference with its causes."""
    after_facts = {**facts, **changes}
    after_facts = {name: value for name, value in after_facts.items() if value is not None}
    before, after = consult(kb, facts), consult(kb, after_facts)
    depends = input_dependencies(kb)
    changed_facts = {name for name in changes if facts.get(name) != after_facts.get(name)}

    def causes(rule_id: str) -> tuple[str, ...]:
        return tuple(sorted(depends[rule_id] & changed_facts))

    old = {c.id: c for c in before.conclusions}
    new = {c.id: c for c in after.conclusions}
    differences = []
    for cid in sorted(new.keys() - old.keys()):
        differences.append(Difference("gained", cid, None, new[cid].statement, cid, causes(cid)))
    for cid in sorted(old.keys() - new.keys()):
        differences.append(Difference("lost", cid, old[cid].statement, None, cid, causes(cid)))
    for cid in sorted(old.keys() & new.keys()):
        was, now = _values(old[cid], facts), _values(new[cid], after_facts)
        if was != now:
            differences.append(Difference("changed", cid, was, now, cid, causes(cid)))
    if before.dose != after.dose:
        dose_rules = [r for d in (after.dose, before.dose) if d for r in d.rules]
        because = {f for r in dose_rules for f in causes(r)}
        for dose in (before.dose, after.dose):  # the weights feed the arithmetic, not a condition
            if dose is not None:
                because |= changed_facts & set(BODY_FACTS)
        differences.append(Difference("dose", None, _dose_summary(kb, before), _dose_summary(kb, after),
                                      dose_rules[0] if dose_rules else None, tuple(sorted(because))))
    return WhatIf(dict(changes), before, after, tuple(differences))


def _values(conclusion: Conclusion, facts: Mapping[str, Any]) -> dict[str, Any]:
    return {name: facts.get(name) for name in conclusion.rests_on_facts}


def _dose_summary(kb: KnowledgeBase, consultation: Consultation) -> str:
    """The dose to give, as every surface says it: what-if compares this, not the standard regimen."""
    given = advise(kb, consultation).dose
    if given is None:
        return consultation.dose_note or "no dose"
    dose = given.dose
    return f"{dose.dosing_weight_kg:g} kg ({dose.weight_basis}): give {amount(given.give)}"
