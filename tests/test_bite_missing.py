"""The missing-fact search on a small knowledge base: the exact values tried, and two unknowns that
matter only together.

Written from the mutation survivors of engine/missing.py: the threshold candidates were never
listed exactly, and no test needed the search over pairs of unknown facts.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, find_missing
from myoivig.engine import conditions as cond
from myoivig.engine.missing import candidate_values
from myoivig.engine.model import ConclusionSpec, FactSpec, MissingFact, Provenance, Rule
from myoivig.engine.yamlio import parse_yaml


def fact(name: str, type_: str, **spec: Any) -> FactSpec:
    return FactSpec(name, type_, f"the {name}", f"{name}?", **spec)


def rule(rule_id: str, when: str, kind: str) -> Rule:
    return Rule(rule_id, rule_id, cond.parse(parse_yaml(when)), "rules.yaml", 1, Provenance(local_policy="an example"),
                conclude=ConclusionSpec(kind, rule_id))


@pytest.fixture(scope="module")
def small(kb: KnowledgeBase) -> KnowledgeBase:
    """Two booleans that stop IVIG only together, and two numbers with thresholds inside and at their ranges."""
    facts = [fact("a", "bool"), fact("b", "bool"), fact("n", "number", range=(0, 10)),
             fact("m", "number", range=(0, 10)), fact("kind", "enum", values=("x", "y")),
             fact("tags", "list", values=("p", "q"))]
    return replace(kb, facts={f.name: f for f in facts}, derived={}, rules=(
        rule("stop.both", "all: [{a: true}, {b: true}]", "contraindication"),
        rule("caution.n", "n: {gt: 5}", "caution"),
        rule("caution.m", "m: {lt: 2.5}", "caution"),
        rule("caution.edges", "all: [{n: {gte: 10}}, {m: {lte: 0}}]", "caution")))


@pytest.mark.parametrize("name, values", [
    ("n", [0, 4, 5, 6, 9, 10]),          # each threshold and one either side, within the range, ends included
    ("m", [0, 1, 1.5, 2.5, 3.5, 10]),    # -1 lies outside the range; another fact's thresholds do not count
    ("a", [True, False]),
    ("kind", ["x", "y"]),
    ("tags", [[], ["p"], ["q"]]),
])
def test_the_values_tried_for_an_unknown_fact(small: KnowledgeBase, name: str, values: list[Any]) -> None:
    """An answer one unit past a threshold must be tried, or a change of advice there goes unasked."""
    assert candidate_values(small, name) == values


def test_two_unknowns_that_stop_ivig_only_together_each_could_lead_to_contraindicated(small: KnowledgeBase) -> None:
    """Only the pair (a, b) reaches the hard stop, so each must say it could change the verdict."""
    stop = (("stop.both",), False, "contraindication", ("contraindicated",), "hard_stop")
    assert find_missing(small, {}, ["a", "b"]) == [MissingFact("a", "a?", *stop), MissingFact("b", "b?", *stop)]
    assert find_missing(small, {"a": True}, ["b"]) == [MissingFact("b", "b?", *stop)]
