"""The durable_rules engine against the direct evaluator, and its durable_rules pitfalls."""
from __future__ import annotations

import dataclasses
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myoivig.engine import EngineError, KnowledgeBase, consult, durable_engine, load_knowledge_base, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.durable_engine import DurableEngine, engine_for, flag_field, patient_fact
from myoivig.engine.evaluator import evaluate_rules
from myoivig.engine.model import FactSpec
from myoivig.engine.population import generate

from .conftest import KB_DIR


def thresholds(kb: KnowledgeBase, name: str) -> list[float]:
    return sorted({t.value for rule in kb.rules for t in cond.tests(rule.when)
                   if t.fact == name and t.op in cond.COMPARISONS})


def near(kb: KnowledgeBase, name: str) -> list[float]:
    """Every threshold on `name`, and tiny and exponent-written steps either side of it and of 0."""
    steps = (0, 1, 0.5, 0.01, 0.004, 0.005, 0.006, 1e-3, 1e-7, 1e-9)
    points = {t + sign * step for t in thresholds(kb, name) + [0.0] for step in steps for sign in (1, -1)}
    low, high = kb.facts[name].range or (0, 100)
    return sorted(p for p in points | {low, high} if low <= p <= high)


def fact_values(kb: KnowledgeBase, spec: FactSpec) -> st.SearchStrategy[Any]:
    """Raw values as a clinician may type them; numbers at and around every threshold too."""
    if spec.type == "bool":
        return st.booleans()
    if spec.type == "enum":
        return st.sampled_from(spec.values)
    if spec.type == "list":
        return st.lists(st.sampled_from(spec.values), unique=True, max_size=3).map(sorted)
    low, high = spec.range or (0, 100)
    return (st.integers(int(low), int(high)) | st.sampled_from(near(kb, spec.name))
            | st.floats(low, high, allow_nan=False))


def patients(kb: KnowledgeBase) -> st.SearchStrategy[dict[str, Any]]:
    """Any subset of the vocabulary, each fact at any allowed value: unknowns included."""
    raw = st.fixed_dictionaries({}, optional={name: fact_values(kb, spec) for name, spec in kb.facts.items()})
    return raw.map(lambda facts: normalize(kb, facts))


def test_engine_and_direct_evaluator_agree_on_every_patient(kb: KnowledgeBase) -> None:
    engine = engine_for(kb)

    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(patients(kb))
    def check(facts: dict[str, Any]) -> None:
        fired = [firing.rule for firing in engine.run(facts)]
        assert len(fired) == len(set(fired))
        assert sorted(fired) == sorted(evaluate_rules(kb, facts).fired)

    check()


def test_conflicting_conclusions_never_appear_together(kb: KnowledgeBase) -> None:
    exclusions = [(rule.id, loser) for rule in kb.rules if rule.excludes for loser in rule.excludes.rules]
    assert ("combination.without_corticosteroids", "combination.corticosteroids") in exclusions
    assert ("combination.standard_therapy_not_tolerated", "combination.synthetic_dmard") in exclusions

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
    assert trace[indication].asserted == ("indication_met",)
    assert order.index("dosing.standard_regimen") > indication
    matched = {m.name: (m.value, m.origin) for m in trace[indication].matched}
    assert matched["severe_or_rapidly_progressive"] == (True, "derived")


def test_unknown_fact_is_asserted_as_unknown_not_false(kb: KnowledgeBase) -> None:
    fact = patient_fact(kb, {"dysphagia": True, "autoantibodies": []})
    assert (fact["k_dysphagia"], fact["v_dysphagia"]) == (True, True)
    assert fact["k_flare"] is False and "v_flare" not in fact
    assert fact["k_autoantibodies"] is True
    assert fact[flag_field(kb, "autoantibodies", "anti_hmgcr")] is False  # tested, none found
    assert fact["k_severity"] is False and "v_severity" not in fact


def test_a_negated_test_never_holds_on_an_unknown_fact(kb: KnowledgeBase) -> None:
    # combination.without_corticosteroids needs the contraindication known; unknown asks to check
    facts = normalize(kb, {"diagnosis": "DM", "dysphagia": True, "age_years": 50})
    fired = set(consult(kb, facts).fired)
    assert "combination.without_corticosteroids" not in fired
    assert {"combination.corticosteroids", "combination.corticosteroid_contraindication_unknown"} <= fired
    facts["corticosteroid_contraindicated"] = False
    fired = set(consult(kb, facts).fired)
    assert "combination.corticosteroids" in fired
    assert "combination.corticosteroid_contraindication_unknown" not in fired


def test_sessions_are_deleted_so_many_patients_fit(kb: KnowledgeBase) -> None:
    engine = engine_for(kb)  # durable allows 1,024 live sessions per ruleset
    for index in range(1100):
        engine.run({"diagnosis": "dermatomyositis", "dysphagia": index % 2 == 0})


def test_one_engine_per_knowledge_base(kb: KnowledgeBase) -> None:
    assert engine_for(kb) is engine_for(kb)
    reloaded = load_knowledge_base(KB_DIR)
    assert reloaded is not kb and engine_for(reloaded) is engine_for(kb)  # same checksum, same engine


def test_durable_starts_no_thread_of_its_own(kb: KnowledgeBase) -> None:
    before = threading.enumerate()
    engine = DurableEngine(kb)
    try:
        time.sleep(0.3)  # durable's own Host starts its timers 0.1 s after construction
        engine.run({"diagnosis": "dermatomyositis", "dysphagia": True})
        assert threading.enumerate() == before
    finally:
        engine.close()


def test_fifty_loads_and_consults_leave_as_many_threads_as_one(kb_copy: Path) -> None:
    consult(load_knowledge_base(kb_copy), {"diagnosis": "polymyositis", "severity": "severe"})
    after_one = threading.active_count()
    sources = kb_copy / "sources.yaml"
    text = sources.read_text()
    for index in range(50):  # a new checksum each time: a new engine each time
        sources.write_text(text.replace("version: 1.0.0", f"version: 1.0.{index + 1}"))
        consult(load_knowledge_base(kb_copy), {"diagnosis": "polymyositis", "severity": "severe"})
    assert threading.active_count() == after_one


def test_replaced_engines_are_closed(kb: KnowledgeBase) -> None:
    cache = durable_engine._EngineCache(size=2)
    engines = [cache.get(dataclasses.replace(kb, sha256=f"{index:064d}")) for index in range(3)]
    assert engines[0]._closed and not engines[1]._closed and not engines[2]._closed
    with pytest.raises(EngineError, match="closed"):
        engines[0].run({})
    assert cache.get(dataclasses.replace(kb, sha256=f"{2:064d}")) is engines[2]
    cache.clear()
    assert all(engine._closed for engine in engines)


def test_five_thousand_consultations_agree_with_the_direct_evaluator(kb: KnowledgeBase) -> None:
    engine = engine_for(kb)
    disagreements = []
    for index, facts in enumerate(generate(kb, 5000, seed=11)):
        facts = normalize(kb, facts)
        if sorted(f.rule for f in engine.run(facts)) != sorted(evaluate_rules(kb, facts).fired):
            disagreements.append(index)
    assert disagreements == []


def test_a_tiny_number_loses_no_fact(kb: KnowledgeBase) -> None:
    """0.0000001 is written 1e-07 in JSON; durable_rules dropped it and every fact after it."""
    facts = normalize(kb, {"diagnosis": "IMNM", "autoantibodies": ["anti_hmgcr"], "dysphagia": True,
                           "months_since_diagnosis": 0.0000001, "sex": "female"})
    assert facts["months_since_diagnosis"] == 0.0
    fired = set(consult(kb, facts).fired)
    assert {"indication.anti_hmgcr_necrotizing_myopathy", "early_initiation.within_early_window"} <= fired
    assert "scope.child" in consult(kb, normalize(kb, {"age_years": 1e-09})).fired


@pytest.mark.parametrize("raw,exact", [(1e-07, 0.0), (6.004, 6.0), (6.005, 6.01), (6.0049999, 6.0),
                                       (17.999, 18.0), (65, 65), (0.01, 0.01)])
def test_numbers_are_read_to_two_decimal_places(raw: float, exact: float) -> None:
    assert cond.exact_number(raw) == exact
    assert cond.is_exact_number(exact)


def test_every_allowed_number_near_a_threshold_agrees(kb: KnowledgeBase) -> None:
    engine = engine_for(kb)
    base = {"diagnosis": "necrotizing_myopathy", "autoantibodies": ["anti_hmgcr"], "dysphagia": True,
            "sex": "female", "height_cm": 160, "weight_kg": 60, "age_years": 40}
    for name, spec in kb.facts.items():
        if spec.type != "number":
            continue
        for value in near(kb, name):
            facts = normalize(kb, {**base, name: value})
            fired = sorted(f.rule for f in engine.run(facts))
            assert fired == sorted(evaluate_rules(kb, facts).fired), (name, value)
            assert "indication.dysphagia_or_respiratory_involvement" in fired or facts.get("age_years", 40) < 18


def test_a_disagreement_between_the_evaluators_gives_no_advice(kb: KnowledgeBase, monkeypatch) -> None:
    real = DurableEngine.run

    def faulty(self: DurableEngine, facts: Any) -> Any:
        return [f for f in real(self, facts) if f.rule != "caution.renal_insufficiency"]

    monkeypatch.setattr(DurableEngine, "run", faulty)
    facts = normalize(kb, {"diagnosis": "DM", "renal_insufficiency": True})
    with pytest.raises(EngineError, match=r"fired only by the engine: none; only by the direct "
                                          "evaluator: caution.renal_insufficiency"):
        consult(kb, facts)


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
