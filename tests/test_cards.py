"""CDS Hooks cards, offline (`consult --format cds-hooks`): the reviewed cards of four patients, and the
rules every card follows."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from syrupy.assertion import SnapshotAssertion

from myoivig.cli.main import cli
from myoivig.engine import consult, load_knowledge_base, normalize
from myoivig.engine.cards import SUMMARY_LIMIT, cards, escape, facts_key, pruned, short

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


@pytest.mark.parametrize("case", REVIEWED)
def test_the_cards_of_four_patients_as_reviewed(case: str, snapshot: SnapshotAssertion) -> None:
    """Every word, indicator, quote and provenance line, as a clinician reviewed them."""
    assert reviewed(offline(KB / case)) == snapshot


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


def test_offline_uuids_follow_the_facts() -> None:
    """The same patient gives the same uuids; one more fact gives others."""
    case = KB / "cases" / "dm_on_prednisone.yaml"
    first, again = offline(case), offline(case)
    changed = offline(case, "--set", "flare=true")
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    assert not {c["uuid"] for c in first} & {c["uuid"] for c in changed}


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


def test_facts_to_check_each_get_a_warning_card() -> None:
    """An implausible weight is a warning card, not only a line in the text advice."""
    found = offline(KB / "cases" / "dm_implausible_body.yaml")
    checks = [c for c in found if c["summary"].startswith("Check before IVIG: ")]
    assert [c["indicator"] for c in checks] == ["warning"] * 2  # no dose, so no BMI check of a dose
    assert checks[0]["summary"] == ("Check before IVIG: An adult weight under 30 kg is implausible; check the weight "
                                    "before any dose is given. [local policy]")
    assert checks[0]["source"]["topic"]["code"] == "warning.adult_weight_under_30_kg"


def test_a_card_cites_only_the_resource_that_gave_the_value() -> None:
    """The older 75 kg weight is not cited for the 72 kg used."""
    found = offline(KB / "cases" / "fhir" / "variations" / "imnm_anti_hmgcr_early.json")
    details = "\n".join(c.get("detail", "") for c in found)
    assert "Observation/obs-15" in details and "Observation/obs-14" not in details


def test_a_report_url_links_every_card() -> None:
    """Where a report URL is configured, each card links to it as an absolute link."""
    kb = load_knowledge_base(None)
    consultation = consult(kb, normalize(kb, {"diagnosis": "DM", "severity": "severe"}))
    found = cards(kb, consultation, "x", report_url="https://ehr.example/r/1")
    assert {json.dumps(c["links"]) for c in found} == {json.dumps(
        [{"label": "Full consultation report", "url": "https://ehr.example/r/1", "type": "absolute"}])}
    assert all("links" not in c for c in cards(kb, consultation, "x"))
    assert facts_key({"b": 1, "a": 2}) == facts_key({"a": 2, "b": 1}) != facts_key({"a": 2})


@pytest.mark.parametrize(("text", "expected"), [
    ("a" * 139, "a" * 139),
    ("word " * 30, ("word " * 27).strip() + "…"),
    ("line one\nline  two", "line one line two"),
    ("x" * 150, "x" * 138 + "…"),
])
def test_a_summary_is_one_line_cut_at_a_word(text: str, expected: str) -> None:
    """Under 140 characters, cut at a word with an ellipsis (a word longer than that is cut where it must)."""
    assert short(text) == expected and len(short(text)) < SUMMARY_LIMIT


def test_text_from_the_ehr_cannot_become_markup() -> None:
    """HTML and Markdown control characters are escaped, lines joined and bare links broken: the sandbox
    renders raw HTML and GFM."""
    assert escape("<img src=x onerror=alert(1)> & *b* _i_ [l](u) `c` #h |t| \\") == (
        "&lt;img src=x onerror=alert(1)&gt; &amp; \\*b\\* \\_i\\_ \\[l\\](u) \\`c\\` \\#h \\|t\\| \\\\")
    assert escape("ok\n\nIVIG INDICATED\n======") == "ok IVIG INDICATED ======"
    assert escape("see https://evil.example and www.evil.example") == (
        "see https:&#47;&#47;evil.example and www&#46;evil.example")


def test_pruning_drops_every_empty_value_and_keeps_falsy_ones() -> None:
    """The spec forbids null and empty values; 0 and false are values."""
    assert pruned({"a": None, "b": "", "c": [], "d": {}, "e": 0, "f": False,
                   "g": {"h": [None, {}, {"i": ""}, 1]}, "j": {"k": None}}) == {"e": 0, "f": False, "g": {"h": [1]}}


def test_an_undetermined_verdict_names_the_unknown_facts_that_decide_it() -> None:
    """The summary says which answers could make IVIG indicated; other verdicts give their reason instead."""
    found = offline(KB / "cases" / "unknown_diagnosis_severe_dysphagia.yaml")
    assert found[0]["summary"] == ("IVIG undetermined: unknown diagnosis, autoantibodies, flare, refractory, "
                                   "corticosteroid_contraindicated, intolerant_to_standard_therapy")
    assert offline(KB / "cases" / "dm_mild_no_indication.yaml")[0]["summary"] == "IVIG not indicated on the facts given"
