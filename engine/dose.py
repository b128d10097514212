"""Dose arithmetic. Every number comes from the dose blocks of the rules that fired.

Code only multiplies and rounds; what to multiply (g/kg, days, the weight
formula and its constants) is in knowledge_base/rules/dosing.yaml, where a
knowledge engineer can read and change it.
"""
from __future__ import annotations

from collections.abc import Collection, Mapping
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from .model import VERDICTS, Dose, KnowledgeBase, Preference, Regimen, VerdictName

WEIGHT_FACTS = ("sex", "height_cm")
"""What the ideal-body-weight formula needs (dosing.ideal_body_weight tests the same two)."""
BODY_FACTS = (*WEIGHT_FACTS, "weight_kg")
"""Every fact the dose arithmetic reads."""


COURSES_GIVEN = "ivig_courses_given"
"""The vocabulary's count of IVIG courses already given: the next course, and when hard stops are asked."""
DOSE_INPUTS = frozenset((*BODY_FACTS, COURSES_GIVEN))
"""Every fact compute_dose reads besides which rules fired: an answer to any other fact changes the dose
only by changing a rule (the missing-fact search relies on it; tests/test_missing.py checks it)."""

def round_to(value: float, step: float) -> float:
    """Round to a multiple of `step`, halves up (Python's round() rounds halves to even)."""
    steps = (Decimal(repr(value)) / Decimal(repr(step))).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return float(steps * Decimal(repr(step)))


def _fmt(value: float) -> str:
    return f"{value:g}"


def dose_blocks(kb: KnowledgeBase, fired: Collection[str]) -> dict[str, tuple[str, Mapping[str, Any]]]:
    """The fired dosing blocks by what they give (a regimen's name, weight_basis, ...), with their rule."""
    blocks: dict[str, tuple[str, Mapping[str, Any]]] = {}
    for rule_id in fired:
        block = kb.rule(rule_id).dose
        if block is None:
            continue
        for key in ("regimen", "weight_basis", "actual_weight_if_lower", "prefer_g_per_kg"):
            if key in block:
                name = block["regimen"] if key == "regimen" else key
                blocks[name] = (rule_id, block)
    return blocks


def withheld_by(kb: KnowledgeBase, fired: Collection[str]) -> list[str]:
    """The warnings that hold the dose back until a fact is checked (an adult weighing 3 kg)."""
    return [rule_id for rule_id in fired if (spec := kb.rule(rule_id).conclude) and spec.withholds_dose]


def usable(dose: Dose | None) -> Dose | None:
    """A dose is held back while its own checks fail (weight and height give an implausible BMI: a weight
    typed in pounds would give half the dose); the checks are shown, with the facts to check."""
    return None if dose is None or dose.warnings else dose


def dosable(blocks: Mapping[str, Any]) -> bool:
    """A dose needs the standard regimen and a weight basis (whose rule needs sex and height)."""
    return "standard" in blocks and "weight_basis" in blocks


def advised_dose(kb: KnowledgeBase, verdict: VerdictName, fired: Collection[str], facts: Mapping[str, Any]
                 ) -> Dose | None:
    """The verdict's precedence is code: a dose only under a verdict that advises IVIG (indicated, may be
    considered), whatever dosing rules fired. The loader refuses a rule that could dose a contraindicated
    patient (validate.advised_despite_hard_stop); this holds even if one slipped through."""
    return compute_dose(kb, fired, facts) if VERDICTS[verdict].ivig_indicated else None


def compute_dose(kb: KnowledgeBase, fired: Collection[str], facts: Mapping[str, Any]) -> Dose | None:
    """The dose for this patient, or None when no dosing rule with a weight basis fired (or the
    ideal body weight it gives is not above 0 kg)."""
    blocks = dose_blocks(kb, fired)
    if not dosable(blocks) or withheld_by(kb, fired):
        return None
    basis_rule, basis = blocks["weight_basis"]
    height_in = facts["height_cm"] / basis["cm_per_inch"]
    base = basis["base_kg"][facts["sex"]]
    ideal_raw = base + basis["kg_per_inch"] * (height_in - basis["base_height_in"])
    ideal = round_to(ideal_raw, basis["round_weight_kg"])
    if ideal <= 0:
        return None
    arithmetic = [
        f"height {_fmt(facts['height_cm'])} cm / {_fmt(basis['cm_per_inch'])} = {height_in:.2f} in",
        f"ideal body weight (Devine, {facts['sex']}) = {_fmt(base)} + {_fmt(basis['kg_per_inch'])} x "
        f"({height_in:.2f} - {_fmt(basis['base_height_in'])}) = {_fmt(ideal)} kg",
    ]
    rules = [basis_rule]
    weight, weight_basis = ideal, "ideal_body_weight"
    actual = facts.get("weight_kg")
    if "actual_weight_if_lower" in blocks and actual is not None:
        rules.append(blocks["actual_weight_if_lower"][0])
        if actual < ideal:
            weight = round_to(actual, basis["round_weight_kg"])
            weight_basis = "actual_body_weight"
            arithmetic.append(f"actual weight {_fmt(actual)} kg is below the ideal body weight: "
                              f"dosing weight = {_fmt(weight)} kg")
        else:
            arithmetic.append(f"actual weight {_fmt(actual)} kg is not below the ideal body weight: "
                              f"dosing weight = {_fmt(weight)} kg")
    else:
        arithmetic.append(f"dosing weight = ideal body weight = {_fmt(weight)} kg")

    step = basis["round_dose_g"]

    def grams(per_kg: float, divisor: float = 1) -> float:
        return round_to(per_kg * weight / divisor, step)

    standard_rule, standard = blocks["standard"]
    rules.insert(0, standard_rule)
    low, high = standard["g_per_kg"]
    days = standard["days_per_course"]
    regimen = Regimen(
        name="standard", rule=standard_rule, g_per_kg=(low, high),
        course_total_g=(grams(low), grams(high)), per_day_g=(grams(low, days), grams(high, days)),
        days_per_course=(days, days), interval=standard.get("interval"),
        duration_months=tuple(standard["duration_months"]) if "duration_months" in standard else None)
    arithmetic.append(
        f"standard course = {_fmt(low)}-{_fmt(high)} g/kg x {_fmt(weight)} kg = "
        f"{_fmt(regimen.course_total_g[0])}-{_fmt(regimen.course_total_g[1])} g over {days} days = "
        f"{_fmt(regimen.per_day_g[0])}-{_fmt(regimen.per_day_g[1])} g/day")
    alternative = None
    if "alternative" in blocks:
        alt_rule, alt = blocks["alternative"]
        rules.insert(1, alt_rule)
        per_kg = alt["g_per_kg"][0]
        fewest, most = alt["daily_doses"]
        alternative = Regimen(
            name="alternative", rule=alt_rule, g_per_kg=tuple(alt["g_per_kg"]),
            course_total_g=(grams(per_kg), grams(alt["g_per_kg"][1])),
            per_day_g=(grams(per_kg, most), grams(per_kg, fewest)), days_per_course=(fewest, most))
        arithmetic.append(
            f"alternative course = {_fmt(per_kg)} g/kg x {_fmt(weight)} kg = "
            f"{_fmt(alternative.course_total_g[0])} g in {fewest}-{most} daily doses = "
            f"{_fmt(alternative.per_day_g[0])}-{_fmt(alternative.per_day_g[1])} g/day")
    preferred = Preference("standard", "the document's typical regimen [1]")
    if "prefer_g_per_kg" in blocks:
        prefer_rule, prefer = blocks["prefer_g_per_kg"]
        rules.append(prefer_rule)
        per_kg, spread_days = prefer["prefer_g_per_kg"], prefer["prefer_daily_doses"]
        lower = Regimen("lower_end", prefer_rule, (per_kg, per_kg), (grams(per_kg),) * 2,
                        (grams(per_kg, days),) * 2, (days, days), regimen.interval, regimen.duration_months)
        top = regimen.g_per_kg[1]
        spread = Regimen("spread", prefer_rule, (top, top), (grams(top),) * 2, (grams(top, spread_days),) * 2,
                         (spread_days, spread_days), regimen.interval, regimen.duration_months)
        preferred = Preference("cautious", kb.rule(prefer_rule).conclude.statement,  # type: ignore[union-attr]
                               prefer_rule, lower, spread)
        arithmetic.append(f"cautious: {_fmt(per_kg)} g/kg x {_fmt(weight)} kg = {_fmt(lower.course_total_g[0])} g "
                          f"over {days} days ({_fmt(lower.per_day_g[0])} g/day), or {_fmt(top)} g/kg = "
                          f"{_fmt(spread.course_total_g[0])} g over {spread_days} days "
                          f"({_fmt(spread.per_day_g[0])} g/day)")
    warnings = []
    bmi = None
    if actual is not None:
        bmi = round(actual / (facts["height_cm"] / 100) ** 2, 1)
        low_bmi, high_bmi = basis.get("plausible_bmi", (0, float("inf")))
        if not low_bmi <= bmi <= high_bmi:
            warnings.append(("dose.bmi_implausible",
                             f"BMI {_fmt(bmi)} kg/m2 (from {_fmt(actual)} kg and {_fmt(facts['height_cm'])} cm) "
                            f"is outside {_fmt(low_bmi)}-{_fmt(high_bmi)}: check weight and height before dosing "
                            "[local policy]."))
    given = facts.get(COURSES_GIVEN)
    next_course = int(given) + 1 if given is not None else None
    rounding = (f"dosing weight to {_fmt(basis['round_weight_kg'])} kg; grams to the nearest "
                f"{_fmt(step)} g, halves up, each computed from the dosing weight (local policy, "
                f"{basis_rule})")
    return Dose(weight_basis=weight_basis, dosing_weight_kg=weight, ideal_body_weight_kg=ideal,
                arithmetic=tuple(arithmetic), rounding=rounding, standard=regimen,
                alternative=alternative, rules=tuple(rules), preferred=preferred, bmi=bmi,
                next_course=next_course, warnings=tuple(warnings))
