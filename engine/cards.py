"""CDS Hooks 2.0 cards: one consultation as the cards an EHR shows, one card per concern.

The same cards come from `myoivig serve` and from `consult --format cds-hooks`. The spec forbids
null and empty values, so every card goes through `pruned`; summaries stay under 140 characters.
"""
from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .advice import HELD_BACK, advise, amount
from .model import Conclusion, Consultation, KnowledgeBase, Regimen
from .serialize import summary as summary_of

if TYPE_CHECKING:  # annotations only: a consultation does not import what it does not use
    from .fhir import FhirReading

SPEC_VERSION = "2.0.1"
SUMMARY_LIMIT = 140
"""A card's summary is a sentence of fewer than 140 characters (the spec; Inferno checks `< 140`)."""
NAMESPACE = uuid.UUID("6f1c2a8e-2f55-5b7e-9a51-0f6e7c4d1b2a")
RULE_SYSTEM = "http://example.org/myoivig/rule"
"""A placeholder canonical (RFC 2606 domain) for rule ids in `source.topic`: no public URL exists."""
EXTENSION = "org.myoivig"
OVERRIDE_SYSTEM = "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes"
OVERRIDE_REASONS = (
    ("risk-benefit-ratio", "Recipient assessment of risk/benefit ratio"),
    ("mitigate-risk-negative-outcome", "Action taken to mitigate risk of negative outcome"),
    ("cds-not-applicable", "PC CDS does not apply to patient"),
    ("need-more-info", "Need more information"),
)
"""Offered on caution cards [local policy]: the HL7 code system the CDS Hooks 3.0 ballot uses."""


SECTION_INDICATORS = {"early_initiation": "warning"}
"""Early initiation warns (delay risks permanent weakness); other sections inform."""


def speaks(hook: str, consultation: Consultation, reading: FhirReading) -> bool:
    """Whether a hook's call gets cards at all (the decision is clinical, so it lives here, not in HTTP).

    patient-view fires for every chart opened: it speaks only for a myositis the document covers, or when
    the record's myositis is in doubt (two diagnoses, or one of no stated type), never on other charts
    (no alert fatigue). order-select speaks for an IVIG order only when a myositis is recorded (IVIG for
    ITP or an immune deficiency is not this service's business), or is in doubt.
    """
    in_doubt = "diagnosis" in reading.conflicting or "diagnosis" in reading.asked
    if hook == "patient-view":
        return in_doubt or any("covered_diagnosis" in firing.asserted for firing in consultation.trace)
    return in_doubt or "diagnosis" in consultation.patient


def cards(kb: KnowledgeBase, consultation: Consultation, instance: str, reading: FhirReading | None = None,
          report_url: str | None = None) -> list[dict[str, Any]]:
    """The cards for one consultation, one per thing a clinician acts on, rendered from the advice model;
    `instance` (the hookInstance, or a hash of the facts) makes each card's uuid unique per call and
    the same for the same call."""
    advice = advise(kb, consultation)
    verdict = consultation.verdict
    facts = summary_of(kb, consultation, advice)
    label = f"myoivig - {kb.name} {kb.version}"
    found: list[dict[str, Any]] = []

    def card(key: str, summary: str, indicator: str, detail: list[str], rules: list[str],
             override: bool = False, extra: Mapping[str, Any] | None = None) -> None:
        rule = rules[0] if rules else None
        found.append(pruned({
            "uuid": str(uuid.uuid5(NAMESPACE, f"{kb.sha256}|{instance}|{key}")),
            "summary": short(summary),
            "detail": "\n\n".join(detail),
            "indicator": indicator,
            "source": {"label": label,
                       "topic": {"system": RULE_SYSTEM, "code": rule, "display": kb.rule(rule).title}
                       if rule else None},
            "overrideReasons": [{"system": OVERRIDE_SYSTEM, "code": code, "display": display}
                                for code, display in OVERRIDE_REASONS] if override else None,
            "links": [{"label": "Full consultation report", "url": report_url, "type": "absolute"}]
            if report_url else None,
            "extension": {EXTENSION: {"knowledgeBase": {"name": kb.name, "version": kb.version, "sha256": kb.sha256},
                                      "rules": rules, **(extra or {})}},
        }))

    def markdown(conclusion: Conclusion) -> str:
        return conclusion_markdown(kb, conclusion, consultation, reading)

    headline = advice.spec.headline.split(" - ")[0].lower()
    reason = f": {advice.reason.statement}" if advice.reason else ""
    if advice.open_facts:
        reason = f": unknown {', '.join(advice.open_facts)}"
    given = advice.dose
    held = [HELD_BACK] if advice.routes_held_back else []
    routes = [c for c in advice.routes if c.kind != "scope" or not c.outside_scope]
    strength = f' - the source says IVIG "{verdict.strength}"' if verdict.strength else ""
    card("verdict", f"IVIG {headline}{reason}",
         advice.spec.indicator,
         [f"**IVIG: {advice.spec.headline}**{strength}"] + ([markdown(advice.reason)] if advice.reason else []) + held
         + [markdown(c) for c in routes if c is not advice.reason and c.kind != "scope"],
         list(verdict.rules) or [c.id for c in routes if c.kind == "indication"],
         extra={"verdict": verdict.value, "summary": facts,
                "conclusions": [c.id for c in consultation.conclusions],
                "dose": None if given is None else {"dosing_weight_kg": given.dose.dosing_weight_kg,
                                                    "give": _regimen_data(given.give),
                                                    "standard": _regimen_data(given.dose.standard)}})
    for conclusion in advice.hard_stops:
        if conclusion is not advice.reason:
            card(conclusion.id, f"IVIG hard stop: {conclusion.statement}", "critical", [markdown(conclusion)],
                 [conclusion.id])
    if advice.hard_stops_not_given:
        names = [m.fact for m in advice.hard_stops_not_given]
        card("hard_stops_not_given", f"Ask before {advice.ask_before.replace('infusion', 'IVIG infusion')}: "
             f"{', '.join(names)} not given",
             "warning", [f"No hard stop is known, but these could be one; ask before {advice.ask_before}:"]
             + [f"- **{m.fact}**: {escape(m.question)}" for m in advice.hard_stops_not_given], [])
    rule_ids = {rule.id for rule in kb.rules}
    for wid, text in advice.warnings:  # implausible or inconsistent facts: a clinician must look
        card(wid, f"Check before IVIG: {text}", "warning", [escape(text)], [wid] if wid in rule_ids else [])
    for conclusion in advice.cautions:
        card(conclusion.id, f"IVIG caution: {conclusion.statement}", "warning", [markdown(conclusion)],
             [conclusion.id], override=True)
    for conclusion in advice.routes:
        if conclusion.kind == "scope" and conclusion is not advice.reason:
            card(conclusion.id, f"{'Out of scope' if conclusion.outside_scope else 'Scope'}: {conclusion.statement}",
                 "info", [markdown(conclusion)], [conclusion.id])
    if given is not None:
        first = [o for o in given.options if o.role in ("give", "also")]
        cautious = " (cautions apply)" if given.cautious else ""
        card("dose", f"IVIG dose{cautious}: " + ", or ".join(amount(o.regimen) for o in first)
             + f"; {given.dose.weight_basis.replace('_', ' ')} {given.dose.dosing_weight_kg:g} kg", "info",
             [f"- **{escape(o.label)}**: {o.regimen.g_per_kg[0]:g}"
              + (f"-{o.regimen.g_per_kg[1]:g}" if o.regimen.g_per_kg[1] != o.regimen.g_per_kg[0] else "")
              + f" g/kg = {escape(amount(o.regimen))}" for o in given.options]
             + ([escape(given.next_course)] if given.next_course is not None else [])
             + [escape(line) for line in given.dose.arithmetic]
             + [markdown(c) for c in given.conclusions],
             list(dict.fromkeys([*given.dose.rules, *(c.id for c in given.conclusions)])))
    elif advice.dosing:  # IVIG is advised, but a fact the dose needs is missing: say why there is no dose
        card("dose", f"IVIG dose not computed: {advice.dose_note or ''}", "info",
             [escape(advice.dose_note or "")] + [markdown(c) for c in advice.dosing], [c.id for c in advice.dosing])
    for section in advice.sections:
        if section.kind == "combination":
            classed = [c for c in section.conclusions if c.therapy_class]
            if classed:
                named = ", ".join(name.replace("_dmard", " DMARD") for name in section.classes)
                card("combination", f"Consider IVIG with: {named}", "info", [markdown(c) for c in classed],
                     [c.id for c in classed])
            for conclusion in section.conclusions:
                if not conclusion.therapy_class:
                    card(conclusion.id, f"IVIG combination: {conclusion.statement}", "info", [markdown(conclusion)],
                         [conclusion.id])
            continue
        if section.kind == "preparation":  # each is a thing to do before treatment: its own card
            for conclusion in section.conclusions:
                card(conclusion.id, f"Before treatment: {conclusion.statement}", "info", [markdown(conclusion)],
                     [conclusion.id])
            continue
        title = section.title.capitalize()
        card(section.kind, f"{title}: {'; '.join(kb.rule(c.id).title for c in section.conclusions)}",
             SECTION_INDICATORS.get(section.kind, "info"), [markdown(c) for c in section.conclusions],
             [c.id for c in section.conclusions])
    if advice.missing:
        names = [m.fact for m in advice.missing]
        card("missing", f"Advice incomplete: {len(names)} facts unknown ({', '.join(names)})", "info",
             [f"- **{m.fact}**: {escape(m.question)} (could change {m.concern.replace('_', ' ')})"
              for m in advice.missing], [])
    if reading is not None and (reading.unmapped or reading.warnings):
        card("fhir", f"FHIR data not used: {_count(len(reading.unmapped), 'resource')}, "
             f"{_count(len(reading.warnings), 'point')} to check",
             "warning" if reading.warnings else "info",
             [f"- {escape(u.resource)}: {escape(u.reason)}" for u in reading.unmapped]
             + [f"- check: {escape(w)}" for w in reading.warnings], [])
    return found


def _regimen_data(regimen: Regimen) -> dict[str, Any]:
    return {"name": regimen.name, "course_total_g": list(regimen.course_total_g),
            "per_day_g": list(regimen.per_day_g), "days_per_course": list(regimen.days_per_course)}


def conclusion_markdown(kb: KnowledgeBase, conclusion: Conclusion, consultation: Consultation,
                        reading: FhirReading | None) -> str:
    """A conclusion's statement, its quotes with their references, and where its facts came from."""
    lines = [escape(conclusion.statement) + (" **[local policy]**" if conclusion.local_policy else "")]
    for quote in conclusion.sources:
        lines.append(f"> {escape(quote.quote)} [{quote.ref}: {escape(kb.references[quote.ref].label)}]")
    if conclusion.local_policy:
        lines.append(f"*Local policy:* {escape(conclusion.local_policy)}")
    for fact in conclusion.rests_on_facts:
        if fact in consultation.patient:
            value = consultation.patient[fact]
            lines.append(f"- {fact} = {escape(_shown(value))}" + "".join(
                f" (from {escape(e.resource)}{' ' + escape(e.code) if e.code else ''}"
                f"{', ' + escape(e.date) if e.date else ''})"
                for e in (reading.evidence if reading else ()) if e.fact == fact and _supports(e.value, value)))
    return "\n".join(lines)


def short(text: str) -> str:
    """One line under the summary limit, cut at a word with an ellipsis."""
    text = " ".join(text.split())
    if len(text) < SUMMARY_LIMIT:
        return text
    return text[:SUMMARY_LIMIT - 2].rsplit(" ", 1)[0].rstrip(",;:") + "…"


_MARKUP = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", **{char: "\\" + char for char in "\\`*_[]#|"}})


def escape(text: str) -> str:
    """Text (a quote, or anything from the EHR) safe inside Markdown that a client renders with raw HTML:
    one line (no heading or list made of it), no markup, no link (GFM links bare URLs)."""
    out = " ".join(text.split()).translate(_MARKUP)
    return out.replace("://", ":&#47;&#47;").replace("www.", "www&#46;")


def pruned(value: Any) -> Any:
    """The value without None, "", [] or {} anywhere: the spec forbids null and empty values."""
    if isinstance(value, Mapping):
        kept = {k: pruned(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, "", [], {})}
    if isinstance(value, list):
        kept_items = [pruned(v) for v in value]
        return [v for v in kept_items if v not in (None, "", [], {})]
    return value


def facts_key(facts: Mapping[str, Any]) -> str:
    """A stable stand-in for hookInstance offline: the same patient gives the same card uuids."""
    return hashlib.sha256(repr(sorted(facts.items())).encode()).hexdigest()[:16]


def _supports(evidence: Any, value: Any) -> bool:
    """Evidence that gave the fact's value (not a superseded one); every result behind a list."""
    return isinstance(value, list) or evidence == value


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list):
        return ", ".join(map(str, value)) or "none"
    return str(value)
