"""The verdict: the one answer to "IVIG for this patient?", decided here and nowhere else.

It is read off the three-valued evaluation of the rules, so that "unknown" stays
unknown: a route to IVIG that an unknown fact could still open makes the verdict
`undetermined`, never `not_indicated`. The text headline, JSON, graphs, `explain`
and `kb test` all read `Consultation.verdict`.
"""
from __future__ import annotations

from .evaluator import Evaluation
from .model import STRENGTHS, VERDICTS, KnowledgeBase, Verdict, VerdictSpec

__all__ = ["VERDICTS", "VerdictSpec", "decide"]


def decide(kb: KnowledgeBase, evaluation: Evaluation) -> Verdict:
    """A hard stop, then scope, then the strongest route that holds, then whether any is still open."""
    truths = evaluation.rules
    stops_of, outside_of = kb.verdict_rules
    if stops := tuple(rule_id for rule_id in stops_of if truths[rule_id] is True):
        return Verdict("contraindicated", None, stops)
    if outside := tuple(rule_id for rule_id in outside_of if truths[rule_id] is True):
        return Verdict("out_of_scope", None, outside)
    held = {rule.id: kb.route_strengths[rule.id] for rule in kb.routes if truths[rule.id] is True}
    if held:
        strongest = min(held.values(), key=list(STRENGTHS).index)
        value = STRENGTHS[strongest].verdict
        deciding = tuple(rule_id for rule_id, strength in held.items() if STRENGTHS[strength].verdict == value)
        return Verdict(value, STRENGTHS[strongest].words, deciding)
    still_open = tuple(rule.id for rule in kb.routes if truths[rule.id] is None)
    if still_open:
        return Verdict("undetermined", None, still_open)  # which facts could open them: engine/missing.py
    return Verdict("not_indicated", None, ())
