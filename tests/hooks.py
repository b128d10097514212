"""Test helpers: a shipped case's FHIR twin as the CDS Hooks requests an EHR would send."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from .conftest import KB_DIR

TWINS = KB_DIR / "cases" / "fhir" / "variations"
"""The hand-made twins: what EHRs send (several weights, pounds, eGFR, ICD codes), not the plain ones
`kb twins` writes."""
SANDBOX = "https://sandbox.cds-hooks.org"
"""The browser origin the test services allow (the CDS Hooks sandbox)."""
IVIG_ORDER = {"system": "http://example.org/myoivig/CodeSystem/assessment", "code": "immune-globulin-iv"}


def searchset(resources: list[dict[str, Any]]) -> dict[str, Any]:
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(resources)}
    if resources:
        bundle["entry"] = [{"resource": r} for r in resources]
    return bundle


def prefetch(twin: dict[str, Any]) -> dict[str, Any]:
    """The twin's resources under the discovery document's prefetch keys."""
    resources = [e["resource"] for e in twin["entry"]]
    of = {kind: [r for r in resources if r["resourceType"] == kind]
          for kind in ("Patient", "Condition", "Observation", "MedicationStatement", "List", "AllergyIntolerance")}
    found: dict[str, Any] = {"patient": of["Patient"][0], "conditions": searchset(of["Condition"]),
                             "observations": searchset(of["Observation"]),
                             "allergies": searchset(of["AllergyIntolerance"])}
    if of["MedicationStatement"] or of["List"]:
        found["medicationStatements"] = searchset(of["MedicationStatement"])
        found["medicationRequests"] = searchset([])
    return found


def request(case: str, hook: str = "patient-view", instance: str = "d1577c69-dfbe-44ad-ba6d-3e05e953b2ea",
            order: dict[str, Any] | None = None) -> dict[str, Any]:
    twin = json.loads((TWINS / f"{case}.json").read_text())
    patient_id = next(e["resource"]["id"] for e in twin["entry"] if e["resource"]["resourceType"] == "Patient")
    context: dict[str, Any] = {"userId": "Practitioner/example", "patientId": patient_id}
    if hook == "order-select":
        draft = {"resourceType": "MedicationRequest", "id": "draft-ivig", "status": "draft", "intent": "order",
                 "subject": {"reference": f"Patient/{patient_id}"},
                 "medicationCodeableConcept": {"coding": [order or IVIG_ORDER]}}
        context.update({"selections": ["MedicationRequest/draft-ivig"],
                        "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": [{"resource": draft}]}})
    return {"hook": hook, "hookInstance": instance, "context": context, "prefetch": prefetch(twin)}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_serving(base: str, process: subprocess.Popen[bytes], seconds: float = 30) -> None:
    """Poll the discovery endpoint until `myoivig serve` answers; one that exits or never answers is killed
    and reported with what it said on stderr."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            httpx.get(base + "/cds-services", timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise AssertionError(f"the service did not start: {process.communicate()[1].decode()[-500:]}") \
                    from None
            time.sleep(0.1)


def start(tmp: Path, *extra: str) -> Iterator[tuple[str, subprocess.Popen[bytes], Path]]:
    port, log = free_port(), tmp / "feedback.jsonl"
    public = ["--audience-base", f"http://127.0.0.1:{port}"] if "--jwks" in extra else [
        "--public-url", f"http://127.0.0.1:{port}"]
    store = [] if "--store" in extra else ["--store", str(tmp / "reports.sqlite3")]
    process = subprocess.Popen([sys.executable, "-m", "myoivig", "serve", "--port", str(port), "--as-of", "2026-01-15",
                                "--feedback-log", str(log), "--cors-origin", SANDBOX, *public, *store, *extra],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(base, process)
    try:
        yield base, process, log
    finally:
        process.terminate()
        process.wait(timeout=10)
