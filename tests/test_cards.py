"""CDS Hooks cards, offline (`consult --format cds-hooks`): the reviewed cards of four patients, and the
rules every card follows.

CDS Hooks cards (engine/cards.py), exactly: the verdict card of each verdict, the card of each concern
in its order, the dose, missing and FHIR cards, where each fact came from, and the uuids.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase, consult, load_knowledge_base, normalize
from myoivig.engine.cards import (
    NAMESPACE,
    OVERRIDE_SYSTEM,
    RULE_SYSTEM,
    SUMMARY_LIMIT,
    cards,
    conclusion_markdown,
    escape,
    facts_key,
    pruned,
    short,
    speaks,
)
from myoivig.engine.fhir import Evidence, FhirReading, Unmapped
from myoivig.engine.model import Conclusion, Consultation, MissingFact, Quote, Verdict

from .builders import mask
from .conftest import KB_DIR

KB = KB_DIR
REVIEWED = ["cases/pm_elderly_renal_thrombotic_iga.yaml", "cases/dm_anti_iga_antibodies.yaml",
            "cases/child_dermatomyositis.yaml", "cases/fhir/variations/imnm_anti_hmgcr_early.json"]


def offline(patient: Path | str, *extra: str) -> list[dict[str, Any]]:
    result = CliRunner().invoke(cli, ["consult", str(patient), "--format", "cds-hooks", *extra])
    assert result.exit_code == 0, result.output
    return list(json.loads(result.output)["cards"])


def reviewed(found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cards keyed by rule id: the checksum, the uuids made from it and rule titles change with any
    edit of a rule file, so they are masked (uuids are tested on their own below)."""
    for card in found:
        card["uuid"] = "<uuid>"
        if "topic" in card["source"]:
            card["source"]["topic"]["display"] = "<title>"
    return list(json.loads(mask(json.dumps(found))))


@pytest.mark.slow
@pytest.mark.parametrize("case", REVIEWED)
def test_the_cards_of_four_patients_as_reviewed(case: str, snapshot: SnapshotAssertion) -> None:
    """Every word, indicator, quote and provenance line, as a clinician reviewed them."""
    assert reviewed(offline(KB / case)) == snapshot


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(p.name for p in (KB / "cases").glob("*.yaml")))
def test_every_card_follows_the_spec(case: str) -> None:
    """Summaries under 140 characters, known indicators, a source label, no empty value, one uuid each."""
    found = offline(KB / "cases" / case)
    assert found and found[0]["extension"]["org.myoivig"]["verdict"]
    for card in found:
        assert len(card["summary"]) < SUMMARY_LIMIT and "\n" not in card["summary"]
        assert card["indicator"] in ("info", "warning", "critical")
        shipped = load_knowledge_base(None)
        assert card["source"]["label"] == f"myoivig - {shipped.name} {shipped.version}"
        assert pruned(card) == card
    assert len({card["uuid"] for card in found}) == len(found)


@pytest.mark.slow
def test_offline_uuids_follow_the_facts() -> None:
    """The same patient gives the same uuids; one more fact gives others."""
    case = KB / "cases" / "dm_on_prednisone.yaml"
    first, again = offline(case), offline(case)
    changed = offline(case, "--set", "flare=true")
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    assert not {c["uuid"] for c in first} & {c["uuid"] for c in changed}


@pytest.mark.slow
def test_a_conflict_makes_the_fhir_card_a_warning(tmp_path: Path) -> None:
    """FHIR data not used is information; FHIR data in conflict is a warning."""
    twin = json.loads((KB / "cases" / "fhir" / "variations" / "pm_severe_sparse.json").read_text())
    patient = next(e["resource"]["id"] for e in twin["entry"] if e["resource"]["resourceType"] == "Patient")
    weight = {"resourceType": "Observation", "status": "final", "effectiveDateTime": "2026-01-05",
              "subject": {"reference": f"Patient/{patient}"},
              "code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}}
    kg = {"code": "kg", "system": "http://unitsofmeasure.org"}
    twin["entry"] += [{"resource": {**weight, "id": "w1", "valueQuantity": {"value": 70, **kg}}},
                      {"resource": {**weight, "id": "w2", "valueQuantity": {"value": 90, **kg}}}]
    (tmp_path / "twin.json").write_text(json.dumps(twin))
    card = next(c for c in offline(tmp_path / "twin.json") if c["summary"].startswith("FHIR data"))
    assert card["summary"] == "FHIR data not used: 0 resources, 1 point to check" and card["indicator"] == "warning"
    assert card["detail"] == ("- check: weight\\_kg: Observation/w1 says 70, Observation/w2 says 90 on "
                              "2026-01-05; left unknown")


@pytest.mark.slow
def test_facts_to_check_each_get_a_warning_card() -> None:
    """An implausible weight is a warning card, not only a line in the text advice."""
    found = offline(KB / "cases" / "dm_implausible_body.yaml")
    checks = [c for c in found if c["summary"].startswith("Check before IVIG: ")]
    assert [c["indicator"] for c in checks] == ["warning"] * 2  # no dose, so no BMI check of a dose
    assert checks[0]["summary"] == ("Check before IVIG: An adult weight under 30 kg is implausible; check the weight "
                                    "before any dose is given. [local policy]")
    assert checks[0]["source"]["topic"]["code"] == "warning.adult_weight_under_30_kg"


@pytest.mark.slow
def test_a_card_cites_only_the_resource_that_gave_the_value() -> None:
    """The older 75 kg weight is not cited for the 72 kg used."""
    found = offline(KB / "cases" / "fhir" / "variations" / "imnm_anti_hmgcr_early.json")
    details = "\n".join(c.get("detail", "") for c in found)
    assert "Observation/obs-15" in details and "Observation/obs-14" not in details


@pytest.mark.slow
def test_a_report_url_links_every_card() -> None:
    """Where a report URL is configured, each card links to it as an absolute link."""
    kb = load_knowledge_base(None)
    consultation = consult(kb, normalize(kb, {"diagnosis": "DM", "severity": "severe"}))
    found = cards(kb, consultation, "x", report_url="https://ehr.example/r/1")
    assert {json.dumps(c["links"]) for c in found} == {json.dumps(
        [{"label": "Full consultation report", "url": "https://ehr.example/r/1", "type": "absolute"}])}
    assert all("links" not in c for c in cards(kb, consultation, "x"))
    assert facts_key({"b": 1, "a": 2}) == facts_key({"a": 2, "b": 1}) != facts_key({"a": 2})


@pytest.mark.slow
@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 139, "a" * 139),
    ("word " * 30, ("word " * 27).strip() + "…"),
    ("line one\nline  two", "line one line two"),
    ("x" * 150, "x" * 138 + "…"),
])
def test_a_summary_is_one_line_cut_at_a_word(text: str, expected: str) -> None:
    """Under 140 characters, cut at a word with an ellipsis (a word longer than that is cut where it must)."""
    assert short(text) == expected and len(short(text)) < SUMMARY_LIMIT


@pytest.mark.slow
def test_text_from_the_ehr_cannot_become_markup() -> None:
    """HTML and Markdown control characters are escaped, lines joined and bare links broken: the sandbox
    renders raw HTML and GFM."""
    assert escape("<img src=x onerror=alert(1)> & *b* _i_ [l](u) `c` #h |t| \\") == (
        "&lt;img src=x onerror=alert(1)&gt; &amp; \\*b\\* \\_i\\_ \\[l\\](u) \\`c\\` \\#h \\|t\\| \\\\")
    assert escape("ok\n\nIVIG INDICATED\n======") == "ok IVIG INDICATED ======"
    assert escape("see https://evil.example and www.evil.example") == (
        "see https:&#47;&#47;evil.example and www&#46;evil.example")


@pytest.mark.slow
def test_pruning_drops_every_empty_value_and_keeps_falsy_ones() -> None:
    """The spec forbids null and empty values; 0 and false are values."""
    assert pruned({"a": None, "b": "", "c": [], "d": {}, "e": 0, "f": False,
                   "g": {"h": [None, {}, {"i": ""}, 1]}, "j": {"k": None}}) == {"e": 0, "f": False, "g": {"h": [1]}}


@pytest.mark.slow
def test_an_undetermined_verdict_names_the_unknown_facts_that_decide_it() -> None:
    """The summary says which answers could make IVIG indicated; other verdicts give their reason instead."""
    found = offline(KB / "cases" / "unknown_diagnosis_severe_dysphagia.yaml")
    assert found[0]["summary"] == ("IVIG undetermined: unknown diagnosis, autoantibodies, flare, refractory, "
                                   "corticosteroid_contraindicated, intolerant_to_standard_therapy")
    assert offline(KB / "cases" / "dm_mild_no_indication.yaml")[0]["summary"] == "IVIG not indicated on the facts given"


# ---------------------------------------------------------------- CDS Hooks cards (engine/cards.py), exactly: the verdict card
_SHIPPED = load_knowledge_base(None)
LABEL = f"myoivig - {_SHIPPED.name} {_SHIPPED.version}"  # the shipped knowledge base's own name and version
OVERRIDES = [
    {"system": OVERRIDE_SYSTEM, "code": "risk-benefit-ratio", "display": "Recipient assessment of risk/benefit ratio"},
    {"system": OVERRIDE_SYSTEM, "code": "mitigate-risk-negative-outcome",
     "display": "Action taken to mitigate risk of negative outcome"},
    {"system": OVERRIDE_SYSTEM, "code": "cds-not-applicable", "display": "PC CDS does not apply to patient"},
    {"system": OVERRIDE_SYSTEM, "code": "need-more-info", "display": "Need more information"}]


@pytest.fixture(scope="module")
def base(kb: KnowledgeBase) -> Consultation:
    """A real consultation to vary: dermatomyositis, severe, nothing else known."""
    return consult(kb, normalize(kb, {"diagnosis": "DM", "severity": "severe"}))


def conclusion(cid: str, statement: str, *, strength: str | None = None, outside: bool = False,
               local: str | None = None, sources: tuple[Quote, ...] = (), facts: tuple[str, ...] = ()) -> Conclusion:
    return Conclusion(cid, cid.split(".")[0], statement, cid, sources, local, (), facts, None, outside, strength)


HARD = conclusion("contraindication.prior_immunoglobulin_anaphylaxis", "Past anaphylaxis: no IVIG.")
HARD2 = conclusion("contraindication.anti_iga_antibodies", "Anti-IgA antibodies: no IVIG.")
ROUTE = conclusion("indication.severe_or_rapidly_progressive", "Severe myositis.", strength="is recommended")
ROUTE2 = conclusion("indication.refractory_myositis", "Refractory myositis.", strength="may be considered")
PLAIN = conclusion("indication.individual_assessment", "Decide with care.")
OUTSIDE = conclusion("scope.child", "A child: out of scope.", outside=True)
INSIDE = conclusion("scope.age_unknown", "Age unknown.")
CAUTION = conclusion("caution.renal_insufficiency", "Renal caution.")


def varied(base: Consultation, value: str, conclusions: tuple[Conclusion, ...], rules: tuple[str, ...] = (),
           strength: str | None = None, open_facts: tuple[str, ...] = (), **changes: Any) -> Consultation:
    fields: dict[str, Any] = {"dose": None, "missing": (), "warnings": (), **changes}
    return dataclasses.replace(base, verdict=Verdict(value, strength, rules, open_facts), conclusions=conclusions,
                               **fields)


def md(kb: KnowledgeBase, consultation: Consultation, *found: Conclusion) -> list[str]:
    return [conclusion_markdown(kb, c, consultation, None) for c in found]


def uuid_of(kb: KnowledgeBase, instance: str, key: str) -> str:
    return str(uuid.uuid5(NAMESPACE, f"{kb.sha256}|{instance}|{key}"))


# -- the verdict card -------------------------------------------------------------------------------

def test_a_contraindication_is_a_critical_verdict_card_holding_back_the_routes(kb: KnowledgeBase,
                                                                              base: Consultation) -> None:
    """The hard stop is the reason; the routes that hold are shown, but as held back."""
    consultation = varied(base, "contraindicated", (HARD, ROUTE, PLAIN), rules=(HARD.id,))
    card = cards(kb, consultation, "i")[0]
    assert card["uuid"] == uuid_of(kb, "i", "verdict")
    assert card["summary"] == "IVIG contraindicated: Past anaphylaxis: no IVIG."
    assert card["indicator"] == "critical"
    assert card["detail"] == "\n\n".join(["**IVIG: CONTRAINDICATED**", *md(kb, consultation, HARD),
                                          "Routes to IVIG that hold, but give no advice while the above stands:",
                                          *md(kb, consultation, ROUTE, PLAIN)])
    assert card["source"] == {"label": LABEL, "topic": {"system": RULE_SYSTEM, "code": HARD.id,
                                                        "display": kb.rule(HARD.id).title}}
    extension = card["extension"]["org.myoivig"]
    assert extension["knowledgeBase"] == {"name": kb.name, "version": kb.version, "sha256": kb.sha256}
    assert extension["rules"] == [HARD.id] and extension["verdict"] == "contraindicated"
    assert extension["conclusions"] == [HARD.id, ROUTE.id, PLAIN.id]
    assert "dose" not in extension and "overrideReasons" not in card and "links" not in card


def test_a_contraindication_without_routes_holds_nothing_back(kb: KnowledgeBase, base: Consultation) -> None:
    """No 'routes that hold' line when no route holds."""
    consultation = varied(base, "contraindicated", (HARD,), rules=(HARD.id,))
    assert cards(kb, consultation, "i")[0]["detail"] == "\n\n".join(["**IVIG: CONTRAINDICATED**",
                                                                     *md(kb, consultation, HARD)])


def test_out_of_scope_names_the_scope_that_excludes_and_holds_the_routes(kb: KnowledgeBase,
                                                                         base: Consultation) -> None:
    """A scope note that does not exclude the patient is not the reason."""
    consultation = varied(base, "out_of_scope", (INSIDE, OUTSIDE, ROUTE), rules=(OUTSIDE.id,))
    found = cards(kb, consultation, "i")
    assert found[0]["summary"] == "IVIG out of scope: A child: out of scope."
    assert found[0]["indicator"] == "info"
    assert found[0]["detail"] == "\n\n".join(["**IVIG: OUT OF SCOPE - the source document does not cover this patient**",
                                              *md(kb, consultation, OUTSIDE),
                                              "Routes to IVIG that hold, but give no advice while the above stands:",
                                              *md(kb, consultation, ROUTE)])
    assert [(c["summary"], c["indicator"]) for c in found[1:]] == [("Scope: Age unknown.", "info")]


def test_an_indication_names_its_first_route_and_lists_the_other_indications(kb: KnowledgeBase,
                                                                             base: Consultation) -> None:
    """The strongest route is the reason, quoted with the source's words; the rest follow, none twice."""
    consultation = varied(base, "indicated", (PLAIN, ROUTE, ROUTE2), rules=(ROUTE.id, ROUTE2.id),
                          strength="is recommended")
    card = cards(kb, consultation, "i")[0]
    assert card["summary"] == "IVIG indicated: Severe myositis."
    assert card["indicator"] == "info"
    assert card["detail"] == "\n\n".join(['**IVIG: INDICATED** - the source says IVIG "is recommended"',
                                          *md(kb, consultation, ROUTE, PLAIN, ROUTE2)])
    assert card["extension"]["org.myoivig"]["rules"] == [ROUTE.id, ROUTE2.id]
    assert card["source"]["topic"]["code"] == ROUTE.id          # the first rule names the card


def test_may_be_considered_reads_as_such(kb: KnowledgeBase, base: Consultation) -> None:
    """The weaker verdict keeps its own words in the summary and the detail."""
    consultation = varied(base, "may_be_considered", (ROUTE2,), rules=(ROUTE2.id,), strength="may be considered")
    card = cards(kb, consultation, "i")[0]
    assert card["summary"] == "IVIG may be considered: Refractory myositis."
    assert card["detail"].startswith('**IVIG: MAY BE CONSIDERED** - the source says IVIG "may be considered"\n\n')


def test_an_undetermined_verdict_names_its_open_facts_or_nothing(kb: KnowledgeBase, base: Consultation) -> None:
    """Which answers could decide it; with none named, the bare verdict; every indication is listed."""
    open_ = varied(base, "undetermined", (PLAIN,), open_facts=("flare", "refractory"))
    card = cards(kb, open_, "i")[0]
    assert card["summary"] == "IVIG undetermined: unknown flare, refractory"
    assert card["detail"] == "\n\n".join(["**IVIG: UNDETERMINED - facts that could make it indicated are unknown**",
                                          *md(kb, open_, PLAIN)])
    assert card["source"]["topic"]["code"] == PLAIN.id           # no verdict rule: the indications stand in
    assert card["extension"]["org.myoivig"]["rules"] == [PLAIN.id]
    assert cards(kb, varied(base, "undetermined", ()), "i")[0]["summary"] == "IVIG undetermined"


@pytest.mark.parametrize("value", ["not_indicated", "contraindicated", "indicated", "out_of_scope",
                                   "may_be_considered"])
def test_only_an_undetermined_verdict_is_explained_by_unknown_facts(kb: KnowledgeBase, base: Consultation,
                                                                    value: str) -> None:
    """Other verdicts give their own reason even when facts are open."""
    consultation = varied(base, value, (), open_facts=("flare",))
    summary = cards(kb, consultation, "i")[0]["summary"]
    assert "unknown" not in summary


def test_not_indicated_has_no_reason_and_no_rule(kb: KnowledgeBase, base: Consultation) -> None:
    """No route holds: the headline alone, no topic, no rules."""
    card = cards(kb, varied(base, "not_indicated", ()), "i")[0]
    assert card["summary"] == "IVIG not indicated on the facts given"
    assert card["detail"] == "**IVIG: NOT INDICATED on the facts given - every route to an indication fails**"
    assert card["source"] == {"label": LABEL}
    assert "rules" not in card["extension"]["org.myoivig"]


# -- one card per concern ---------------------------------------------------------------------------

def test_each_concern_has_its_card_in_order(kb: KnowledgeBase, base: Consultation) -> None:
    """Hard stops (other than the verdict's), then warnings, cautions and scope notes, each with its
    indicator; only a caution can be overridden, with the HL7 reasons."""
    consultation = varied(base, "contraindicated", (HARD, HARD2, OUTSIDE, INSIDE, CAUTION, PLAIN), rules=(HARD.id,),
                          warnings=(("warning.adult_weight_under_30_kg", "Weight *low*"), ("dose.check", "Odd")))
    found = cards(kb, consultation, "i")
    assert [(c["uuid"], c["summary"], c["indicator"]) for c in found] == [
        (uuid_of(kb, "i", "verdict"), "IVIG contraindicated: Past anaphylaxis: no IVIG.", "critical"),
        (uuid_of(kb, "i", HARD2.id), "IVIG hard stop: Anti-IgA antibodies: no IVIG.", "critical"),
        (uuid_of(kb, "i", "warning.adult_weight_under_30_kg"), "Check before IVIG: Weight *low* [local policy]",
         "warning"),
        (uuid_of(kb, "i", "dose.check"), "Check before IVIG: Odd", "warning"),
        (uuid_of(kb, "i", CAUTION.id), "IVIG caution: Renal caution.", "warning"),
        (uuid_of(kb, "i", OUTSIDE.id), "Out of scope: A child: out of scope.", "info"),
        (uuid_of(kb, "i", INSIDE.id), "Scope: Age unknown.", "info")]
    warning, unknown_rule = found[2], found[3]
    assert warning["detail"] == "Weight \\*low\\* \\[local policy\\]"
    assert warning["source"]["topic"]["code"] == "warning.adult_weight_under_30_kg"
    assert warning["extension"]["org.myoivig"]["rules"] == ["warning.adult_weight_under_30_kg"]
    assert unknown_rule["source"] == {"label": LABEL} and "rules" not in unknown_rule["extension"]["org.myoivig"]
    assert found[1]["detail"] == md(kb, consultation, HARD2)[0]
    assert found[1]["source"]["topic"]["code"] == HARD2.id
    assert [c.get("overrideReasons") for c in found] == [None] * 4 + [OVERRIDES] + [None] * 2
    assert len({c["uuid"] for c in found}) == len(found)


def test_the_verdicts_reason_has_no_card_of_its_own(kb: KnowledgeBase, base: Consultation) -> None:
    """Out of scope for a child: the scope card is the verdict card, not shown twice."""
    found = cards(kb, varied(base, "out_of_scope", (OUTSIDE,), rules=(OUTSIDE.id,)), "i")
    assert [c["summary"] for c in found] == ["IVIG out of scope: A child: out of scope."]


def test_the_dose_card_gives_the_course_and_its_arithmetic(kb: KnowledgeBase) -> None:
    """The grams per course over the days, the weight it rests on, and every step of the sum."""
    consultation = consult(kb, normalize(kb, {"diagnosis": "DM", "severity": "severe", "weight_kg": 70,
                                              "height_cm": 170, "sex": "female", "age_years": 50}))
    dose = consultation.dose
    assert dose is not None
    found = cards(kb, consultation, "i")
    card = next(c for c in found if c["uuid"] == uuid_of(kb, "i", "dose"))
    assert card["summary"] == "IVIG dose: 61-123 g over 2 days (31-61 g/day); ideal body weight 61.4 kg"
    assert card["indicator"] == "info"
    parts = card["detail"].split("\n\n")
    assert parts[:2] == ["- **Give**: 1-2 g/kg = 61-123 g over 2 days (31-61 g/day)",
                         "- **Alternative**: 2 g/kg = 123 g in 2-5 daily doses (25-61 g/day)"]
    assert parts[2:2 + len(dose.arithmetic)] == [
        " ".join(line.split()).replace("*", "\\*").replace("_", "\\_") for line in dose.arithmetic]
    assert parts[2 + len(dose.arithmetic):] == md(kb, consultation, *consultation.by_kind("dosing"))
    assert card["extension"]["org.myoivig"]["rules"] == list(dose.rules)
    standard = {"name": "standard", "course_total_g": list(dose.standard.course_total_g),
                "per_day_g": list(dose.standard.per_day_g), "days_per_course": list(dose.standard.days_per_course)}
    assert found[0]["extension"]["org.myoivig"]["dose"] == {
        "dosing_weight_kg": dose.dosing_weight_kg, "give": standard, "standard": standard}
    other = dataclasses.replace(dose, weight_basis="actual_weight", dosing_weight_kg=61.45, standard=dataclasses.replace(
        dose.standard, course_total_g=(61.5, 123.0), days_per_course=(3, 5)))
    found = cards(kb, dataclasses.replace(consultation, dose=other), "i")
    assert next(c["summary"] for c in found if c["uuid"] == uuid_of(kb, "i", "dose")) == (
        "IVIG dose: 61.5-123 g in 3-5 daily doses (31-61 g/day); actual weight 61.45 kg")


def test_the_missing_card_asks_each_question_with_its_concern(kb: KnowledgeBase, base: Consultation) -> None:
    """Each unknown fact, its question and what it could change; the summary counts them."""
    missing = (MissingFact("flare", "Is the *disease* flaring?", (), False, "indication", concern="verdict"),
               MissingFact("weight_kg", "What is the weight?", (), True, "dose", concern="hard_stop"))
    found = cards(kb, varied(base, "not_indicated", (), missing=missing), "i")
    card = next(c for c in found if c["uuid"] == uuid_of(kb, "i", "missing"))
    asked = next(c for c in found if c["uuid"] == uuid_of(kb, "i", "hard_stops_not_given"))
    assert asked["summary"] == "Ask before the first IVIG infusion: weight_kg not given"
    assert asked["indicator"] == "warning"
    assert card["summary"] == "Advice incomplete: 2 facts unknown (flare, weight_kg)"
    assert card["indicator"] == "info" and card["source"] == {"label": LABEL}
    assert card["detail"] == ("- **flare**: Is the \\*disease\\* flaring? (could change verdict)\n\n"
                              "- **weight_kg**: What is the weight? (could change hard stop)")


def reading(unmapped: tuple[Unmapped, ...] = (), warnings: tuple[str, ...] = (),
            evidence: tuple[Evidence, ...] = ()) -> FhirReading:
    return FhirReading({}, evidence, unmapped, warnings, "2026-01-15", "--as-of", "b.yaml", "0" * 64, "Patient/p")


@pytest.mark.parametrize(("unmapped", "warnings", "summary", "indicator", "detail"), [
    ((Unmapped("Foo/1", "myoivig reads no Foo resources"),), (),
     "FHIR data not used: 1 resource, 0 points to check", "info", "- Foo/1: myoivig reads no Foo resources"),
    ((Unmapped("Foo/1", "a"), Unmapped("Bar/2", "b_c")), ("x: one", "y: two"),
     "FHIR data not used: 2 resources, 2 points to check", "warning",
     "- Foo/1: a\n\n- Bar/2: b\\_c\n\n- check: x: one\n\n- check: y: two"),
    ((), ("x: one",), "FHIR data not used: 0 resources, 1 point to check", "warning", "- check: x: one"),
])
def test_the_fhir_card_counts_what_was_not_used(kb: KnowledgeBase, base: Consultation, unmapped: tuple[Unmapped, ...],
                                                warnings: tuple[str, ...], summary: str, indicator: str,
                                                detail: str) -> None:
    """Unused resources inform; conflicts warn; each is named."""
    card = cards(kb, varied(base, "not_indicated", ()), "i", reading(unmapped, warnings))[-1]
    assert (card["uuid"], card["summary"], card["indicator"], card["detail"]) == (
        uuid_of(kb, "i", "fhir"), summary, indicator, detail)


def test_no_fhir_card_when_everything_was_used(kb: KnowledgeBase, base: Consultation) -> None:
    """A clean reading, or no FHIR at all, adds no card."""
    consultation = varied(base, "not_indicated", ())
    assert len(cards(kb, consultation, "i", reading())) == 1 and len(cards(kb, consultation, "i")) == 1


def test_a_report_url_is_an_absolute_link_on_every_card(kb: KnowledgeBase, base: Consultation) -> None:
    """The EHR opens the full report from any card."""
    consultation = varied(base, "contraindicated", (HARD, HARD2), rules=(HARD.id,))
    found = cards(kb, consultation, "i", report_url="https://r.example/1")
    assert [c["links"] for c in found] == [[{"label": "Full consultation report", "url": "https://r.example/1",
                                             "type": "absolute"}]] * 2


def test_uuids_differ_by_instance_and_repeat_for_the_same_one(kb: KnowledgeBase, base: Consultation) -> None:
    """The same hook instance gives the same uuids; another gives others."""
    consultation = varied(base, "contraindicated", (HARD, HARD2), rules=(HARD.id,))
    first = [c["uuid"] for c in cards(kb, consultation, "a")]
    assert first == [c["uuid"] for c in cards(kb, consultation, "a")] == [uuid_of(kb, "a", "verdict"),
                                                                           uuid_of(kb, "a", HARD2.id)]
    assert not set(first) & {c["uuid"] for c in cards(kb, consultation, "b")}


# -- a conclusion in Markdown -----------------------------------------------------------------------

def test_a_conclusion_shows_its_quotes_policy_and_facts_with_their_sources(kb: KnowledgeBase,
                                                                          base: Consultation) -> None:
    """Each fact it rests on, with the resource, code and date that gave the value used (not older ones)."""
    rich = conclusion("caution.renal_insufficiency", "Renal *caution*.", local="Site rule_1.",
                      sources=(Quote("1", "IVIG <b>may</b> harm"), Quote("4", "Check kidneys")),
                      facts=("renal_insufficiency", "autoantibodies", "flare", "weight_kg", "absent"))
    consultation = dataclasses.replace(base, patient={"renal_insufficiency": True, "autoantibodies": ["anti_srp", "anti_jo1"],
                                                      "flare": False, "weight_kg": 70})
    evidence = (Evidence("renal_insufficiency", True, "Condition/ckd", "SNOMED 709044004", "2020-01-01", "active"),
                Evidence("renal_insufficiency", False, "Observation/egfr", "LOINC 98979-8", "2026-01-01", "62"),
                Evidence("autoantibodies", "anti_srp", "Observation/a", None, None, "positive"),
                Evidence("autoantibodies", "anti_jo1", "Observation/b", "LOINC 33571-1", None, "positive"),
                Evidence("weight_kg", 70, "Observation/w", None, "2026-01-05", "70 kg"),
                Evidence("flare", True, "Observation/f", None, None, "answered yes"))
    assert conclusion_markdown(kb, rich, consultation, reading(evidence=evidence)) == "\n".join([
        "Renal \\*caution\\*. **[local policy]**",
        "> IVIG &lt;b&gt;may&lt;/b&gt; harm [1: Guideline summary]",
        "> Check kidneys [4: Treatment of refractory IMNM]",
        "*Local policy:* Site rule\\_1.",
        "- renal_insufficiency = true (from Condition/ckd SNOMED 709044004, 2020-01-01)",
        "- autoantibodies = anti\\_srp, anti\\_jo1 (from Observation/a) (from Observation/b LOINC 33571-1)",
        "- flare = false",
        "- weight_kg = 70 (from Observation/w, 2026-01-05)"])
    assert conclusion_markdown(kb, rich, consultation, None).splitlines()[4:] == [
        "- renal_insufficiency = true", "- autoantibodies = anti\\_srp, anti\\_jo1", "- flare = false",
        "- weight_kg = 70"]


def test_an_empty_list_fact_is_shown_as_none(kb: KnowledgeBase, base: Consultation) -> None:
    """'No current therapy' reads as none, not as an empty string."""
    plain = conclusion("combination.corticosteroids", "Steroids.", facts=("current_therapies",))
    consultation = dataclasses.replace(base, patient={"current_therapies": []})
    assert conclusion_markdown(kb, plain, consultation, None) == "Steroids.\n- current_therapies = none"


# -- small helpers with a contract ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 139, "a" * 139),
    ("a" * 140, "a" * 138 + "…"),
    ("word " * 28 + "xy", ("word " * 27).strip() + "…"),
    ("a" * 130 + " b, c; d", "a" * 130 + " b, c; d"),
    ("a" * 128 + " bbbbbb, cccccccc", "a" * 128 + " bbbbbb…"),
    ("a" * 128 + " bbbbbb; cccccccc", "a" * 128 + " bbbbbb…"),
    ("a" * 128 + " bbbbbb: cccccccc", "a" * 128 + " bbbbbb…"),
])
def test_a_summary_is_cut_under_the_limit_at_a_word(text: str, expected: str) -> None:
    """139 characters stand; 140 are cut, at a word, without a dangling comma."""
    assert short(text) == expected and len(short(text)) < SUMMARY_LIMIT


def test_the_offline_instance_is_sixteen_hex_digits_of_the_facts() -> None:
    """A stable 64-bit stand-in for hookInstance: same facts in any order, same key."""
    key = facts_key({"b": 1, "a": True})
    assert key == hashlib.sha256(repr([("a", True), ("b", 1)]).encode()).hexdigest()[:16]
    assert len(key) == 16 and key == facts_key({"a": True, "b": 1}) != facts_key({"a": True})


@pytest.mark.parametrize(("facts", "doubt", "patient_view", "order_select"), [
    ({"diagnosis": "dermatomyositis"}, (), True, True),         # a covered myositis: both hooks speak
    ({"diagnosis": "other"}, (), False, True),                  # another myositis: only for an IVIG order
    ({}, (), False, False),                                     # no myositis on the chart: silence
    ({}, ("conflicting",), True, True),                         # two diagnoses: the doubt is the message
    ({}, ("asked",), True, True),                               # a myositis of no stated type: asked
])
def test_the_hooks_speak_for_a_myositis_and_for_a_doubt_only(kb: KnowledgeBase, facts: dict[str, Any],
                                                            doubt: tuple[str, ...], patient_view: bool,
                                                            order_select: bool) -> None:
    """The alerting decision is the engine's (engine/cards.speaks), not the HTTP layer's."""
    consultation = consult(kb, normalize(kb, facts))
    reading = FhirReading(facts, (), (), (), "2026-01-15", "--as-of", "b.yaml", "0" * 64, "Patient/p",
                          conflicting=("diagnosis",) if "conflicting" in doubt else (),
                          asked=("diagnosis",) if "asked" in doubt else ())
    assert speaks("patient-view", consultation, reading) is patient_view
    assert speaks("order-select", consultation, reading) is order_select
