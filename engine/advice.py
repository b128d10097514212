"""What the clinician is told: one advice model, built once from a consultation.

Every surface (text, JSON, batch CSV, the HTML report and the web page, CDS Hooks cards,
what-if, `kb diff`, replay) renders this and chooses nothing itself: which regimen is given
first, which hard stops are still to be asked, which conclusions go under which heading.
A conclusion kind or a dose field added here reaches every surface, or a test that reads
each surface's output back fails.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from .dose import COURSES_GIVEN
from .model import KIND, Conclusion, Consultation, Dose, KnowledgeBase, MissingFact, Regimen, VerdictSpec
from .verdict import VERDICTS

SECTION_KINDS = ("early_initiation", "combination", "preparation", "side_effects", "monitoring")
"""The kinds shown after the dose, in this order, each under its KINDS title."""
ROUTE_KINDS = ("scope", "indication", "evidence")
"""The kinds shown under the verdict: why it is what it is."""
FIRST_SCREEN_SECTIONS = ("early_initiation", "combination", "preparation", "side_effects")
"""Sections whose statements are on the first screen; the others are counted there, shown in detail.
Side effects come with their prevention (a slower rate, premedication): the document's own words,
needed before the first infusion, not behind --detail; so are the checks before treatment."""


@dataclass(frozen=True)
class RegimenOption:
    """One regimen as the clinician reads it: its role, and the numbers."""

    role: str  # give | also | standard | alternative
    regimen: Regimen
    label: str  # "Give first (cautions apply)", "Or", "Standard", "Alternative"


@dataclass(frozen=True)
class DoseAdvice:
    """The regimen to give first, the others beside it, and how the numbers were reached."""

    dose: Dose
    options: tuple[RegimenOption, ...]  # the first is the one to give
    conclusions: tuple[Conclusion, ...]  # the dosing rules' statements

    @property
    def give(self) -> Regimen:
        return self.options[0].regimen

    @property
    def cautious(self) -> bool:
        return self.dose.preferred.regimen == "cautious"

    @property
    def beyond_duration(self) -> bool:
        """The next course is past the document's 1-6 months: review before going on."""
        months = self.dose.standard.duration_months
        return bool(months and self.dose.next_course is not None and self.dose.next_course > months[1])

    @property
    def next_course(self) -> str | None:
        """`Next course: number 7: beyond the document's 1-6 months, review the response first [local policy]`."""
        if self.dose.next_course is None:
            return None
        months = self.dose.standard.duration_months or (1, 1)
        beyond = f": beyond the document's {span(months)} months, review the response first [local policy]" \
            if self.beyond_duration else ""
        return f"Next course: number {self.dose.next_course}{beyond}"


@dataclass(frozen=True)
class Section:
    kind: str
    title: str
    conclusions: tuple[Conclusion, ...]
    classes: tuple[str, ...] = ()  # combination: the therapy classes advised

    @property
    def first_screen(self) -> bool:
        return self.kind in FIRST_SCREEN_SECTIONS


HELD_BACK = "Routes to IVIG that hold, but give no advice while the above stands:"
"""Said above the routes when the verdict holds them back (a hard stop, out of scope)."""

@dataclass(frozen=True)
class Advice:
    """Everything a clinician is told about one patient, in the order it is read."""

    consultation: Consultation
    spec: VerdictSpec
    reason: Conclusion | None  # the conclusion that decided the verdict, shown first
    routes: tuple[Conclusion, ...]  # scope, indication and evidence conclusions, in reading order
    hard_stops: tuple[Conclusion, ...]
    hard_stops_not_given: tuple[MissingFact, ...]  # ask before the first infusion
    cautions: tuple[Conclusion, ...]
    caution_facts: tuple[str, ...]  # the given facts behind the cautions
    cautions_not_given: tuple[MissingFact, ...]
    warnings: tuple[tuple[str, str], ...]
    dose: DoseAdvice | None
    dose_note: str | None
    dosing: tuple[Conclusion, ...]  # the dosing rules' statements, with a dose or without one
    sections: tuple[Section, ...]  # early initiation, combination, side effects, monitoring (those that hold)
    missing: tuple[MissingFact, ...]  # safety first

    @property
    def verdict(self) -> str:
        return self.consultation.verdict.value

    @property
    def headline(self) -> str:
        strength = self.consultation.verdict.strength
        return f"IVIG: {self.spec.headline}" + (f' - the source says IVIG "{strength}"' if strength else "")

    @property
    def routes_held_back(self) -> bool:
        """Routes to IVIG hold, but a hard stop or the scope gives no advice."""
        return self.spec.holds_routes_back and any(c.kind == "indication" for c in self.routes)

    @property
    def open_facts(self) -> tuple[str, ...]:
        """The unknown facts whose answers could make IVIG indicated, when the verdict names them."""
        return self.consultation.verdict.open_facts if self.spec.names_open_facts else ()

    @property
    def open_facts_line(self) -> str | None:
        return f"Could become indicated with: {', '.join(self.open_facts)}" if self.open_facts else None

    @property
    def ask_before(self) -> str:
        """When the hard-stop questions are due: before the first infusion, or the next once courses were given."""
        given = self.consultation.patient.get(COURSES_GIVEN)
        return "the next infusion" if isinstance(given, (int, float)) and given >= 1 else "the first infusion"

    @cached_property
    def missing_first(self) -> tuple[MissingFact, ...]:
        """The questions on the first screen: those that could change safety, the verdict or the dose."""
        return tuple(m for m in self.missing if m.concern != "other")

    @cached_property
    def missing_more(self) -> tuple[MissingFact, ...]:
        """The first-screen questions not already asked under the hard stops."""
        return tuple(m for m in self.missing_first if m not in self.hard_stops_not_given)

    def section(self, kind: str) -> Section | None:
        return next((s for s in self.sections if s.kind == kind), None)

    @property
    def combination_classes(self) -> tuple[str, ...]:
        found = self.section("combination")
        return found.classes if found else ()

    @property
    def early_initiation(self) -> bool:
        return self.section("early_initiation") is not None


def advise(kb: KnowledgeBase, consultation: Consultation) -> Advice:
    """The advice for one consultation: the only place conclusions are sorted onto headings."""
    verdict = consultation.verdict
    by_kind = {kind: tuple(consultation.by_kind(kind)) for kind in KIND}
    reasons = {"contraindicated": by_kind["contraindication"],
               "out_of_scope": tuple(c for c in by_kind["scope"] if c.outside_scope),
               "indicated": tuple(c for c in by_kind["indication"] if c.strength),
               "may_be_considered": tuple(c for c in by_kind["indication"] if c.strength)}.get(verdict.value, ())
    sections = []
    for kind in SECTION_KINDS:
        if by_kind[kind]:
            classes = tuple(sorted({c.therapy_class for c in by_kind[kind] if c.therapy_class}))
            sections.append(Section(kind, KIND[kind].title, by_kind[kind], classes))
    missing = consultation.missing
    if verdict.value == "contraindicated":  # while a hard stop stands, only what could lift or add one matters
        missing = tuple(m for m in missing if m.concern == "hard_stop" or m.verdicts)
    return Advice(
        consultation=consultation, spec=VERDICTS[verdict.value], reason=reasons[0] if reasons else None,
        routes=tuple(c for kind in ROUTE_KINDS for c in by_kind[kind]),
        hard_stops=by_kind["contraindication"],
        hard_stops_not_given=() if by_kind["contraindication"] else tuple(
            m for m in missing if m.concern == "hard_stop"),
        cautions=by_kind["caution"],
        caution_facts=tuple(sorted({fact for c in by_kind["caution"] for fact in c.rests_on_facts
                                    if fact in consultation.patient})),
        cautions_not_given=tuple(m for m in missing if m.concern == "caution"),
        warnings=tuple((wid, _tagged(kb, wid, text)) for wid, text in consultation.warnings),
        dose=_dose_advice(consultation.dose, by_kind["dosing"]) if consultation.dose else None,
        dose_note=consultation.dose_note, dosing=by_kind["dosing"], sections=tuple(sections), missing=missing)


def _tagged(kb: KnowledgeBase, wid: str, text: str) -> str:
    """A warning as every surface shows it: with its references and `[local policy]` when its rule has one."""
    rule = next((r for r in kb.rules if r.id == wid), None)
    if rule is None or "[local policy]" in text:
        return text
    refs = sorted({q.ref for q in rule.provenance.sources})
    tags = ([f"[{', '.join(refs)}]"] if refs else []) + (["[local policy]"] if rule.provenance.local_policy else [])
    return " ".join([text, *tags])


def _dose_advice(dose: Dose, conclusions: tuple[Conclusion, ...]) -> DoseAdvice:
    """The regimen to give first: the cautious one when cautions apply, else the document's standard."""
    preferred = dose.preferred
    options: list[RegimenOption] = []
    if preferred.regimen == "cautious" and preferred.lower_end and preferred.spread:
        options += [RegimenOption("give", preferred.lower_end, "Give (cautions apply)"),
                    RegimenOption("also", preferred.spread, "or"),
                    RegimenOption("standard", dose.standard, "Standard, not preferred here [local policy]")]
    else:
        options.append(RegimenOption("give", dose.standard, "Give"))
    if dose.alternative:
        options.append(RegimenOption("alternative", dose.alternative, "Alternative"))
    return DoseAdvice(dose, tuple(options), conclusions)


def amount(regimen: Regimen) -> str:
    """`57 g over 2 days (28 g/day)`, `114 g in 2-5 daily doses (23-57 g/day)`: the one way a regimen is said."""
    days = span(regimen.days_per_course)
    when = f"over {days} days" if regimen.days_per_course[0] == regimen.days_per_course[1] \
        else f"in {days} daily doses"
    return f"{span(regimen.course_total_g)} g {when} ({span(regimen.per_day_g)} g/day)"


def span(pair: Sequence[float]) -> str:
    low, high = pair
    return f"{low:g}" if low == high else f"{low:g}-{high:g}"
