"""The HTML report, opened in Debian's chromium driven by Playwright (no browser download)."""
from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli

from .builders import CHROMIUM, FLAGS, SCREENSHOTS, browser_test
from .conftest import KB_DIR

KB = KB_DIR
CASES = sorted((KB / "cases").glob("*.yaml"))
def write_report(tmp_path: Path, patient: Path, *extra: str) -> Path:
    out = tmp_path / f"{patient.stem}.html"
    result = CliRunner().invoke(cli, ["report", str(patient), "-o", str(out), *extra])
    assert result.exit_code == 0, result.output
    return out


def test_the_report_is_self_contained_and_escaped(tmp_path: Path) -> None:
    """No external script, style, font or image; what the patient file says is escaped, not markup."""
    patient = tmp_path / "odd.yaml"
    patient.write_text("diagnosis: DM\nseverity: severe\nage_years: 50\n")
    page = write_report(tmp_path, patient).read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    odd = tmp_path / "<img src=x onerror=alert(1)>.yaml"
    odd.write_text("diagnosis: DM\n")
    escaped = write_report(tmp_path, odd).read_text()
    assert "&lt;img src=x onerror=alert(1)&gt;.yaml" in escaped and "<img" not in escaped


def test_a_fhir_report_shows_where_each_fact_came_from(tmp_path: Path) -> None:
    """Provenance, the reference date, the bindings' checksum and the unused resources."""
    page = html.unescape(write_report(tmp_path, KB / "cases" / "fhir" / "variations" / "imnm_anti_hmgcr_early.json").read_text())
    assert "Observation/obs-14 LOINC 29463-7, 2025-06-20: 75 kg" in page
    assert "Observation/obs-15 LOINC 29463-7, 2026-01-05: 72 kg" in page
    assert "Ages and months as of 2026-01-15 (Bundle.timestamp)" in page
    assert "Encounter/enc-1</code>: myoivig reads no Encounter resources" in page


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (`make test` installs it with apt)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


@browser_test
@pytest.mark.browser
@pytest.mark.parametrize("case", CASES, ids=lambda p: p.stem)
def test_report_in_a_real_browser(browser: Any, tmp_path: Path, case: Path) -> None:
    """No console error, verdict and cautions in the first screen, the graph drawn, a rule click shows its quote."""
    report = write_report(tmp_path, case)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    errors: list[str] = []
    requests: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.on("request", lambda request: requests.append(request.url))
    page.goto(report.as_uri())
    assert errors == []
    assert all(url.startswith(("file:", "data:")) for url in requests), requests
    verdict = page.locator("#verdict")
    assert verdict.is_visible() and verdict.bounding_box()["y"] < 900
    assert verdict.inner_text().startswith("IVIG: ")
    # the DOM says what `consult --format json` says: headline, the regimen to give, the hard stops to ask
    data = json.loads(CliRunner().invoke(cli, ["consult", str(case), "--format", "json"]).stdout)
    assert " ".join(verdict.inner_text().split()) == data["advice"]["headline"]
    give = page.locator("li.regimen.give")
    if data["dose"] is None:
        assert give.count() == 0
    else:
        assert give.get_attribute("data-grams") == "-".join(dict.fromkeys(
            f"{g:g}" for g in data["dose"]["give"]["course_total_g"]))
    asked = page.locator("#hard-stops-not-given li").evaluate_all("items => items.map(i => i.dataset.fact)")
    assert asked == data["summary"]["hard_stops_not_given"]
    for box in ("#hard-stops", "#cautions"):
        if page.locator(box).count():
            assert page.locator(box).bounding_box()["y"] < 900, f"{box} is below the first screen"
    nodes = page.locator("#decision-graph svg g.node")
    assert nodes.count() > 0
    graph = page.locator("#decision-graph svg").bounding_box()
    assert graph["width"] > 300 and graph["height"] > 100
    rule_nodes = page.locator("#decision-graph svg g.node.rule")
    assert rule_nodes.count() > 0
    first = rule_nodes.first
    node_box = first.bounding_box()
    assert node_box is not None and node_box["width"] > 10 and node_box["height"] > 10
    rule_id = first.locator("title").text_content().removeprefix("rule__")
    panel = page.locator(f'[id="rule-{rule_id}"]')
    assert not panel.evaluate("element => element.open")
    first.click()
    assert panel.evaluate("element => element.open") and panel.is_visible()
    quotes = panel.locator(".quote")
    if quotes.count():
        assert quotes.first.is_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.goto(report.as_uri())
    page.screenshot(path=str(SCREENSHOTS / f"{case.stem}.png"))
    page.close()


@browser_test
@pytest.mark.browser
def test_report_reads_on_a_phone_and_prints(browser: Any, tmp_path: Path) -> None:
    """At 390 px nothing but the graph scrolls sideways; printed, the page keeps the verdict and cautions."""
    report = write_report(tmp_path, KB / "cases" / "pm_elderly_renal_thrombotic_iga.yaml")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(report.as_uri())
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert page.locator("#verdict").bounding_box()["y"] < 844
    page.emulate_media(media="print")
    assert page.locator("#cautions").is_visible() and page.locator(".noprint").first.is_hidden()
    pdf = tmp_path / "report.pdf"
    page.pdf(path=str(pdf))
    assert pdf.read_bytes().startswith(b"%PDF")
    page.close()


def test_a_bad_patient_gives_exit_2_and_no_page(tmp_path: Path) -> None:
    """A refused patient writes nothing: no half page for someone to print."""
    patient = tmp_path / "bad.yaml"
    patient.write_text("diagnosis: dermatomyosistis\n")
    out = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["report", str(patient), "-o", str(out)])
    assert result.exit_code == 2 and "diagnosis" in result.output and "Traceback" not in result.output
    assert not out.exists()
