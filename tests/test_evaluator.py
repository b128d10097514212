"""The direct evaluator, whole: three-valued rule truths in dependency order, derived facts that
are unknown stay out of what later rules see, and the input facts (and rules) each rule rests on.
"""
from __future__ import annotations

import pytest

from myoivig.engine import KnowledgeBase
from myoivig.engine.evaluator import Evaluation, _or, evaluate_rules, input_dependencies, upstream_rules
from myoivig.engine.model import FactSpec

from .builders import knowledge_base, rule


@pytest.fixture(scope="module")
def chain() -> KnowledgeBase:
    facts = {name: FactSpec(name, "bool", name, "?") for name in ("a", "b", "c", "k")}
    rules = (rule("make.d", "a: true", derive=("d",)), rule("make.d2", "b: true", derive=("d",)),
             rule("make.e", "all: [{d: true}, {c: true}]", derive=("e",)),
             rule("use.e", "e: true"), rule("no.d", "d: {known: false}"), rule("plain", "k: true"))
    return knowledge_base(*rules, facts=facts.values(), derived=("d", "e"), name="c")


@pytest.mark.parametrize("left, right, result", [
    (True, True, True), (True, False, True), (False, True, True), (True, None, True), (None, True, True),
    (False, False, False), (False, None, None), (None, False, None), (None, None, None),
])
def test_a_derived_fact_made_by_several_rules_is_their_kleene_or(left: bool | None, right: bool | None,
                                                                 result: bool | None) -> None:
    assert _or(left, right) is result


def test_rules_are_judged_in_order_and_derived_facts_chain(chain: KnowledgeBase) -> None:
    """a true makes d whatever b is; d and c make e; a derived fact never derived is false, not unknown."""
    evaluation = evaluate_rules(chain, {"a": True, "c": True})
    assert dict(evaluation.rules) == {"make.d": True, "make.d2": None, "make.e": True, "use.e": True,
                                      "no.d": False, "plain": None}
    assert dict(evaluation.derived) == {"d": True, "e": True}
    assert evaluation.fired == ["make.d", "make.e", "use.e"]
    assert evaluation.order == ("make.d", "make.d2", "make.e", "use.e", "no.d", "plain")
    assert evaluation.view({"a": True}) == {"a": True, "d": True, "e": True}
    none = evaluate_rules(chain, {"a": False, "b": False, "k": True})
    assert dict(none.derived) == {"d": False, "e": False}
    assert none.fired == ["plain"]  # d is known false, so `d is unknown` fails


def test_an_unknown_derived_fact_is_left_out_of_what_later_rules_see(chain: KnowledgeBase) -> None:
    """d unknown: `d is unknown` holds in the closed world, and e is unknown too, not false."""
    evaluation = evaluate_rules(chain, {"a": False, "c": True})
    assert dict(evaluation.derived) == {"d": None, "e": None}
    assert evaluation.rules["no.d"] is True and evaluation.rules["use.e"] is None
    assert evaluation.view({"a": False}) == {"a": False}
    assert evaluate_rules(chain, {"a": False, "c": True}, open_world=True).rules["no.d"] is None
    later = evaluate_rules(chain, {"a": False, "b": True, "c": False})
    assert dict(later.derived) == {"d": True, "e": False} and later.rules["no.d"] is False


def test_the_input_facts_each_rule_rests_on(chain: KnowledgeBase) -> None:
    """Through derived facts; a derived fact already settled true no longer needs its inputs."""
    assert input_dependencies(chain) == {
        "make.d": frozenset({"a"}), "make.d2": frozenset({"b"}), "make.e": frozenset({"a", "b", "c"}),
        "use.e": frozenset({"a", "b", "c"}), "no.d": frozenset({"a", "b"}), "plain": frozenset({"k"})}
    settled = input_dependencies(chain, frozenset({"d"}))
    assert settled["make.e"] == frozenset({"c"}) and settled["use.e"] == frozenset({"c"})
    assert settled["no.d"] == frozenset()


def test_the_rules_upstream_of_each_rule(chain: KnowledgeBase) -> None:
    assert upstream_rules(chain) == {
        "make.d": frozenset({"make.d"}), "make.d2": frozenset({"make.d2"}),
        "make.e": frozenset({"make.e", "make.d", "make.d2"}),
        "use.e": frozenset({"use.e", "make.e", "make.d", "make.d2"}),
        "no.d": frozenset({"no.d", "make.d", "make.d2"}), "plain": frozenset({"plain"})}


def test_an_evaluation_view_keeps_the_input_and_adds_known_derived_facts() -> None:
    evaluation = Evaluation({"r": True}, {"d": True, "e": None, "f": False}, ("r",))
    assert evaluation.view({"a": 1}) == {"a": 1, "d": True, "f": False}
