"""How, why-not and what-if, whole, on a tiny knowledge base with one derived fact made two ways:
the exact derivation tree, every condition judged, the minimal changes in the order offered, the
derived facts a rule still needs, and every kind of difference with the facts that caused it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.errors import InputError
from myoivig.engine.explain import (
    MARKS,
    MAX_CHANGED_FACTS,
    MAX_SUGGESTIONS,
    ConditionCheck,
    Derivation,
    Difference,
    how,
    minimal_changes,
    targets,
    what_if,
    why_not,
)
from myoivig.engine.model import ConclusionSpec, DerivedSpec, FactSpec, MatchedFact, Provenance, Quote, Rule
from myoivig.engine.yamlio import parse_yaml


def rule(rule_id: str, line: int, when: str, kind: str | None = None, derive: tuple[str, ...] = ()) -> Rule:
    return Rule(rule_id, f"title of {rule_id}", cond.parse(parse_yaml(when)), "t.yaml", line,
                Provenance((Quote("1", f"quote for {rule_id}"),), f"policy of {rule_id}"), derive=derive,
                conclude=ConclusionSpec(kind, f"statement of {rule_id}") if kind else None)


@pytest.fixture(scope="module")
def tiny() -> KnowledgeBase:
    facts = [FactSpec("x", "bool", "x", "x?"), FactSpec("y", "bool", "y", "y?"),
             FactSpec("n", "number", "n", "n?", range=(0, 10)), FactSpec("e", "enum", "e", "e?", values=("p", "q"))]
    rules = (rule("find.d", 1, "any: [{x: true}, {n: {gt: 5}}]", derive=("d",)),
             rule("find.d2", 2, "e: p", derive=("d",)),
             rule("use.d", 3, "all: [{d: true}, {y: true}]", kind="monitoring"),
             rule("plain", 4, "n: {gte: 3}", kind="caution"))
    return KnowledgeBase(name="tiny", version="1", sha256="e1" * 32, root=Path("."), facts={f.name: f for f in facts},
                         derived={"d": DerivedSpec("d", "d")}, rules=rules, references={}, document="", background="")


def test_the_limits_and_marks() -> None:
    assert (MAX_CHANGED_FACTS, MAX_SUGGESTIONS) == (3, 6)
    assert MARKS == {"held": "+", "failed": "x", "unknown": "?"}


def test_what_may_be_asked_about(tiny: KnowledgeBase) -> None:
    """Conclusions first, in rule order, then derived facts; rules without a conclusion are not targets."""
    assert targets(tiny) == ["use.d", "plain", "d"]


@pytest.mark.parametrize("target, message, allowed", [
    ("use.e", "'use.e' is neither a conclusion nor a derived fact of the knowledge base (did you mean 'use.d'?)",
     None),
    ("zzzzzz", "'zzzzzz' is neither a conclusion nor a derived fact of the knowledge base; "
               "allowed: see `consult --format json`", "see `consult --format json`"),
    ("find.d", "'find.d' is neither a conclusion nor a derived fact of the knowledge base; "
               "allowed: see `consult --format json`", "see `consult --format json`"),   # a rule, not a target
])
def test_an_unknown_target_is_refused_with_the_nearest_or_where_to_look(tiny: KnowledgeBase, target: str,
                                                                        message: str, allowed: str | None) -> None:
    with pytest.raises(InputError) as caught:
        why_not(tiny, {}, target)
    assert str(caught.value) == message
    assert (caught.value.field, caught.value.allowed) == ("conclusion", allowed)
    with pytest.raises(InputError):
        how(tiny, consult(tiny, {}), target)


def test_how_a_conclusion_was_reached_down_to_the_input_facts(tiny: KnowledgeBase) -> None:
    """Each step: its rule, where it stands, what it matched and derived, and below it how each derived fact came."""
    consultation = consult(tiny, {"x": True, "y": True})
    derivation = how(tiny, consultation, "use.d")
    orders = {f.rule: f.order for f in consultation.trace}
    child = Derivation("find.d", "title of find.d", "t.yaml:1", orders["find.d"], None,
                       (MatchedFact("x", True, "input"),), (Quote("1", "quote for find.d"),), "policy of find.d",
                       ("d",), ())
    assert derivation is not None
    assert (derivation.rule, derivation.title, derivation.where, derivation.order, derivation.statement) == (
        "use.d", "title of use.d", "t.yaml:3", orders["use.d"], "statement of use.d")
    assert sorted(derivation.matched, key=lambda m: m.name) == [MatchedFact("d", True, "derived"),
                                                                MatchedFact("y", True, "input")]
    assert (derivation.sources, derivation.local_policy, derivation.derived) == (
        (Quote("1", "quote for use.d"),), "policy of use.d", ())
    assert derivation.children == (child,)
    assert how(tiny, consultation, "d") == child          # a derived fact: the rule that derived it
    assert how(tiny, consultation, "plain") is None      # not reached


def test_why_not_judges_each_condition_and_offers_the_fewest_facts(tiny: KnowledgeBase) -> None:
    """use.d needs d (unknown: its producers are undecided) and y (held); one fact would make d."""
    answer = why_not(tiny, {"y": True}, "use.d")
    assert (answer.target, answer.kind, answer.reached) == ("use.d", "conclusion", False)
    (check,) = answer.candidates
    assert (check.rule, check.title, check.where, check.fired) == ("use.d", "title of use.d", "t.yaml:3", False)
    assert check.conditions == (ConditionCheck("d = true", "d", "unknown", None, "all"),
                                ConditionCheck("y = true", "y", "held", True, "all"))
    assert check.minimal_changes == ({"e": "p"}, {"n": 6}, {"x": True})
    (need,) = check.needs
    assert (need.target, need.kind, need.reached) == ("d", "derived fact", False)
    assert [c.rule for c in need.candidates] == ["find.d", "find.d2"]
    first, second = need.candidates
    assert first.conditions == (ConditionCheck("x = true", "x", "unknown", None, "any"),
                                ConditionCheck("n > 5", "n", "unknown", None, "any"))
    assert first.minimal_changes == ({"n": 6}, {"x": True}) and first.needs == ()
    assert second.minimal_changes == ({"e": "p"},)


def test_why_not_a_reached_derived_fact_shows_the_rule_that_fired(tiny: KnowledgeBase) -> None:
    """A fired rule needs no change and no further derived facts; the other producer still shows the way."""
    answer = why_not(tiny, {"x": True}, "d")
    assert (answer.kind, answer.reached) == ("derived fact", True)
    fired, other = answer.candidates
    assert (fired.rule, fired.fired, fired.minimal_changes, fired.needs) == ("find.d", True, (), ())
    assert [c.status for c in fired.conditions] == ["held", "unknown"]
    assert (other.rule, other.fired, other.minimal_changes) == ("find.d2", False, ({"e": "p"},))
    reached = why_not(tiny, {"x": True, "y": True}, "use.d")
    assert reached.reached is True and reached.candidates[0].needs == ()
    assert [c.status for c in reached.candidates[0].conditions] == ["held", "held"]


def test_a_failed_condition_shows_the_patients_value(tiny: KnowledgeBase) -> None:
    check = why_not(tiny, {"n": 2}, "plain").candidates[0]
    assert check.conditions == (ConditionCheck("n >= 3", "n", "failed", 2, "all"),)
    assert check.minimal_changes == ({"n": 3},)     # the smallest value tried that holds, not the one given


def test_changes_that_only_fill_in_unknown_facts_are_offered_first(tiny: KnowledgeBase) -> None:
    """Two facts at once: n (unknown) with y before e and x, which contradict what the clinician said."""
    changes = minimal_changes(tiny, {"x": False, "y": False, "e": "q"}, tiny.rule("use.d"))
    assert changes == ({"n": 6, "y": True}, {"e": "p", "y": True}, {"x": True, "y": True})


def test_what_if_lists_gained_lost_and_changed_with_their_causes(tiny: KnowledgeBase) -> None:
    """A null in the changes makes a fact unknown; each difference names the changed facts it rests on."""
    result = what_if(tiny, {"x": True, "y": True, "n": 1}, {"n": 4, "y": None, "e": "p"})
    assert result.changes == {"n": 4, "y": None, "e": "p"}
    assert result.after.patient == {"x": True, "n": 4, "e": "p"}
    assert result.differences == (
        Difference("gained", "plain", None, "statement of plain", "plain", ("n",)),
        Difference("lost", "use.d", "statement of use.d", None, "use.d", ("e", "n", "y")),
    )
    changed = what_if(tiny, {"n": 4}, {"n": 5})
    assert changed.differences == (Difference("changed", "plain", {"n": 4}, {"n": 5}, "plain", ("n",)),)
    assert what_if(tiny, {"n": 4}, {"n": 4}).differences == ()
    assert what_if(tiny, {"n": 4}, {"x": None}).differences == ()


DOSED = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165, "weight_kg": 80}


def test_a_dose_difference_names_its_first_rule_and_only_the_changed_facts_it_rests_on(kb: KnowledgeBase) -> None:
    """A new weight changes the dose; a therapy changed at the same time is not a cause of the dose."""
    result = what_if(kb, normalize(kb, DOSED), {"weight_kg": 50, "current_therapies": ["methotrexate"]})
    (dose,) = [d for d in result.differences if d.change == "dose"]
    assert dose == Difference("dose", None, "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)",
                              "50 kg (actual_body_weight): give 50-100 g over 2 days (25-50 g/day)", "dosing.standard_regimen",
                              ("weight_kg",))


def test_a_dose_that_disappears_is_compared_with_the_reason(kb: KnowledgeBase) -> None:
    result = what_if(kb, normalize(kb, DOSED), {"sex": None})
    (dose,) = [d for d in result.differences if d.change == "dose"]
    assert dose.before == "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)"
    assert dose.after == ("No dose: sex not given; the dosing weight is the ideal body weight, "
                          "which needs sex and height.")
    assert dose.rule == "dosing.standard_regimen" and dose.because_of == ("sex",)


def test_no_dose_before_or_after_is_no_dose_difference(kb: KnowledgeBase) -> None:
    """Two different reasons for no dose are not a dose difference: the verdict difference says it."""
    facts: dict[str, Any] = {"diagnosis": "DM", "severity": "severe", "age_years": 12}
    result = what_if(kb, normalize(kb, facts), {"anti_iga_antibodies": True})
    assert result.before.dose_note != result.after.dose_note
    assert [d for d in result.differences if d.change == "dose"] == []
    assert [d.conclusion for d in result.differences if d.change == "gained"] == ["contraindication.anti_iga_antibodies"]


def test_a_negated_check_is_judged_negated_and_combines_after_de_morgan() -> None:
    """`not (b or c > 2)` reads as two negated checks that must all hold; unknown stays unknown."""
    from myoivig.engine.explain import condition_checks
    negated = rule("neg", 1, "all: [{not: {a: true}}, {not: {any: [{b: true}, {c: {gt: 2}}]}}, {d: true}]")
    assert condition_checks(negated, {"a": False, "b": True, "c": 1}) == (
        ConditionCheck("not a = true", "a", "held", False, "all"),
        ConditionCheck("not b = true", "b", "failed", True, "all"),
        ConditionCheck("not c > 2", "c", "held", 1, "all"),
        ConditionCheck("d = true", "d", "unknown", None, "all"),
    )
