"""Read each surface's real output back into the same few facts, so that surfaces can be compared.

Each reader takes what a clinician or a program would receive (text, JSON, cards, a CSV row,
HTML) and returns a `Seen`: the verdict, the regimen to give, hard stops found and not given,
cautions, early initiation, combination classes, the conclusions shown and the missing facts.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

from myoivig.engine.advice import Advice, span


@dataclass
class Seen:
    verdict: str = ""
    give: tuple[str, str] | None = None  # (grams per course, days), as written
    hard_stops: set[str] = field(default_factory=set)  # rule ids, or facts for surfaces that name facts
    hard_stops_not_given: list[str] = field(default_factory=list)
    cautions: list[str] = field(default_factory=list)
    early_initiation: bool = False
    combination: list[str] = field(default_factory=list)
    conclusions: set[str] = field(default_factory=set)
    missing: list[str] = field(default_factory=list)


def expected(advice: Advice) -> Seen:
    """What every surface must show, from the advice model itself."""
    give = advice.dose.give if advice.dose else None
    return Seen(
        verdict=advice.verdict,
        give=(span(give.course_total_g), span(give.days_per_course)) if give else None,
        hard_stops={c.id for c in advice.hard_stops},
        hard_stops_not_given=[m.fact for m in advice.hard_stops_not_given],
        cautions=list(advice.caution_facts), early_initiation=advice.early_initiation,
        combination=list(advice.combination_classes),
        conclusions={c.id for c in advice.consultation.conclusions} | {wid for wid, _ in advice.warnings},
        missing=[m.fact for m in advice.missing])


def from_json(data: Mapping[str, Any]) -> Seen:
    summary, dose = data["summary"], data["dose"]
    return Seen(
        verdict=summary["verdict"],
        give=(span(dose["give"]["course_total_g"]), span(dose["give"]["days_per_course"])) if dose else None,
        hard_stops=set(summary["hard_stops"]), hard_stops_not_given=summary["hard_stops_not_given"],
        cautions=summary["cautions"], early_initiation=summary["early_initiation"],
        combination=summary["combination"],
        conclusions={c["id"] for c in data["conclusions"]} | {w["id"] for w in data["warnings"]},
        missing=[m["fact"] for m in data["missing"]])


def from_csv(text: str) -> dict[str, Seen]:
    """A batch CSV output, by row number."""
    def split(cell: str) -> list[str]:
        return [v for v in cell.split(";") if v]

    seen = {}
    for line in csv.DictReader(io.StringIO(text)):
        seen[line["row"]] = Seen(
            verdict=line["verdict"], give=(line["give_g"], line["give_days"]) if line["give_g"] else None,
            hard_stops=set(split(line["hard_stops"])), hard_stops_not_given=split(line["hard_stops_not_given"]),
            cautions=split(line["cautions"]), early_initiation=line["early_initiation"] == "true",
            combination=split(line["combination"]), missing=split(line["missing"]))
    return seen


_GIVE_CARD = re.compile(r"^IVIG dose(?: \(cautions apply\))?: ([0-9.]+(?:-[0-9.]+)?) g (?:over ([0-9]+) days|in "
                        r"([0-9]+-[0-9]+) daily doses)")


def from_cards(cards: Sequence[Mapping[str, Any]]) -> Seen:
    verdict = cards[0]["extension"]["org.myoivig"]
    seen = Seen(verdict=verdict["verdict"])
    for card in cards:
        rules = card["extension"]["org.myoivig"].get("rules", [])
        seen.conclusions.update(rules)
        summary = card["summary"]
        if (card["indicator"] == "critical" and summary.startswith("IVIG hard stop")) or (
                card is cards[0] and verdict["verdict"] == "contraindicated"):
            seen.hard_stops.update(r for r in rules if r.startswith("contraindication."))
        if summary.startswith(("Ask before the first IVIG infusion: ", "Ask before the next IVIG infusion: ")):
            seen.hard_stops_not_given = [item.strip("*") for item in re.findall(r"\*\*([a-z_]+)\*\*", card["detail"])]
        if summary.startswith("IVIG dose") and not summary.startswith("IVIG dose not computed"):
            match = _GIVE_CARD.match(summary)
            assert match, summary
            seen.give = (match.group(1), match.group(2) or match.group(3))
        if summary.startswith("Early initiation:"):
            seen.early_initiation = card["indicator"] == "warning"
        if summary.startswith("Consider IVIG with: "):
            seen.combination = sorted(name.strip().replace(" DMARD", "_dmard")
                                      for name in summary.removeprefix("Consider IVIG with: ").split(","))
        if summary.startswith("Advice incomplete"):
            seen.missing = re.findall(r"- \*\*([a-z_]+)\*\*", card["detail"])
    seen.cautions = sorted(verdict["summary"].get("cautions", []))
    return seen


_CAUTIONS = re.compile(r"^!! CAUTIONS \(([^)]*)\)$", re.M)


def from_text(text: str, advice: Advice) -> Seen:
    """The default text view. Facts a line names are read where that line says them."""
    flat = " ".join(text.split())
    headline = text.splitlines()[0]
    verdict = next(v for v, words in _HEADLINES.items() if headline.startswith(f"IVIG: {words}"))
    seen = Seen(verdict=verdict)
    give = re.search(r"DOSE Dosing weight [0-9.]+ kg \([^)]*\) Give[^:]*: [0-9.-]+ g/kg = ([0-9.]+(?:-[0-9.]+)?) g "
                     r"(?:over ([0-9]+) days|in ([0-9]+-[0-9]+) daily doses)", flat)
    seen.give = (give.group(1), give.group(2) or give.group(3)) if give else None
    stops = re.search(r"HARD STOPS: none known - NOT GIVEN, ask before the (?:first|next) infusion: (.*?) (?:!! CAUTIONS|"
                      r"CAUTIONS:)", flat)
    seen.hard_stops_not_given = re.findall(r"\(([a-z_]+)\)", stops.group(1)) if stops else []
    caution = _CAUTIONS.search(text)
    seen.cautions = [c for c in caution.group(1).split(", ")] if caution else []
    seen.early_initiation = "\nEARLY INITIATION" in text
    combination = re.search(r"^COMBINATION THERAPY - consider with: (.*)$", text, re.M)
    seen.combination = sorted(n.replace(" DMARD", "_dmard") for n in combination.group(1).split(", ")) \
        if combination else []
    # hard stops found are shown by their statement, marked XX
    seen.hard_stops = {c.id for c in advice.hard_stops if " ".join(c.statement.split()) in flat} \
        if "\n  XX " in text or not advice.hard_stops else set()
    missing = flat[flat.index("MISSING"):]
    seen.missing = [m.fact for m in advice.missing if m.fact in missing or m.fact in seen.hard_stops_not_given]
    return seen


_HEADLINES = {"contraindicated": "CONTRAINDICATED", "out_of_scope": "OUT OF SCOPE", "indicated": "INDICATED",
              "may_be_considered": "MAY BE CONSIDERED", "undetermined": "UNDETERMINED",
              "not_indicated": "NOT INDICATED"}


class _Page(HTMLParser):
    """The report's and the web page's advice, read by the ids and data attributes the template writes."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[dict[str, str]] = []
        self.seen = Seen()
        self.in_h1 = False
        self.h1 = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = {k: v or "" for k, v in attrs}
        if tag in ("br", "input", "meta", "img", "link"):
            return
        self.stack.append({"tag": tag, **found})
        within = {frame.get("id", "") for frame in self.stack}
        classes = found.get("class", "").split()
        if tag == "h1" and found.get("id") == "verdict":
            self.in_h1 = True
            self.seen.verdict = next(c for c in classes if c != "verdict")
        if tag == "li" and "regimen" in classes and found.get("data-role") == "give":
            self.seen.give = (found["data-grams"], found["data-days"])
        if tag == "li" and "data-fact" in found:
            if "hard-stops-not-given" in within:
                self.seen.hard_stops_not_given.append(found["data-fact"])
            elif "missing-list" in within:
                self.seen.missing.append(found["data-fact"])
        if tag == "div" and "conclusion" in classes:
            rule = found["id"].removeprefix("c-")
            self.seen.conclusions.add(rule)
            if "hard-stops" in within:
                self.seen.hard_stops.add(rule)
        if "data-warning" in found:
            self.seen.conclusions.add(found["data-warning"])
        if tag == "section" and found.get("data-kind") == "early_initiation":
            self.seen.early_initiation = True
        if tag == "section" and found.get("data-kind") == "combination":
            self.seen.combination = sorted(v for v in found.get("data-classes", "").split() if v)
        if tag == "section" and found.get("id") == "cautions":
            self.seen.cautions = sorted(v for v in found.get("data-facts", "").split() if v)

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self.in_h1 = False
        while self.stack:
            if self.stack.pop()["tag"] == tag:
                break

    def handle_data(self, data: str) -> None:
        if self.in_h1:
            self.h1 += data


def from_html(page: str) -> tuple[Seen, str]:
    """The advice a report or a consultation page shows, and its headline."""
    parser = _Page()
    parser.feed(page)
    return parser.seen, " ".join(parser.h1.split())
