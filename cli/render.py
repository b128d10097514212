"""Text for a clinician in a hurry: the answer first, cautions unmissable, sources last."""
from __future__ import annotations

import textwrap
from typing import Any
from collections.abc import Iterable

from .engine.conditions import show_value
from .engine.model import Conclusion, Consultation, KnowledgeBase, Quote
from .engine.report import caution_facts, combination_classes

WIDTH = 100
SECTIONS = (
    ("early_initiation", "EARLY INITIATION"),
    ("dosing", "DOSE"),
    ("combination", "COMBINATION THERAPY"),
    ("side_effects", "SIDE EFFECTS AND PREVENTION"),
    ("monitoring", "MONITORING"),
)


def _wrap(text: str, indent: str, first: str | None = None) -> list[str]:
    return textwrap.wrap(text, WIDTH, initial_indent=first if first is not None else indent,
                         subsequent_indent=indent) or [indent.rstrip()]


def cite(kb: KnowledgeBase, conclusion: Conclusion) -> str:
    """`[1: guideline recommendation]`, `[local policy]`, or both."""
    tags = []
    for ref in dict.fromkeys(q.ref for q in conclusion.sources):
        tags.append(f"[{ref}: {kb.references[ref].evidence}]")
    if conclusion.local_policy:
        tags.append("[local policy]")
    return " ".join(tags)


def _item(kb: KnowledgeBase, conclusion: Conclusion, mark: str = "-") -> list[str]:
    return _wrap(f"{conclusion.statement} {cite(kb, conclusion)}", "    ", f"  {mark} ")


def _fmt(value: float) -> str:
    return f"{value:g}"


def _range(pair: Iterable[float], unit: str = "") -> str:
    low, high = pair
    return f"{_fmt(low)}{unit}" if low == high else f"{_fmt(low)}-{_fmt(high)}{unit}"


def dose_lines(kb: KnowledgeBase, consultation: Consultation) -> list[str]:
    lines = []
    dose = consultation.dose
    if dose is None:
        lines += _wrap(consultation.dose_note or "No dose.", "    ", "  - ")
    else:
        basis = ("ideal body weight (Devine formula) [local policy]"
                 if dose.weight_basis == "ideal_body_weight"
                 else "actual body weight, below the ideal body weight [local policy]")
        std = dose.standard
        lines.append(f"  Dosing weight: {_fmt(dose.dosing_weight_kg)} kg - {basis}")
        months = f", for {_range(std.duration_months)} months" if std.duration_months else ""
        lines += _wrap(
            f"Standard: {_range(std.g_per_kg)} g/kg = {_range(std.course_total_g)} g per course over "
            f"{std.days_per_course[0]} consecutive days ({_range(std.per_day_g)} g/day), "
            f"{std.interval or ''}{months} [{std.rule}]", "    ", "  ")
        if dose.alternative:
            alt = dose.alternative
            lines += _wrap(
                f"Alternative: {_range(alt.g_per_kg)} g/kg = {_range(alt.course_total_g)} g per course in "
                f"{_range(alt.days_per_course)} daily doses ({_range(alt.per_day_g)} g/day) [{alt.rule}]",
                "    ", "  ")
        lines.append("  Arithmetic:")
        lines += [f"    {step}" for step in dose.arithmetic]
        lines += _wrap(f"Rounding: {dose.rounding}", "    ", "  ")
    for conclusion in consultation.by_kind("dosing"):
        lines += _item(kb, conclusion)
    return lines


def render_consultation(kb: KnowledgeBase, consultation: Consultation, *, trace: bool = False) -> str:
    out: list[str] = [f"myoivig consultation - knowledge base {kb.name} {kb.version} "
                      f"(sha256 {kb.sha256[:12]})", ""]
    indications = consultation.by_kind("indication")
    outside = [c for c in consultation.by_kind("scope") if c.outside_scope]
    if consultation.ivig_indicated:
        out.append("IVIG: INDICATED (second-line therapy)")
    elif outside:
        out.append("IVIG: NO ADVICE - this patient is outside what the source document covers")
    else:
        out.append("IVIG: NOT INDICATED on the facts given (no indication criterion is met)")
    for conclusion in indications:
        out += _item(kb, conclusion)
    for conclusion in consultation.by_kind("scope"):
        out += _item(kb, conclusion, "?")
    cautions = consultation.by_kind("caution")
    out.append("")
    if cautions:
        out.append(f"!! CAUTIONS ({', '.join(caution_facts(kb, consultation))})")
        for conclusion in cautions:
            out += _item(kb, conclusion, "!!")
    else:
        unknown = [m.fact for m in consultation.missing if m.decisive_kind == "caution"
                   or any(r.startswith("caution.") for r in m.could_change)]
        out.append("CAUTIONS: none found on the facts given"
                   + (f" - NOT GIVEN: {', '.join(unknown)} (see MISSING)" if unknown else ""))
    for kind, title in SECTIONS:
        if kind == "dosing":
            out += ["", title] + dose_lines(kb, consultation)
            continue
        items = consultation.by_kind(kind)
        if not items:
            continue
        classes = combination_classes(consultation) if kind == "combination" else []
        out += ["", title + (f" ({', '.join(classes)})" if classes else "")]
        for conclusion in items:
            out += _item(kb, conclusion)
        if kind == "combination":
            for winner, loser, why in consultation.resolutions:
                out += _wrap(f"Resolved conflict: {winner} overrides {loser}. {why}", "    ", "  * ")
    out += ["", "MISSING - facts not given that could change this advice"]
    if not consultation.missing:
        out.append("  - none")
    for missing in consultation.missing:
        changes = list(missing.could_change) + (["the dose"] if missing.could_change_dose else [])
        out += _wrap(f"{missing.fact}: {missing.question} Could change: {', '.join(changes)}",
                     "    ", "  - ")
    out += ["", "SOURCES"] + source_lines(kb, consultation.conclusions)
    if trace:
        out += ["", "RULE TRACE"] + trace_lines(kb, consultation)
    return "\n".join(out) + "\n"


def source_lines(kb: KnowledgeBase, conclusions: Iterable[Conclusion]) -> list[str]:
    quotes: dict[str, list[Quote]] = {}
    policy = False
    for conclusion in conclusions:
        for quote in conclusion.sources:
            if quote not in quotes.setdefault(quote.ref, []):
                quotes[quote.ref].append(quote)
        policy = policy or bool(conclusion.local_policy)
    lines = []
    for ref in sorted(quotes, key=int):
        reference = kb.references[ref]
        lines += _wrap(f"[{ref}] {reference.label}: {reference.citation} Evidence: {reference.evidence}.",
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
            reference = kb.references[quote.ref]
            out.extend(_wrap(f'[{quote.ref}: {reference.evidence}] "{quote.quote}"', pad + "     ", pad + "   "))
        if node.local_policy:
            out.extend(_wrap(f"[local policy] {node.local_policy}", pad + "     ", pad + "   "))
        for child in node.children:
            step(child, depth + 1)

    step(derivation, 0)
    return "\n".join(out) + "\n"


_MARK = {"held": "+", "failed": "x", "unknown": "?"}


def render_why_not(kb: KnowledgeBase, answer: Any, depth: int = 0) -> str:
    """Each candidate rule with its conditions (+ held, x failed, ? unknown) and the smallest changes."""
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
            out.append(f"{pad}    {_MARK[condition.status]} {condition.description}{group}{value}")
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
    before, after = answer.before.ivig_indicated, answer.after.ivig_indicated
    out.append(f"IVIG indicated: {'yes' if before else 'no'} -> {'yes' if after else 'no'}")
    if not answer.differences:
        out.append("  no difference in the advice")
    for diff in answer.differences:
        cause = f" [rule {diff.rule}; because of {', '.join(diff.because_of) or 'no changed fact'}]"
        if diff.change == "gained":
            out += _wrap(f"{diff.conclusion}: {diff.after}{cause}", "      ", "  + ")
        elif diff.change == "lost":
            out += _wrap(f"{diff.conclusion}: {diff.before}{cause}", "      ", "  - ")
        elif diff.change == "changed":
            out += _wrap(f"{diff.conclusion}: rests on {diff.before} -> {diff.after}{cause}", "      ", "  ~ ")
        else:
            out += _wrap(f"dose: {diff.before} -> {diff.after}{cause}", "      ", "  ~ ")
    return "\n".join(out) + "\n"
