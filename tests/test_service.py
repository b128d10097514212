"""The CDS Hooks service, started for real on a loopback port in a subprocess and called over HTTP."""
from __future__ import annotations

import concurrent.futures
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric import ec

from myoivig.cli.main import cli
from myoivig.engine import load_knowledge_base
from myoivig.engine.cards import SUMMARY_LIMIT

from .conftest import KB_DIR
from .hooks import SANDBOX, free_port, request, start, wait_until_serving

KB = KB_DIR
CASES = sorted(p.stem for p in (KB / "cases").glob("*.yaml"))
PATIENT_VIEW, ORDER_SELECT = "/cds-services/myoivig-patient-view", "/cds-services/myoivig-order-select"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    for base, _process, log in start(tmp_path_factory.mktemp("serve")):
        yield base, log


def cli_advice(case: str) -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["consult", str(KB / "cases" / f"{case}.yaml"), "--format", "json"])
    data = json.loads(result.output)
    return {"verdict": data["summary"]["verdict"], "conclusions": [c["id"] for c in data["conclusions"]],
            "dose": None if data["dose"] is None else {"dosing_weight_kg": data["dose"]["dosing_weight_kg"],
                                                       "give": {key: data["dose"]["give"][key] for key in (
                                                           "name", "course_total_g", "per_day_g", "days_per_course")}}}


def card_advice(cards: list[dict[str, Any]]) -> dict[str, Any]:
    verdict = cards[0]["extension"]["org.myoivig"]
    dose = verdict.get("dose")
    return {"verdict": verdict["verdict"], "conclusions": verdict.get("conclusions", []),
            "dose": dose and {"dosing_weight_kg": dose["dosing_weight_kg"], "give": dose["give"]}}


def has_empty(value: Any) -> bool:
    if isinstance(value, dict):
        return any(v in (None, "", [], {}) or has_empty(v) for v in value.values())
    if isinstance(value, list):
        return any(v in (None, "", [], {}) or has_empty(v) for v in value)
    return False


def test_discovery_lists_both_hooks_with_prefetch_from_the_bindings(server: tuple[str, Path]) -> None:
    """The EHR learns the services and what to prefetch; the codes are the bindings' codes."""
    response = httpx.get(server[0] + "/cds-services")
    assert response.status_code == 200 and response.headers["content-type"] == "application/json"
    services = response.json()["services"]
    assert [(s["hook"], s["id"]) for s in services] == [("patient-view", "myoivig-patient-view"),
                                                         ("order-select", "myoivig-order-select")]
    prefetch = services[0]["prefetch"]
    assert set(prefetch) == {"patient", "conditions", "allergies", "observations", "medicationRequests",
                             "medicationStatements"}
    assert "http://loinc.org|29463-7" in prefetch["observations"] and "{{context.patientId}}" in prefetch["patient"]
    assert not has_empty(response.json())


@pytest.mark.parametrize("case", CASES)
def test_every_case_gives_its_yaml_advice_through_both_hooks(server: tuple[str, Path], case: str) -> None:
    """The Bundle twin, prefetched, gives the YAML twin's verdict, conclusions and dose."""
    expected = cli_advice(case)
    order = httpx.post(server[0] + ORDER_SELECT, json=request(case, "order-select"), timeout=30)
    assert order.status_code == 200, order.text
    cards = order.json()["cards"]
    if case == "unknown_diagnosis_severe_dysphagia":  # no myositis diagnosis: IVIG may be for anything else
        assert cards == []
        return
    assert card_advice(cards) == expected
    for card in cards:
        assert len(card["summary"]) < SUMMARY_LIMIT and card["indicator"] in ("info", "warning", "critical")
        assert card["source"]["label"].startswith("myoivig - ") and uuid.UUID(card["uuid"])
        assert not has_empty(card)
    assert len({c["uuid"] for c in cards}) == len(cards)
    cautions = [c for c in cards if c["summary"].startswith("IVIG caution")]
    assert all(c["indicator"] == "warning" and all(r["display"] for r in c["overrideReasons"]) for c in cautions)
    assert len(cautions) == sum(1 for c in expected["conclusions"] if c.startswith("caution."))
    stops = [c for c in cards if c["summary"].startswith("IVIG hard stop")]
    assert all(c["indicator"] == "critical" for c in stops)
    view = httpx.post(server[0] + PATIENT_VIEW, json=request(case), timeout=30).json()["cards"]
    covered = case not in ("other_diagnosis", "unknown_diagnosis_severe_dysphagia")
    assert (view != []) == covered
    if covered:
        assert card_advice(view) == expected


def test_card_uuids_are_deterministic_per_hook_instance(server: tuple[str, Path]) -> None:
    """The same call gives the same uuids (feedback can find them); another hookInstance gives others."""
    first = httpx.post(server[0] + PATIENT_VIEW, json=request("dm_on_prednisone")).json()["cards"]
    again = httpx.post(server[0] + PATIENT_VIEW, json=request("dm_on_prednisone")).json()["cards"]
    other = httpx.post(server[0] + PATIENT_VIEW, json=request("dm_on_prednisone", instance=str(uuid.uuid4())))
    assert [c["uuid"] for c in first] == [c["uuid"] for c in again]
    assert not {c["uuid"] for c in first} & {c["uuid"] for c in other.json()["cards"]}


def test_cards_link_to_the_full_report(server: tuple[str, Path]) -> None:
    """With --public-url every card links to the consultation's HTML report, served for that hookInstance."""
    instance = str(uuid.uuid4())
    cards = httpx.post(server[0] + PATIENT_VIEW, json=request("imnm_anti_hmgcr_early", instance=instance)).json()
    links = {json.dumps(c["links"]) for c in cards["cards"]}
    assert len(links) == 1
    link = cards["cards"][0]["links"][0]
    assert link["label"] == "Full consultation report" and link["type"] == "absolute"
    token = link["url"].removeprefix(f"{server[0]}/reports/")
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token) and instance.replace("-", "") not in token  # random, not the hook's
    assert httpx.get(f"{server[0]}/reports/{instance}").status_code == 404
    page = httpx.get(link["url"], timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "IVIG: INDICATED" in page.text and "Observation/obs-15 LOINC 29463-7" in page.text
    again = httpx.post(server[0] + PATIENT_VIEW, json=request("dm_on_prednisone", instance=instance)).json()
    assert again["cards"][0]["links"][0]["url"] != link["url"]  # the same hookInstance never replaces a report
    assert "IVIG: INDICATED" in httpx.get(link["url"], timeout=30).text
    gone = httpx.get(f"{server[0]}/reports/{uuid.uuid4()}", headers={"accept": "text/html,*/*;q=0.8"})
    assert gone.status_code == 404 and gone.headers["content-type"].startswith("text/html")  # a browser's page
    assert "unknown or has expired" in gone.text
    program = httpx.get(f"{server[0]}/reports/{uuid.uuid4()}", headers={"accept": "application/json"})
    assert program.status_code == 404 and program.json()["resourceType"] == "OperationOutcome"  # a program's answer
    assert "unknown or has expired" in program.json()["issue"][0]["diagnostics"]


def test_report_links_outlive_a_restart_and_expire(tmp_path: Path) -> None:
    """The store is a file: a link made before a restart opens after it; after --report-ttl it is gone."""
    store = tmp_path / "reports.sqlite3"
    for base, _process, _log in start(tmp_path, "--store", str(store)):
        link = httpx.post(base + PATIENT_VIEW, json=request("imnm_anti_hmgcr_early")).json()["cards"][0]["links"][0]
        path = link["url"].removeprefix(base)
    for base, _process, _log in start(tmp_path, "--store", str(store)):
        page = httpx.get(base + path, timeout=30)
        assert page.status_code == 200 and "IVIG: INDICATED" in page.text
    for base, _process, _log in start(tmp_path, "--store", str(store), "--report-ttl", "0.0003"):  # about 1 s
        short = httpx.post(base + PATIENT_VIEW, json=request("imnm_anti_hmgcr_early")).json()["cards"][0]["links"][0]
        time.sleep(1.5)
        assert httpx.get(short["url"], timeout=30).status_code == 404


def test_two_covered_diagnoses_still_speak_in_patient_view(server: tuple[str, Path]) -> None:
    """Dermatomyositis and polymyositis both active: no verdict, but the conflict is shown, not silence."""
    body = request("dm_on_prednisone")
    conditions = body["prefetch"]["conditions"]
    pm = {"resourceType": "Condition", "id": "pm", "subject": {"reference": "Patient/dm-on-prednisone"},
          "code": {"coding": [{"system": "http://snomed.info/sct", "code": "31384009"}]}}
    conditions["entry"].append({"resource": pm})
    cards = httpx.post(server[0] + PATIENT_VIEW, json=body).json()["cards"]
    assert cards[0]["summary"].startswith("IVIG undetermined: unknown diagnosis")
    fhir = next(c for c in cards if c["summary"].startswith("FHIR data not used"))
    assert fhir["indicator"] == "warning"
    assert "check: diagnosis: Condition/cond-1 says dermatomyositis, Condition/pm says polymyositis" in fhir["detail"]


def test_a_myositis_of_no_stated_type_speaks_in_patient_view(server: tuple[str, Path]) -> None:
    """ICD-10-CM M60.9 'Myositis, unspecified' is a myositis the document may cover: patient-view asks which."""
    body = request("dm_on_prednisone")
    [entry] = [e for e in body["prefetch"]["conditions"]["entry"] if e["resource"]["id"] == "cond-1"]
    entry["resource"]["code"] = {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M60.9"}]}
    cards = httpx.post(server[0] + PATIENT_VIEW, json=body).json()["cards"]
    assert cards[0]["summary"].startswith("IVIG undetermined")
    missing = next(c for c in cards if c["summary"].startswith("Advice incomplete"))
    assert "diagnosis" in missing["summary"]
    fhir = next(c for c in cards if c["summary"].startswith("FHIR data not used"))
    assert "ICD10CM M60.9 without its type" in fhir["detail"] and fhir["indicator"] == "warning"


def test_a_non_ivig_order_gets_no_cards(server: tuple[str, Path]) -> None:
    """order-select speaks only when IVIG is the selected order."""
    aspirin = {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "243670"}
    response = httpx.post(server[0] + ORDER_SELECT, json=request("dm_on_prednisone", "order-select", order=aspirin))
    assert response.status_code == 200 and response.json() == {"cards": []}


def _order(body: dict[str, Any], **medication: Any) -> dict[str, Any]:
    draft = body["context"]["draftOrders"]["entry"][0]["resource"]
    draft.pop("medicationCodeableConcept")
    draft.update(medication)
    return body


@pytest.mark.parametrize("medication", [
    {"medicationCodeableConcept": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm",
                                               "code": "1426680"}]}},
    {"medicationReference": {"reference": "#m"}, "contained": [{"resourceType": "Medication", "id": "m", "code": {
        "coding": [{"system": "http://example.org/myoivig/CodeSystem/assessment", "code": "immune-globulin-iv"}]}}]},
    {"medicationCodeableConcept": {"text": "IVIG 2 g/kg over 2 days"}},
], ids=["rxnorm", "contained-medication", "text-only"])
def test_order_select_speaks_for_an_ivig_order_however_it_is_coded(server: tuple[str, Path],
                                                                   medication: dict[str, Any]) -> None:
    """An RxNorm code, a contained Medication, or words only: the advice is given; words only are to confirm."""
    body = _order(request("dm_on_prednisone", "order-select"), **medication)
    cards = httpx.post(server[0] + ORDER_SELECT, json=body).json()["cards"]
    assert cards and cards[0]["summary"].startswith("IVIG indicated")
    fhir = [c for c in cards if c["summary"].startswith("FHIR data not used")]
    words = any("in words only" in c["detail"] for c in fhir)
    assert words == ("text" in str(medication.get("medicationCodeableConcept", {})))


def test_an_order_named_in_words_that_are_not_ivig_gets_no_cards(server: tuple[str, Path]) -> None:
    body = _order(request("dm_on_prednisone", "order-select"), medicationCodeableConcept={"text": "aspirin 81 mg"})
    assert httpx.post(server[0] + ORDER_SELECT, json=body).json() == {"cards": []}


def test_card_detail_carries_the_quote_and_the_fhir_provenance(server: tuple[str, Path]) -> None:
    """A caution card shows its quote and which resource the fact came from."""
    cards = httpx.post(server[0] + PATIENT_VIEW, json=request("pm_elderly_renal_thrombotic_iga")).json()["cards"]
    renal = next(c for c in cards if c["source"].get("topic", {}).get("code") == "caution.renal_insufficiency")
    title = load_knowledge_base(None).rule("caution.renal_insufficiency").title  # not pinned: titles may change
    assert renal["source"]["topic"] == {"system": "http://example.org/myoivig/rule", "code": "caution.renal_insufficiency",
                                        "display": title}
    assert "> Using IVIG cautiously in patients with renal insufficiency" in renal["detail"]
    assert "- renal_insufficiency = true (from Observation/obs-2 LOINC 98979-8, 2026-01-05)" in renal["detail"]


def bad(case: str, **change: Any) -> dict[str, Any]:
    body = request(case)
    for key, value in change.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return body


@pytest.mark.parametrize(("path", "body", "status", "code", "says"), [
    (PATIENT_VIEW, b"{not json", 400, "invalid", "the body is not JSON"),
    (PATIENT_VIEW, b"[" * 100_000 + b"]" * 100_000, 400, "invalid", "nested more than 32 levels deep"),
    (PATIENT_VIEW, bad("dm_on_prednisone", hookInstance=None), 400, "required", "the request lacks 'hookInstance'"),
    (PATIENT_VIEW, bad("dm_on_prednisone", hook="order-sign"), 400, "invalid", "answers 'patient-view', not 'order-sign'"),
    (PATIENT_VIEW, bad("dm_on_prednisone", fhirAuthorization={"access_token": "x"}), 400, "invalid",
     "fhirAuthorization is given without fhirServer"),
    (PATIENT_VIEW, bad("dm_on_prednisone", prefetch={"patient": {"resourceType": "Patient", "id": "dm-on-prednisone",
                                                                 "birthDate": "1967-13-01"},
                                                     "conditions": {"resourceType": "Bundle", "type": "searchset"}}),
     400, "invalid", "prefetch[0].birthDate: Patient/dm-on-prednisone is not valid FHIR R4"),
    ("/cds-services/no-such-service", bad("dm_on_prednisone"), 404, "not-found", "no CDS service 'no-such-service'"),
    (PATIENT_VIEW, bad("dm_on_prednisone", prefetch={"patient": None}), 412, "required",
     "prefetch lacks patient, conditions"),
    (PATIENT_VIEW, b"{" + b" " * (5 * 1024 * 1024 + 1) + b"}", 413, "too-long", "the request is over 5242880 bytes"),
    (PATIENT_VIEW, bad("dm_on_prednisone", hookInstance="call-1"), 400, "invalid", "hookInstance is a UUID"),
    (PATIENT_VIEW, bad("dm_on_prednisone", prefetch={**request("dm_on_prednisone")["prefetch"], "conditions": {
        "resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "timeout"}]}}),
     412, "required", "prefetch lacks conditions"),
    (ORDER_SELECT, {**request("dm_on_prednisone", "order-select"), "context": {
        **request("dm_on_prednisone", "order-select")["context"], "selections": "MedicationRequest/x"}},
     400, "invalid", "context.selections is a list of references"),
    (ORDER_SELECT, {**request("dm_on_prednisone", "order-select"), "context": {
        **request("dm_on_prednisone", "order-select")["context"], "draftOrders": ["x"]}},
     400, "invalid", "context.draftOrders is a Bundle of resources"),
    (PATIENT_VIEW, {**request("dm_on_prednisone"), "prefetch": {**request("dm_on_prednisone")["prefetch"],
                                                               "observations": {"resourceType": "Bundle",
                                                                                "type": "searchset", "entry": {}}}},
     400, "invalid", "prefetch.observations.entry is a list of entries"),
])
def test_errors_are_operation_outcomes(server: tuple[str, Path], path: str, body: Any, status: int, code: str,
                                       says: str) -> None:
    """Each error has its status and an OperationOutcome naming the problem, never a stack trace."""
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    response = httpx.post(server[0] + path, content=content, headers={"content-type": "application/json"}, timeout=30)
    assert response.status_code == status
    outcome = response.json()
    assert outcome["resourceType"] == "OperationOutcome" and outcome["issue"][0]["code"] == code
    assert says in outcome["issue"][0]["diagnostics"] and "Traceback" not in response.text


def test_feedback_is_logged_and_joined_to_the_rules(server: tuple[str, Path]) -> None:
    """Accepted and overridden cards land in the log with their rules; the comment is counted, not kept."""
    base, log = server
    cards = httpx.post(base + PATIENT_VIEW, json=request("pm_elderly_renal_thrombotic_iga")).json()["cards"]
    caution = next(c for c in cards if c["summary"].startswith("IVIG caution"))
    items = [{"card": cards[0]["uuid"], "outcome": "accepted", "acceptedSuggestions": [],
              "outcomeTimestamp": "2026-01-15T10:00:00Z"},
             {"card": caution["uuid"], "outcome": "overridden", "outcomeTimestamp": "2026-01-15T10:01:00Z",
              "overrideReason": {"reason": {"system": "http://terminology.hl7.org/CodeSystem/non-adherence-reason-codes",
                                            "code": "risk-benefit-ratio"}, "userComment": "patient name here"}}]
    before = log.read_text().count("\n") if log.exists() else 0
    response = httpx.post(base + "/cds-services/myoivig-patient-view/feedback", json={"feedback": items})
    assert response.status_code == 200 and response.json() == {}
    lines = [json.loads(line) for line in log.read_text().splitlines()[before:]]
    assert [(x["card"], x["outcome"]) for x in lines] == [(cards[0]["uuid"], "accepted"), (caution["uuid"], "overridden")]
    assert lines[1]["rules"] == [caution["source"]["topic"]["code"]] and lines[1]["commentLength"] == 17
    assert lines[1]["overrideReason"]["code"] == "risk-benefit-ratio" and "patient name" not in log.read_text()
    for change, says in (({"outcome": "ignored"}, "allowed: accepted, overridden"),
                         ({"outcomeTimestamp": "yesterday"}, "outcomeTimestamp is not an RFC 3339 time"),
                         ({"outcomeTimestamp": "2026-01-15T10:00:00"}, "RFC 3339 time with its zone"),
                         ({"outcomeTimestamp": "2026-01-15"}, "RFC 3339 time with its zone"),
                         ({"card": str(uuid.uuid4())}, "is not a card this service issued"),
                         ({"card": ["x"]}, "card is the card's uuid"),
                         ({"outcome": "overridden"}, "an overridden card accepts no suggestion"),
                         ({"overrideReason": "too risky"}, "overrideReason is an object with a Coding as reason")):
        wrong = httpx.post(base + "/cds-services/myoivig-patient-view/feedback",
                           json={"feedback": [{**items[0], **change}]})
        assert wrong.status_code == 400 and says in wrong.json()["issue"][0]["diagnostics"], change


def test_cors_preflight_allows_the_sandbox_and_private_network(server: tuple[str, Path]) -> None:
    """A browser client at the configured origin may call a loopback service; another origin may not."""
    headers = {"Origin": SANDBOX, "Access-Control-Request-Method": "POST",
               "Access-Control-Request-Headers": "authorization,content-type",
               "Access-Control-Request-Private-Network": "true"}
    allowed = httpx.options(server[0] + PATIENT_VIEW, headers=headers)
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == SANDBOX
    assert allowed.headers["access-control-allow-private-network"] == "true"
    refused = httpx.options(server[0] + PATIENT_VIEW, headers={**headers, "Origin": "https://evil.example"})
    assert refused.status_code == 400 and "access-control-allow-origin" not in refused.headers


def test_a_proposed_medication_is_not_a_current_therapy() -> None:
    """Only ordered or planned MedicationRequests count; a proposal is listed, not read."""
    from .builders import bundle, read

    proposal = {"resourceType": "MedicationRequest", "id": "mr", "status": "active", "intent": "proposal",
                "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": {"coding": [
                    {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}
    reading = read(bundle(proposal))
    assert "current_therapies" not in reading.facts
    assert [(u.resource, u.reason) for u in reading.unmapped] == [("MedicationRequest/mr",
                                                                   "intent proposal: not a current therapy")]
    assert read(bundle({**proposal, "intent": "order"})).facts["current_therapies"] == ["corticosteroids"]


def test_fifty_concurrent_requests_all_get_their_own_answer(server: tuple[str, Path]) -> None:
    """durable_rules is single-threaded: the lock serializes it and every answer is the serial one."""
    cases = [CASES[i % len(CASES)] for i in range(50)]
    serial = {case: httpx.post(server[0] + ORDER_SELECT, json=request(case, "order-select")).json() for case in set(cases)}
    with httpx.Client(timeout=60) as client, concurrent.futures.ThreadPoolExecutor(50) as pool:
        answers = list(pool.map(lambda case: client.post(server[0] + ORDER_SELECT,
                                                         json=request(case, "order-select")), cases))
    assert [a.status_code for a in answers] == [200] * 50

    def unlinked(answer: dict[str, Any]) -> list[dict[str, Any]]:  # each call keeps its own report, its own link
        return [{k: v for k, v in card.items() if k != "links"} for card in answer["cards"]]
    assert [unlinked(a.json()) for a in answers] == [unlinked(serial[case]) for case in cases]


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    tmp = tmp_path_factory.mktemp("jwks")
    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "test-key", "alg": "ES384", "use": "sig"})
    (tmp / "jwks.json").write_text(json.dumps({"keys": [public]}))
    for base, _process, _log in start(tmp, "--jwks", str(tmp / "jwks.json"), "--issuer", "https://ehr.example",
                                      "--workers", "2"):  # a replay must be refused by whichever worker it reaches
        yield base, key


def token(key: Any, audience: str, **change: Any) -> str:
    now = int(time.time())
    claims = {"iss": "https://ehr.example", "aud": audience, "exp": now + 300, "iat": now, "jti": str(uuid.uuid4())}
    claims.update({k: v for k, v in change.items() if k not in ("kid", "alg", "secret")})
    claims = {k: v for k, v in claims.items() if v is not None}
    if change.get("alg") == "HS256":
        return jwt.encode(claims, "secret-secret-secret-secret-secret", algorithm="HS256",
                          headers={"kid": "test-key"})
    return jwt.encode(claims, key, algorithm="ES384", headers={"kid": change.get("kid", "test-key")})


@pytest.mark.parametrize(("change", "says"), [
    (None, "a Bearer JWT is required"),
    ({"aud": "https://elsewhere.example/cds-services"}, "Audience doesn't match"),
    ({"exp": 1000}, "Signature has expired"),
    ({"kid": "someone-else"}, "unknown key id 'someone-else'"),
    ({"alg": "HS256"}, "the JWT's header (HS256, JWT) does not match key 'test-key'"),
    ({"iss": "https://intruder.example"}, "Invalid issuer"),
    ({"jti": None}, 'Token is missing the "jti" claim'),
])
def test_with_jwks_every_call_needs_a_valid_jwt(secured: tuple[str, Any], change: dict[str, Any] | None,
                                                 says: str) -> None:
    """No token, a wrong audience, expiry, key, algorithm, issuer or a missing jti: 401."""
    base, key = secured
    headers = {} if change is None else {"Authorization": "Bearer " + token(key, base + "/cds-services", **change)}
    response = httpx.get(base + "/cds-services", headers=headers)
    assert response.status_code == 401 and response.json()["issue"][0]["code"] == "login"
    assert says in response.json()["issue"][0]["diagnostics"]


def test_a_valid_jwt_is_accepted_once(secured: tuple[str, Any]) -> None:
    """The EHR's signed call gets through on discovery, service and feedback; a replay does not."""
    base, key = secured
    signed = token(key, base + "/cds-services")
    assert httpx.get(base + "/cds-services", headers={"Authorization": f"bearer {signed}"}).status_code == 200
    for _ in range(6):  # each on a new connection, so to either worker process
        replay = httpx.get(base + "/cds-services", headers={"Authorization": f"Bearer {signed}"})
        assert replay.status_code == 401 and "jti replayed" in replay.text
    call = httpx.post(base + PATIENT_VIEW, json=request("dm_on_prednisone"),
                      headers={"Authorization": "Bearer " + token(key, base + PATIENT_VIEW)})
    assert call.status_code == 200 and call.json()["cards"]
    assert all("links" not in card for card in call.json()["cards"])  # no --public-url, no link
    feedback = httpx.post(base + PATIENT_VIEW + "/feedback",
                          json={"feedback": [{"card": call.json()["cards"][0]["uuid"], "outcome": "overridden",
                                              "outcomeTimestamp": "2026-01-15T10:00:00Z"}]},
                          headers={"Authorization": "Bearer " + token(key, base + PATIENT_VIEW + "/feedback")})
    assert feedback.status_code == 200


def test_a_token_of_another_key_type_is_refused_not_a_crash(secured: tuple[str, Any]) -> None:
    """An RS384 token naming the EC key is a 401, not a 500."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    base, _key = secured
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    forged = jwt.encode({"iss": "https://ehr.example", "aud": base + "/cds-services", "exp": now + 300, "iat": now,
                         "jti": str(uuid.uuid4())}, rsa_key, algorithm="RS384", headers={"kid": "test-key"})
    response = httpx.get(base + "/cds-services", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and "does not match key 'test-key'" in response.text


def test_an_engine_failure_is_a_500_with_no_advice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When the two evaluators disagree the service answers 500 and sends no card (a real uvicorn, in a thread)."""
    import uvicorn

    from myoivig.cli.report_store import ReportStore
    from myoivig.cli.service import ServiceConfig, create_app
    from myoivig.engine import load_knowledge_base
    from myoivig.engine.durable_engine import DurableEngine

    real = DurableEngine.run
    monkeypatch.setattr(DurableEngine, "run", lambda self, facts: [f for f in real(self, facts)
                                                                   if f.rule != "caution.renal_insufficiency"])
    app = create_app(ServiceConfig(kb=load_knowledge_base(None), feedback_log=tmp_path / "f.jsonl",
                                   store=ReportStore(tmp_path / "store.sqlite3", 1)))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        with httpx.Client() as client:  # one kept-alive connection: a 500 must not break it
            response = client.post(f"http://127.0.0.1:{port}{PATIENT_VIEW}", json=request("pm_elderly_renal_thrombotic_iga"))
            assert response.status_code == 500
            assert response.json()["issue"][0]["code"] == "processing"
            assert "the engine failed" in response.text and "cards" not in response.text
            assert client.get(f"http://127.0.0.1:{port}/cds-services").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_serve_refuses_an_open_host_without_a_client_check() -> None:
    """Listening beyond loopback with no JWT check is refused unless asked for by name."""
    result = CliRunner().invoke(cli, ["serve", "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--host 0.0.0.0 is not loopback: give --jwks" in result.output


def test_the_readme_request_is_a_shipped_twin_and_gets_cards(server: tuple[str, Path]) -> None:
    """The file the README posts with curl is the early anti-HMGCR twin as patient-view, and it is answered."""
    example = Path(__file__).resolve().parent.parent / "docs" / "examples" / "patient-view-request.json"
    assert json.loads(example.read_text()) == request("imnm_anti_hmgcr_early")
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    assert "--data @docs/examples/patient-view-request.json" in readme
    response = httpx.post(server[0] + PATIENT_VIEW, content=example.read_bytes(),
                          headers={"Content-Type": "application/json"})
    assert response.status_code == 200
    assert response.json()["cards"][0]["summary"].startswith("IVIG indicated: IVIG is recommended")


def test_serve_refuses_a_jwks_that_is_not_json(tmp_path: Path) -> None:
    """A broken key file stops the server before it listens, naming the option."""
    (tmp_path / "keys.json").write_text("not json")
    result = CliRunner().invoke(cli, ["serve", "--jwks", str(tmp_path / "keys.json"), "--issuer", "https://ehr.example",
                                      "--audience-base", "https://cds.example"])
    assert result.exit_code == 2 and "is not a JWKS JSON file" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("args", "says"), [
    (["--issuer", "https://ehr.example"], "--jwks needs the public URL the EHR calls"),
    (["--audience-base", "https://cds.example"], "--jwks needs at least one --issuer"),
])
def test_serve_with_jwks_needs_its_audience_and_issuers(tmp_path: Path, args: list[str], says: str) -> None:
    """The audience was once taken from the Host header: a token made for evil.example, sent with that Host,
    got cards. Without a configured public URL and issuers, the service does not start."""
    (tmp_path / "keys.json").write_text('{"keys": []}')
    result = CliRunner().invoke(cli, ["serve", "--jwks", str(tmp_path / "keys.json"), *args])
    assert result.exit_code == 2 and says in result.output


def test_a_token_for_another_host_sent_with_that_host_is_refused(secured: tuple[str, Any]) -> None:
    base, key = secured
    signed = token(key, "http://evil.example/cds-services")
    answer = httpx.get(base + "/cds-services", headers={"Authorization": f"Bearer {signed}", "Host": "evil.example"})
    assert answer.status_code == 401


def test_a_token_without_typ_or_valid_for_years_is_refused(secured: tuple[str, Any]) -> None:
    base, key = secured
    now = int(time.time())
    untyped = jwt.encode({"iss": "https://ehr.example", "aud": base + "/cds-services", "exp": now + 60, "iat": now,
                          "jti": str(uuid.uuid4())}, key, algorithm="ES384", headers={"kid": "test-key", "typ": None})
    answer = httpx.get(base + "/cds-services", headers={"Authorization": f"Bearer {untyped}"})
    assert answer.status_code == 401 and "does not match key" in answer.text
    forever = token(key, base + "/cds-services", exp=now + 10 * 365 * 86400)
    answer = httpx.get(base + "/cds-services", headers={"Authorization": f"Bearer {forever}"})
    assert answer.status_code == 401 and "at most 300 s is accepted" in answer.text


@pytest.mark.parametrize("media", ["text/plain", "application/x-www-form-urlencoded", "application/xml", None])
def test_a_hook_body_that_is_not_json_is_415(server: tuple[str, Path], media: str | None) -> None:
    """A web page can post text/plain or a form without a CORS preflight: such a body is refused."""
    headers = {"content-type": media} if media else {}
    answer = httpx.post(server[0] + PATIENT_VIEW, content=json.dumps(request("dm_on_prednisone")), headers=headers)
    assert answer.status_code == 415 and answer.json()["resourceType"] == "OperationOutcome"
    feedback = httpx.post(server[0] + PATIENT_VIEW + "/feedback", content="{}", headers=headers)
    assert feedback.status_code == 415


def test_a_null_conditions_prefetch_is_no_data(server: tuple[str, Path]) -> None:
    """The spec: a prefetch key whose value is null had no data. It is not the 412 of a missing prefetch."""
    body = request("dm_on_prednisone")
    body["prefetch"]["conditions"] = None
    answer = httpx.post(server[0] + PATIENT_VIEW, json=body)
    assert answer.status_code == 200


def test_a_jwks_key_without_alg_verifies_the_cds_hooks_algorithm_of_its_type(tmp_path: Path) -> None:
    """Many EHR JWKS omit `alg`: an RSA key then verifies RS384 (not PyJWT's RS256 default), and only that."""
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    public.update({"kid": "rsa-no-alg", "use": "sig"})
    assert "alg" not in public
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [public]}))
    for base, _process, _log in start(tmp_path, "--jwks", str(tmp_path / "jwks.json"), "--issuer", "https://ehr.example"):
        now = int(time.time())
        claims = {"iss": "https://ehr.example", "aud": base + PATIENT_VIEW, "exp": now + 300, "iat": now}
        for alg, status in (("RS384", 200), ("RS256", 401)):
            signed = jwt.encode({**claims, "jti": str(uuid.uuid4())}, key, algorithm=alg, headers={"kid": "rsa-no-alg"})
            answer = httpx.post(base + PATIENT_VIEW, json=request("dm_on_prednisone"),
                                headers={"Authorization": f"Bearer {signed}"})
            assert answer.status_code == status, (alg, answer.text)


def test_feedback_on_a_card_issued_before_a_restart_still_joins_its_rules(tmp_path: Path) -> None:
    """Issued cards are kept in the store, not in memory: feedback after a restart is accepted and joined."""
    store = tmp_path / "reports.sqlite3"
    for base, _process, _log in start(tmp_path, "--store", str(store)):
        card = httpx.post(base + PATIENT_VIEW, json=request("imnm_anti_hmgcr_early")).json()["cards"][0]
    for base, _process, log in start(tmp_path, "--store", str(store)):
        item = {"card": card["uuid"], "outcome": "accepted", "acceptedSuggestions": [],
                "outcomeTimestamp": "2026-01-15T10:00:00+01:00"}
        assert httpx.post(base + PATIENT_VIEW + "/feedback", json={"feedback": [item]}).status_code == 200
        assert json.loads(log.read_text().splitlines()[-1])["rules"] == card["extension"]["org.myoivig"]["rules"]


def test_the_feedback_log_rotates_and_keeps_five(tmp_path: Path) -> None:
    """Past its size the log becomes LOG.1 (and LOG.1 LOG.2 ...); LOG.6 is never made."""
    from myoivig.cli.service import append_rotating

    log = tmp_path / "feedback.jsonl"
    for number in range(40):
        append_rotating(log, json.dumps({"n": number}) + "\n", max_bytes=30)
    kept = sorted(p.name for p in tmp_path.iterdir())
    assert kept == ["feedback.jsonl", *(f"feedback.jsonl.{n}" for n in range(1, 6)), "feedback.jsonl.lock"]
    assert all(p.stat().st_size <= 30 for p in tmp_path.iterdir())
    oldest_first = [log.with_name(f"{log.name}.{n}") for n in range(5, 0, -1)] + [log]
    numbers = [json.loads(line)["n"] for p in oldest_first for line in p.read_text().splitlines()]
    assert numbers == list(range(numbers[0], 40)) and numbers[0] > 0  # the newest lines, in order, none lost between


def _deep_extension(levels: int) -> dict[str, Any]:
    extension: dict[str, Any] = {"url": "http://example.org/x", "valueString": "x"}
    for _ in range(levels):
        extension = {"url": "http://example.org/x", "extension": [extension]}
    return extension


@pytest.mark.parametrize(("change", "says"), [
    (lambda text: text.replace('"hookInstance":', '"x": ' + "9" * 5000 + ', "hookInstance":', 1),
     "a number in the body has 5000 characters; at most 40"),
    (lambda text: text.replace('"hookInstance":', '"x": 1.' + "5" * 100 + ', "hookInstance":', 1),
     "a number in the body has 102 characters"),
    (lambda text: text.replace('"hookInstance":', '"x": NaN, "hookInstance":', 1), "NaN is not a JSON number"),
    (lambda text: text.replace('"hookInstance":', '"x": "' + "y" * (1024 * 1024 + 1) + '", "hookInstance":', 1),
     ".x is 1,048,577 characters long; at most 1,048,576"),
    (lambda text: json.dumps({**json.loads(text), "prefetch": {**json.loads(text)["prefetch"], "patient": {
        **json.loads(text)["prefetch"]["patient"], "extension": [_deep_extension(200)]}}}),
     "nested more than 32 levels deep"),
    (lambda text: json.dumps({**json.loads(text), "context": {**json.loads(text)["context"], "patientId": "y" * 65}}),
     "context.patientId is a FHIR id"),
])
def test_oversized_over_long_and_over_deep_values_are_400(server: tuple[str, Path], change: Any, says: str) -> None:
    """A 5,000-digit number, a megabyte string or a 200-deep extension is the client's mistake, not a 500."""
    body = change(json.dumps(request("dm_on_prednisone")))
    response = httpx.post(server[0] + PATIENT_VIEW, content=body.encode(), headers={"content-type": "application/json"},
                          timeout=30)
    assert response.status_code == 400, response.text[:300]
    assert says in response.json()["issue"][0]["diagnostics"]


def test_a_deep_but_real_extension_is_read(server: tuple[str, Path]) -> None:
    """Nesting a FHIR record really uses (an extension inside an extension, ten levels) is not refused."""
    body = request("imnm_anti_hmgcr_early")
    body["prefetch"]["patient"]["extension"] = [_deep_extension(10)]
    response = httpx.post(server[0] + PATIENT_VIEW, json=body, timeout=30)
    assert response.status_code == 200 and response.json()["cards"]


def test_a_jwt_naming_an_untrusted_key_set_is_refused(secured: tuple[str, Any]) -> None:
    """`jku` is honoured only for allow-listed URLs (none here): the keys are never fetched from a token's say."""
    base, key = secured
    now = int(time.time())
    claims = {"iss": "https://ehr.example", "aud": base + "/cds-services", "exp": now + 300, "iat": now,
              "jti": str(uuid.uuid4())}
    forged = jwt.encode(claims, key, algorithm="ES384", headers={"kid": "test-key", "jku": "https://evil.example/jwks"})
    response = httpx.get(base + "/cds-services", headers={"Authorization": "Bearer " + forged})
    assert response.status_code == 401 and "does not trust (jku 'https://evil.example/jwks')" in response.text


def test_an_allow_listed_jku_is_accepted_with_the_local_keys(tmp_path: Path) -> None:
    """A token naming an allow-listed key set verifies against --jwks; another URL is refused."""
    key = ec.generate_private_key(ec.SECP384R1())
    public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key.public_key())) | {"kid": "k", "alg": "ES384"}
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [public]}))
    for base, _process, _log in start(tmp_path, "--jwks", str(tmp_path / "jwks.json"), "--issuer", "https://ehr.example",
                                      "--jku", "https://ehr.example/jwks"):
        def call(jku: str, base: str = base) -> int:
            now = int(time.time())
            claims = {"iss": "https://ehr.example", "aud": base + "/cds-services", "exp": now + 300, "iat": now,
                      "jti": str(uuid.uuid4())}
            signed = jwt.encode(claims, key, algorithm="ES384", headers={"kid": "k", "jku": jku})
            return httpx.get(base + "/cds-services", headers={"Authorization": "Bearer " + signed}).status_code
        assert call("https://ehr.example/jwks") == 200
        assert call("https://ehr.example/other-jwks") == 401


def _half_sent(base: str, sent: bytes = b"{") -> socket.socket:
    """A client that sends its headers and part of its body, then nothing."""
    host, port = base.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)))
    sock.sendall(b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: 1000\r\n\r\n" + sent)
    return sock


def test_a_body_that_never_arrives_is_dropped_with_408(server: tuple[str, Path]) -> None:
    """A slow client is answered 408 after the body deadline, and the service answers others meanwhile."""
    sock = _half_sent(server[0])
    try:
        started = time.monotonic()
        assert httpx.get(server[0] + "/cds-services", timeout=5).status_code == 200  # not blocked by the slow one
        sock.settimeout(30)
        answer = b""
        while b"did not arrive" not in answer:  # the headers and the body may come in separate segments
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
        assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 10 s" in answer
        assert 9 <= time.monotonic() - started < 25
    finally:
        sock.close()


def test_sigterm_lets_requests_in_flight_finish_drops_half_sent_ones_and_exits_0(tmp_path: Path) -> None:
    """A stop while one request is in flight (its body half sent, the rest sent after the signal) and another
    client never finishes its body: the first gets its cards, the second is dropped within the deadlines,
    and the process exits 0, not 143."""
    for base, process, _log in start(tmp_path):
        body = json.dumps(request("imnm_anti_hmgcr_early")).encode()
        host, port = base.removeprefix("http://").split(":")
        flight = socket.create_connection((host, int(port)))
        flight.sendall(b"POST " + PATIENT_VIEW.encode() + b" HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                       b"\r\nConnection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n"
                       + body[:100])
        slow = _half_sent(base)
        assert httpx.get(base + "/cds-services", timeout=10).status_code == 200  # both connections are accepted
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        flight.sendall(body[100:])  # the request in flight completes after the stop began
        flight.settimeout(30)
        answer = b""
        while chunk := flight.recv(65536):
            answer += chunk
        flight.close()
        assert answer.startswith(b"HTTP/1.1 200") and b'"cards":[{' in answer
        assert process.wait(timeout=30) == 0
        assert time.monotonic() - started < 25
        slow.settimeout(5)
        try:
            rest = slow.recv(65536)
        except OSError:
            rest = b""
        assert not rest or rest.startswith(b"HTTP/1.1 408")  # dropped, with or without a word
        slow.close()
        assert "stopped" in process.communicate()[1].decode()


def _children(pid: int) -> set[int]:
    """The processes whose parent is `pid`, read from /proc."""
    found = set()
    for entry in Path("/proc").iterdir():
        try:
            stat = (entry / "stat").read_text()
        except (OSError, ValueError):
            continue
        if entry.name.isdigit() and int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.add(int(entry.name))
    return found


def test_workers_answer_on_one_port_a_killed_one_is_replaced_and_sigterm_stops_all(tmp_path: Path) -> None:
    """`--workers 3`: three processes under the one that listens; kill -9 one and another takes its place
    while the others answer; SIGTERM stops every worker and the supervisor exits 0."""
    for base, process, _log in start(tmp_path, "--workers", "3"):
        workers = _children(process.pid)
        assert len(workers) == 3
        killed = workers.pop()
        os.kill(killed, signal.SIGKILL)
        answers = [httpx.post(base + PATIENT_VIEW, json=request("imnm_anti_hmgcr_early"), timeout=30).status_code
                   for _ in range(6)]
        assert answers == [200] * 6
        deadline = time.monotonic() + 20
        while len(_children(process.pid) - {killed}) < 3 and time.monotonic() < deadline:
            time.sleep(0.1)
        replaced = _children(process.pid)
        assert killed not in replaced and len(replaced) == 3 and workers <= replaced
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert not any(Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()
                       for pid in replaced)


def _running_with(marker: str) -> list[int]:
    """The processes whose command line holds `marker` (a workers' supervisor gone leaves them to init)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and marker.encode() in (entry / "cmdline").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


@pytest.mark.parametrize("delay", [0.0, 0.3, 0.8, 1.5])
def test_a_stop_at_any_moment_of_the_start_leaves_no_worker_behind(tmp_path: Path, delay: float) -> None:
    """SIGTERM while the workers are being forked or starting: the supervisor exits and so does every worker."""
    marker = str(tmp_path / f"marker-{delay}.jsonl")
    process = subprocess.Popen([sys.executable, "-m", "myoivig", "serve", "--port", "0", "--workers", "3",
                                "--store", str(tmp_path / "s.sqlite3"), "--feedback-log", marker],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(delay)
    process.send_signal(signal.SIGTERM)
    code = process.wait(timeout=40)
    # 0: stopped serving; 130: stopped while starting; -15: before Python ran a line of the program
    assert code in (0, 130, -signal.SIGTERM), process.stderr.read() if process.stderr else ""
    deadline = time.monotonic() + 5
    while _running_with(marker) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _running_with(marker) == []


def test_a_port_in_use_is_exit_2_naming_the_option(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "myoivig", "serve", "--port", str(port), "--workers", "2",
                               "--store", str(tmp_path / "s.sqlite3")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and f"--port {port}: cannot listen on 127.0.0.1" in done.stderr
    assert "Traceback" not in done.stderr


def test_workers_listen_on_ipv6_loopback(tmp_path: Path) -> None:
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback on this machine")
    process = subprocess.Popen([sys.executable, "-m", "myoivig", "serve", "--host", "::1", "--port", "0",
                                "--workers", "2", "--store", str(tmp_path / "s.sqlite3"), "--feedback-log",
                                str(tmp_path / "f.jsonl")], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert process.stderr is not None
        line = process.stderr.readline().decode()
        base = re.search(r"http://\[::1\]:\d+", line)
        assert base, line
        wait_until_serving(base.group(0), process)
        assert httpx.get(base.group(0) + "/cds-services", timeout=10).status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_the_listening_socket_gives_each_connection_tcp_nodelay(host: str) -> None:
    """asyncio sets TCP_NODELAY only on connections of a socket whose protocol is TCP: a socket from
    socket.create_server (protocol 0) left it off, and every answer after a connection's first then
    waited 40 ms for the client's delayed ACK (one client got 16 answers a second instead of 60)."""
    import asyncio

    from myoivig.cli.service import _listen

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = _listen(host, 0, family)
    except OSError:
        pytest.skip(f"no {host} on this machine")
    port = listening.getsockname()[1]
    seen: list[int] = []

    async def main() -> None:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            seen.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(accepted, sock=listening)
        async with server:
            _, writer = await asyncio.open_connection(host, port)
            for _ in range(100):
                if seen:
                    break
                await asyncio.sleep(0.01)
            writer.close()

    asyncio.run(main())
    assert listening.proto == socket.IPPROTO_TCP
    assert seen and seen[0] != 0
