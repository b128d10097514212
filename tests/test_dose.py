"""Dose arithmetic against values computed by hand (Devine: 50/45.5 kg + 2.3 kg per inch over 60 in).

Dose arithmetic, whole: the Devine ideal body weight at heights and sexes, the lower actual weight,
rounding halves up to the gram, the standard 2-day course, the 2-5 day alternative, the cautious
regimens, the BMI plausibility check at its bounds, the course count, and the exact arithmetic
lines and rule list a pharmacist checks.

Dose numbers taken from the rules exactly, the BMI check at its bounds, and the generated patient schema.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, consult, load_knowledge_base, normalize
from myoivig.engine.dose import BODY_FACTS, WEIGHT_FACTS, compute_dose, round_to
from myoivig.engine.model import FactSpec, Preference, Regimen
from myoivig.engine.serialize import patient_schema

from .builders import edit, knowledge_base

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


# ---------------------------------------------------------------- Dose arithmetic, whole: the Devine ideal body weight at heig
STANDARD, ALTERNATIVE = "dosing.standard_regimen", "dosing.alternative_regimen"
BASIS, ACTUAL, CAUTIOUS = "dosing.ideal_body_weight", "dosing.actual_weight_if_lower", "dosing.cautious_regimen"
ALL = (STANDARD, ALTERNATIVE, BASIS, ACTUAL, CAUTIOUS)
MAN = {"sex": "male", "height_cm": 180}  # 70.87 in: 50 + 2.3 x 10.87 = 74.99 -> 75 kg


def with_dose(kb: KnowledgeBase, rule_id: str, **changes: Any) -> KnowledgeBase:
    """The shipped knowledge base with one rule's dose block edited, as a knowledge engineer would."""
    rules = tuple(dataclasses.replace(r, dose={**(r.dose or {}), **changes}) if r.id == rule_id else r
                  for r in kb.rules)
    return dataclasses.replace(kb, rules=rules)


def test_the_facts_the_arithmetic_reads() -> None:
    """The missing-fact search and what-if name exactly these as the dose's inputs."""
    assert WEIGHT_FACTS == ("sex", "height_cm")
    assert BODY_FACTS == ("sex", "height_cm", "weight_kg")


@pytest.mark.parametrize("value, step, rounded", [
    (0.5, 1, 1.0), (1.5, 1, 2.0), (2.5, 1, 3.0), (2.49, 1, 2.0), (-2.5, 1, -3.0), (0, 1, 0.0),
    (74.95, 0.1, 75.0), (74.94, 0.1, 74.9), (7.5, 5, 10.0), (7.4, 5, 5.0), (12.5, 2.5, 12.5), (0.125, 0.25, 0.25),
])
def test_rounding_is_to_a_multiple_of_the_step_halves_up(value: float, step: float, rounded: float) -> None:
    """Python's round() would give 2 for 2.5; the pharmacy rounds halves up, to the vial step."""
    result = round_to(value, step)
    assert result == rounded and type(result) is float


def test_the_whole_dose_for_a_man_of_180_cm(kb: KnowledgeBase) -> None:
    """Every number and every line of the arithmetic, exactly as a pharmacist would redo it."""
    dose = compute_dose(kb, ALL, MAN)
    assert dose is not None
    assert (dose.weight_basis, dose.dosing_weight_kg, dose.ideal_body_weight_kg) == ("ideal_body_weight", 75.0, 75.0)
    assert dose.arithmetic == (
        "height 180 cm / 2.54 = 70.87 in",
        "ideal body weight (Devine, male) = 50 + 2.3 x (70.87 - 60) = 75 kg",
        "dosing weight = ideal body weight = 75 kg",
        "standard course = 1-2 g/kg x 75 kg = 75-150 g over 2 days = 38-75 g/day",
        "alternative course = 2 g/kg x 75 kg = 150 g in 2-5 daily doses = 30-75 g/day",
        "cautious: 1 g/kg x 75 kg = 75 g over 2 days (38 g/day), or 2 g/kg = 150 g over 5 days (30 g/day)",
    )
    assert dose.rounding == ("dosing weight to 0.1 kg; grams to the nearest 1 g, halves up, each computed from "
                             "the dosing weight (local policy, dosing.ideal_body_weight)")
    assert dose.standard == Regimen("standard", STANDARD, (1, 2), (75.0, 150.0), (38.0, 75.0), (2, 2), "monthly", (1, 6))
    assert dose.alternative == Regimen("alternative", ALTERNATIVE, (2, 2), (150.0, 150.0), (30.0, 75.0), (2, 5))
    assert dose.preferred == Preference(
        "cautious", kb.rule(CAUTIOUS).conclude.statement, CAUTIOUS,  # type: ignore[union-attr]
        Regimen("lower_end", CAUTIOUS, (1, 1), (75.0, 75.0), (38.0, 38.0), (2, 2), "monthly", (1, 6)),
        Regimen("spread", CAUTIOUS, (2, 2), (150.0, 150.0), (30.0, 30.0), (5, 5), "monthly", (1, 6)))
    # the standard rule first, then the alternative, the weight, the preference; the lower weight
    # only counts once a weight is known, and then stands after the ideal weight
    assert dose.rules == (STANDARD, ALTERNATIVE, BASIS, CAUTIOUS)
    assert (dose.bmi, dose.next_course, dose.warnings) == (None, None, ())
    weighed = compute_dose(kb, ALL, {**MAN, "weight_kg": 80})
    assert weighed is not None and weighed.rules == (STANDARD, ALTERNATIVE, BASIS, ACTUAL, CAUTIOUS)


@pytest.mark.parametrize("sex, height, height_line, ideal", [
    ("female", 165, "height 165 cm / 2.54 = 64.96 in", 56.9),
    ("female", 152.4, "height 152.4 cm / 2.54 = 60.00 in", 45.5),   # exactly 5 ft: the base weight
    ("male", 152.4, "height 152.4 cm / 2.54 = 60.00 in", 50.0),
    ("male", 150, "height 150 cm / 2.54 = 59.06 in", 47.8),         # below 5 ft: subtracted
    ("female", 200, "height 200 cm / 2.54 = 78.74 in", 88.6),
])
def test_the_ideal_body_weight_at_heights_and_sexes(kb: KnowledgeBase, sex: str, height: float,
                                                    height_line: str, ideal: float) -> None:
    """Devine: 50 kg (men) or 45.5 kg (women) plus 2.3 kg per inch over 60 inches, to 0.1 kg."""
    dose = compute_dose(kb, (STANDARD, BASIS), {"sex": sex, "height_cm": height})
    assert dose is not None
    assert dose.ideal_body_weight_kg == ideal and dose.dosing_weight_kg == ideal
    assert dose.arithmetic[0] == height_line
    base = "50" if sex == "male" else "45.5"
    assert dose.arithmetic[1] == (f"ideal body weight (Devine, {sex}) = {base} + 2.3 x "
                                  f"({height_line.split('= ')[1][:-3]} - 60) = {ideal:g} kg")
    assert dose.rules == (STANDARD, BASIS)
    assert dose.alternative is None
    assert dose.preferred == Preference("standard", "the document's typical regimen [1]")


@pytest.mark.parametrize("height, ideal", [(97.18, None), (97.2, None), (97.29, 0.1), (90, None)])
def test_no_dose_when_the_ideal_weight_is_not_positive(kb: KnowledgeBase, height: float,
                                                       ideal: float | None) -> None:
    """A man of 97.2 cm has an ideal weight that rounds to 0 kg: no dose rather than 0 g; 0.1 kg still doses."""
    dose = compute_dose(kb, (STANDARD, BASIS), {"sex": "male", "height_cm": height})
    assert (dose and dose.ideal_body_weight_kg) == ideal


@pytest.mark.parametrize("fired", [(STANDARD,), (BASIS,), (ALTERNATIVE, BASIS, CAUTIOUS), (), ("caution.renal_insufficiency",)])
def test_no_dose_without_both_the_standard_regimen_and_the_weight_basis(kb: KnowledgeBase,
                                                                        fired: tuple[str, ...]) -> None:
    """Rules without a dose block, or half the dosing rules, give no dose and no guess."""
    assert compute_dose(kb, fired, MAN) is None


@pytest.mark.parametrize("weight, basis, dosing, line", [
    (74.9, "actual_body_weight", 74.9, "actual weight 74.9 kg is below the ideal body weight: dosing weight = 74.9 kg"),
    (60.04, "actual_body_weight", 60.0, "actual weight 60.04 kg is below the ideal body weight: dosing weight = 60 kg"),
    (75, "ideal_body_weight", 75.0, "actual weight 75 kg is not below the ideal body weight: dosing weight = 75 kg"),
    (75.01, "ideal_body_weight", 75.0,
     "actual weight 75.01 kg is not below the ideal body weight: dosing weight = 75 kg"),
])
def test_the_actual_weight_is_the_dosing_weight_only_when_lower(kb: KnowledgeBase, weight: float, basis: str,
                                                                 dosing: float, line: str) -> None:
    """At exactly the ideal weight the ideal weight is kept; below it, the actual weight rounded to 0.1 kg."""
    dose = compute_dose(kb, (STANDARD, BASIS, ACTUAL), {**MAN, "weight_kg": weight})
    assert dose is not None
    assert (dose.weight_basis, dose.dosing_weight_kg, dose.ideal_body_weight_kg) == (basis, dosing, 75.0)
    assert dose.arithmetic[2] == line
    assert dose.rules == (STANDARD, BASIS, ACTUAL)


def test_a_light_patient_is_dosed_on_the_lower_weight_in_every_regimen(kb: KnowledgeBase) -> None:
    dose = compute_dose(kb, ALL, {**MAN, "weight_kg": 61})
    assert dose is not None and dose.alternative is not None and dose.preferred.spread is not None
    assert dose.standard.course_total_g == (61.0, 122.0) and dose.standard.per_day_g == (31.0, 61.0)
    assert dose.alternative.per_day_g == (24.0, 61.0)   # 122/5 = 24.4, 122/2
    assert dose.preferred.spread.per_day_g == (24.0, 24.0)
    assert dose.bmi == 18.8                              # 61 / 1.8^2 = 18.83


def test_a_known_weight_without_the_lower_weight_rule_keeps_the_ideal_weight(kb: KnowledgeBase) -> None:
    """Only the rule decides whether the actual weight counts; the weight still feeds the BMI check."""
    dose = compute_dose(kb, (STANDARD, BASIS), {**MAN, "weight_kg": 60})
    assert dose is not None
    assert (dose.weight_basis, dose.dosing_weight_kg) == ("ideal_body_weight", 75.0)
    assert dose.arithmetic[2] == "dosing weight = ideal body weight = 75 kg"
    assert dose.rules == (STANDARD, BASIS)
    assert dose.bmi == 18.5


def test_the_lower_weight_rule_without_a_weight_keeps_the_ideal_weight(kb: KnowledgeBase) -> None:
    dose = compute_dose(kb, (STANDARD, BASIS, ACTUAL), MAN)
    assert dose is not None
    assert dose.arithmetic[2] == "dosing weight = ideal body weight = 75 kg"
    assert dose.rules == (STANDARD, BASIS)
    assert dose.bmi is None


@pytest.mark.parametrize("weight, bmi, warned", [
    (27, 12.0, False), (26.97, 12.0, False), (26.8, 11.9, True), (157.5, 70.0, False), (157.6, 70.0, False),
    (157.8, 70.1, True), (180, 80.0, True),
])
def test_the_bmi_check_is_closed_at_12_and_70(kb: KnowledgeBase, weight: float, bmi: float, warned: bool) -> None:
    """BMI to one decimal from weight and height; outside 12-70 the clinician is asked to check both."""
    dose = compute_dose(kb, (STANDARD, BASIS), {"sex": "female", "height_cm": 150, "weight_kg": weight})
    assert dose is not None and dose.bmi == bmi
    expected = (("dose.bmi_implausible",
                 f"BMI {bmi:g} kg/m2 (from {weight:g} kg and 150 cm) is outside 12-70: check weight and height "
                 "before dosing [local policy]."),) if warned else ()
    assert dose.warnings == expected


def test_without_a_plausible_bmi_range_no_bmi_is_implausible(kb: KnowledgeBase) -> None:
    basis = dict(kb.rule(BASIS).dose or {})
    del basis["plausible_bmi"]
    edited = dataclasses.replace(kb, rules=tuple(dataclasses.replace(r, dose=basis) if r.id == BASIS else r
                                                 for r in kb.rules))
    dose = compute_dose(edited, (STANDARD, BASIS), {"sex": "female", "height_cm": 150, "weight_kg": 300})
    assert dose is not None and dose.bmi == 133.3 and dose.warnings == ()
    tiny = compute_dose(edited, (STANDARD, BASIS), {"sex": "female", "height_cm": 250, "weight_kg": 2})
    assert tiny is not None and tiny.bmi == 0.3 and tiny.warnings == ()


@pytest.mark.parametrize("given, next_course", [(None, None), (0, 1), (1, 2), (5.0, 6)])
def test_the_next_course_is_counted_from_the_courses_given(kb: KnowledgeBase, given: float | None,
                                                           next_course: int | None) -> None:
    facts: Mapping[str, Any] = {**MAN, "ivig_courses_given": given} if given is not None else MAN
    dose = compute_dose(kb, (STANDARD, BASIS), facts)
    assert dose is not None and dose.next_course == next_course
    assert next_course is None or type(dose.next_course) is int


def test_an_alternative_with_two_ends_reports_its_low_course(kb: KnowledgeBase) -> None:
    """A 1.5-2 g/kg alternative: the course line names the low end the per-day doses come from."""
    edited = with_dose(kb, ALTERNATIVE, g_per_kg=[1.5, 2], daily_doses=[3, 4])
    dose = compute_dose(edited, (STANDARD, ALTERNATIVE, BASIS), MAN)
    assert dose is not None and dose.alternative is not None
    assert dose.alternative == Regimen("alternative", ALTERNATIVE, (1.5, 2), (113.0, 150.0), (28.0, 38.0), (3, 4))
    assert dose.arithmetic[-1] == "alternative course = 1.5 g/kg x 75 kg = 113 g in 3-4 daily doses = 28-38 g/day"
    assert dose.rules == (STANDARD, ALTERNATIVE, BASIS)


def test_a_cautious_preference_of_its_own_numbers(kb: KnowledgeBase) -> None:
    """The cautious regimens read their g/kg and days from the rule: lower end and spread differ here."""
    edited = with_dose(kb, CAUTIOUS, prefer_g_per_kg=1.2, prefer_daily_doses=4)
    edited = with_dose(edited, STANDARD, g_per_kg=[1, 1.8], days_per_course=3)
    dose = compute_dose(edited, (STANDARD, BASIS, CAUTIOUS), {"sex": "female", "height_cm": 165})
    assert dose is not None
    lower, spread = dose.preferred.lower_end, dose.preferred.spread
    # 56.9 kg: 1.2 x 56.9 = 68.28 -> 68 g, /3 = 22.76 -> 23; 1.8 x 56.9 = 102.42 -> 102 g, /4 = 25.6 -> 26
    assert lower == Regimen("lower_end", CAUTIOUS, (1.2, 1.2), (68.0, 68.0), (23.0, 23.0), (3, 3), "monthly", (1, 6))
    assert spread == Regimen("spread", CAUTIOUS, (1.8, 1.8), (102.0, 102.0), (26.0, 26.0), (4, 4), "monthly", (1, 6))
    assert dose.standard.per_day_g == (19.0, 34.0)   # 56.9/3 = 18.97, 102.42/3 = 34.14
    assert dose.arithmetic[-1] == ("cautious: 1.2 g/kg x 56.9 kg = 68 g over 3 days (23 g/day), "
                                   "or 1.8 g/kg = 102 g over 4 days (26 g/day)")
    assert dose.arithmetic[-2] == "standard course = 1-1.8 g/kg x 56.9 kg = 57-102 g over 3 days = 19-34 g/day"
    assert dose.rules == (STANDARD, BASIS, CAUTIOUS)


def test_a_standard_regimen_without_interval_or_duration(kb: KnowledgeBase) -> None:
    rules = tuple(dataclasses.replace(r, dose={"regimen": "standard", "g_per_kg": [1, 2], "days_per_course": 2})
                  if r.id == STANDARD else r for r in kb.rules)
    dose = compute_dose(dataclasses.replace(kb, rules=rules), (STANDARD, BASIS), MAN)
    assert dose is not None
    assert (dose.standard.interval, dose.standard.duration_months) == (None, None)


def test_rounding_steps_come_from_the_rule(kb: KnowledgeBase) -> None:
    """Pharmacy may round to 5 g vials and to whole kilograms: the numbers follow the rule, not the code."""
    edited = with_dose(kb, BASIS, round_dose_g=5, round_weight_kg=1)
    dose = compute_dose(edited, (STANDARD, BASIS), {"sex": "female", "height_cm": 165})
    assert dose is not None
    assert dose.ideal_body_weight_kg == 57.0
    assert dose.standard.course_total_g == (55.0, 115.0)   # 57 -> 55; 114 -> 115
    assert dose.standard.per_day_g == (30.0, 55.0)          # 28.5 -> 30; 57 -> 55
    assert dose.rounding.startswith("dosing weight to 1 kg; grams to the nearest 5 g, halves up")


# ---------------------------------------------------------------- Dose numbers taken from the rules exactly, the BMI check at
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
    custom = knowledge_base(facts=[pounds], name="t")
    schema = patient_schema(custom)
    assert schema["properties"]["weight_lb"]["description"] == "Weight? Body weight. Unit: lb (also kg)."
    shipped = patient_schema(kb)["properties"]["height_cm"]["description"]
    assert shipped.endswith(" Unit: cm (also m, in, ft).")
