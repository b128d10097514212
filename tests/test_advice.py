"""The advice model on the demo patient with a thrombotic risk, as issue #21 tried it: every surface leads
with the cautious regimen, the EHR hears of early initiation and the statins, and a synonym in what-if
means what it means in a patient file."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine.advice import advise, amount
from myoivig.engine.cases import load_case

from .conftest import KB_DIR

DEMO = KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml"


def _run(*args: str) -> Any:
    result = CliRunner().invoke(cli, [*args])
    assert result.exit_code == 0, result.output
    return result


def test_the_regimen_to_give_leads_on_every_surface(kb: KnowledgeBase, tmp_path: Path) -> None:
    advice = advise(kb, consult(kb, normalize(kb, {**load_case(DEMO).patient, "thrombotic_risk": True})))
    assert advice.dose is not None and advice.dose.cautious
    give = amount(advice.dose.give)  # "57 g over 2 days (28 g/day)"
    data = json.loads(_run("consult", str(DEMO), "--set", "thrombotic_risk=true", "--format", "json").stdout)
    assert data["dose"]["give"]["text"] == give and data["dose"]["give"]["name"] == "lower_end"
    cards = json.loads(_run("consult", str(DEMO), "--set", "thrombotic_risk=true", "--format", "cds-hooks").stdout)[
        "cards"]
    summaries = [card["summary"] for card in cards]
    assert any(s.startswith(f"IVIG dose (cautions apply): {give}") for s in summaries)
    assert any(s.startswith("Early initiation:") for s in summaries)
    assert any(s.startswith("Consider IVIG with:") for s in summaries)
    statin = advice.section("preparation")
    assert statin is not None and any(s == f"Before treatment: {c.statement}" for c in statin.conclusions
                                      for s in summaries)
    assert not any("statin" in s for s in summaries if s.startswith(("Consider IVIG with", "IVIG combination")))
    report = tmp_path / "r.html"
    _run("report", str(DEMO), "--set", "thrombotic_risk=true", "-o", str(report))
    page = report.read_text()
    assert 'class="regimen give" data-role="give" data-grams="57" data-days="2"' in page
    assert page.index('id="hard-stops-not-given"') < page.index('id="missing"')
    text = _run("consult", str(DEMO), "--set", "thrombotic_risk=true").stdout
    dose = text[text.index("\nDOSE"):]
    assert dose.splitlines()[3].startswith("  Give (cautions apply): 1 g/kg = 57 g over 2 days (28 g/day)")


def test_a_synonym_in_what_if_is_the_fact_it_names() -> None:
    """`--what-if weakness=mild` once became 'weakness = unknown, no difference'."""
    def what_if(change: str) -> Any:
        sparse = DEMO.parent / "pm_severe_sparse.yaml"  # severe polymyositis: its severity is its only route
        data = json.loads(_run("consult", str(sparse), "--what-if", change, "--format", "json").stdout)["what_if"]
        return data["changes"], data["verdict"], data["differences"]

    by_synonym, by_name = what_if("weakness=mild"), what_if("severity=mild")
    assert by_synonym == by_name
    assert by_name[0] == {"severity": "mild"}
    assert any(d["conclusion"] == "warning.mild_but_rapidly_progressive" for d in by_name[2])  # the change is seen


def test_kb_diff_and_what_if_compare_the_regimen_to_give(kb: KnowledgeBase) -> None:
    """Only the cautious regimen changes when the thrombotic risk goes: what-if names the dose change."""
    from myoivig.engine.explain import what_if

    facts = normalize(kb, {**load_case(DEMO).patient, "thrombotic_risk": True})
    answer = what_if(kb, facts, {"thrombotic_risk": False})
    [dose] = [d for d in answer.differences if d.change == "dose"]
    assert "give 57 g over 2 days" in dose.before and "give 57-114 g over 2 days" in dose.after


def test_the_demo_patient_fits_in_forty_lines() -> None:
    """The default text view of the demo patient, with and without the thrombotic risk, is one screen."""
    for extra in ([], ["--set", "thrombotic_risk=true"], ["--set", "thrombotic_risk=false"]):
        assert len(_run("consult", str(DEMO), *extra).stdout.splitlines()) <= 40
