"""Checks of meaning that need the normal form: conditions that can never hold, redundant rules.

Run by the loader after the per-test checks, so every command that loads a
knowledge base runs them too; `myoivig kb validate` prints them all.
"""
from __future__ import annotations

from collections.abc import Collection
from typing import Any

from . import conditions as cond
from .errors import Problem
from .model import Rule


def _bounds(literals: list[cond.Literal]) -> tuple[float, bool, float, bool]:
    """The numeric interval a conjunct leaves open for one fact: (low, low_strict, high, high_strict)."""
    low, low_strict, high, high_strict = float("-inf"), False, float("inf"), False
    for literal in literals:
        test = literal.test
        if literal.negated or test.op not in cond.COMPARISONS:
            continue
        value = float(test.value)
        if test.op in ("gt", "gte") and (value > low or (value == low and test.op == "gt")):
            low, low_strict = value, test.op == "gt"
        if test.op in ("lt", "lte") and (value < high or (value == high and test.op == "lt")):
            high, high_strict = value, test.op == "lt"
    return low, low_strict, high, high_strict


def never_holds(conjunct: list[cond.Literal]) -> str | None:
    """Why a conjunct of literals can never be true together, or None if it can."""
    by_fact: dict[str, list[cond.Literal]] = {}
    for literal in conjunct:
        by_fact.setdefault(literal.test.fact, []).append(literal)
    for fact, literals in by_fact.items():
        known = {lit.test.value for lit in literals if lit.test.op == "known"}
        if known == {True, False}:
            return f"'{fact}' cannot be both known and unknown"
        if False in known and any(lit.test.op != "known" for lit in literals):
            return f"'{fact}' is tested for a value and for being unknown"
        allowed: set[Any] | None = None
        for lit in literals:
            if lit.test.op in ("equals", "in") and not lit.negated:
                values = {lit.test.value} if lit.test.op == "equals" else set(lit.test.value)
                allowed = values if allowed is None else allowed & values
        excluded = {v for lit in literals if lit.negated and lit.test.op in ("equals", "in")
                    for v in ({lit.test.value} if lit.test.op == "equals" else set(lit.test.value))}
        if allowed is not None and not allowed - excluded:
            return f"no value of '{fact}' satisfies all its tests"
        contained = {lit.test.value for lit in literals if lit.test.op == "contains" and not lit.negated}
        if contained & {lit.test.value for lit in literals if lit.test.op == "contains" and lit.negated}:
            return f"'{fact}' must both contain and not contain the same value"
        low, low_strict, high, high_strict = _bounds(literals)
        if low > high or (low == high and (low_strict or high_strict)):
            return f"no number satisfies the bounds on '{fact}'"
        if allowed is not None and all(isinstance(v, (int, float)) for v in allowed) \
                and not any((v > low if low_strict else v >= low) and (v < high if high_strict else v <= high)
                            for v in allowed):
            return f"the values allowed for '{fact}' lie outside its bounds"
    return None


def _implies(stronger: list[list[cond.Literal]], weaker: list[list[cond.Literal]]) -> bool:
    """Syntactic implication of normal forms: each conjunct of one contains a conjunct of the other."""
    return all(any(set(conj_weak) <= set(conj_strong) for conj_weak in weaker) for conj_strong in stronger)


def lint_rules(rules: list[Rule], input_facts: Collection[str] = ()) -> list[Problem]:
    problems = []
    forms = {rule.id: cond.to_dnf(rule.when) for rule in rules}
    for rule in rules:
        reasons = [never_holds(conjunct) for conjunct in forms[rule.id]]
        if reasons and all(reasons):
            problems.append(Problem(rule.file, rule.line, 1, f"the condition can never hold: {reasons[0]}",
                                    rule.id, "the rule would never fire; fix or remove the contradictory tests"))
        elif any(reasons):
            reason = next(r for r in reasons if r)
            problems.append(Problem(rule.file, rule.line, 1, f"one alternative of the condition can never "
                                    f"hold: {reason}", rule.id, "remove that alternative", "warning"))
    for rule in rules:
        if rule.conclude or not rule.derive:
            continue
        for other in rules:
            if other.id != rule.id and set(rule.derive) <= set(other.derive) \
                    and _implies(forms[rule.id], forms[other.id]) \
                    and not (_implies(forms[other.id], forms[rule.id]) and set(other.derive) <= set(rule.derive)
                             and other.id > rule.id):  # of two rules that do the same, warn of one
                problems.append(Problem(rule.file, rule.line, 1,
                                        f"redundant: '{other.id}' ({other.where}) derives "
                                        f"{', '.join(rule.derive)} whenever this rule holds", rule.id,
                                        "remove this rule or narrow the other", "warning"))
                break
    problems += [quote for rule in rules if (quote := quote_off_subject(rule, forms[rule.id], input_facts))]
    return problems


def quote_off_subject(rule: Rule, form: list[list[cond.Literal]], input_facts: Collection[str]) -> Problem | None:
    """A rule whose quotes name none of the things it tests may quote the wrong sentence.

    The words are those of the input facts and values the rule tests positively (`pregnancy: true`
    gives 'pregnancy'); a rule that also states local policy explains itself and is left alone.
    """
    if not rule.provenance.sources or rule.provenance.local_policy:
        return None
    words = set()
    for conjunct in form:
        for literal in conjunct:
            test = literal.test
            if literal.negated or test.op == "known" or test.value is False or test.fact not in input_facts:
                continue
            values = test.value if isinstance(test.value, tuple) else (test.value,)
            named = (test.fact, *(value for value in values if isinstance(value, str)))
            words |= {word.lower() for part in named for word in part.split("_")
                      if len(word) > 3 and not word.isdigit()}
    text = " ".join(quote.quote.lower() for quote in rule.provenance.sources)
    if not words or any(word[:5] in text for word in words):
        return None
    return Problem(rule.file, rule.line, 1, f"its quotes mention none of what it tests ({', '.join(sorted(words))}): "
                   "is it the right sentence?", rule.id, "quote the sentence that says this, or add local_policy "
                   "saying why the quote applies", "warning")
