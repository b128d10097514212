"""The typed model of a knowledge base and of one consultation.

Everything after loading works on these objects, never on raw YAML, so that a
rule file is checked once and every later stage can trust what it reads.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from .conditions import NUMBER_PLACES, Condition

KINDS = ("scope", "indication", "early_initiation", "caution", "dosing",
         "combination", "side_effects", "monitoring")
"""Conclusion kinds, in the order a clinician reads them."""


@dataclass(frozen=True)
class FactSpec:
    """One input fact of the vocabulary."""

    name: str
    type: str  # bool | number | enum | list
    meaning: str
    question: str
    values: tuple[str, ...] = ()
    aliases: Mapping[str, str] = field(default_factory=dict)
    unit: str | None = None
    range: tuple[float, float] | None = None
    line: int = 0

    def allowed(self) -> str:
        """What a clinician may answer, in words."""
        if self.type == "bool":
            return "true, false"
        if self.type == "number":
            low, high = self.range or (None, None)
            return (f"a number from {low:g} to {high:g} {self.unit or ''}".rstrip()
                    + f", read to {NUMBER_PLACES} decimal places")
        if self.type == "list":
            return "a list of: " + ", ".join(self.values)
        return ", ".join(self.values)


@dataclass(frozen=True)
class DerivedSpec:
    """A fact that only rules conclude."""

    name: str
    meaning: str
    line: int = 0


@dataclass(frozen=True)
class Quote:
    ref: str
    quote: str


@dataclass(frozen=True)
class Provenance:
    """Where a rule comes from: quotes of the document, local policy, or both."""

    sources: tuple[Quote, ...] = ()
    local_policy: str | None = None


@dataclass(frozen=True)
class ConclusionSpec:
    kind: str
    statement: str
    therapy_class: str | None = None
    outside_scope: bool = False  # the document does not cover this patient: no advice


@dataclass(frozen=True)
class Exclusion:
    """This rule overrides another for the same patient, for the reason given."""

    rule: str
    resolution: str


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    when: Condition
    file: str
    line: int
    provenance: Provenance
    derive: tuple[str, ...] = ()
    conclude: ConclusionSpec | None = None
    dose: Mapping[str, Any] | None = None
    excludes: Exclusion | None = None
    priority: int = 0

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Reference:
    ref: str
    label: str
    citation: str
    evidence: str
    confidence: str


@dataclass(frozen=True)
class KnowledgeBase:
    name: str
    version: str
    sha256: str
    root: Path
    facts: Mapping[str, FactSpec]
    derived: Mapping[str, DerivedSpec]
    rules: tuple[Rule, ...]  # in an order where every derived fact precedes its users
    references: Mapping[str, Reference]
    document: str
    background: str

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    @cached_property
    def _by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def conclusion_rules(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.conclude]


# ---------------------------------------------------------------- consultation
@dataclass(frozen=True)
class MatchedFact:
    name: str
    value: Any
    origin: str  # "input" or "derived"


@dataclass(frozen=True)
class Firing:
    """One rule firing as the engine recorded it."""

    order: int
    rule: str
    matched: tuple[MatchedFact, ...]
    asserted: tuple[str, ...]


@dataclass(frozen=True)
class Conclusion:
    id: str
    kind: str
    statement: str
    rule: str
    sources: tuple[Quote, ...]
    local_policy: str | None
    rests_on_rules: tuple[str, ...]
    rests_on_facts: tuple[str, ...]
    therapy_class: str | None = None
    outside_scope: bool = False


@dataclass(frozen=True)
class Regimen:
    name: str
    rule: str
    g_per_kg: tuple[float, float]
    course_total_g: tuple[float, float]
    per_day_g: tuple[float, float]
    days_per_course: tuple[int, int]
    interval: str | None = None
    duration_months: tuple[int, int] | None = None


@dataclass(frozen=True)
class Dose:
    weight_basis: str
    dosing_weight_kg: float
    ideal_body_weight_kg: float
    arithmetic: tuple[str, ...]
    rounding: str
    standard: Regimen
    alternative: Regimen | None
    rules: tuple[str, ...]


@dataclass(frozen=True)
class MissingFact:
    """An unknown fact and the conclusions a value for it could change."""

    fact: str
    question: str
    could_change: tuple[str, ...]
    could_change_dose: bool
    decisive_kind: str


@dataclass(frozen=True)
class Consultation:
    patient: Mapping[str, Any]
    fired: tuple[str, ...]
    derived: tuple[str, ...]
    conclusions: tuple[Conclusion, ...]
    resolutions: tuple[tuple[str, str, str], ...]  # (winning rule, overridden rule, why)
    dose: Dose | None
    dose_note: str | None
    missing: tuple[MissingFact, ...]
    trace: tuple[Firing, ...]

    @property
    def ivig_indicated(self) -> bool:
        return "ivig_indicated" in self.derived

    def by_kind(self, kind: str) -> list[Conclusion]:
        return [c for c in self.conclusions if c.kind == kind]
