"""One consultation, whole: conclusions in reading order with what each rests on, warnings from the
rules and from the dose, why there is no dose, the facts that could still open a route, the
cross-check against the direct evaluator, and a knowledge base that contradicts itself.
"""
from __future__ import annotations

from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine.consultation import cross_check
from myoivig.engine.errors import EngineError, KnowledgeBaseError
from myoivig.engine.model import KIND_ORDER, Exclusion, FactSpec

from .builders import knowledge_base, rule

SEVERE = {"diagnosis": "DM", "severity": "severe", "age_years": 50}
NO_DOSE_WEIGHT = "the dosing weight is the ideal body weight, which needs sex and height."


def consulted(kb: KnowledgeBase, **facts: Any) -> Any:
    return consult(kb, normalize(kb, {**SEVERE, **facts}))


def test_conclusions_come_in_reading_order_with_what_they_rest_on(kb: KnowledgeBase) -> None:
    """Kind first (hard stops ... monitoring), then file and line; each names its rules and input facts."""
    result = consulted(kb, sex="female", height_cm=165)
    ids = [c.id for c in result.conclusions]
    place = {rule.id: (KIND_ORDER[rule.conclude.kind], rule.file, rule.line) for rule in kb.rules if rule.conclude}
    assert ids == sorted(ids, key=place.__getitem__)  # kind first, then file and line
    assert ids[:2] == ["indication.severe_or_rapidly_progressive", "indication.individual_assessment"]
    first = result.conclusions[0]
    assert first.rests_on_rules == ("indication.severe_or_rapidly_progressive", "finding.covered_diagnosis",
                                    "finding.adult_or_age_unknown", "finding.severe_or_rapidly_progressive")
    assert first.rests_on_facts == ("age_years", "diagnosis", "severity")
    assert (first.kind, first.rule, first.strength, first.outside_scope) == (
        "indication", "indication.severe_or_rapidly_progressive", "recommended", False)
    assert first.statement == kb.rule(first.id).conclude.statement  # type: ignore[union-attr]
    assert first.sources == kb.rule(first.id).provenance.sources
    assert result.patient == {"diagnosis": "dermatomyositis", "severity": "severe", "age_years": 50,
                              "sex": "female", "height_cm": 165}
    assert result.fired == tuple(f.rule for f in result.trace)
    assert result.derived == tuple(name for f in result.trace for name in f.asserted)
    assert "covered_diagnosis" in result.derived and len(set(result.derived)) == len(result.derived)
    assert (result.warnings, result.resolutions, result.dose_note) == ((), (), None)
    assert result.dose is not None and result.dose.dosing_weight_kg == 56.9


def test_warnings_are_the_warning_conclusions_then_the_dose_checks(kb: KnowledgeBase) -> None:
    """A clinician sees every implausible fact in one list: the rules' warnings first, then the BMI check."""
    result = consulted(kb, sex="female", height_cm=140, weight_kg=150)
    ids = [w[0] for w in result.warnings]
    assert ids == ["warning.height_below_devine_range", "dose.bmi_implausible"]
    assert result.warnings[1][1].startswith("BMI 76.5 kg/m2 (from 150 kg and 140 cm) is outside 12-70")
    result = consulted(kb, sex="female", height_cm=140, weight_kg=20)  # under 30 kg: no dose, so no BMI check
    ids = [w[0] for w in result.warnings]
    assert ids == ["warning.adult_weight_under_30_kg", "warning.height_below_devine_range"]
    assert result.dose is None and result.dose_note is not None and "check the weight" in result.dose_note
    assert result.warnings[0][1] == kb.rule("warning.adult_weight_under_30_kg").conclude.statement  # type: ignore[union-attr]


def test_a_resolution_names_the_winner_the_overridden_rule_and_why(kb: KnowledgeBase) -> None:
    result = consulted(kb, corticosteroid_contraindicated=True)
    assert [(w, o) for w, o, _ in result.resolutions] == [("combination.without_corticosteroids",
                                                          "combination.corticosteroids")]
    assert result.resolutions[0][2] == kb.rule("combination.without_corticosteroids").excludes.resolution  # type: ignore[union-attr]


@pytest.mark.parametrize("given, needed", [
    ({"sex": "male"}, "height_cm"), ({"height_cm": 170}, "sex"), ({}, "sex and height_cm"),
])
def test_without_sex_or_height_the_note_names_what_is_missing(kb: KnowledgeBase, given: dict[str, Any],
                                                              needed: str) -> None:
    result = consulted(kb, **given)
    assert result.dose is None
    assert result.dose_note == f"No dose: {needed} not given; {NO_DOSE_WEIGHT}"


def test_a_non_positive_ideal_weight_does_not_claim_the_facts_are_missing(kb: KnowledgeBase) -> None:
    """A man of 50 cm (an allowed height) has no positive Devine weight; the note said sex and height
    were not given, though both were."""
    result = consulted(kb, sex="male", height_cm=50)
    assert result.dose is None
    assert result.dose_note == "No dose: the ideal body weight of a male 50 cm tall is not above 0 kg; check the height."


@pytest.mark.parametrize("facts, note", [
    ({"diagnosis": "DM", "severity": "severe", "age_years": 12}, "No dose: the source document does not cover this patient."),
    ({"diagnosis": "DM", "severity": "severe", "anti_iga_antibodies": True},
     "No dose: IVIG is contraindicated for this patient (hard stop)."),
    ({"severity": "severe"}, "No dose until the verdict is decided: answer the questions under MISSING."),
])
def test_without_a_dosing_rule_the_note_is_the_verdicts(kb: KnowledgeBase, facts: dict[str, Any], note: str) -> None:
    result = consult(kb, normalize(kb, facts))
    assert result.dose is None and result.dose_note == note


def test_an_open_verdict_names_the_facts_that_could_make_ivig_better(kb: KnowledgeBase) -> None:
    """May be considered: only facts that could make it indicated; hard stops are not 'better'."""
    result = consult(kb, normalize(kb, {"diagnosis": "DM", "severity": "mild", "corticosteroid_contraindicated": True,
                                        "age_years": 50}))
    assert result.verdict.value == "may_be_considered"
    assert result.verdict.open_facts == ("autoantibodies", "intolerant_to_standard_therapy", "flare",
                                         "rapidly_progressive", "refractory", "dysphagia", "respiratory_involvement")
    assert result.verdict.open_facts == tuple(m.fact for m in result.missing if "indicated" in m.verdicts)
    undetermined = consult(kb, normalize(kb, {"severity": "severe"}))
    assert undetermined.verdict.open_facts == ("diagnosis", "autoantibodies", "dysphagia", "flare", "refractory",
                                               "corticosteroid_contraindicated", "intolerant_to_standard_therapy",
                                               "respiratory_involvement")
    assert "age_years" not in undetermined.verdict.open_facts   # it could only make it out of scope


def test_a_decided_verdict_has_no_open_facts(kb: KnowledgeBase) -> None:
    result = consulted(kb)
    assert result.verdict.value == "indicated" and result.verdict.open_facts == ()
    assert any(m.verdicts for m in result.missing)  # hard stops could still change it, but not for the better


def test_the_cross_check_passes_when_both_evaluators_agree(kb: KnowledgeBase) -> None:
    facts = normalize(kb, SEVERE)
    fired = consult(kb, facts).fired
    assert cross_check(kb, facts, fired) is None
    assert cross_check(kb, facts, reversed(fired)) is None  # order does not matter, only the set


def test_a_disagreement_names_the_facts_and_the_rules_on_each_side(kb: KnowledgeBase) -> None:
    """No advice when the engines disagree; the message is what a developer needs to reproduce it."""
    facts = normalize(kb, {"severity": "severe", "dysphagia": True})
    fired = list(consult(kb, facts).fired)
    with pytest.raises(EngineError) as caught:
        cross_check(kb, facts, [*fired[1:], "z.extra", "a.extra"])
    assert str(caught.value) == (
        "the rule engine and the direct evaluator disagree on this patient, so no advice is given "
        f"(facts: dysphagia=true, severity=severe; fired only by the engine: a.extra, z.extra; "
        f"only by the direct evaluator: {fired[0]})")
    with pytest.raises(EngineError) as caught:
        cross_check(kb, {}, [*consult(kb, {}).fired, "x"])
    assert str(caught.value).endswith("(facts: none; fired only by the engine: x; only by the direct evaluator: none)")


def test_a_knowledge_base_whose_excluding_rules_both_hold_gives_no_advice() -> None:
    """An `excludes` between two rules that both fire is a defect of the rules, located at the excluding rule."""
    kb = knowledge_base(rule("a", "x: true", kind="combination", file="rules/c.yaml", line=3),
                        rule("b", "x: true", kind="combination", file="rules/c.yaml", line=9,
                             excludes=Exclusion(("a",), "b wins")), facts=[FactSpec("x", "bool", "m", "q")])
    with pytest.raises(KnowledgeBaseError) as caught:
        consult(kb, {"x": True})
    assert str(caught.value) == (
        "the knowledge base is invalid:\n  rules/c.yaml:9:1: error [b]: 'b' and 'a' both hold for this patient, "
        "but the first excludes the second: the knowledge base contradicts itself here - "
        "make their conditions mutually exclusive")
    assert consult(kb, {"x": False}).resolutions == ()


def test_conclusions_are_sorted_by_kind_file_and_line_not_by_firing_order() -> None:
    """A chain fires b.yaml before a.yaml and line 9 before line 2; the report still reads in file order."""
    kb = knowledge_base(rule("b.first", "x: true", file="b.yaml", line=1, kind="monitoring", derive=("d",)),
                        rule("a.second", "d: true", file="a.yaml", line=9, kind="monitoring", derive=("e",)),
                        rule("a.third", "e: true", file="a.yaml", line=2, kind="monitoring"),
                        rule("c.caution", "e: true", file="c.yaml", line=1, kind="caution"),
                        facts=[FactSpec("x", "bool", "m", "q")], derived=("d", "e"))
    result = consult(kb, {"x": True})
    assert result.fired[:2] == ("b.first", "a.second")
    assert [c.id for c in result.conclusions] == ["c.caution", "a.third", "a.second", "b.first"]
    third = result.conclusions[1]
    assert third.rests_on_rules == ("a.third", "a.second", "b.first") and third.rests_on_facts == ("x",)
    assert result.derived == ("d", "e")
