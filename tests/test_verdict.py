"""The verdict, decided once: each value reached by the facts that should reach it, with its rules."""
from __future__ import annotations

import pytest

from myoivig.engine import KnowledgeBase, consult, normalize

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
