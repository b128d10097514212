"""Dose arithmetic against values computed by hand (Devine: 50/45.5 kg + 2.3 kg per inch over 60 in)."""
from __future__ import annotations

import pytest

from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine.dose import round_to

BASE = {"diagnosis": "dermatomyositis", "dysphagia": True, "age_years": 50}


def dose_for(kb: KnowledgeBase, **facts: object):
    return consult(kb, normalize(kb, {**BASE, **facts}))


@pytest.mark.parametrize("sex,height,ideal,course,per_day,alt_per_day", [
    # 180 cm = 70.866 in: 50 + 2.3 * 10.866 = 74.99 kg
    ("male", 180, 75.0, (75, 150), (38, 75), (30, 75)),
    # 165 cm = 64.961 in: 45.5 + 2.3 * 4.961 = 56.91 kg; 56.9/2 = 28.45 -> 28
    ("female", 165, 56.9, (57, 114), (28, 57), (23, 57)),
    # under 5 ft: 150 cm = 59.055 in: 45.5 - 2.3 * 0.945 = 43.33 kg
    ("female", 150, 43.3, (43, 87), (22, 43), (17, 43)),
    # under 5 ft: 147 cm = 57.874 in: 50 - 2.3 * 2.126 = 45.11 kg
    ("male", 147, 45.1, (45, 90), (23, 45), (18, 45)),
    # exactly 5 ft: 152.4 cm = 60 in: the base weight itself
    ("male", 152.4, 50.0, (50, 100), (25, 50), (20, 50)),
])
def test_ideal_body_weight_dose(kb: KnowledgeBase, sex: str, height: float, ideal: float,
                                course: tuple, per_day: tuple, alt_per_day: tuple) -> None:
    dose = dose_for(kb, sex=sex, height_cm=height).dose
    assert dose is not None
    assert dose.weight_basis == "ideal_body_weight"
    assert dose.ideal_body_weight_kg == ideal
    assert dose.dosing_weight_kg == ideal
    assert dose.standard.course_total_g == course
    assert dose.standard.per_day_g == per_day
    assert dose.standard.days_per_course == (2, 2)
    assert dose.standard.interval == "monthly"
    assert dose.standard.duration_months == (1, 6)
    assert dose.alternative is not None
    assert dose.alternative.course_total_g == (course[1], course[1])
    assert dose.alternative.per_day_g == alt_per_day
    assert dose.alternative.days_per_course == (2, 5)


def test_actual_weight_below_ideal_is_the_dosing_weight(kb: KnowledgeBase) -> None:
    dose = dose_for(kb, sex="male", height_cm=180, weight_kg=60).dose
    assert dose is not None
    assert (dose.weight_basis, dose.dosing_weight_kg, dose.ideal_body_weight_kg) == ("actual_body_weight", 60, 75)
    assert dose.standard.course_total_g == (60, 120)


def test_actual_weight_above_ideal_changes_nothing(kb: KnowledgeBase) -> None:
    dose = dose_for(kb, sex="male", height_cm=180, weight_kg=110).dose
    assert dose is not None
    assert (dose.weight_basis, dose.dosing_weight_kg) == ("ideal_body_weight", 75)


@pytest.mark.parametrize("given,absent", [({"sex": "male"}, "height_cm"), ({"height_cm": 170}, "sex"),
                                          ({}, "sex and height_cm")])
def test_no_dose_and_no_guess_without_sex_and_height(kb: KnowledgeBase, given: dict, absent: str) -> None:
    consultation = dose_for(kb, **given)
    assert consultation.dose is None
    assert consultation.dose_note is not None and f"No dose: {absent} not given" in consultation.dose_note
    assert {"sex", "height_cm"} - set(given) <= {m.fact for m in consultation.missing if m.could_change_dose}


def test_no_dose_when_not_indicated(kb: KnowledgeBase) -> None:
    consultation = consult(kb, normalize(kb, {"diagnosis": "DM", "severity": "mild", "sex": "male",
                                             "height_cm": 180}))
    assert consultation.dose is None
    assert consultation.dose_note == "No dose until the verdict is decided: answer the questions under MISSING."
    known = {"diagnosis": "DM", "severity": "mild", "rapidly_progressive": False, "dysphagia": False,
             "respiratory_involvement": False, "intolerant_to_standard_therapy": False,
             "corticosteroid_contraindicated": False, "refractory": False, "flare": False,
             "autoantibodies": [], "sex": "male", "height_cm": 180}
    consultation = consult(kb, normalize(kb, known))
    assert consultation.verdict.value == "not_indicated"
    assert consultation.dose_note == "No dose: IVIG is not indicated on the facts given."


def test_dose_numbers_come_from_the_rules(kb_copy) -> None:
    from myoivig.engine import load_knowledge_base
    path = kb_copy / "rules" / "dosing.yaml"
    path.write_text(path.read_text().replace("g_per_kg: [1, 2]", "g_per_kg: [0.4, 2]"))
    edited = load_knowledge_base(kb_copy)
    dose = consult(edited, normalize(edited, {**BASE, "sex": "male", "height_cm": 180})).dose
    assert dose is not None and dose.standard.course_total_g == (30, 150)


@pytest.mark.parametrize("value,step,expected", [(28.45, 1, 28), (28.5, 1, 29), (70.5, 1, 71),
                                                 (56.909, 0.1, 56.9), (74.995, 0.1, 75.0), (2.5, 5, 5)])
def test_rounding_is_half_up(value: float, step: float, expected: float) -> None:
    assert round_to(value, step) == expected
