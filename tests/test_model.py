"""The domain model, whole: the fixed lists a clinician reads in order (kinds, strengths, verdicts,
yes/no spellings), what each fact allows in words, the defaults of every record, and the views a
knowledge base computes once (synonyms, routes, producers, evaluators, conjunct facts, pickling).
"""
from __future__ import annotations

import pickle
from dataclasses import replace

import pytest

from myoivig.engine import KnowledgeBase
from myoivig.engine import conditions as cond
from myoivig.engine.model import (
    BOOLEANS,
    KIND,
    KIND_ORDER,
    KINDS,
    NUMBER_SPELLINGS,
    STRENGTHS,
    VERDICTS,
    Conclusion,
    ConclusionSpec,
    Consultation,
    DerivedSpec,
    FactSpec,
    MissingFact,
    Provenance,
    Quote,
    Rule,
    Verdict,
    cited,
)

from .builders import knowledge_base, rule


def test_kinds_are_listed_in_the_order_a_clinician_reads_them() -> None:
    """Hard stops first, monitoring last: the report and the missing-fact order follow this list."""
    assert [(k.name, k.title, k.style) for k in KINDS] == [
        ("contraindication", "HARD STOPS", "hard_stop"),
        ("scope", "SCOPE", "scope"),
        ("indication", "INDICATION", "conclusion"),
        ("evidence", "EVIDENCE REPORTED, NOT AN INDICATION", "conclusion"),
        ("warning", "CHECK THESE FACTS", "warning"),
        ("caution", "CAUTIONS", "caution"),
        ("early_initiation", "EARLY INITIATION", "conclusion"),
        ("dosing", "DOSE", "conclusion"),
        ("combination", "COMBINATION THERAPY", "conclusion"),
        ("preparation", "BEFORE TREATMENT", "conclusion"),
        ("side_effects", "SIDE EFFECTS AND PREVENTION", "conclusion"),
        ("monitoring", "MONITORING", "conclusion"),
    ]
    assert KIND_ORDER == {k.name: i for i, k in enumerate(KINDS)}
    assert KIND_ORDER["contraindication"] == 0 and KIND_ORDER["monitoring"] == 11
    assert KIND["caution"] is KINDS[5]


def test_strengths_in_the_sources_words_from_strongest_to_weakest() -> None:
    """The verdict takes the strongest route: the dict order is the ranking."""
    assert [(s.name, s.words, s.verdict) for s in STRENGTHS.values()] == [
        ("recommended", "is recommended", "indicated"),
        ("shown_effective", "has been shown to be effective", "indicated"),
        ("can_be_tried", "can be tried", "may_be_considered"),
        ("reported", "has been reported", "may_be_considered"),
    ]
    assert all(STRENGTHS[name].name == name for name in STRENGTHS)


def test_the_yes_no_spellings() -> None:
    assert BOOLEANS == {"true": True, "yes": True, "y": True, "false": False, "no": False, "n": False}
    assert NUMBER_SPELLINGS == '70, 70.5, 7e1 or "70"'


def test_verdicts_in_the_order_they_are_decided_with_their_three_valued_shadow() -> None:
    """JSON consumers read `ivig_indicated`; None means not decidable, never no."""
    assert [(v.name, v.ivig_indicated) for v in VERDICTS.values()] == [
        ("contraindicated", False), ("out_of_scope", None), ("indicated", True), ("may_be_considered", True),
        ("undetermined", None), ("not_indicated", False)]
    assert VERDICTS["contraindicated"].headline == "CONTRAINDICATED"
    assert VERDICTS["undetermined"].headline == "UNDETERMINED - facts that could make it indicated are unknown"
    assert VERDICTS["not_indicated"].no_dose == "No dose: IVIG is not indicated on the facts given."
    assert VERDICTS["out_of_scope"].no_dose == "No dose: the source document does not cover this patient."
    for name, spec in VERDICTS.items():
        assert Verdict(name, None, ()).ivig_indicated is spec.ivig_indicated
    assert Verdict("indicated", "is recommended", ("r",)).open_facts == ()


@pytest.mark.parametrize("spec, allowed", [
    (FactSpec("f", "bool", "m", "q"), "true, false (or yes/no, y/n, in any case)"),
    (FactSpec("w", "number", "m", "q", unit="kg", range=(2, 350)),
     'a number from 2 to 350 kg, read to 2 decimal places (written 70, 70.5, 7e1 or "70")'),
    (FactSpec("s", "number", "m", "q", range=(0.5, 2.25)),
     'a number from 0.5 to 2.25, read to 2 decimal places (written 70, 70.5, 7e1 or "70")'),
    (FactSpec("l", "list", "m", "q", values=("a", "b")), "a list of: a, b"),
    (FactSpec("e", "enum", "m", "q", values=("x", "y", "z")), "x, y, z"),
])
def test_what_each_type_of_fact_allows_in_words(spec: FactSpec, allowed: str) -> None:
    """Every refusal ends with these words; a number without a unit has no trailing space."""
    assert spec.allowed() == allowed


def test_the_defaults_of_every_record() -> None:
    """Records built in code (tests, generated knowledge bases) stand at line 0 with no priority."""
    spec = FactSpec("f", "bool", "m", "q")
    assert (spec.values, dict(spec.aliases), spec.unit, spec.synonyms, dict(spec.units), spec.range, spec.line) == \
        ((), {}, None, (), {}, None, 0)
    assert DerivedSpec("d", "m").line == 0
    rule = Rule("r", "t", cond.Test("f", "equals", True), "rules/x.yaml", 12, Provenance())
    assert (rule.derive, rule.conclude, rule.dose, rule.excludes, rule.priority) == ((), None, None, None, 0)
    assert rule.where == "rules/x.yaml:12"
    assert (Provenance().sources, Provenance().local_policy) == ((), None)
    spec_c = ConclusionSpec("caution", "s")
    assert (spec_c.therapy_class, spec_c.outside_scope, spec_c.strength) == (None, False, None)
    missing = MissingFact("f", "q", (), False, "caution")
    assert (missing.verdicts, missing.concern, missing.could_change_verdict) == ((), "other", False)
    assert replace(missing, verdicts=("indicated",)).could_change_verdict is True


def test_citations_are_the_references_quoted_in_order_once_each() -> None:
    quotes = (Quote("6", "a"), Quote("1", "b"), Quote("6", "c"), Quote("2", "d"))
    assert cited(quotes) == ["6", "1", "2"]
    assert cited(()) == []




@pytest.fixture(scope="module")
def small() -> KnowledgeBase:
    facts = {"a": FactSpec("a", "bool", "m", "q", synonyms=("alpha", "first")),
             "b": FactSpec("b", "bool", "m", "q"), "c": FactSpec("c", "number", "m", "q", range=(0, 9))}
    rules = (
        rule("derive.d1", "a: true", derive=("d",)),
        rule("derive.d2", "all: [{b: true}, {c: {gt: 3}}]", derive=("d", "e")),
        rule("route.strong", "d: true", kind="indication", strength="recommended"),
        rule("route.weak", "any: [{e: true}, {not: {a: true}}]", kind="indication", strength="reported"),
        rule("plain.indication", "b: false", kind="indication"),
        rule("caution.c", "c: {lte: 3}", kind="caution"),
    )
    return knowledge_base(*rules, facts=facts.values(), derived=("d", "e"), name="small")


def test_the_views_a_knowledge_base_computes(small: KnowledgeBase) -> None:
    """Synonyms, routes (only strength-bearing indications), producers in rule order."""
    assert small.synonyms == {"alpha": "a", "first": "a"}
    assert small.rule("caution.c") is small.rules[5]
    with pytest.raises(KeyError):
        small.rule("nope")
    assert [r.id for r in small.conclusion_rules()] == ["route.strong", "route.weak", "plain.indication", "caution.c"]
    assert [r.id for r in small.routes] == ["route.strong", "route.weak"]
    assert small.route_strengths == {"route.strong": "recommended", "route.weak": "reported"}
    assert small.producers == {"d": ("derive.d1", "derive.d2"), "e": ("derive.d2",)}


def test_each_rule_is_compiled_for_the_closed_and_the_open_world(small: KnowledgeBase) -> None:
    evaluators = small.evaluators
    assert [rule.id for rule, _, _ in evaluators] == [r.id for r in small.rules]
    closed, open_ = evaluators[3][1], evaluators[3][2]
    assert closed({"a": False}) is True and closed({"a": True}) is None and open_({"a": True}) is None
    assert evaluators[5][1]({"c": 3}) is True and evaluators[5][1]({"c": 4}) is False


def test_the_facts_each_conjunct_tests_together(small: KnowledgeBase) -> None:
    """The missing-fact search pairs unknown facts that one conjunct tests together."""
    assert small.conjunct_facts == (
        frozenset({"a"}), frozenset({"b", "c"}), frozenset({"d"}), frozenset({"e"}), frozenset({"a"}),
        frozenset({"b"}), frozenset({"c"}))


def test_a_knowledge_base_pickles_without_its_compiled_closures(small: KnowledgeBase) -> None:
    """Batch workers receive the knowledge base pickled; closures would not pickle, so they are recomputed."""
    assert small.evaluators and small.synonyms
    state = small.__getstate__()
    assert "evaluators" not in state and "synonyms" not in state and "_by_id" not in state
    assert state["name"] == "small" and state["rules"] == small.rules
    copy = pickle.loads(pickle.dumps(small))
    assert copy.rules == small.rules and copy.evaluators[5][1]({"c": 1}) is True


def test_a_consultation_reads_its_conclusions_by_kind(small: KnowledgeBase) -> None:
    def conclusion(cid: str, kind: str) -> Conclusion:
        return Conclusion(cid, kind, cid, cid, (), None, (cid,), ())
    made = Consultation(patient={}, fired=(), derived=(), conclusions=(
        conclusion("x", "caution"), conclusion("y", "dosing"), conclusion("z", "caution")),
        resolutions=(), dose=None, dose_note=None, missing=(), trace=(),
        verdict=Verdict("undetermined", None, ()))
    assert [c.id for c in made.by_kind("caution")] == ["x", "z"]
    assert made.by_kind("monitoring") == []
    assert made.ivig_indicated is None and made.warnings == ()
    assert (conclusion("x", "caution").therapy_class, conclusion("x", "caution").outside_scope,
            conclusion("x", "caution").strength) == (None, False, None)


def test_the_open_world_evaluator_leaves_a_fact_that_may_yet_be_known_open(kb: KnowledgeBase) -> None:
    """The ideal-weight rule needs sex and height known: false today, but open until the clinician answers."""
    (_, closed, open_), = [entry for entry in kb.evaluators if entry[0].id == "dosing.ideal_body_weight"]
    view = {"ivig_advised": True, "height_cm": 170}
    assert closed(view) is False and open_(view) is None
    assert closed({**view, "sex": "male"}) is True and open_({**view, "sex": "male"}) is True


def test_every_verdict_name_the_type_allows_has_its_spec_and_no_other() -> None:
    """`Verdict.value` is typed (a typo is a type error); the table holds exactly the names the type allows,
    and every strength gives one of them."""
    import typing

    from myoivig.engine.model import STRENGTHS, VerdictName
    assert list(VERDICTS) == list(typing.get_args(VerdictName))
    assert {strength.verdict for strength in STRENGTHS.values()} <= set(VERDICTS)
