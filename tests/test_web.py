"""The consultation page at `/` of `myoivig serve`, used for real: chromium driven by Playwright, axe-core.

The server runs in a subprocess on a loopback port. The tests fill the form as a clinician would
(keyboard only for one of them), read the advice from the page, answer a missing question, try a
what-if, and check the phone width, the security headers and accessibility.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from .builders import CHROMIUM, FLAGS, browser_test
from .conftest import KB_DIR
from .hooks import start

pytestmark = [pytest.mark.browser, browser_test]
KB = KB_DIR


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    for base, _process, _log in start(tmp_path_factory.mktemp("site")):
        yield base


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    yield opened
    context.close()
    assert errors == [], errors  # a CSP violation or a script error shows here


def fill(page: Any, facts: dict[str, str]) -> None:
    """Each fact as a clinician gives it: a radio for yes/no, a choice, a number in its own unit, ticks."""
    for name, value in facts.items():
        field = page.locator(f"#field-{name}")
        if field.locator("input[type=radio]").count():
            field.locator(f"input[type=radio][value='{value}']").check()
        elif field.locator("select").count() and not field.locator("input").count():
            field.locator("select").select_option(value)
        elif field.locator("input[type=checkbox]").count():
            for item in value.split(","):
                field.locator(f"input[type=checkbox][value='{item}']").check()
        else:
            field.locator("input").fill(value)


def verdict(page: Any) -> str:
    return " ".join(page.locator("#verdict").inner_text().split())


EARLY = {"diagnosis": "necrotizing_myopathy", "autoantibodies": "anti_hmgcr", "severity": "moderate",
         "dysphagia": "true", "thrombotic_risk": "true", "months_since_diagnosis": "3", "sex": "female",
         "height_cm": "165", "weight_kg": "72", "age_years": "52"}


def test_three_patients_through_the_form(page: Any, site: str) -> None:
    """Indicated with cautions (the cautious regimen first), contraindicated (no dose), undetermined (what is missing)."""
    page.goto(site + "/")
    fill(page, EARLY)
    page.locator("button.primary").click()
    assert verdict(page) == 'IVIG: INDICATED - the source says IVIG "is recommended"'
    give = page.locator("li.regimen.give")
    assert (give.get_attribute("data-grams"), give.get_attribute("data-days")) == ("57", "2")
    assert "Give (cautions apply)" in give.inner_text()
    assert page.locator("#cautions").is_visible() and page.locator("#early_initiation").is_visible()
    assert "statin" in page.locator("#preparation").inner_text()  # before treatment, not a combination
    assert "statin" not in page.locator("#combination").inner_text()
    asked = page.locator("#hard-stops-not-given li").evaluate_all("items => items.map(i => i.dataset.fact)")
    assert asked == ["iga_deficiency", "prior_immunoglobulin_anaphylaxis"]  # anti-IgA once IgA is known deficient

    page.goto(site + "/")
    fill(page, {**EARLY, "anti_iga_antibodies": "true"})
    page.locator("button.primary").click()
    assert verdict(page).startswith("IVIG: CONTRAINDICATED")
    assert page.locator("#hard-stops").is_visible() and page.locator("li.regimen").count() == 0
    assert "No dose: IVIG is contraindicated" in page.locator("#dose-note").inner_text()

    page.goto(site + "/")
    fill(page, {"diagnosis": "dermatomyositis", "severity": "mild", "age_years": "50"})
    page.locator("button.primary").click()
    assert verdict(page).startswith("IVIG: UNDETERMINED")
    assert page.locator("#missing-list li[data-fact=dysphagia]").count() == 1


def test_answering_a_missing_question_changes_the_verdict(page: Any, site: str) -> None:
    page.goto(site + "/")
    fill(page, {"diagnosis": "dermatomyositis", "severity": "mild", "age_years": "50", "sex": "female",
                "height_cm": "165"})
    page.locator("button.primary").click()
    assert verdict(page).startswith("IVIG: UNDETERMINED")
    question = page.locator("#missing-list li[data-fact=dysphagia]")
    question.locator("select").select_option("true")
    question.locator("button").click()
    assert verdict(page).startswith("IVIG: INDICATED")
    assert page.locator("li.regimen.give").count() == 1


def test_what_if_shows_what_changes(page: Any, site: str) -> None:
    page.goto(site + "/")
    fill(page, EARLY)
    page.locator("button.primary").click()
    page.locator("#what-if-fact").select_option("thrombotic_risk")
    page.locator("#what-if-value").fill("false")
    page.locator("#what-if button").click()
    result = page.locator("#what-if-result").inner_text()
    assert "Lost caution.thrombotic_risk" in result
    assert "give 57-114 g over 2 days" in " ".join(result.split())


def test_the_keyboard_alone_reaches_a_verdict(page: Any, site: str) -> None:
    """Tab to the diagnosis, choose with the keys, tab on, and press Enter on the button."""
    page.goto(site + "/")
    page.locator("#in-diagnosis").focus()
    page.keyboard.press("ArrowDown")  # unknown -> dermatomyositis
    page.locator("#field-dysphagia input[value=true]").focus()
    page.keyboard.press("Space")
    page.locator("button.primary").focus()
    page.keyboard.press("Enter")
    page.wait_for_load_state()
    assert verdict(page).startswith("IVIG: INDICATED")


def test_at_phone_width_nothing_scrolls_sideways_and_no_number_breaks(browser: Any, site: str) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.goto(site + "/")
    fill(page, EARLY)
    page.locator("button.primary").click()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    for number in page.locator("#regimens .num").all():
        box = number.evaluate("n => { const r = n.getClientRects(); return r.length; }")
        assert box == 1, number.inner_text()  # a number and its unit on one line
    context.close()


def test_no_serious_or_critical_accessibility_violation(page: Any, site: str) -> None:
    from axe_playwright_python.sync_playwright import Axe

    page.goto(site + "/")
    empty = Axe().run(page)
    fill(page, EARLY)
    page.locator("button.primary").click()
    advised = Axe().run(page)
    for results in (empty, advised):
        bad = [(v["id"], v["impact"]) for v in results.response["violations"] if v["impact"] in ("serious", "critical")]
        assert bad == [], results.generate_report()


def test_the_page_is_safe_by_default(site: str) -> None:
    """A CSP that allows only the page's own inline code by hash; a POST without the cookie's token is refused."""
    with httpx.Client(base_url=site) as client:
        first = client.get("/")
        policy = first.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'sha256-" in policy and "unsafe-inline" not in policy
        assert first.headers["x-content-type-options"] == "nosniff"
        assert "samesite=strict" in first.headers["set-cookie"].lower()
        assert not re.search(r'(src|href)="(https?:)?//', first.text)  # nothing loaded from outside
        token = re.search(r'name="csrf" value="([^"]+)"', first.text)
        assert token is not None
        refused = httpx.post(site + "/", data={"csrf": token.group(1), "action": "upload",
                                               "patient_text": "diagnosis: DM"})  # no cookie: another site's form
        assert refused.status_code == 403
        hostile = client.post("/", data={"csrf": token.group(1), "action": "upload",
                                         "patient_text": "diagnosis: '<script>alert(1)</script>'"})
        assert hostile.status_code == 400 and "<script>alert(1)" not in hostile.text


def _session(site: str) -> tuple[httpx.Client, str]:
    client = httpx.Client(base_url=site, timeout=30)
    token = re.search(r'name="csrf" value="([^"]+)"', client.get("/").text)
    assert token is not None
    return client, token.group(1)


def test_a_patient_written_with_aliases_survives_a_resubmitted_form(site: str) -> None:
    """The form shows the facts as read (DM is dermatomyositis), so pressing Consult again keeps them."""
    client, token = _session(site)
    first = client.post("/", data={"csrf": token, "action": "upload", "patient_text": json.dumps(
        {"diagnosis": "DM", "severity": "Severe", "sex": "F", "dysphagia": "y", "current_therapies": ["prednisone"],
         "height_cm": 165, "weight_kg": 70, "age_years": 58})})
    assert first.status_code == 200 and "IVIG: INDICATED" in first.text
    form = {"csrf": token, "source": "fields", "action": "consult"}
    for name, value in re.findall(r'<input type="radio" name="fact_([a-z_]+)" value="([a-z]*)" checked>', first.text):
        form[f"fact_{name}"] = value
    for name, value in re.findall(r'<select id="in-([a-z_]+)" name="fact_[a-z_]+">\s*<option value="">unknown</option>'
                                  r'(?:.|\n)*?<option value="([a-z_]+)" selected>', first.text):
        form[f"fact_{name}"] = value
    for name, value in re.findall(r'<input id="in-([a-z_]+)" name="fact_[a-z_]+" value="([^"]+)"', first.text):
        form[f"fact_{name}"] = value
    ticked = re.findall(r'<input type="checkbox" name="fact_([a-z_]+)" value="([a-z_0-9]+)" checked>', first.text)
    again = client.post("/", data={**form, **{f"fact_{n}": v for n, v in ticked}})
    assert again.status_code == 200 and "IVIG: INDICATED" in again.text
    assert 'value="dermatomyositis" selected' in again.text


def test_odd_posts_are_clear_refusals_not_500(site: str) -> None:
    client, token = _session(site)
    assert client.post("/", data={"csrf": "\u00e9", "patient": "{}"}).status_code == 403  # not ASCII: no crash
    unreadable = client.post("/", data={"csrf": token, "action": "consult", "patient": "[1, 2]"})
    assert unreadable.status_code == 400 and "not a mapping of facts" in unreadable.text
    huge = client.post("/", data={"csrf": token, "action": "upload"},
                       files={"patient_file": ("p.yaml", b"x: " + b"y" * (6 * 1024 * 1024))})
    assert huge.status_code == 413
    one_item = client.post("/", data={"csrf": token, "action": "answer", "patient": '{"diagnosis": "DM"}',
                                      "answer_fact": "current_therapies", "answer_value": "prednisone"})
    assert one_item.status_code == 200 and 'value="corticosteroids" checked' in one_item.text
