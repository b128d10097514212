"""The durable_rules engine against the direct evaluator, and its durable_rules pitfalls."""
from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.backend import DurableEngine, working_memory
from myoivig.engine.consult import engine_for
from myoivig.engine.model import FactSpec
from myoivig.engine.reasoning import evaluate_rules

from .conftest import KB_DIR


def fact_values(spec: FactSpec) -> st.SearchStrategy[Any]:
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "enum":
        return st.sampled_from(spec.values)
    if spec.type == "list":
        return st.lists(st.sampled_from(spec.values), unique=True, max_size=3).map(sorted)
    low, high = spec.range or (0, 100)
    return st.integers(int(low), int(high)) | st.sampled_from([17, 18, 65, 66, 6, 7])


def patients(kb: KnowledgeBase) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the vocabulary, each fact at any allowed value: unknowns included."""
    return st.fixed_dictionaries({}, optional={name: fact_values(spec) for name, spec in kb.facts.items()})


def test_engine_and_direct_evaluator_agree_on_every_patient(kb: KnowledgeBase) -> None:
    engine = DurableEngine(kb)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(patients(kb))
    def check(facts: dict[str, Any]) -> None:
        fired = [firing.rule for firing in engine.run(facts)]
        assert len(fired) == len(set(fired))
        assert sorted(fired) == sorted(evaluate_rules(kb, facts).fired)

    check()


def test_conflicting_conclusions_never_appear_together(kb: KnowledgeBase) -> None:
    exclusions = [(rule.id, rule.excludes.rule) for rule in kb.rules if rule.excludes]
    assert exclusions == [("combination.without_corticosteroids", "combination.corticosteroids")]

    @settings(max_examples=200, deadline=None)
    @given(patients(kb))
    def check(facts: dict[str, Any]) -> None:
        fired = set(evaluate_rules(kb, facts).fired)
        for winner, loser in exclusions:
            assert not {winner, loser} <= fired

    check()


def test_the_resolution_is_reported(kb: KnowledgeBase) -> None:
    facts = normalize(kb, {"diagnosis": "DM", "flare": True, "corticosteroid_contraindicated": True})
    consultation = consult(kb, facts)
    assert [r[:2] for r in consultation.resolutions] == [("combination.without_corticosteroids",
                                                          "combination.corticosteroids")]
    assert "contraindication wins" in consultation.resolutions[0][2]


def test_derived_facts_chain_forward(kb: KnowledgeBase) -> None:
    facts = normalize(kb, {"diagnosis": "PM", "severity": "severe", "age_years": 40})
    trace = consult(kb, facts).trace
    order = [firing.rule for firing in trace]
    finding = order.index("finding.severe_or_rapidly_progressive")
    indication = order.index("indication.severe_or_rapidly_progressive")
    assert finding < indication
    assert trace[indication].asserted == ("ivig_indicated",)
    assert order.index("dosing.standard_regimen") > indication
    matched = {m.name: (m.value, m.origin) for m in trace[indication].matched}
    assert matched["severe_or_rapidly_progressive"] == (True, "derived")


def test_unknown_fact_is_asserted_as_unknown_not_false(kb: KnowledgeBase) -> None:
    memory = {fact["name"]: fact for fact in working_memory(kb, {"dysphagia": True, "autoantibodies": []})}
    assert memory["dysphagia"] == {"id": "in:dysphagia", "name": "dysphagia", "known": True, "value": True}
    assert memory["flare"] == {"id": "in:flare", "name": "flare", "known": False}
    assert memory["autoantibodies:anti_hmgcr"]["value"] is False  # tested, none found
    assert "value" not in memory["severity"]


def test_a_negated_test_never_holds_on_an_unknown_fact(kb: KnowledgeBase) -> None:
    # combination.corticosteroids needs corticosteroid_contraindicated known to be false
    facts = normalize(kb, {"diagnosis": "DM", "dysphagia": True, "age_years": 50})
    fired = set(consult(kb, facts).fired)
    assert "combination.corticosteroids" not in fired
    assert "combination.without_corticosteroids" not in fired
    facts["corticosteroid_contraindicated"] = False
    assert "combination.corticosteroids" in set(consult(kb, facts).fired)


def test_sessions_are_deleted_so_many_patients_fit(kb: KnowledgeBase) -> None:
    engine = DurableEngine(kb)  # durable allows 1,024 live sessions per ruleset
    for index in range(1100):
        engine.run({"diagnosis": "dermatomyositis", "dysphagia": index % 2 == 0})


def test_one_engine_per_knowledge_base(kb: KnowledgeBase) -> None:
    assert engine_for(kb) is engine_for(kb)


def test_nnf_keeps_three_valued_truth() -> None:
    condition = cond.parse({"not": {"any": [{"age_years": {"lt": 18}}, {"diagnosis": "other"}]}})
    dnf = cond.to_dnf(condition)
    assert [[lit.describe() for lit in conj] for conj in dnf] == [["age_years >= 18", "not diagnosis = other"]]
    for facts in ({}, {"age_years": 20}, {"age_years": 20, "diagnosis": "other"},
                  {"age_years": 10, "diagnosis": "dermatomyositis"}, {"age_years": 30, "diagnosis": "polymyositis"}):
        holds = any(all(cond.evaluate_literal(lit, facts) for lit in conj) for conj in dnf)
        assert holds == (cond.evaluate(condition, facts) is True)


@pytest.mark.parametrize("facts,single,either,both", [
    ({}, None, None, None),
    ({"a": 1}, True, True, None),
    ({"a": 5}, False, None, False),          # false or unknown is unknown; false and unknown is false
    ({"a": 5, "b": True}, False, True, False),
    ({"a": 1, "b": False}, True, True, False),
])
def test_three_valued_evaluation(facts: dict, single: Any, either: Any, both: Any) -> None:
    assert cond.evaluate(cond.parse({"a": {"lt": 3}}), facts) is single
    assert cond.evaluate(cond.parse({"any": [{"a": {"lt": 3}}, {"b": True}]}), facts) is either
    assert cond.evaluate(cond.parse({"all": [{"a": {"lt": 3}}, {"b": True}]}), facts) is both
    negated = cond.evaluate(cond.parse({"not": {"a": {"lt": 3}}}), facts)
    assert negated is (None if single is None else not single)


def test_the_shipped_knowledge_base_has_no_warnings() -> None:
    from myoivig.engine import check_knowledge_base
    kb, problems = check_knowledge_base(KB_DIR)
    assert kb is not None
    assert [str(p) for p in problems] == []
