"""Why not and what if, exactly: the bounds of the minimal-change search, and the causes of a dose change."""
from __future__ import annotations

from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.evaluator import input_dependencies
from myoivig.engine.explain import minimal_changes, what_if
from myoivig.engine.model import ConclusionSpec, FactSpec, Provenance, Rule

FLAGS = tuple(f"b{i}" for i in range(1, 9))


def flags(count: int) -> tuple[cond.Test, ...]:
    return tuple(cond.Test(name, "equals", True) for name in FLAGS[:count])


RULES = {
    "four": cond.All(flags(4)),
    "three": cond.All(flags(3)),
    "either": cond.Test("e", "in", ("x", "y")),
    "many": cond.Any_(flags(8)),
}


@pytest.fixture(scope="module")
def tiny() -> KnowledgeBase:
    """Eight yes/no facts and a three-valued choice, one rule per shape of search."""
    facts = {name: FactSpec(name, "bool", name, "?") for name in FLAGS}
    facts["e"] = FactSpec("e", "enum", "a choice", "?", values=("x", "y", "z"))
    rules = tuple(Rule(id=rid, title=rid, when=when, file="t.yaml", line=1, provenance=Provenance(local_policy="t"),
                       conclude=ConclusionSpec("monitoring", rid)) for rid, when in RULES.items())
    return KnowledgeBase(name="tiny", version="1", sha256="1" * 64, root=Path("."), facts=facts, derived={},
                         rules=rules, references={}, document="", background="")


@pytest.mark.parametrize(("rule", "changes"), [
    ("three", ({"b1": True, "b2": True, "b3": True},)),  # three facts: still searched
    ("four", ()),                                         # four facts: beyond the search, nothing offered
    ("either", ({"e": "x"},)),                            # one value set per group of facts
    ("many", tuple({name: True} for name in FLAGS[:6])),  # six suggestions at most
])
def test_minimal_changes_search_up_to_three_facts_and_six_suggestions(tiny: KnowledgeBase, rule: str,
                                                                      changes: tuple[dict, ...]) -> None:
    """Why-not offers the smallest changes, one per group of facts, and stops at the documented bounds."""
    assert minimal_changes(tiny, {}, tiny.rule(rule)) == changes


def test_input_dependencies_are_the_facts_a_rule_tests(tiny: KnowledgeBase) -> None:
    """What-if names as causes only the changed facts a rule rests on."""
    assert input_dependencies(tiny) == {"four": frozenset(FLAGS[:4]), "three": frozenset(FLAGS[:3]),
                                        "either": frozenset({"e"}), "many": frozenset(FLAGS)}


DOSED = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165, "weight_kg": 72}


def test_a_new_weight_changes_the_dose_because_of_the_weight_alone(kb: KnowledgeBase) -> None:
    """The dose difference names the changed body fact, not the body facts that stayed the same."""
    result = what_if(kb, normalize(kb, DOSED), {"weight_kg": 50})
    [dose] = [d for d in result.differences if d.change == "dose"]
    assert dose.because_of == ("weight_kg",)
    assert (dose.before, dose.after) == ("56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)",
                                         "50 kg (actual_body_weight): give 50-100 g over 2 days (25-50 g/day)")


def test_a_dose_that_appears_is_compared_with_the_reason_there_was_none(kb: KnowledgeBase) -> None:
    """Before the change there was no dose, and the difference says why in the verdict's own words."""
    facts = normalize(kb, {**DOSED, "severity": "mild"})
    result = what_if(kb, facts, {"severity": "severe"})
    [dose] = [d for d in result.differences if d.change == "dose"]
    assert result.before.dose is None and dose.before == result.before.dose_note
    assert dose.before == "No dose until the verdict is decided: answer the questions under MISSING."
    assert dose.after == "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)"
    assert dose.because_of == ("severity",)


def test_what_if_with_the_value_already_given_changes_nothing(kb: KnowledgeBase) -> None:
    """Asking "what if she took corticosteroids" of a patient who does: no difference, whatever the list's identity."""
    facts = normalize(kb, {"diagnosis": "DM", "severity": "severe", "current_therapies": ["prednisone"],
                           "sex": "female", "height_cm": 165, "weight_kg": 70, "age_years": 58})
    same = normalize(kb, {"current_therapies": ["corticosteroids"]})
    assert what_if(kb, facts, same).differences == ()


def test_a_weight_change_names_the_weight_as_the_cause_of_the_new_dose(kb: KnowledgeBase) -> None:
    """The weights feed the dose arithmetic, not a rule's condition; the difference still names them."""
    facts = normalize(kb, {"diagnosis": "DM", "severity": "severe", "sex": "female", "height_cm": 165,
                           "weight_kg": 50, "age_years": 58})
    dose = [d for d in what_if(kb, facts, {"weight_kg": 48.0}).differences if d.change == "dose"]
    assert len(dose) == 1 and "weight_kg" in dose[0].because_of


@pytest.mark.parametrize(("when", "groups"), [
    ("any: [{a: true}, {b: true}]", ["any", "any"]),
    ("all: [{a: true}, {b: true}]", ["all", "all"]),
    ("not: {any: [{a: true}, {b: true}]}", ["all", "all"]),      # not (a or b) = not a and not b
    ("not: {all: [{a: true}, {b: true}]}", ["any", "any"]),      # not (a and b) = not a or not b
])
def test_each_check_says_how_it_combines_after_de_morgan(when: str, groups: list[str]) -> None:
    """Why-not lists each test with 'all' or 'any' as it really combines once negation is pushed inward."""
    from myoivig.engine.explain import condition_checks
    from myoivig.engine.yamlio import parse_yaml

    rule = Rule("r.x", "r", cond.parse(parse_yaml(when)), "rules.yaml", 1, Provenance(local_policy="an example"))
    assert [check.group for check in condition_checks(rule, {"a": True})] == groups


def test_a_negated_test_is_judged_negated_and_unknown_stays_unknown() -> None:
    """not a, with a true, failed; with b unknown, unknown (never guessed)."""
    from myoivig.engine.explain import condition_checks
    from myoivig.engine.yamlio import parse_yaml

    rule = Rule("r.x", "r", cond.parse(parse_yaml("all: [{not: {a: true}}, {not: {b: true}}]")), "rules.yaml", 1,
                Provenance(local_policy="an example"))
    assert [(c.description, c.status) for c in condition_checks(rule, {"a": True})] == [
        ("not a = true", "failed"), ("not b = true", "unknown")]
