"""One consultation: run the rules, then assemble conclusions, dose and what is missing."""
from __future__ import annotations

from typing import Any
from collections.abc import Iterable, Mapping

from . import conditions as cond
from .backend import engine_for
from .dose import compute_dose
from .errors import EngineError, KnowledgeBaseError, Problem
from .model import KINDS, Conclusion, Consultation, Dose, Firing, KnowledgeBase, MissingFact
from .reasoning import evaluate_rules, input_dependencies

# A missing fact that could flip an indication matters more than one that adds a note.
DECISIVENESS = ("indication", "caution", "early_initiation", "dosing", "combination",
                "side_effects", "monitoring", "scope")


def consult(kb: KnowledgeBase, facts: Mapping[str, Any]) -> Consultation:
    """Advice for one patient whose facts are already normalized (see patient.normalize)."""
    trace = tuple(engine_for(kb).run(facts))
    fired = tuple(firing.rule for firing in trace)
    cross_check(kb, facts, fired)
    derived = tuple(name for firing in trace for name in firing.asserted)
    resolutions = _resolutions(kb, fired)
    conclusions = _conclusions(kb, trace)
    dose, dose_note = compute_dose(kb, fired, facts)
    return Consultation(
        patient=dict(facts), fired=fired, derived=derived, conclusions=conclusions,
        resolutions=resolutions, dose=dose, dose_note=dose_note,
        missing=tuple(find_missing(kb, facts)), trace=trace)


def cross_check(kb: KnowledgeBase, facts: Mapping[str, Any], fired: Iterable[str]) -> None:
    """The engine's firings must be exactly the direct evaluator's: otherwise no advice.

    The direct evaluation costs a fortieth of the engine's run; a disagreement means
    one of the two is wrong, and advice from either would be a guess.
    """
    engine, direct = set(fired), set(evaluate_rules(kb, facts).fired)
    if engine == direct:
        return
    given = ", ".join(f"{name}={cond.show_value(value)}" for name, value in sorted(facts.items())) or "none"
    only_engine, only_direct = sorted(engine - direct), sorted(direct - engine)
    raise EngineError(
        "the rule engine and the direct evaluator disagree on this patient, so no advice is given "
        f"(facts: {given}; fired only by the engine: {', '.join(only_engine) or 'none'}; "
        f"only by the direct evaluator: {', '.join(only_direct) or 'none'})")


def _resolutions(kb: KnowledgeBase, fired: tuple[str, ...]) -> tuple[tuple[str, str, str], ...]:
    found = []
    for rule_id in fired:
        rule = kb.rule(rule_id)
        if rule.excludes is None:
            continue
        if rule.excludes.rule in fired:
            raise KnowledgeBaseError([Problem(
                rule.file, rule.line, 1,
                f"'{rule.id}' and '{rule.excludes.rule}' both hold for this patient, but the first "
                "excludes the second: the knowledge base contradicts itself here", rule.id,
                "make their conditions mutually exclusive")])
        found.append((rule.id, rule.excludes.rule, rule.excludes.resolution))
    return tuple(found)


def _conclusions(kb: KnowledgeBase, trace: tuple[Firing, ...]) -> tuple[Conclusion, ...]:
    by_rule = {firing.rule: firing for firing in trace}
    derived_by = {name: firing for firing in trace for name in firing.asserted}

    def rests_on(firing: Firing, rules: list[str], facts: list[str]) -> None:
        if firing.rule not in rules:
            rules.append(firing.rule)
        for fact in firing.matched:
            if fact.origin == "derived":
                rests_on(derived_by[fact.name], rules, facts)
            elif fact.name not in facts:
                facts.append(fact.name)

    found = []
    for firing in trace:
        rule = kb.rule(firing.rule)
        if rule.conclude is None:
            continue
        rules: list[str] = []
        facts: list[str] = []
        rests_on(by_rule[rule.id], rules, facts)
        found.append((KINDS.index(rule.conclude.kind), rule.file, rule.line, Conclusion(
            id=rule.id, kind=rule.conclude.kind, statement=rule.conclude.statement, rule=rule.id,
            sources=rule.provenance.sources, local_policy=rule.provenance.local_policy,
            rests_on_rules=tuple(rules), rests_on_facts=tuple(sorted(facts)),
            therapy_class=rule.conclude.therapy_class, outside_scope=rule.conclude.outside_scope)))
    return tuple(item[-1] for item in sorted(found, key=lambda item: item[:3]))


# ---------------------------------------------------------------- what is missing
def candidate_values(kb: KnowledgeBase, name: str) -> list[Any]:
    """Values worth trying for an unknown fact: every category, and both sides of each threshold."""
    spec = kb.facts[name]
    if spec.type == "bool":
        return [True, False]
    if spec.type == "enum":
        return list(spec.values)
    if spec.type == "list":
        return [[]] + [[value] for value in spec.values]
    low, high = spec.range or (0, 0)
    points = {low, high}
    for rule in kb.rules:
        for test in cond.tests(rule.when):
            if test.fact == name and test.op in cond.COMPARISONS:
                points.update({test.value - 1, test.value, test.value + 1})
    return sorted(p for p in points if low <= p <= high)


def _outcome(kb: KnowledgeBase, facts: Mapping[str, Any]) -> tuple[frozenset[str], Dose | None]:
    fired = evaluate_rules(kb, facts).fired
    conclusions = frozenset(r for r in fired if kb.rule(r).conclude)
    return conclusions, compute_dose(kb, fired, facts)[0]


def find_missing(kb: KnowledgeBase, facts: Mapping[str, Any],
                 names: Iterable[str] | None = None) -> list[MissingFact]:
    """Unknown facts that, given one value or another, would change the advice; most decisive first.

    Each unknown fact is tried alone at every candidate value, and together with each
    unknown fact it shares a rule with (sex and height are only useful together).
    """
    base_conclusions, base_dose = _outcome(kb, facts)
    wanted = [name for name in (names if names is not None else kb.facts) if name not in facts]
    unknown = [name for name in kb.facts if name not in facts]
    changed: dict[str, set[str]] = {name: set() for name in unknown}
    dose_changes: dict[str, bool] = {name: False for name in unknown}

    def attempt(assignment: dict[str, Any]) -> None:
        conclusions, dose = _outcome(kb, {**facts, **assignment})
        difference = conclusions ^ base_conclusions
        for name in assignment:
            changed[name] |= difference
            dose_changes[name] = dose_changes[name] or dose != base_dose

    for name in unknown:
        for value in candidate_values(kb, name):
            attempt({name: value})
    for first, second in _shared_rule_pairs(kb, unknown):
        for one in candidate_values(kb, first):
            for other in candidate_values(kb, second):
                attempt({first: one, second: other})
    # Rules that need several answers at once: still open when unknowns may become known.
    possible = evaluate_rules(kb, facts, open_world=True)
    settled = frozenset(name for name, truth in evaluate_rules(kb, facts).derived.items() if truth)
    depends = input_dependencies(kb, settled)
    for rule in kb.rules:
        if rule.conclude and possible.rules[rule.id] is None and rule.id not in base_conclusions:
            for name in depends[rule.id] & set(unknown):
                changed[name].add(rule.id)
                if rule.dose is not None:
                    dose_changes[name] = True

    missing = []
    for name in wanted:
        if not changed[name] and not dose_changes[name]:
            continue
        kinds = {kb.rule(r).conclude.kind for r in changed[name]}  # type: ignore[union-attr]
        if dose_changes[name]:
            kinds.add("dosing")
        decisive = min(kinds, key=DECISIVENESS.index)
        missing.append(MissingFact(name, kb.facts[name].question, tuple(sorted(changed[name])),
                                   dose_changes[name], decisive))
    missing.sort(key=lambda m: (DECISIVENESS.index(m.decisive_kind), -len(m.could_change), m.fact))
    return missing


def _shared_rule_pairs(kb: KnowledgeBase, unknown: list[str]) -> list[tuple[str, str]]:
    """Pairs of unknown facts that one rule tests together under `all`."""
    pairs: set[tuple[str, str]] = set()
    wanted = set(unknown)
    for rule in kb.rules:
        for conjunct in cond.to_dnf(rule.when):
            names = sorted({lit.test.fact for lit in conjunct} & wanted)
            pairs.update((a, b) for i, a in enumerate(names) for b in names[i + 1:])
    return sorted(pairs)
