"""What is missing: unknown facts whose answer could change the advice, safety questions first.

Each unknown fact is tried at every value worth trying, alone and with each
unknown fact it shares a rule with, through the direct evaluator (fast, and the
same rules); what changes - the verdict, a hard stop, a caution, the dose, other
advice - decides how early it is asked.

Done exactly, but only once each:
- a value is tried only if the rules can tell it from the values already tried
  (`distinct_values`; every value of a fact the dose arithmetic reads);
- a trial evaluates again only the rules its answers reach (`evaluate_changed`);
- the conclusions, verdict and dose of a trial follow from which rules changed and
  what the dose reads: two trials alike in both share one outcome, and the verdict
  and dose are decided again only when a rule started or stopped firing or a route
  opened or closed.
The exhaustive search (every value, every rule, verdict and dose for every trial) is
kept as `exhaustive=True`: the tests and `make differential` hold the two equal.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from . import conditions as cond
from .conditions import Truth
from .dose import DOSE_INPUTS, advised_dose, usable
from .evaluator import Evaluation, evaluate_changed, evaluate_rules, input_dependencies
from .model import KIND_ORDER, STRENGTHS, VERDICTS, Dose, KnowledgeBase, MissingFact, VerdictName
from .verdict import decide

CONCERNS = ("hard_stop", "verdict", "caution", "dose", "other")
"""Why a missing fact is asked, in the order it is asked: safety before a second reason."""


def candidate_values(kb: KnowledgeBase, name: str) -> list[Any]:
    """Values worth trying for an unknown fact: every category, and both sides of each threshold."""
    return [list(value) if isinstance(value, list) else value for value in kb.candidate_values[name]]


def distinct_values(kb: KnowledgeBase, name: str) -> list[Any]:
    """The candidate values the rules can tell apart: the first of each class of values that every test
    of the knowledge base on this fact judges alike (what else reads a value is the dose: DOSE_INPUTS)."""
    return [list(value) if isinstance(value, list) else value for value in kb.distinct_values[name]]


Outcome = tuple[frozenset[str], Dose | None, VerdictName]
"""What a trial is judged by: the conclusions that fire, the dose (without the course count) and the verdict."""


def _outcome(kb: KnowledgeBase, facts: Mapping[str, Any], evaluation: Evaluation | None = None) -> Outcome:
    evaluation = evaluation or evaluate_rules(kb, facts)
    fired = evaluation.fired
    conclusions = frozenset(r for r in fired if kb.rule(r).conclude)
    verdict = decide(kb, evaluation).value
    dose = usable(advised_dose(kb, verdict, fired, facts))
    # the course number is a count, not a change of dose
    return conclusions, dose and replace(dose, next_course=None), verdict


class _Trials:
    """The outcome of the patient with a few unknown facts answered, from the patient's own evaluation.

    Two trials that change the same rules the same way, with the same answers to what the dose arithmetic
    reads, have the same outcome: it is worked out once (`outcomes`), and so is each dose (`doses`).
    """

    def __init__(self, kb: KnowledgeBase, facts: Mapping[str, Any], exhaustive: bool,
                 evaluation: Evaluation | None) -> None:
        self.kb, self.facts, self.exhaustive = kb, facts, exhaustive
        self.evaluation = evaluation or evaluate_rules(kb, facts)
        self.view = self.evaluation.view(facts)
        self.base = _outcome(kb, facts, self.evaluation)
        self.routes = frozenset(rule.id for rule in kb.routes)
        self.concluding = frozenset(rule.id for rule in kb.rules if rule.conclude)
        self.outcomes: dict[Any, Outcome] = {}
        self.doses: dict[Any, Dose | None] = {}

    def values(self, name: str) -> list[Any]:
        """The values to try: one of each class of values the rules cannot tell apart (all of them for the
        exhaustive search, and for a fact the dose arithmetic reads)."""
        if self.exhaustive or name in DOSE_INPUTS:
            return candidate_values(self.kb, name)
        return distinct_values(self.kb, name)

    def outcome(self, changes: Mapping[str, Any]) -> Outcome:
        trial = {**self.facts, **changes}
        if self.exhaustive:
            return _outcome(self.kb, trial)
        evaluation = evaluate_changed(self.kb, self.evaluation, self.facts, changes, self.view)
        after, rules = evaluation.rules, self.kb.rules
        flips = tuple((position, after[rules[position].id]) for position in evaluation.changed)
        key = (flips, tuple(sorted((name, repr(value)) for name, value in changes.items() if name in DOSE_INPUTS)))
        if key not in self.outcomes:
            self.outcomes[key] = self._outcome(evaluation, flips, trial, changes)
        return self.outcomes[key]

    def _outcome(self, evaluation: Evaluation, flips: tuple[tuple[int, Truth], ...], trial: Mapping[str, Any],
                 changes: Mapping[str, Any]) -> Outcome:
        conclusions, _, verdict = self.base
        rules = self.kb.rules
        material = False
        for position, truth in flips:
            rule_id = rules[position].id
            old = self.evaluation.rules[rule_id]
            if (old is True) != (truth is True):
                material = True
                if rule_id in self.concluding:
                    conclusions = conclusions ^ {rule_id}
            elif rule_id in self.routes and (old is None) != (truth is None):
                material = True  # a route became open or closed (an unknown rule becoming false changes nothing)
        if material:
            verdict = decide(self.kb, evaluation).value
        elif DOSE_INPUTS.isdisjoint(changes):  # the same rules hold and the arithmetic reads none of the answers
            return self.base
        return conclusions, self._dose(verdict, evaluation, trial), verdict

    def _dose(self, verdict: VerdictName, evaluation: Evaluation, trial: Mapping[str, Any]) -> Dose | None:
        truths = evaluation.rules
        fired = tuple(rule_id for rule_id in self.kb.dose_rules if truths[rule_id] is True)
        key = (VERDICTS[verdict].ivig_indicated, fired, tuple(repr(trial.get(name)) for name in sorted(DOSE_INPUTS)))
        if key not in self.doses:
            dose = usable(advised_dose(self.kb, verdict, fired, trial))
            self.doses[key] = dose and replace(dose, next_course=None)
        return self.doses[key]


def find_missing(kb: KnowledgeBase, facts: Mapping[str, Any], names: Iterable[str] | None = None, *,
                 exhaustive: bool = False, evaluation: Evaluation | None = None) -> list[MissingFact]:
    """Unknown facts that, given one value or another, would change the advice; safety first.
    `evaluation`: evaluate_rules(kb, facts), when the caller has it already."""
    trials = _Trials(kb, facts, exhaustive, evaluation)
    base_conclusions, base_dose, base_verdict = trials.base
    wanted = [name for name in (names if names is not None else kb.facts) if name not in facts
              and _asked(kb.facts[name].asked, kb.facts[name].ask_when, facts)]
    unknown = [name for name in kb.facts if name not in facts]
    changed: dict[str, set[str]] = {name: set() for name in unknown}
    dose_changes = dict.fromkeys(unknown, False)
    verdicts: dict[str, set[str]] = {name: set() for name in unknown}

    single: dict[tuple[str, str], Outcome] = {}

    def alone(name: str, value: Any) -> Outcome:
        key = (name, repr(value))
        if key not in single:
            single[key] = trials.outcome({name: value})
        return single[key]

    def credit(name: str, before: Outcome, after: Outcome) -> None:
        changed[name] |= after[0] ^ before[0]
        dose_changes[name] = dose_changes[name] or after[1] != before[1]
        if after[2] != before[2]:
            verdicts[name].add(after[2])

    base = (base_conclusions, base_dose, base_verdict)
    for name in unknown:
        for value in trials.values(name):
            credit(name, base, alone(name, value))
    for first, second in _shared_rule_pairs(kb, unknown):
        for one in trials.values(first):
            for other in trials.values(second):
                both = trials.outcome({first: one, second: other})
                credit(second, alone(first, one), both)  # what answering `second` adds to `first`
                credit(first, alone(second, other), both)
    # Rules that need several answers at once: still open when unknowns may become known.
    possible = evaluate_rules(kb, facts, open_world=True)
    settled = frozenset(name for name, truth in trials.evaluation.derived.items() if truth)
    closed = frozenset(rule_id for rule_id, truth in possible.rules.items() if truth is False)
    depends = input_dependencies(kb, settled, closed)
    routes = {rule.id for rule in kb.routes}
    for rule in kb.rules:
        if rule.conclude and possible.rules[rule.id] is None and rule.id not in base_conclusions:
            for name in depends[rule.id] & set(unknown):
                changed[name].add(rule.id)
                if rule.dose is not None:
                    dose_changes[name] = True
                if rule.id in routes and VERDICTS[base_verdict].open:
                    verdicts[name].add(STRENGTHS[rule.conclude.strength or ""].verdict)

    missing = []
    for name in wanted:
        if not changed[name] and not dose_changes[name] and not verdicts[name]:
            continue
        kinds = {kb.rule(r).conclude.kind for r in changed[name]}  # type: ignore[union-attr]
        if kinds <= {"warning"} and not dose_changes[name] and not verdicts[name]:
            continue  # a warning checks the facts given; a fact that could only raise one is not asked for
        if dose_changes[name]:
            kinds.add("dosing")
        if not kinds:  # only the verdict changes: an answer opens or closes a route, which no conclusion shows
            kinds.add("indication")
        other_verdicts = verdicts[name] - {base_verdict}  # an open route to today's verdict changes nothing
        concern = ("hard_stop" if "contraindicated" in other_verdicts or "contraindication" in kinds
                   else "verdict" if other_verdicts else "caution" if "caution" in kinds
                   else "dose" if dose_changes[name] else "other")
        missing.append(MissingFact(name, kb.facts[name].question, tuple(sorted(changed[name])),
                                   dose_changes[name], min(kinds, key=KIND_ORDER.__getitem__),
                                   tuple(sorted(other_verdicts)), concern))
    missing.sort(key=lambda m: (CONCERNS.index(m.concern), KIND_ORDER[m.decisive_kind],
                                -len(m.could_change), m.fact))
    return missing


def _asked(asked: bool, when: cond.Condition | None, facts: Mapping[str, Any]) -> bool:
    """A fact read from the record is never asked; one with `ask_when` only once that holds."""
    return asked and (when is None or cond.evaluate(when, facts) is True)


def _shared_rule_pairs(kb: KnowledgeBase, unknown: list[str]) -> list[tuple[str, str]]:
    """Pairs of unknown facts that one rule tests together under `all`."""
    wanted = set(unknown)
    return [(a, b) for a, b in kb.shared_pairs if a in wanted and b in wanted]
