"""Text for a clinician in a hurry: the answer first, cautions unmissable, sources last."""
from __future__ import annotations

import shutil
import sys
import textwrap
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..engine.advice import HELD_BACK, Advice, RegimenOption, amount, span
from ..engine.conditions import show_value
from ..engine.model import KIND, Conclusion, Consultation, KnowledgeBase, Quote, Regimen, cited

if TYPE_CHECKING:  # annotations only: a consultation does not import what it does not use
    from ..engine.fhir import FhirReading

WIDTH = min(100, shutil.get_terminal_size((100, 24)).columns) if sys.stdout.isatty() else 100
"""Text wraps to the terminal (at most 100 columns); to 100 when written to a file or a pipe."""
DISCLAIMER = ("myoivig is decision support for clinicians, not a substitute for clinical judgement; "
              "check every dose against the IVIG product's label.")
RUN_ON_SECTIONS = ("preparation", "side_effects")
CONFIRMED = "confirmed identification"
"""Sections said as one paragraph on the first screen (their statements are short and read together)."""
CONCERN_WORDS = {"hard_stop": "a hard stop", "verdict": "the verdict", "caution": "a caution",
                 "dose": "the dose", "other": "other advice"}


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent) or [indent.rstrip()]


def reference_tag(kb: KnowledgeBase, ref: str, brief: bool = False) -> str:
    """What a reference is, as the document gives it and as sources.yaml judges it.

    `brief` (the first screen) leaves out a confirmed identification: only a doubt is worth a line there.
    """
    reference = kb.references[ref]
    if brief and reference.confidence == CONFIRMED:
        return reference.evidence
    return f"{reference.evidence}; {reference.confidence}"


def cite(kb: KnowledgeBase, conclusion: Conclusion, detail: bool = True) -> str:
    """`[1: guideline text ...; guideline not identified]` with --detail, `[1]` otherwise; `[local policy]`."""
    refs = cited(conclusion.sources)
    tags = [f"[{ref}: {reference_tag(kb, ref)}]" for ref in refs] if detail else (
        [f"[{', '.join(refs)}]"] if refs else [])
    if conclusion.local_policy:
        tags.append("[local policy]")
    return " ".join(tags)


def _item(kb: KnowledgeBase, conclusion: Conclusion, mark: str = "-", detail: bool = True) -> list[str]:
    rule = f" ({conclusion.id})" if detail else ""
    return _wrap(f"{conclusion.statement} {cite(kb, conclusion, detail)}{rule}", "    ", f"  {mark} ")


def _fmt(value: float) -> str:
    return f"{value:g}"


def dose_lines(kb: KnowledgeBase, advice: Advice, detail: bool = False) -> list[str]:
    """The regimen to give first, then the others; the arithmetic with --detail."""
    given = advice.dose
    if given is None:
        lines = _wrap(advice.dose_note or "No dose.", "    ", "  ")
        return lines + [line for c in advice.dosing for line in _item(kb, c)] if detail else lines
    dose = given.dose
    basis = ("ideal body weight, Devine formula [local policy]" if dose.weight_basis == "ideal_body_weight"
             else "actual body weight, below the ideal body weight [local policy]")
    lines = [f"  Dosing weight {_fmt(dose.dosing_weight_kg)} kg ({basis})"]
    give = [o for o in given.options if o.role in ("give", "also")]
    lines += _wrap(f"{give[0].label}: " + ", or ".join(regimen_text(o, brief=True) for o in give)
                   + f"; {schedule(given.give)} {_sources(give)}", "    ", "  ")
    for option in given.options:
        if option.role in ("give", "also") or (option.role == "alternative" and given.cautious and not detail):
            continue
        brief = option.role == "standard" and not detail  # its schedule is the one given above
        text = regimen_text(option, brief=brief) + (f" {_sources([option])}" if brief else "")
        lines += _wrap(f"{option.label}: {text}", "    ", "  ")
    if given.next_course is not None:
        lines += _wrap(given.next_course, "    ", "  ")
    if detail:
        lines.append("  Arithmetic:")
        lines += [f"    {step}" for step in dose.arithmetic]
        lines += _wrap(f"Rounding: {dose.rounding}", "    ", "  ")
        for conclusion in given.conclusions:
            lines += _item(kb, conclusion)
    return lines


REGIMEN_SOURCES = {"standard": ("[1]",), "alternative": ("[6]",), "lower_end": ("[1]", "[local policy]"),
                   "spread": ("[6]", "[local policy]")}
"""What each regimen rests on: the document's typical regimen [1], its review's [6], local policy's caution."""


def regimen_text(option: RegimenOption, brief: bool = False) -> str:
    """A regimen in one line: g/kg, grams per course and per day; with its schedule and source unless brief."""
    regimen = option.regimen
    text = f"{span(regimen.g_per_kg)} g/kg = {amount(regimen)}"
    return text if brief else f"{text}{', ' + schedule(regimen) if regimen.interval else ''} {_sources([option])}"


def schedule(regimen: Regimen) -> str:
    months = f", for {span(regimen.duration_months)} months" if regimen.duration_months else ""
    slow = "; slowest practicable rate" if regimen.name in ("lower_end", "spread") else ""
    return f"{regimen.interval or ''}{months}{slow}"


def _sources(options: list[RegimenOption]) -> str:
    tags = dict.fromkeys(tag for o in options for tag in REGIMEN_SOURCES.get(o.regimen.name, ()))
    return " ".join(sorted(tags, key=lambda tag: tag == "[local policy]"))


def render_consultation(kb: KnowledgeBase, advice: Advice, *, detail: bool = False,
                        trace: bool = False, read_as: list[str] | None = None,
                        fhir: FhirReading | None = None) -> str:
    """The clinician's view: verdict, hard stops, cautions and the dose to give on the first screen.

    Without `detail`, citations are reference numbers (the footer says what each is),
    and quotes, arithmetic and rule ids are left to --detail, --trace and JSON.
    """
    out = _verdict_lines(kb, advice, detail) + _safety_lines(kb, advice, detail)
    if read_as:
        out += _wrap("READ AS: " + "; ".join(read_as), "    ", "")
    if advice.warnings:
        out.append(KIND["warning"].title)
        out += [line for _, text in advice.warnings for line in _wrap(text, "    ", "  ? ")]
    out += ["DOSE"] + dose_lines(kb, advice, detail)
    out += _section_lines(kb, advice, detail) + _missing_lines(advice, detail)
    if fhir is not None:
        out += [""] + fhir_lines(fhir)
    out += _footer_lines(kb, advice.consultation, detail)
    if trace:
        out += ["", "RULE TRACE"] + trace_lines(kb, advice.consultation)
    return "\n".join(out) + "\n"


def _verdict_lines(kb: KnowledgeBase, advice: Advice, detail: bool) -> list[str]:
    """The headline, the hard stops that hold, and the routes to IVIG (held back under a hard stop)."""
    out: list[str] = [advice.headline]
    for conclusion in advice.hard_stops:
        out += _item(kb, conclusion, "XX", detail)
    if advice.open_facts_line:
        out += _wrap(f"{advice.open_facts_line} (see MISSING)", "    ", "  ")
    if advice.routes_held_back:
        out.append(f"  {HELD_BACK}")
    for conclusion in advice.routes:
        out += _item(kb, conclusion, "?" if conclusion.kind == "scope" else "-", detail)
    return out


def _safety_lines(kb: KnowledgeBase, advice: Advice, detail: bool) -> list[str]:
    """HARD STOPS (none known, and which questions are not yet answered) and CAUTIONS, said either way."""
    out: list[str] = []
    if not advice.hard_stops:
        asked = "; ".join(f"{m.question} ({m.fact})" for m in advice.hard_stops_not_given)
        out += _wrap("HARD STOPS: none known" + (f" - NOT GIVEN, ask before {advice.ask_before}: {asked}"
                                                    if asked else ""), "    ", "")
    if advice.cautions:
        out.append(f"!! CAUTIONS ({', '.join(advice.caution_facts)})")
        for conclusion in advice.cautions:
            out += _item(kb, conclusion, "!!", detail)
    else:
        unknown = [m.fact for m in advice.cautions_not_given]
        out += _wrap("CAUTIONS: none found on the facts given"
                     + (f" - NOT GIVEN: {', '.join(unknown)}" if unknown else ""), "    ", "")
    return out


def _section_lines(kb: KnowledgeBase, advice: Advice, detail: bool) -> list[str]:
    """Early initiation, combination, side effects, monitoring: in full, run on, or counted (with --detail)."""
    out: list[str] = []
    counted = []
    for section in advice.sections:
        named = ", ".join(name.replace("_dmard", " DMARD") for name in section.classes)
        if not detail and not section.first_screen:
            counted.append(f"{section.title}: {len(section.conclusions)} point(s)")
            continue
        if not detail and section.kind in RUN_ON_SECTIONS:
            said = " ".join(c.statement for c in section.conclusions)
            tags = cite(kb, Conclusion("", "", "", "", tuple(q for c in section.conclusions for q in c.sources),
                                       next((c.local_policy for c in section.conclusions if c.local_policy), None),
                                       (), ()), detail=False)
            out += _wrap(f"{section.title}: {said} {tags}".rstrip(), "    ", "")
            continue
        out.append(section.title + (f" - consider with: {named}" if named else ""))
        items = section.conclusions if detail else [c for c in section.conclusions if not c.therapy_class]
        for conclusion in items:
            out += _item(kb, conclusion, "-", detail)
        if section.kind == "combination" and detail:
            for winner, loser, why in advice.consultation.resolutions:
                out += _wrap(f"Resolved conflict: {winner} overrides {loser}. {why}", "    ", "  * ")
    if counted:
        out += _wrap("; ".join(counted) + ": shown with --detail", "    ", "")
    return out


def _missing_lines(advice: Advice, detail: bool) -> list[str]:
    """MISSING: the unknown facts that could change safety, the verdict or the dose first; the rest counted."""
    shown = advice.missing if detail else advice.missing_more
    above = [] if detail else [m.fact for m in advice.hard_stops_not_given]
    others = [m.fact for m in advice.missing if m not in shown and m.fact not in above]
    if not shown and others:  # one line: nothing here could change safety, the verdict or the dose
        return _wrap(f"MISSING, could change other advice only: {', '.join(others)}", "    ", "")
    out = ["MISSING - not given, could change this advice (safety first"
           + ("; the hard-stop questions are above)" if above else ")")]
    if not advice.missing:
        out.append("  - none")
    for missing in shown:
        if detail:
            changes = list(missing.could_change) + (["the dose"] if missing.could_change_dose else [])
            text = f"{missing.fact}: {missing.question} Could change: {', '.join(changes)}"
        else:
            text = f"{missing.question} ({missing.fact}; could change {CONCERN_WORDS[missing.concern]})"
        out += _wrap(text, "    ", "  - ")
    if advice.missing and not shown and not others:
        out.append("  - none besides the hard-stop questions above")
    if others:
        out += _wrap(f"+ {len(others)} more that could change other advice ({', '.join(others)}): --detail",
                     "    ", "  ")
    return out


def _footer_lines(kb: KnowledgeBase, consultation: Consultation, detail: bool) -> list[str]:
    """The sources (in full with --detail), the disclaimer and the knowledge base's identity."""
    out: list[str] = []
    if detail:
        out += ["", "SOURCES"] + source_lines(kb, consultation.conclusions)
    else:
        refs = sorted({q.ref for c in consultation.conclusions for q in c.sources}, key=_ref_order)
        if refs:
            out += _wrap("Sources: " + "; ".join(f"[{ref}] {reference_tag(kb, ref, brief=True)}" for ref in refs)
                         + ".", "  ", "")
    out += _wrap(DISCLAIMER, "", "")
    out += _wrap(f"Knowledge base {kb.name} {kb.version} (sha256 {kb.sha256[:12]})"
                 + ("" if detail else "; quotes and rule ids: --detail"), "  ", "")
    return out


def render_template(kb: KnowledgeBase) -> str:
    """A patient file to copy: every fact left unknown (null), with its question and what it allows."""
    out = ["# yaml-language-server: $schema=https://myoivig.example/schema/patient.schema.json",
           "# A myoivig patient. Fill in what you know; a fact left null is unknown, never 'no'.",
           "# myoivig consult this-file.yaml", ""]
    for name, spec in kb.facts.items():
        out.append(f"# {spec.question}")
        out += [f"#   {line}" for line in textwrap.wrap(f"allowed: {spec.allowed()}", WIDTH - 4)]
        if spec.synonyms or spec.units:
            extra = ([f"also written {', '.join(spec.synonyms)}"] if spec.synonyms else []) + (
                [f"units {', '.join(spec.units)}"] if spec.units else [])
            out.append(f"#   {'; '.join(extra)}")
        out.append(f"{name}: null")
    return "\n".join(out) + "\n"


def _ref_order(ref: str) -> tuple[int, str]:
    """Numeric references in number order, any other id after them (ids are not always numbers)."""
    return (int(ref), "") if ref.isdigit() else (10**9, ref)


def source_lines(kb: KnowledgeBase, conclusions: Iterable[Conclusion]) -> list[str]:
    quotes: dict[str, list[Quote]] = {}
    policy = False
    for conclusion in conclusions:
        for quote in conclusion.sources:
            if quote not in quotes.setdefault(quote.ref, []):
                quotes[quote.ref].append(quote)
        policy = policy or bool(conclusion.local_policy)
    lines = []
    for ref in sorted(quotes, key=_ref_order):
        reference = kb.references[ref]
        lines += _wrap(f"[{ref}] {reference.label}: {reference.citation} Evidence: {reference_tag(kb, ref)}.",
                       "      ", "  ")
        for quote in quotes[ref]:
            lines += _wrap(f'"{quote.quote}"', "        ", "      ")
    if policy:
        lines += _wrap("[local policy] marks advice the source document does not give; the rule's "
                       "provenance says why it is there (myoivig explain or --format json shows it).",
                       "    ", "  ")
    return lines or ["  - none"]


def trace_lines(kb: KnowledgeBase, consultation: Consultation) -> list[str]:
    lines = []
    for firing in consultation.trace:
        rule = kb.rule(firing.rule)
        matched = ", ".join(f"{m.name}={show_value(m.value)}" for m in firing.matched)
        derived = f" => derived {', '.join(firing.asserted)}" if firing.asserted else ""
        lines.append(f"  {firing.order:>2}. {rule.id} ({rule.where})")
        lines += _wrap(f"on {matched}{derived}", "        ", "        ")
    return lines


# ---------------------------------------------------------------- explanations
def render_how(kb: KnowledgeBase, derivation: Any, target: str) -> str:
    """A derivation as an indented tree, down to the input facts."""
    out = [f"HOW {target} was concluded", ""]

    def step(node: Any, depth: int) -> None:
        pad = "    " * depth
        out.append(f"{pad}{node.order}. {node.rule} - {node.title} ({node.where})")
        if node.statement:
            out.extend(_wrap(node.statement, pad + "     ", pad + "   = "))
        for fact in node.matched:
            label = "derived" if fact.origin == "derived" else "input"
            out.append(f"{pad}   on {fact.name} = {show_value(fact.value)} ({label})")
        if node.derived:
            out.append(f"{pad}   => derived {', '.join(node.derived)}")
        for quote in node.sources:
            out.extend(_wrap(f'[{quote.ref}: {reference_tag(kb, quote.ref)}] "{quote.quote}"', pad + "     ",
                             pad + "   "))
        if node.local_policy:
            out.extend(_wrap(f"[local policy] {node.local_policy}", pad + "     ", pad + "   "))
        for child in node.children:
            step(child, depth + 1)

    step(derivation, 0)
    return "\n".join(out) + "\n"




def render_why_not(kb: KnowledgeBase, answer: Any, depth: int = 0) -> str:
    """Each candidate rule with its conditions (+ held, x failed, ? unknown) and the smallest changes."""
    from ..engine.explain import MARKS  # a consultation's text does not need the explanations

    pad = "    " * depth
    verdict = "was reached" if answer.reached else "was NOT reached"
    out = [f"{pad}WHY NOT {answer.target}: the {answer.kind} {verdict} for this patient"]
    for check in answer.candidates:
        status = "fired" if check.fired else "did not fire"
        out.append(f"{pad}  rule {check.rule} - {check.title} ({check.where}): {status}")
        for condition in check.conditions:
            value = "" if condition.status == "unknown" and condition.value is None \
                else f" (value: {show_value(condition.value)})"
            group = " [any of]" if condition.group == "any" else ""
            out.append(f"{pad}    {MARKS[condition.status]} {condition.description}{group}{value}")
        for change in check.minimal_changes:
            text = ", ".join(f"{name}={show_value(value)}" for name, value in change.items())
            out.append(f"{pad}    would fire with: {text}")
        if not check.fired and not check.minimal_changes:
            out.append(f"{pad}    no change of up to 3 facts makes it fire")
        for need in check.needs:
            out.append(render_why_not(kb, need, depth + 1).rstrip("\n"))
    return "\n".join(out) + "\n"


def render_what_if(kb: KnowledgeBase, answer: Any) -> str:
    changes = ", ".join(f"{name}={show_value(value)}" for name, value in answer.changes.items())
    out = [f"WHAT IF {changes}", ""]
    before, after = answer.before.verdict.value, answer.after.verdict.value
    out.append(f"Verdict: {before} -> {after}")
    if not answer.differences:
        out.append("  no difference in the advice")
    for diff in answer.differences:
        cause = f" [rule {diff.rule}; because of {', '.join(diff.because_of) or 'no changed fact'}]"
        if diff.change == "gained":
            out += _wrap(f"{diff.conclusion}: {diff.after}{cause}", "      ", "  + ")
        elif diff.change == "lost":
            out += _wrap(f"{diff.conclusion}: {diff.before}{cause}", "      ", "  - ")
        elif diff.change == "changed":
            before, after = (", ".join(f"{name} = {show_value(value)}" for name, value in side.items())
                             for side in (diff.before, diff.after))
            out += _wrap(f"{diff.conclusion}: still concluded, now on {after} (was {before}){cause}", "      ", "  ~ ")
        else:
            out += _wrap(f"dose: {diff.before} -> {diff.after}{cause}", "      ", "  ~ ")
    return "\n".join(out) + "\n"


def fhir_lines(reading: FhirReading) -> list[str]:
    """Where each fact of a FHIR input came from, what was left unread and why, and the warnings."""
    out = [f"FROM FHIR - ages and months as of {reading.as_of} ({reading.as_of_from}); "
           f"bindings {reading.bindings_file} sha256 {reading.bindings_sha256[:12]}"]
    for e in reading.evidence:
        value = "none" if e.value is None else str(e.value).lower() if isinstance(e.value, bool) else e.value
        code = f" {e.code}" if e.code else ""
        date = f", {e.date}" if e.date else ""
        policy = " [local policy]" if e.local_policy else ""
        out += _wrap(f"{e.fact} = {value} <- {e.resource}{code}{date}: {e.read}{policy}", "      ", "  - ")
    for u in reading.unmapped:
        out += _wrap(f"UNMAPPED {u.resource}: {u.reason}", "      ", "  ? ")
    for warning in reading.warnings:
        out += _wrap(f"CHECK {warning}", "      ", "  ! ")
    return out
