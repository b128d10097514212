"""The verdict, decided once: each value reached by the facts that should reach it, with its rules.

The verdict, decided from every shape of evaluation on a small knowledge base: hard stop, then
scope (only a rule outside scope), then the strongest route with every rule of its verdict, then the
routes still open, then not indicated.
"""
from __future__ import annotations

import pytest

from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine.evaluator import Evaluation
from myoivig.engine.model import ConclusionSpec, FactSpec, Provenance, Verdict
from myoivig.engine.verdict import VERDICTS, decide

from .builders import knowledge_base, rule

KNOWN_NO = {"rapidly_progressive": False, "dysphagia": False, "respiratory_involvement": False,
            "intolerant_to_standard_therapy": False, "refractory": False, "flare": False, "autoantibodies": [],
            "age_years": 50}


@pytest.mark.parametrize("facts,verdict,strength,rules", [
    ({"diagnosis": "DM", "severity": "severe", "corticosteroid_contraindicated": True},
     "indicated", "is recommended", ["indication.severe_or_rapidly_progressive"]),  # the weaker route is not listed
    ({"diagnosis": "DM", "severity": "mild", "corticosteroid_contraindicated": True},
     "may_be_considered", "can be tried", ["indication.corticosteroid_contraindication_pm_dm"]),
    ({"diagnosis": "DM", "severity": "mild", "flare": True, "corticosteroid_contraindicated": True},
     "indicated", "has been shown to be effective", ["indication.refractory_or_flaring_pm_dm"]),
    ({"diagnosis": "DM", "severity": "mild", "corticosteroid_contraindicated": False},
     "not_indicated", None, []),
    ({"diagnosis": "DM", "severity": "severe", "anti_iga_antibodies": True},
     "contraindicated", None, ["contraindication.anti_iga_antibodies"]),
    ({"diagnosis": "other", "severity": "severe", "prior_immunoglobulin_anaphylaxis": True},
     "contraindicated", None, ["contraindication.prior_immunoglobulin_anaphylaxis"]),  # a hard stop before scope
    ({"diagnosis": "DM", "severity": "severe", "age_years": 12}, "out_of_scope", None, ["scope.child"]),
])
def test_each_verdict(kb: KnowledgeBase, facts: dict, verdict: str, strength: str | None, rules: list[str]) -> None:
    consultation = consult(kb, normalize(kb, {**KNOWN_NO, **facts}))
    assert (consultation.verdict.value, consultation.verdict.strength) == (verdict, strength)
    assert list(consultation.verdict.rules) == rules


def test_undetermined_names_the_open_routes_and_the_facts_that_could_open_them(kb: KnowledgeBase) -> None:
    consultation = consult(kb, normalize(kb, {"severity": "severe"}))
    assert consultation.verdict.value == "undetermined" and consultation.ivig_indicated is None
    assert "indication.severe_or_rapidly_progressive" in consultation.verdict.rules
    assert "diagnosis" in consultation.verdict.open_facts


# ---------------------------------------------------------------- The verdict, decided from every shape of evaluation on a sma
RULES = (
    ("stop.one", "contraindication", False, None),
    ("stop.two", "contraindication", False, None),
    ("scope.inside", "scope", False, None),
    ("scope.outside", "scope", True, None),
    ("route.reported", "indication", False, "reported"),
    ("route.tried", "indication", False, "can_be_tried"),
    ("route.shown", "indication", False, "shown_effective"),
    ("route.recommended", "indication", False, "recommended"),
    ("plain.indication", "indication", False, None),
    ("caution.x", "caution", False, None),
)


@pytest.fixture(scope="module")
def small() -> KnowledgeBase:
    rules = tuple(rule(rid, "x: true", line=i + 1, conclude=ConclusionSpec(kind, rid, outside_scope=outside,
                                                                           strength=strength))
                  for i, (rid, kind, outside, strength) in enumerate(RULES))
    rules += (rule("derive.only", "x: true", title="d", line=99, provenance=Provenance(), derive=("d",)),)
    return knowledge_base(*rules, facts=[FactSpec("x", "bool", "m", "q")], name="s")


def judge(kb: KnowledgeBase, **truths: bool | None) -> Verdict:
    """Every rule False unless given; keys use '_' for '.'."""
    rules = {rule.id: truths.get(rule.id.replace(".", "_"), False) for rule in kb.rules}
    return decide(kb, Evaluation(rules, {}, tuple(rules)))


@pytest.mark.parametrize("truths, verdict", [
    ({"stop_two": True, "stop_one": True, "scope_outside": True, "route_recommended": True},
     Verdict("contraindicated", None, ("stop.one", "stop.two"))),
    ({"stop_two": True, "route_recommended": True}, Verdict("contraindicated", None, ("stop.two",))),
    ({"stop_one": None, "scope_outside": True, "route_recommended": True},
     Verdict("out_of_scope", None, ("scope.outside",))),
    ({"scope_inside": True, "route_tried": True}, Verdict("may_be_considered", "can be tried", ("route.tried",))),
    ({"route_reported": True, "route_tried": True},
     Verdict("may_be_considered", "can be tried", ("route.reported", "route.tried"))),
    ({"route_reported": True}, Verdict("may_be_considered", "has been reported", ("route.reported",))),
    ({"route_reported": True, "route_shown": True},
     Verdict("indicated", "has been shown to be effective", ("route.shown",))),
    ({"route_recommended": True, "route_shown": True, "route_tried": True},
     Verdict("indicated", "is recommended", ("route.shown", "route.recommended"))),
    ({"route_recommended": True, "route_reported": None},
     Verdict("indicated", "is recommended", ("route.recommended",))),
    ({"route_shown": None, "route_reported": None, "plain_indication": True, "caution_x": True},
     Verdict("undetermined", None, ("route.reported", "route.shown"))),
    ({"plain_indication": True, "caution_x": True, "derive_only": True}, Verdict("not_indicated", None, ())),
    ({"plain_indication": None, "stop_one": None, "scope_outside": None}, Verdict("not_indicated", None, ())),
    ({}, Verdict("not_indicated", None, ())),
])
def test_each_shape_of_evaluation_gives_its_verdict(small: KnowledgeBase, truths: dict[str, bool | None],
                                                    verdict: Verdict) -> None:
    """First that applies wins; an unknown hard stop or scope decides nothing; only routes can stay open."""
    assert judge(small, **truths) == verdict


def test_the_verdict_module_serves_the_one_list_of_verdicts() -> None:
    assert list(VERDICTS) == ["contraindicated", "out_of_scope", "indicated", "may_be_considered",
                              "undetermined", "not_indicated"]
