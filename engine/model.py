"""The typed model of a knowledge base and of one consultation.

Everything after loading works on these objects, never on raw YAML, so that a
rule file is checked once and every later stage can trust what it reads.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any, Literal

from .conditions import (
    COMPARISONS,
    NUMBER_PLACES,
    Condition,
    Evaluator,
    compile_condition,
    compile_test,
    exact_number,
    to_dnf,
)
from .conditions import tests as tests_of

VerdictName = Literal["contraindicated", "out_of_scope", "indicated", "may_be_considered", "undetermined",
                      "not_indicated"]
"""The answers to "IVIG for this patient?": a typo in one is a type error, and VERDICTS holds each (a test)."""


@dataclass(frozen=True)
class Kind:
    """A kind of conclusion: how it is titled, and how it looks in a graph."""

    name: str
    title: str
    style: str  # a diagrams STYLE key: conclusion, caution, hard_stop, scope, warning


KINDS = (
    Kind("contraindication", "HARD STOPS", "hard_stop"),
    Kind("scope", "SCOPE", "scope"),
    Kind("indication", "INDICATION", "conclusion"),
    Kind("evidence", "EVIDENCE REPORTED, NOT AN INDICATION", "conclusion"),
    Kind("warning", "CHECK THESE FACTS", "warning"),
    Kind("caution", "CAUTIONS", "caution"),
    Kind("early_initiation", "EARLY INITIATION", "conclusion"),
    Kind("dosing", "DOSE", "conclusion"),
    Kind("combination", "COMBINATION THERAPY", "conclusion"),
    Kind("preparation", "BEFORE TREATMENT", "conclusion"),
    Kind("side_effects", "SIDE EFFECTS AND PREVENTION", "conclusion"),
    Kind("monitoring", "MONITORING", "conclusion"),
)
"""Every conclusion kind, in the order a clinician reads them: the one list of kinds."""
KIND = {kind.name: kind for kind in KINDS}
KIND_ORDER = {kind.name: index for index, kind in enumerate(KINDS)}


@dataclass(frozen=True)
class Strength:
    """How strongly a route to IVIG is put, in the source's own words, and the verdict it gives."""

    name: str
    words: str
    verdict: VerdictName


STRENGTHS = {s.name: s for s in (
    Strength("recommended", "is recommended", "indicated"),
    Strength("shown_effective", "has been shown to be effective", "indicated"),
    Strength("can_be_tried", "can be tried", "may_be_considered"),
    Strength("reported", "has been reported", "may_be_considered"),
)}


BOOLEANS = {"true": True, "yes": True, "y": True, "false": False, "no": False, "n": False}
"""The spellings a yes/no fact accepts, in any case, from a file, --set, --ask or JSON alike."""
NUMBER_SPELLINGS = "70, 70.5, 7e1 or \"70\""


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
    synonyms: tuple[str, ...] = ()
    units: Mapping[str, float] = field(default_factory=dict)
    range: tuple[float, float] | None = None
    line: int = 0
    asked: bool = True  # False: read from the record, never listed as missing
    ask_when: Condition | None = None  # listed as missing only when it holds on the facts given

    def allowed(self) -> str:
        """What a clinician may answer, in words."""
        if self.type == "bool":
            return "true, false (or yes/no, y/n, in any case)"
        if self.type == "number":
            low, high = self.range or (None, None)
            return (f"a number from {low:g} to {high:g} {self.unit or ''}".rstrip()
                    + f", read to {NUMBER_PLACES} decimal places (written {NUMBER_SPELLINGS})")
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


def cited(sources: tuple[Quote, ...]) -> list[str]:
    """The reference numbers quoted, in order, once each: what every citation tag is made from."""
    return list(dict.fromkeys(quote.ref for quote in sources))


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
    strength: str | None = None  # on an indication route: a key of STRENGTHS
    withholds_dose: bool = False  # on a warning: no dose while it holds (check the fact first)


@dataclass(frozen=True)
class Exclusion:
    """This rule overrides others for the same patient, for the reason given."""

    rules: tuple[str, ...]
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

    @cached_property
    def synonyms(self) -> dict[str, str]:
        """Other names a clinician may write for a fact, to the fact's name."""
        return {synonym: name for name, spec in self.facts.items() for synonym in spec.synonyms}

    def rule(self, rule_id: str) -> Rule:
        return self._by_id[rule_id]

    @cached_property
    def _by_id(self) -> dict[str, Rule]:
        return {rule.id: rule for rule in self.rules}

    def conclusion_rules(self) -> list[Rule]:
        return [rule for rule in self.rules if rule.conclude]

    @cached_property
    def routes(self) -> tuple[Rule, ...]:
        """Indication rules that carry a strength: the routes to IVIG the verdict weighs."""
        return tuple(rule for rule in self.rules if rule.conclude and rule.conclude.strength)

    @cached_property
    def candidate_values(self) -> dict[str, tuple[Any, ...]]:
        """For each input fact, the values worth trying when it is unknown: every category, and both sides
        of each threshold (and the range's ends) for a number."""
        found: dict[str, tuple[Any, ...]] = {}
        for name, spec in self.facts.items():
            if spec.type == "bool":
                found[name] = (True, False)
            elif spec.type == "enum":
                found[name] = spec.values
            elif spec.type == "list":
                found[name] = ([], *([value] for value in spec.values))
            else:
                low, high = spec.range or (0, 0)
                points = {low, high}
                for rule in self.rules:
                    for test in tests_of(rule.when):
                        if test.fact == name and test.op in COMPARISONS:
                            points.update({test.value - 1, test.value, test.value + 1})
                found[name] = tuple(sorted(exact_number(p) for p in points if low <= p <= high))
        return found

    @cached_property
    def distinct_values(self) -> dict[str, tuple[Any, ...]]:
        """For each input fact, the first candidate value of each class that every test on the fact (in
        rules, in the closed world) judges alike: values the rules cannot tell apart."""
        found: dict[str, tuple[Any, ...]] = {}
        for name, values in self.candidate_values.items():
            tests = [compile_test(test) for rule in self.rules for test in tests_of(rule.when) if test.fact == name]
            seen: dict[tuple[Any, ...], Any] = {}
            for value in values:
                seen.setdefault(tuple(test({name: value}) for test in tests), value)
            found[name] = tuple(seen.values())
        return found

    @cached_property
    def verdict_rules(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """The rules the verdict reads besides the routes, in rule order: the hard stops (contraindication
        conclusions) and the scope conclusions that put a patient outside the document's scope."""
        stops = tuple(rule.id for rule in self.rules if rule.conclude and rule.conclude.kind == "contraindication")
        outside = tuple(rule.id for rule in self.rules
                        if rule.conclude and rule.conclude.kind == "scope" and rule.conclude.outside_scope)
        return stops, outside

    @cached_property
    def dose_rules(self) -> tuple[str, ...]:
        """The rules the dose arithmetic reads: those with a dose block, and warnings that withhold the dose."""
        return tuple(rule.id for rule in self.rules
                     if rule.dose is not None or (rule.conclude and rule.conclude.withholds_dose))

    @cached_property
    def route_strengths(self) -> dict[str, str]:
        """Each route's strength by rule id (every route has one: that is what makes it a route)."""
        return {rule.id: rule.conclude.strength for rule in self.routes
                if rule.conclude and rule.conclude.strength}

    @cached_property
    def producers(self) -> dict[str, tuple[str, ...]]:
        """For each derived fact, the rules that derive it, in rule order."""
        found: dict[str, list[str]] = {}
        for rule in self.rules:
            for name in rule.derive:
                found.setdefault(name, []).append(rule.id)
        return {name: tuple(ids) for name, ids in found.items()}

    @cached_property
    def evaluators(self) -> tuple[tuple[Rule, Evaluator, Evaluator], ...]:
        """Each rule with its condition compiled once: (rule, closed world, open world)."""
        return tuple((rule, compile_condition(rule.when), compile_condition(rule.when, open_world=True))
                     for rule in self.rules)

    @cached_property
    def downstream(self) -> dict[str, tuple[int, ...]]:
        """For each input fact, the positions (in `rules` and `evaluators`) of the rules whose truth can
        depend on it, directly or through derived facts: all a changed answer makes worth evaluating again."""
        inputs: dict[str, set[str]] = {}
        for rule in self.rules:  # dependency order: a derived fact's producers come first
            found = inputs[rule.id] = set()
            for test in tests_of(rule.when):
                if test.fact in self.facts:
                    found.add(test.fact)
                for producer in self.producers.get(test.fact, ()):
                    found |= inputs[producer]
        return {name: tuple(i for i, rule in enumerate(self.rules) if name in inputs[rule.id]) for name in self.facts}

    @cached_property
    def tested(self) -> tuple[frozenset[str], ...]:
        """For each rule (by position), the facts its condition tests, input and derived."""
        return tuple(frozenset(test.fact for test in tests_of(rule.when)) for rule in self.rules)

    @cached_property
    def shared_pairs(self) -> tuple[tuple[str, str], ...]:
        """Pairs of input facts that one conjunct of a rule's normal form tests together, sorted."""
        pairs: set[tuple[str, str]] = set()
        for facts in self.conjunct_facts:
            names = sorted(facts & set(self.facts))
            pairs.update((a, b) for i, a in enumerate(names) for b in names[i + 1:])
        return tuple(sorted(pairs))

    @cached_property
    def conjunct_facts(self) -> tuple[frozenset[str], ...]:
        """The facts each conjunct of each rule's normal form tests together."""
        return tuple(frozenset(literal.test.fact for literal in conjunct)
                     for rule in self.rules for conjunct in to_dnf(rule.when))

    def __getstate__(self) -> dict[str, Any]:
        """Pickled without what the cached properties computed (closures do not pickle)."""
        return {name: value for name, value in self.__dict__.items() if not isinstance(
            getattr(type(self), name, None), cached_property)}


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
    strength: str | None = None


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
class Preference:
    """Which regimen to prefer for this patient, and why."""

    regimen: str  # "standard" or "cautious"
    because: str
    rule: str | None = None
    lower_end: Regimen | None = None  # cautious: the lower end of the standard regimen
    spread: Regimen | None = None     # cautious: 2 g/kg over the most daily doses


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
    preferred: Preference
    bmi: float | None = None
    next_course: int | None = None  # counted from ivig_courses_given
    warnings: tuple[tuple[str, str], ...] = ()  # (id, text): plausibility of weight and height


@dataclass(frozen=True)
class MissingFact:
    """An unknown fact and the conclusions a value for it could change."""

    fact: str
    question: str
    could_change: tuple[str, ...]
    could_change_dose: bool
    decisive_kind: str
    verdicts: tuple[str, ...] = ()  # the verdicts an answer could lead to, other than today's
    concern: str = "other"  # hard_stop | verdict | caution | dose | other: why it is asked, safety first

    @property
    def could_change_verdict(self) -> bool:
        return bool(self.verdicts)


@dataclass(frozen=True)
class VerdictSpec:
    """What each verdict means wherever it is shown: every surface reads these, none decides them."""

    name: VerdictName
    headline: str
    ivig_indicated: bool | None  # the three-valued shadow in JSON's summary
    no_dose: str  # why there is no dose, when this verdict gives none
    open: bool  # an answer could still give IVIG a stronger route: the missing-fact search asks for it
    holds_routes_back: bool  # routes that hold give no advice under it (a hard stop, out of scope)
    names_open_facts: bool  # its headline says which unknown facts could make IVIG indicated
    indicator: Literal["critical", "warning", "info"]  # a CDS Hooks card's urgency


VERDICTS = {v.name: v for v in (
    VerdictSpec("contraindicated", "CONTRAINDICATED", False,
                "No dose: IVIG is contraindicated for this patient (hard stop).",
                open=False, holds_routes_back=True, names_open_facts=False, indicator="critical"),
    VerdictSpec("out_of_scope", "OUT OF SCOPE - the source document does not cover this patient", None,
                "No dose: the source document does not cover this patient.",
                open=False, holds_routes_back=True, names_open_facts=False, indicator="info"),
    VerdictSpec("indicated", "INDICATED", True, "No dose: IVIG is not advised on the facts given.",
                open=False, holds_routes_back=False, names_open_facts=False, indicator="info"),
    VerdictSpec("may_be_considered", "MAY BE CONSIDERED", True,
                "No dose: IVIG is not advised on the facts given.",
                open=True, holds_routes_back=False, names_open_facts=False, indicator="info"),
    VerdictSpec("undetermined", "UNDETERMINED - facts that could make it indicated are unknown", None,
                "No dose until the verdict is decided: answer the questions under MISSING.",
                open=True, holds_routes_back=False, names_open_facts=True, indicator="info"),
    VerdictSpec("not_indicated", "NOT INDICATED on the facts given - every route to an indication fails",
                False, "No dose: IVIG is not indicated on the facts given.",
                open=True, holds_routes_back=False, names_open_facts=False, indicator="info"),
)}
"""Every verdict, in the order they are decided: the first that applies wins."""


@dataclass(frozen=True)
class Verdict:
    """The one answer to "IVIG for this patient?", computed once (engine/verdict.py)."""

    value: VerdictName  # a key of VERDICTS
    strength: str | None  # the strongest route's words, when a route holds
    rules: tuple[str, ...]  # the rules that decided it
    open_facts: tuple[str, ...] = ()  # unknown facts whose answer could give IVIG a route (see missing.py)

    @property
    def ivig_indicated(self) -> bool | None:
        """Three-valued: True (indicated or may be considered), False, or None (not decidable here)."""
        return VERDICTS[self.value].ivig_indicated


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
    verdict: Verdict
    warnings: tuple[tuple[str, str], ...] = ()  # (id, text): warning conclusions and dose checks

    @property
    def ivig_indicated(self) -> bool | None:
        return self.verdict.ivig_indicated

    def by_kind(self, kind: str) -> list[Conclusion]:
        return [c for c in self.conclusions if c.kind == kind]
