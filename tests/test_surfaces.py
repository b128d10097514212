"""One advice, every surface: each surface's real output, read back, says what the advice model says.

The patients: every shipped case, every FHIR twin, and a generated population (seeded) with every
number fact at, just below and just above each threshold the knowledge base tests. For each, the
text, the JSON, the CDS Hooks cards, the HTML report and a batch CSV row are read back and compared
with the advice model; the web page is read back for the shipped cases, the twins and a slice of the
population (it renders the report's own template). A conclusion kind or a dose field the model gains
without a place on a surface makes this fail.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.cli.render import render_consultation
from myoivig.cli.report_cmd import report_html
from myoivig.engine import InputError, KnowledgeBase, consult, normalize
from myoivig.engine.advice import advise
from myoivig.engine.bindings import load_bindings
from myoivig.engine.cards import cards
from myoivig.engine.fhir import read_fhir
from myoivig.engine.missing import candidate_values
from myoivig.engine.population import generate
from myoivig.engine.serialize import consultation_to_dict

from .conftest import KB_DIR
from .surfaces import expected, from_cards, from_csv, from_html, from_json, from_text

CASES = sorted((KB_DIR / "cases").glob("*.yaml"))
TWINS = sorted((KB_DIR / "cases" / "fhir").glob("**/*.json"))  # generated twins and variations
GENERATED = 500
WEB_SLICE = 40
"""Patients of the generated population also sent through the live web page (each costs a graph)."""


def population(kb: KnowledgeBase) -> list[tuple[str, dict[str, Any]]]:
    """Every shipped case, every twin's facts, the generated patients and the threshold sweeps."""
    import yaml

    patients = [(path.stem, yaml.safe_load(path.read_text())["patient"]) for path in CASES]
    bindings = load_bindings(kb)
    for path in TWINS:
        reading = read_fhir(bindings, json.loads(path.read_text()), None)
        patients.append((f"fhir/{path.relative_to(KB_DIR / 'cases' / 'fhir').with_suffix('')}", dict(reading.facts)))
    patients += [(f"generated/{n}", p) for n, p in enumerate(generate(kb, GENERATED, seed=21))]
    base = {"diagnosis": "DM", "severity": "severe", "sex": "female", "height_cm": 165, "weight_kg": 70,
            "age_years": 50}
    for name, spec in kb.facts.items():
        if spec.type == "number":
            patients += [(f"threshold/{name}={value:g}", {**base, name: value})
                         for value in candidate_values(kb, name)]
    return patients


@pytest.fixture(scope="module")
def advised(kb: KnowledgeBase) -> list[tuple[str, dict[str, Any], Any]]:
    found = []
    for name, raw in population(kb):
        try:
            facts = normalize(kb, raw)
        except InputError:
            continue  # a generated patient the vocabulary refuses (an implausible pair): not advice
        found.append((name, raw, advise(kb, consult(kb, facts))))
    assert len(found) >= len(CASES) + len(TWINS) + GENERATED * 0.9
    return found


def _same(surface: str, name: str, seen: Any, want: Any, *fields: str) -> None:
    for key in fields:
        assert getattr(seen, key) == getattr(want, key), f"{surface}, {name}: {key}"


def test_text_json_and_cards_say_what_the_advice_says(kb: KnowledgeBase, advised: list[Any]) -> None:
    every = ("verdict", "give", "hard_stops", "hard_stops_not_given", "cautions", "early_initiation", "combination")
    for name, _raw, advice in advised:
        want = expected(advice)
        consultation = advice.consultation
        data = json.loads(json.dumps(consultation_to_dict(kb, consultation)))
        _same("json", name, from_json(data), want, *every, "conclusions", "missing")
        _same("text", name, from_text(render_consultation(kb, advice), advice), want, *every, "missing")
        seen = from_cards(json.loads(json.dumps(cards(kb, consultation, "i"))))
        _same("cards", name, seen, want, *every, "missing")
        shown = seen.conclusions | set(consultation.verdict.rules)
        assert {c.id for c in consultation.conclusions if c.kind != "indication"} <= shown | {
            c.id for c in advice.routes}, f"cards, {name}: a conclusion has no card"


def test_the_report_says_what_the_advice_says(kb: KnowledgeBase, advised: list[Any]) -> None:
    every = ("verdict", "give", "hard_stops", "hard_stops_not_given", "cautions", "early_initiation", "combination",
             "conclusions", "missing")
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:  # most of a report's time is the `dot` process drawing its graph
        pages = list(pool.map(lambda item: report_html(kb, item[2].consultation, item[0]), advised))
    for (name, _raw, advice), page in zip(advised, pages, strict=True):
        seen, headline = from_html(page)
        assert headline == advice.headline, name
        _same("report", name, seen, expected(advice), *every)


def test_a_batch_csv_row_says_what_the_advice_says(kb: KnowledgeBase, advised: list[Any], tmp_path: Path) -> None:
    source, output = tmp_path / "cohort.jsonl", tmp_path / "out.csv"
    source.write_text("".join(json.dumps({"id": name, **raw}) + "\n" for name, raw, _ in advised))
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(output)])
    assert result.exit_code == 0, result.output
    rows = from_csv(output.read_text())
    for row, (name, _raw, advice) in enumerate(advised, 1):
        want = expected(advice)
        seen = rows[str(row)]
        _same("csv", name, seen, want, "verdict", "give", "hard_stops", "hard_stops_not_given", "cautions",
              "early_initiation", "combination", "missing")


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    from .hooks import start

    for base, _process, _log in start(tmp_path_factory.mktemp("web")):
        yield base


def test_the_web_page_says_what_the_advice_says(kb: KnowledgeBase, advised: list[Any], web: str) -> None:
    import re

    import httpx

    with httpx.Client(base_url=web, timeout=30) as client:
        page = client.get("/")
        token = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert token is not None
        shipped = [item for item in advised if not item[0].startswith(("generated/", "threshold/"))]
        for name, raw, advice in shipped + [item for item in advised if item[0].startswith("generated/")][:WEB_SLICE]:
            answer = client.post("/", data={"csrf": token.group(1), "action": "upload",
                                            "patient_text": json.dumps(raw)})
            assert answer.status_code == 200, (name, answer.text[:500])
            seen, headline = from_html(answer.text)
            assert headline == advice.headline, name
            _same("web page", name, seen, expected(advice), "verdict", "give", "hard_stops", "hard_stops_not_given",
                  "cautions", "early_initiation", "combination", "conclusions", "missing")
