"""Dose numbers taken from the rules exactly, the BMI check at its bounds, and the generated patient schema."""
from __future__ import annotations

from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, consult, load_knowledge_base, normalize
from myoivig.engine.model import FactSpec
from myoivig.engine.serialize import patient_schema

from .builders import edit

SEVERE = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165}


@pytest.mark.parametrize(("height", "weight", "warned"), [(200, 48, False), (200, 47.6, True), (150, 157.5, False),
                                                          (150, 159.75, True), (150, 180, True)])
def test_the_bmi_check_accepts_12_to_70_inclusive(kb: KnowledgeBase, height: float, weight: float,
                                                  warned: bool) -> None:
    """dosing.yaml's plausible_bmi [12, 70] is closed: BMI 12.0 and 70.0 pass and are dosed; 11.9 and 71.0 are
    flagged, and no dose is given until weight and height are checked (a weight in pounds would halve it)."""
    advised = consult(kb, normalize(kb, {**SEVERE, "height_cm": height, "weight_kg": weight}))
    assert [w[0] for w in advised.warnings if w[0].startswith("dose.")] == (["dose.bmi_implausible"] if warned else [])
    assert (advised.dose is None) == warned
    if warned:
        assert advised.dose_note is not None and advised.dose_note.startswith("No dose until the facts are checked: BMI")


def test_the_alternative_course_spans_both_ends_of_its_g_per_kg(kb_copy: Path) -> None:
    """The alternative regimen's course is its low and high g/kg times the dosing weight, as dosing.yaml says."""
    edit(kb_copy / "rules" / "dosing.yaml", "      g_per_kg: [2, 2]\n      daily_doses: [2, 5]",
         "      g_per_kg: [1.5, 2]\n      daily_doses: [2, 5]")
    kb = load_knowledge_base(kb_copy)
    dose = consult(kb, normalize(kb, SEVERE)).dose
    assert dose is not None and dose.alternative is not None
    assert dose.dosing_weight_kg == 56.9
    assert dose.alternative.course_total_g == (85.0, 114.0)


def test_the_patient_schema_lists_every_other_unit_of_a_fact(kb: KnowledgeBase) -> None:
    """Each number fact's description names its unit and every other unit it is read in, whatever their order."""
    pounds = FactSpec("weight_lb", "number", "Body weight.", "Weight?", unit="lb", units={"lb": 1, "kg": 2.20462},
                      range=(4, 800))
    custom = KnowledgeBase(name="t", version="1", sha256="2" * 64, root=Path("."), facts={"weight_lb": pounds},
                           derived={}, rules=(), references={}, document="", background="")
    schema = patient_schema(custom)
    assert schema["properties"]["weight_lb"]["description"] == "Weight? Body weight. Unit: lb (also kg)."
    shipped = patient_schema(kb)["properties"]["height_cm"]["description"]
    assert shipped.endswith(" Unit: cm (also m, in, ft).")
