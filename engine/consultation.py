"""One consultation: run the rules, cross-check them, then assemble verdict, conclusions, dose and what is missing."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from . import conditions as cond
from .dose import WEIGHT_FACTS, advised_dose, dosable, dose_blocks, usable, withheld_by
from .durable_engine import engine_for
from .errors import EngineError, KnowledgeBaseError, Problem, shown
from .evaluator import Evaluation, evaluate_rules
from .missing import find_missing
from .model import KIND_ORDER, Conclusion, Consultation, Firing, KnowledgeBase, Verdict
from .verdict import VERDICTS, decide


# A missing fact that could flip an indication matters more than one that adds a note.
def consult(kb: KnowledgeBase, facts: Mapping[str, Any], *, ask: bool = True) -> Consultation:
    """Advice for one patient whose facts are already normalized (see patient.normalize). `ask=False`
    skips the search for missing facts (most of a consultation's cost), for callers that compare
    conclusions and doses only (kb diff); every surface a clinician reads asks."""
    trace = tuple(engine_for(kb).run(facts))
    fired = tuple(firing.rule for firing in trace)
    evaluation = evaluate_rules(kb, facts)
    cross_check(kb, facts, fired, evaluation)
    derived = tuple(name for firing in trace for name in firing.asserted)
    verdict = decide(kb, evaluation)
    conclusions = _conclusions(kb, trace)
    computed = advised_dose(kb, verdict.value, fired, facts)
    dose = usable(computed)
    warnings = tuple((c.id, c.statement) for c in conclusions if c.kind == "warning") + (
        computed.warnings if computed else ())
    missing = tuple(find_missing(kb, facts, evaluation=evaluation)) if ask else ()
    if VERDICTS[verdict.value].open:
        better = {v.name for v in VERDICTS.values() if v.ivig_indicated} - {verdict.value}
        verdict = replace(verdict, open_facts=tuple(m.fact for m in missing if better & set(m.verdicts)))
    return Consultation(
        patient=dict(facts), fired=fired, derived=derived, conclusions=conclusions,
        resolutions=_resolutions(kb, fired), dose=dose,
        dose_note=None if dose else (
            f"No dose until the facts are checked: {' '.join(text for _, text in computed.warnings)}"
            if computed else _no_dose(kb, verdict, fired, facts)),
        missing=missing, trace=trace, verdict=verdict, warnings=warnings)


def _no_dose(kb: KnowledgeBase, verdict: Verdict, fired: tuple[str, ...], facts: Mapping[str, Any]) -> str:
    """Why there is no dose, in the clinician's terms: the verdict, or the facts the weight needs."""
    if not VERDICTS[verdict.value].ivig_indicated or not any(kb.rule(rule_id).dose for rule_id in fired):
        return VERDICTS[verdict.value].no_dose
    if withheld := withheld_by(kb, fired):
        checks = " ".join(kb.rule(rule_id).conclude.statement for rule_id in withheld)  # type: ignore[union-attr]
        return f"No dose until the facts are checked: {checks}"
    if dosable(dose_blocks(kb, fired)):  # every fact was given: the formula gave no weight
        return (f"No dose: the ideal body weight of a {facts['sex']} {cond.show_value(facts['height_cm'])} cm tall "
                "is not above 0 kg; check the height.")
    needed = [name for name in WEIGHT_FACTS if name not in facts]
    return (f"No dose: {' and '.join(needed) or ' and '.join(WEIGHT_FACTS)} not given; the dosing "
            "weight is the ideal body weight, which needs sex and height.")


def cross_check(kb: KnowledgeBase, facts: Mapping[str, Any], fired: Iterable[str],
                evaluation: Evaluation | None = None) -> None:
    """The engine's firings must be exactly the direct evaluator's: otherwise no advice.

    The direct evaluation costs a fortieth of the engine's run; a disagreement means
    one of the two is wrong, and advice from either would be a guess.
    """
    engine, direct = set(fired), set((evaluation or evaluate_rules(kb, facts)).fired)
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
        for excluded in rule.excludes.rules:
            if excluded in fired:
                raise KnowledgeBaseError([Problem(
                    shown(kb.root / rule.file), rule.line, 1,
                    f"'{rule.id}' and '{excluded}' both hold for this patient, but the first "
                    "excludes the second: the knowledge base contradicts itself here", rule.id,
                    "make their conditions mutually exclusive")])
            found.append((rule.id, excluded, rule.excludes.resolution))
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
        found.append((KIND_ORDER[rule.conclude.kind], rule.file, rule.line, Conclusion(
            id=rule.id, kind=rule.conclude.kind, statement=rule.conclude.statement, rule=rule.id,
            sources=rule.provenance.sources, local_policy=rule.provenance.local_policy,
            rests_on_rules=tuple(rules), rests_on_facts=tuple(sorted(facts)),
            therapy_class=rule.conclude.therapy_class, outside_scope=rule.conclude.outside_scope,
            strength=rule.conclude.strength)))
    return tuple(item[-1] for item in sorted(found, key=lambda item: item[:3]))
