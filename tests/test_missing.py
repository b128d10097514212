"""The missing-fact search on a small knowledge base: the exact values tried, and two unknowns that
matter only together.

Written from the mutation survivors of engine/missing.py: the threshold candidates were never
listed exactly, and no test needed the search over pairs of unknown facts.

The missing-fact search, whole, on a small knowledge base: which unknown facts are asked, what
each could change (conclusions, dose, verdict), why it is asked (hard stop, verdict, caution, dose,
other) and the exact order of the questions; facts that matter only in pairs or only three at once.
"""
from __future__ import annotations

import dataclasses
from dataclasses import replace
from typing import Any, ClassVar

import pytest

from myoivig.engine import KnowledgeBase, find_missing, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.missing import CONCERNS, candidate_values, distinct_values
from myoivig.engine.model import VERDICTS, FactSpec, MissingFact

from .builders import knowledge_base, rule


def fact(name: str, type_: str, **spec: Any) -> FactSpec:
    return FactSpec(name, type_, f"the {name}", f"{name}?", **spec)




@pytest.fixture(scope="module")
def small(kb: KnowledgeBase) -> KnowledgeBase:
    """Two booleans that stop IVIG only together, and two numbers with thresholds inside and at their ranges."""
    facts = [fact("a", "bool"), fact("b", "bool"), fact("n", "number", range=(0, 10)),
             fact("m", "number", range=(0, 10)), fact("kind", "enum", values=("x", "y")),
             fact("tags", "list", values=("p", "q"))]
    return replace(kb, facts={f.name: f for f in facts}, derived={}, rules=(
        rule("stop.both", "all: [{a: true}, {b: true}]", kind="contraindication"),
        rule("caution.n", "n: {gt: 5}", kind="caution"),
        rule("caution.m", "m: {lt: 2.5}", kind="caution"),
        rule("caution.edges", "all: [{n: {gte: 10}}, {m: {lte: 0}}]", kind="caution")))


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


# ---------------------------------------------------------------- The missing-fact search, whole, on a small knowledge base: w


@pytest.fixture(scope="module")
def tiny_kb() -> KnowledgeBase:
    facts = [FactSpec(name, "bool", name, f"{name}?") for name in "abtwzpqr"]
    facts += [FactSpec("n", "number", "n", "n?", range=(0, 10)), FactSpec("k", "enum", "k", "k?", values=("x", "y")),
              FactSpec("free", "number", "free", "free?"), FactSpec("tags", "list", "tags", "tags?", values=("u", "v"))]
    rules = (
        rule("stop.a", "a: true", kind="contraindication"),
        rule("route.b", "b: true", kind="indication", strength="recommended"),
        rule("caution.n", "n: {gt: 5}", kind="caution"),
        rule("mon.k", "k: x", kind="monitoring"),
        rule("mon.k2", "k: y", kind="monitoring"),
        rule("other.t", "t: true", kind="side_effects"),
        rule("mon.wz", "all: [{w: true}, {z: true}]", kind="monitoring"),
        rule("route.pqr", "all: [{p: true}, {q: true}, {r: true}]", kind="indication", strength="reported"),
        rule("dose.pqr", "all: [{p: true}, {q: true}, {r: true}]", kind="dosing", dose={"note": "no regimen"}),
        rule("mon.free", "free: {gte: 7}", kind="monitoring"),
        rule("mon.free_is", "free: 0", kind="monitoring"),
    )
    return knowledge_base(*rules, facts=facts, name="m")


def test_the_concerns_in_the_order_they_are_asked() -> None:
    assert CONCERNS == ("hard_stop", "verdict", "caution", "dose", "other")
    # the verdicts under which an unknown fact may still open a stronger route to IVIG
    assert [v.name for v in VERDICTS.values() if v.open] == ["may_be_considered", "undetermined", "not_indicated"]


def test_a_number_without_a_range_is_tried_at_zero_only(tiny_kb: KnowledgeBase) -> None:
    """Without a declared range there is nothing plausible to try but 0; thresholds outside [0, 0] are skipped."""
    assert candidate_values(tiny_kb, "free") == [0]
    # n's own threshold and one either side, and its range ends; free's threshold 7 is not n's
    assert candidate_values(tiny_kb, "n") == [0, 4, 5, 6, 10]
    assert candidate_values(tiny_kb, "tags") == [[], ["u"], ["v"]]
    assert candidate_values(tiny_kb, "k") == ["x", "y"] and candidate_values(tiny_kb, "a") == [True, False]


def missing(fact: str, could_change: tuple[str, ...], kind: str, concern: str, verdicts: tuple[str, ...] = (),
            dose: bool = False) -> MissingFact:
    return MissingFact(fact, f"{fact}?", could_change, dose, kind, verdicts, concern)


PQR_OPEN = (("dose.pqr", "route.pqr"), "indication", "verdict", ("may_be_considered",), True)


def test_with_nothing_known_every_question_in_its_order(tiny_kb: KnowledgeBase) -> None:
    """Hard stop, then verdict (by kind, then most conclusions changed, then name), caution, other."""
    assert find_missing(tiny_kb, {}) == [
        missing("a", ("stop.a",), "contraindication", "hard_stop", ("contraindicated",)),
        missing("p", *PQR_OPEN), missing("q", *PQR_OPEN), missing("r", *PQR_OPEN),   # two conclusions each
        # b false leaves the verdict undetermined while route.pqr is open: only `indicated` is new
        missing("b", ("route.b",), "indication", "verdict", ("indicated",)),
        missing("n", ("caution.n",), "caution", "caution"),
        missing("t", ("other.t",), "side_effects", "other"),
        # tried at 0 only (0 = 0 holds); `free >= 7` stays open in the open world, so it counts too
        missing("free", ("mon.free", "mon.free_is"), "monitoring", "other"),
        missing("k", ("mon.k", "mon.k2"), "monitoring", "other"),
        missing("w", ("mon.wz",), "monitoring", "other"),
        missing("z", ("mon.wz",), "monitoring", "other"),
    ]


def test_once_indicated_a_route_no_longer_changes_the_verdict_but_the_dose_still_counts(tiny_kb: KnowledgeBase) -> None:
    """Facts three rules need together are asked for the dose they could bring, not for the verdict."""
    result = find_missing(tiny_kb, {"b": True, "a": False, "n": 6, "k": "x", "t": True, "free": 1})
    assert result == [
        missing("p", ("dose.pqr", "route.pqr"), "indication", "dose", dose=True),
        missing("q", ("dose.pqr", "route.pqr"), "indication", "dose", dose=True),
        missing("r", ("dose.pqr", "route.pqr"), "indication", "dose", dose=True),
        missing("w", ("mon.wz",), "monitoring", "other"),
        missing("z", ("mon.wz",), "monitoring", "other"),
    ]


def test_a_fact_that_completes_a_pair_is_asked_alone(tiny_kb: KnowledgeBase) -> None:
    """With w known true, z alone decides mon.wz; with w false, z changes nothing and is not asked."""
    known = {"a": False, "b": True, "n": 1, "k": "y", "t": False, "free": 0, "p": False}
    assert find_missing(tiny_kb, {**known, "w": True}) == [missing("z", ("mon.wz",), "monitoring", "other")]
    assert find_missing(tiny_kb, {**known, "w": False}) == []


def test_a_false_route_and_an_unknown_hard_stop(tiny_kb: KnowledgeBase) -> None:
    """Not indicated is an open verdict: the hard stop could still make it contraindicated."""
    known = {"b": False, "n": 1, "k": "y", "t": False, "free": 0, "p": False, "w": False}
    assert find_missing(tiny_kb, known) == [
        missing("a", ("stop.a",), "contraindication", "hard_stop", ("contraindicated",))]


def test_only_the_named_facts_are_reported(tiny_kb: KnowledgeBase) -> None:
    """`--ask` may ask about some facts only; the others still count in the search."""
    assert [m.fact for m in find_missing(tiny_kb, {}, names=["z", "b", "n"])] == ["b", "n", "z"]
    assert find_missing(tiny_kb, {}, names=[]) == []
    assert [m.fact for m in find_missing(tiny_kb, {"b": True}, names=["b", "a"])] == ["a"]  # b is known


def test_the_shipped_questions_for_a_severe_dysphagic_patient(kb: KnowledgeBase) -> None:
    """Hard stops, then cautions, then the facts the dose needs, then the rest, as the clinician is asked;
    serum IgA before anti-IgA (it decides whether anti-IgA is tested). What each concern holds is read from
    the knowledge base: a fact is a hard-stop question when a contraindication rule tests it."""
    result = find_missing(kb, normalize(kb, {"diagnosis": "DM", "severity": "severe", "age_years": 50,
                                             "dysphagia": True}))
    order = [CONCERNS.index(m.concern) for m in result]
    assert order == sorted(order)
    facts = [m.fact for m in result]
    assert "iga_deficiency" in facts and "anti_iga_antibodies" not in facts  # anti-IgA waits for a deficient IgA
    hard_stop_facts = {test.fact for rule in kb.rules if rule.conclude and rule.conclude.kind == "contraindication"
                       for test in cond.tests(rule.when)} - {"anti_iga_antibodies"}
    assert {m.fact for m in result if m.concern == "hard_stop"} == hard_stop_facts
    deficient = [m.fact for m in find_missing(kb, normalize(kb, {**SEVERE_DYSPHAGIA, "iga_deficiency": True}))]
    assert "anti_iga_antibodies" in deficient and deficient.index("anti_iga_antibodies") < deficient.index(
        "renal_insufficiency")  # asked among the hard stops, before the cautions
    assert {"sex", "height_cm", "weight_kg"} <= {m.fact for m in result if m.concern == "dose"}
    assert all(m.could_change for m in result if m.concern == "other")
    assert result[0].question == kb.facts["iga_deficiency"].question


def test_a_fact_that_could_only_raise_a_warning_is_not_asked(tiny_kb: KnowledgeBase) -> None:
    """A warning checks the facts given; asking for a fact only so that a warning could fire changes no advice."""
    rules = (*tiny_kb.rules, rule("warn.x", "x: true", kind="warning"))
    facts = {**tiny_kb.facts, "x": FactSpec("x", "bool", "x", "x?")}
    with_warning = dataclasses.replace(tiny_kb, rules=rules, facts=facts)
    assert "x" not in [m.fact for m in find_missing(with_warning, {})]
    assert "t" in [m.fact for m in find_missing(with_warning, {})]  # a side effect is advice: still asked


SEVERE_DYSPHAGIA = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "dysphagia": True}


def test_a_hard_stop_could_take_the_dose_away_but_a_course_count_changes_no_dose(kb: KnowledgeBase) -> None:
    """With a dose computed, a hard stop would remove it (a dose change); the course number is only a count."""
    result = {m.fact: m for m in find_missing(kb, normalize(kb, {**SEVERE_DYSPHAGIA, "sex": "female",
                                                                  "height_cm": 165, "iga_deficiency": True}))}
    assert result["anti_iga_antibodies"].could_change_dose is True
    assert result["prior_immunoglobulin_anaphylaxis"].could_change_dose is True
    assert result["ivig_courses_given"].could_change_dose is False
    assert result["weight_kg"].could_change_dose is True and result["weight_kg"].concern == "dose"
    assert "sex" not in result and "height_cm" not in result


def test_once_contraindicated_another_hard_stop_is_still_a_hard_stop_question(kb: KnowledgeBase) -> None:
    """With anti-IgA antibodies and the IgA level unknown, serum IgA is asked first (a normal IgA lifts the
    hard stop); a second hard stop is still asked, as a hard stop, before the cautions."""
    result = find_missing(kb, normalize(kb, {**SEVERE_DYSPHAGIA, "anti_iga_antibodies": True}))
    first, second = result[:2]
    assert (first.fact, first.concern, first.verdicts, first.could_change_dose) == (
        "iga_deficiency", "hard_stop", ("indicated",), True)
    assert (second.fact, second.concern, second.verdicts) == ("prior_immunoglobulin_anaphylaxis", "hard_stop", ())
    assert [m.concern for m in result[2:4]] == ["caution"] * 2


@pytest.fixture(scope="module")
def routes() -> KnowledgeBase:
    """A reported route on one fact, and a route that can be tried that needs three facts at once."""
    facts = [FactSpec(name, "bool", name, f"{name}?") for name in "ghij"]
    rules = (rule("route.g", "g: true", kind="indication", strength="reported"),
             rule("route.hij", "all: [{h: true}, {i: true}, {j: true}]", kind="indication", strength="can_be_tried"))
    return knowledge_base(*rules, facts=facts, name="r")


def test_an_open_route_of_todays_verdict_lists_no_new_verdict(routes: KnowledgeBase) -> None:
    """May be considered already: a second route to `may be considered` is not a verdict it could lead to."""
    result = find_missing(routes, {"g": True})
    assert [(m.fact, m.could_change, m.verdicts) for m in result] == [
        ("h", ("route.hij",), ()), ("i", ("route.hij",), ()), ("j", ("route.hij",), ())]
    undecided = find_missing(routes, {"g": False})
    assert [(m.fact, m.verdicts, m.concern) for m in undecided] == [
        ("h", ("may_be_considered", "not_indicated"), "verdict"),
        ("i", ("may_be_considered", "not_indicated"), "verdict"),
        ("j", ("may_be_considered", "not_indicated"), "verdict")]


def test_a_fact_that_cannot_change_the_verdict_is_not_asked_as_a_verdict_question(routes: KnowledgeBase) -> None:
    """An open route to today's verdict was counted as a verdict question, asked before the cautions."""
    result = find_missing(routes, {"g": True})
    assert [m.concern for m in result] == ["other", "other", "other"]


# ---------------------------------------------------------------- the incremental search, held to the exhaustive one
@pytest.mark.slow
def test_the_incremental_search_equals_the_exhaustive_one_on_patients_at_the_edges(kb: KnowledgeBase) -> None:
    """A slice of `make differential` (20,000 patients): numbers at range ends, thresholds and one step
    either side, a third of the facts unknown; every list equal, in order, with what each could change."""
    from myoivig.engine import normalize
    from myoivig.engine.population import edge_patients

    patients = [normalize(kb, raw) for raw in edge_patients(kb, 120, seed=5)]
    assert sum(len(find_missing(kb, facts)) for facts in patients) > 120  # the search has work here
    for facts in patients:
        assert find_missing(kb, facts) == find_missing(kb, facts, exhaustive=True), facts


def test_evaluating_only_the_rules_downstream_of_a_change_gives_the_full_evaluation(kb: KnowledgeBase) -> None:
    import random

    from myoivig.engine import normalize
    from myoivig.engine.evaluator import evaluate_changed, evaluate_rules
    from myoivig.engine.population import edge_patients

    rng = random.Random(3)
    for raw in edge_patients(kb, 150, seed=9):
        facts = normalize(kb, raw)
        unknown = [name for name in kb.facts if name not in facts]
        changes = {name: rng.choice(candidate_values(kb, name)) for name in rng.sample(unknown, min(3, len(unknown)))}
        whole = evaluate_rules(kb, {**facts, **changes})
        base = evaluate_rules(kb, facts)
        part = evaluate_changed(kb, base, facts, changes)
        assert (part.rules, part.derived) == (whole.rules, whole.derived), (facts, changes)
        # and it names exactly the rules whose truth changed, in rule order (the search's memo is keyed by them)
        assert part.changed == tuple(i for i, rule in enumerate(kb.rules) if whole.rules[rule.id] != base.rules[rule.id])


def test_the_values_tried_are_one_of_each_class_the_rules_tell_apart(tiny_kb: KnowledgeBase) -> None:
    """n's rules test only `n > 5`: 0, 4 and 5 are alike, and so are 6 and 10; `free` is tested at 7 and at 0.
    A value no rule tests is like the empty list; a fact the dose reads keeps every value (see DOSE_INPUTS)."""
    assert distinct_values(tiny_kb, "n") == [0, 6]
    assert distinct_values(tiny_kb, "free") == [0]
    assert distinct_values(tiny_kb, "tags") == [[]]  # no rule tests u or v
    assert distinct_values(tiny_kb, "k") == ["x", "y"] and distinct_values(tiny_kb, "a") == [True, False]


def test_the_shipped_value_classes_keep_every_threshold_and_every_tested_value(kb: KnowledgeBase) -> None:
    """Each class holds values every test of the knowledge base judges alike, and no two classes do."""
    from myoivig.engine.conditions import evaluate_test, tests

    for name in kb.facts:
        on_fact = [test for rule in kb.rules for test in tests(rule.when) if test.fact == name]
        judged = {repr(value): tuple(evaluate_test(test, {name: value}) for test in on_fact)
                  for value in candidate_values(kb, name)}
        kept = distinct_values(kb, name)
        assert {judged[repr(value)] for value in kept} == set(judged.values()), name
        assert len({judged[repr(value)] for value in kept}) == len(kept), name


def test_the_dose_arithmetic_reads_no_fact_but_its_declared_inputs(kb: KnowledgeBase) -> None:
    """The search reuses a dose when no rule changed and no answer is one of DOSE_INPUTS, and keys its doses by
    the dose rules that fired: sound only if compute_dose reads nothing else. A recording patient lists what
    it reads, on patients given a dose."""
    from collections.abc import Iterator

    from myoivig.engine import consult, normalize
    from myoivig.engine.dose import DOSE_INPUTS, compute_dose
    from myoivig.engine.population import edge_patients

    class Recording(dict[str, Any]):
        read: ClassVar[set[str]] = set()

        def __getitem__(self, key: str) -> Any:
            self.read.add(key)
            return super().__getitem__(key)

        def get(self, key: str, default: Any = None) -> Any:
            self.read.add(key)
            return super().get(key, default)

        def __contains__(self, key: object) -> bool:
            self.read.add(str(key))
            return super().__contains__(key)

        def __iter__(self) -> Iterator[str]:
            raise AssertionError("the dose walked every fact")

    dosed = 0
    for raw in edge_patients(kb, 300, seed=13, unknown=0.05):
        facts = normalize(kb, raw)
        consultation = consult(kb, facts, ask=False)
        patient = Recording(facts)
        dose = compute_dose(kb, consultation.fired, patient)
        if dose is not None:
            dosed += 1
        assert Recording.read <= DOSE_INPUTS, Recording.read - DOSE_INPUTS
        # and of the rules that fired it reads only kb.dose_rules (the search hands it only those)
        assert compute_dose(kb, [r for r in kb.dose_rules if r in consultation.fired], facts) == dose
    assert dosed > 20


def test_an_answer_that_only_closes_the_last_open_route_is_asked_for_the_verdict() -> None:
    """`d` holds while `k` is unknown (a producer tests `known: false`); answering `k` closes the only route
    still open, so the verdict changes (undetermined to not indicated) while no conclusion does. It was a
    crash (the decisive kind of an empty set of conclusions), in both searches."""
    facts = [FactSpec(name, "bool", name, f"{name}?") for name in "ack"]
    rules = (rule("derive.k_unknown", "k: {known: false}", derive=("d",)),
             rule("derive.a", "a: true", derive=("d",)),
             rule("route.dc", "all: [{d: true}, {c: true}]", kind="indication", strength="recommended"))
    small = knowledge_base(*rules, facts=facts, derived=("d",), name="k")
    found = find_missing(small, {"a": False})
    assert found == find_missing(small, {"a": False}, exhaustive=True)
    assert [(m.fact, m.concern) for m in found] == [("c", "verdict"), ("k", "verdict")]
