"""Checks of meaning that need the normal form: conditions that can never hold, redundant rules,
rules that can fire together where the engine has no way to choose between them.

Run by the loader after the per-test checks, so every command that loads a
knowledge base runs them too; `myoivig kb validate` prints them all.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from . import conditions as cond
from .errors import Problem
from .model import FactSpec, Rule


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
    if isinstance(input_facts, Mapping):
        problems += [found for rule in rules for found in thresholds_against_words(rule, input_facts)]
    search = JointSearch(rules, forms)
    problems += advised_despite_hard_stop(rules, search) + dose_conflicts(rules, search)
    return problems


@dataclass(frozen=True)
class Example:
    """A patient the search found: the input tests that hold, and the rules that derived the facts."""

    literals: list[cond.Literal]
    through: tuple[str, ...]

    def __str__(self) -> str:
        return _example(self.literals)


def thresholds_against_words(rule: Rule, facts: Mapping[str, FactSpec]) -> list[Problem]:
    """A threshold its own rule's words contradict: the condition tests `months_since_diagnosis <= 12`
    while the title or statement says "6 months" (one side of a window edited, the words left)."""
    words = " ".join(filter(None, (rule.title, rule.conclude.statement if rule.conclude else None)))
    problems = []
    for test in cond.tests(rule.when):
        unit = facts[test.fact].unit if test.fact in facts else None
        if test.op not in cond.COMPARISONS or not unit:
            continue
        stem = re.escape(unit.rstrip("s"))
        said = {float(n) for n in re.findall(rf"(\d+(?:\.\d+)?)\s*-?\s*{stem}", words, flags=re.IGNORECASE)}
        if said and float(test.value) not in said:
            numbers = ", ".join(f"{n:g} {unit}" for n in sorted(said))
            problems.append(Problem(rule.file, test.line, test.column, f"tests {test.fact} "
                                    f"{cond.COMPARISONS[test.op]} {cond.show_value(test.value)}, but its title or "
                                    f"statement says {numbers}", rule.id,
                                    "change the words or the threshold so that they agree", "warning"))
    return problems


class Undecided(Exception):
    """The search for a patient met its step budget: say so rather than guess."""


class JointSearch:
    """Can some patient make several rules hold at once? Each derived fact a rule tests is replaced by
    the conditions of the rules that derive it (derived facts are only ever tested positively), and
    a depth-first search looks for input literals that do not contradict each other (never_holds).
    A patient found is the example an error message shows."""

    BUDGET = 200_000

    def __init__(self, rules: Sequence[Rule], forms: dict[str, list[list[cond.Literal]]]) -> None:
        self.forms = forms
        self.producers: dict[str, list[str]] = {}
        for rule in rules:
            for name in rule.derive:
                self.producers.setdefault(name, []).append(rule.id)
        # expand the derived fact with the fewest alternatives first: contradictions show soonest
        self.alternatives = {name: sum(len(forms[p]) for p in producers) for name, producers in self.producers.items()}

    def example(self, *rule_ids: str) -> Example | None:
        """A patient for whom every rule holds, or None if none can; Undecided past the budget."""
        self.steps = 0
        choices: list[list[cond.Literal]] = [[]]
        for rule_id in rule_ids:
            choices = [left + right for left in choices for right in self.forms[rule_id]]
        for conjunct in choices:
            found = self._search(conjunct, (), frozenset(), ())
            if found is not None:
                return found
        return None

    def _search(self, pending: list[cond.Literal], held: tuple[cond.Literal, ...],
                expanding: frozenset[str], through: tuple[str, ...]) -> Example | None:
        self.steps += 1
        if self.steps > self.BUDGET:
            raise Undecided
        if not pending:
            return Example(list(held), through)
        # input tests first (they prune), then the derived fact with the fewest alternatives
        index = min(range(len(pending)), key=lambda i: (pending[i].test.fact in self.producers,
                                                        self.alternatives.get(pending[i].test.fact, 0)))
        literal, rest = pending[index], pending[:index] + pending[index + 1:]
        fact = literal.test.fact
        if fact in self.producers and not literal.negated:
            if fact in expanding:  # derived already on this path (or a cycle, which the loader reports)
                return self._search(rest, held, expanding, through)
            for producer in self.producers[fact]:
                for conjunct in self.forms[producer]:
                    found = self._search(conjunct + rest, held, expanding | {fact}, (*through, producer))
                    if found is not None:
                        return found
            return None
        if literal in held:
            return self._search(rest, held, expanding, through)
        if never_holds([*held, literal]):
            return None
        return self._search(rest, (*held, literal), expanding, through)


def _example(literals: list[cond.Literal]) -> str:
    """The input tests of an example patient, in words a knowledge engineer reads."""
    shown = []
    for literal in sorted(literals, key=lambda lit: (lit.test.fact, lit.test.op, str(lit.test.value))):
        test = literal.test
        if test.op == "known":
            text = f"{test.fact} {'given' if test.value else 'unknown'}"
        elif test.op in cond.COMPARISONS:
            text = f"{test.fact} {cond.COMPARISONS[test.op]} {cond.show_value(test.value)}"
        elif test.op == "contains":
            text = f"{test.fact} {'lacks' if literal.negated else 'contains'} {cond.show_value(test.value)}"
        else:
            text = f"{test.fact} {'is not' if literal.negated else '='} {cond.show_value(test.value)}"
        shown.append(text)
    return ", ".join(shown) or "any patient"


ADVISING_KINDS = ("dosing", "early_initiation", "side_effects", "monitoring")
"""Advice that presumes IVIG is given: none may hold for a patient with a hard stop. Combination and
preparation advice may stand without IVIG (stop a statin in anti-HMGCR myopathy, review the
immunosuppression in inclusion body myositis), so those kinds are not held to it."""


def advised_despite_hard_stop(rules: Sequence[Rule], search: JointSearch) -> list[Problem]:
    """A rule giving a dose or IVIG advice that can hold for a contraindicated patient. The verdict's
    precedence (a hard stop first) is code and withholds the dose whatever the rules say; this names
    the rule that tried - the one that derived the way past the hard stop, else the advising rule
    itself - so such a knowledge base never loads."""
    by_id = {rule.id: rule for rule in rules}
    stops = [rule for rule in rules if rule.conclude and rule.conclude.kind == "contraindication"]
    found: dict[str, tuple[list[str], list[str], Example]] = {}  # culprit -> hard stops, advice, example
    problems = []

    def holds_with(rule_id: str, stop_id: str) -> bool:
        try:
            return search.example(rule_id, stop_id) is not None
        except Undecided:
            return True

    def culprit_of(rule: Rule, stop: Rule, example: Example) -> str:
        """The rule that derived a fact past its guard: it holds with the hard stop while another rule
        deriving the same fact cannot (`ivig_advised` without `no_known_hard_stop`)."""
        for rule_id in example.through:
            derives = by_id[rule_id].derive
            others = [p for name in derives for p in search.producers.get(name, []) if p != rule_id]
            if others and holds_with(rule_id, stop.id) and any(not holds_with(o, stop.id) for o in others):
                return rule_id
        return rule.id

    for rule in rules:
        if not (rule.dose is not None or (rule.conclude and rule.conclude.kind in ADVISING_KINDS)):
            continue
        if any(lit.negated and lit.test.fact in search.producers for conj in search.forms[rule.id] for lit in conj):
            continue  # a negated derived fact is already an error of its own (meaning.check_rules)
        for stop in stops:
            try:
                example = search.example(rule.id, stop.id)
            except Undecided:
                problems.append(Problem(rule.file, rule.line, 1, f"could not decide whether this rule can hold "
                                        f"with the hard stop '{stop.id}' ({stop.where})", rule.id,
                                        "simplify its condition, or require no_known_hard_stop", "warning"))
                continue
            if example is not None:
                stopped, advising, _ = found.setdefault(culprit_of(rule, stop, example), ([], [], example))
                stopped.append(stop.id) if stop.id not in stopped else None
                advising.append(rule.id) if rule.id not in advising else None
    for culprit_id, (stopped, advising, example) in found.items():
        culprit = by_id[culprit_id]
        what = ", ".join(f"'{a}'" for a in advising[:3]) + (f" and {len(advising) - 3} more" if len(advising) > 3
                                                            else "")
        problems.append(Problem(
            culprit.file, culprit.line, 1, "lets IVIG advice hold for a patient with a hard stop ("
            + ", ".join(f"'{s}' at {by_id[s].where}" for s in stopped) + f"), e.g. {example}: a contraindicated "
            f"patient would be given {what}", culprit.id,
            "require what the other advice requires (ivig_advised, which needs no_known_hard_stop)"))
    return problems


def dose_conflicts(rules: Sequence[Rule], search: JointSearch) -> list[Problem]:
    """Two rules giving the same part of the dose (a regimen, the weight basis, the preferred regimen)
    that can hold for one patient: which one the dose used would depend on firing order."""
    givers: dict[str, list[Rule]] = {}
    for rule in rules:
        for key in ("regimen", "weight_basis", "actual_weight_if_lower", "prefer_g_per_kg"):
            if rule.dose is not None and key in rule.dose:
                givers.setdefault(str(rule.dose["regimen"]) if key == "regimen" else key, []).append(rule)
    problems = []
    for part, giving in givers.items():
        for index, rule in enumerate(giving):
            for earlier in giving[:index]:
                if (rule.excludes and earlier.id in rule.excludes.rules) or (
                        earlier.excludes and rule.id in earlier.excludes.rules):
                    continue  # a stated precedence
                try:
                    example = search.example(rule.id, earlier.id)
                except Undecided:
                    example = Example([], ())
                if example is not None:
                    problems.append(Problem(
                        rule.file, rule.line, 1, f"gives the dose's '{part}' like '{earlier.id}' ({earlier.where}), "
                        f"and both can hold for one patient (e.g. {example}): the dose would depend on "
                        "which fired last", rule.id, "merge the two dose blocks, or make their conditions exclusive"))
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
