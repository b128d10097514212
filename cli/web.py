"""The consultation page at `/` of `myoivig serve`: a form made from the vocabulary, the advice as the report shows it.

Server-rendered, it works without JavaScript; the one inline script (the graph's zoom and rule
panels) is allowed by its hash in the Content-Security-Policy. The patient lives only in the form:
each page carries it back as YAML in a hidden field, and nothing is kept on the server. Every POST
carries a CSRF token that must equal the page's SameSite=Strict cookie.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Mapping
from typing import Any

import yaml
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from ..engine import InputError, KnowledgeBase, consult
from ..engine.explain import what_if
from ..engine.fhir import read_fhir
from ..engine.model import FactSpec
from ..engine.patient import is_fhir, normalize, parse_assignment, read_input
from ..engine.serialize import reading_to_dict, what_if_to_dict
from ..engine.yamlio import YamlProblem, parse_yaml

CSRF_COOKIE = "myoivig_csrf"
MAX_FORM = 5 * 1024 * 1024
"""The largest form or upload read, as for the CDS Hooks routes [local policy]; larger is a 413 unread."""
UNKNOWN = ""
"""The form's value for a fact not given: unknown, never no."""
NONE_OF = "__none__"
"""A list fact's box for "known to be empty" (tested, none found), distinct from unknown."""


def form_fields(kb: KnowledgeBase, raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One field a fact, from the vocabulary, carrying what the patient file says."""
    fields = []
    for name, spec in kb.facts.items():
        value = raw.get(name)
        for synonym in spec.synonyms:
            value = raw.get(synonym, value)
        fields.append({"name": name, "spec": spec, "value": value, "text": _as_text(spec, value),
                       "chosen": _chosen(spec, value)})
    return fields


def _as_text(spec: FactSpec, value: Any) -> str:
    if value is None or isinstance(value, (list, dict)):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _chosen(spec: FactSpec, value: Any) -> set[str]:
    if spec.type != "list" or value is None:
        return set()
    items = value if isinstance(value, list) else [value]
    return {str(item) for item in items} or {NONE_OF}


def raw_from_form(kb: KnowledgeBase, form: Mapping[str, Any], lists: Mapping[str, list[str]]) -> dict[str, Any]:
    """The form as a patient mapping, in the words a patient file uses; the one reading path judges it."""
    raw: dict[str, Any] = {}
    for name, spec in kb.facts.items():
        if spec.type == "list":
            chosen = [value for value in lists.get(f"fact_{name}", []) if value]
            if NONE_OF in chosen:
                if len(chosen) > 1:
                    raise InputError(f"fact '{name}': 'none' and a value are both ticked", field=name,
                                     allowed="none, or some of: " + ", ".join(spec.values))
                raw[name] = []
            elif chosen:
                raw[name] = chosen
            continue
        text = str(form.get(f"fact_{name}", "")).strip()
        if text == UNKNOWN:
            continue
        unit = str(form.get(f"unit_{name}", "")).strip()
        if spec.type == "number" and unit in spec.units and unit != spec.unit and re.fullmatch(r"[0-9.]+", text):
            text = f"{text} {unit}"
        raw[name] = text
    return raw


def patient_from_text(kb: KnowledgeBase, text: str, as_of: Any) -> tuple[dict[str, Any], Any]:
    """A pasted or uploaded patient file (YAML, JSON) or FHIR Bundle: the raw facts, and the FHIR reading."""
    try:
        document = parse_yaml(text)
    except YamlProblem as exc:
        raise InputError(f"the patient file, line {exc.line}, column {exc.column}: {exc.message}",
                         field="patient file") from None
    if isinstance(document, Mapping) and isinstance(document.get("patient"), Mapping) and "expect" in document:
        document = document["patient"]
    if not isinstance(document, Mapping) or not document:
        raise InputError("the patient file is a mapping of fact names to values, or a FHIR Bundle",
                         field="patient file")
    if is_fhir(document):
        from ..engine.bindings import load_bindings
        reading = read_fhir(load_bindings(kb), document, as_of)
        return dict(reading.facts), reading
    return dict(document), None


def _hidden_patient(raw: Mapping[str, Any]) -> str:
    """The patient the page carries back: one line of JSON (JSON is YAML), so no browser rewrites its line ends."""
    return json.dumps(dict(raw), ensure_ascii=False)


class Page:
    """The page's handlers; `secret` signs nothing patient-related (CSRF tokens are random per browser)."""

    def __init__(self, kb: KnowledgeBase, as_of: Any, render: Any, lock: Any) -> None:
        self.kb, self.as_of, self.render = kb, as_of, render
        self.lock = lock  # the service's: durable_rules runs one consultation at a time, in a worker thread

    async def get(self, request: Request) -> Response:
        return self._page(request, {}, None, [], None)

    async def post(self, request: Request) -> Response:
        declared = request.headers.get("content-length", "")
        if not declared.isdigit() or int(declared) > MAX_FORM:
            return HTMLResponse(f"<!DOCTYPE html><title>Too large</title><p>A consultation form or patient file is at "
                                f"most {MAX_FORM:,} bytes, with its length declared.</p>",
                                status_code=413 if declared.isdigit() else 411, headers=security_headers(""))
        form = await request.form(max_files=1, max_part_size=MAX_FORM)
        upload = form.get("patient_file")
        data = await upload.read() if upload is not None and hasattr(upload, "read") else b""
        return await run_in_threadpool(self._respond, request, form, data)

    def _respond(self, request: Request, form: Any, data: bytes) -> Response:
        """Everything after the form is read, in a worker thread under the engine's lock."""
        with self.lock:
            return self._respond_locked(request, form, data)

    def _respond_locked(self, request: Request, form: Any, data: bytes) -> Response:
        try:
            self._check_csrf(request, form)
        except PermissionError as exc:
            return HTMLResponse(f"<!DOCTYPE html><title>Refused</title><p>{exc}</p>", status_code=403,
                                headers=security_headers(""))
        lists = {key: [str(v) for v in form.getlist(key)] for key in form.keys()}
        action = str(form.get("action", "consult"))
        raw: dict[str, Any] = {}
        reading = None
        try:
            raw = self._raw(form, lists, action)
            if action == "upload":
                text = str(form.get("patient_text", "")).strip()
                if data:
                    text = data.decode("utf-8")
                if not text:
                    raise InputError("paste a patient file or a FHIR Bundle, or choose a file", field="patient file")
                raw, reading = patient_from_text(self.kb, text, self.as_of)
            if action == "download":
                read_input(self.kb, raw)  # a file that would be refused is not offered
                text = yaml.safe_dump(dict(raw), sort_keys=False, default_flow_style=False, allow_unicode=True)
                return Response(text, media_type="application/yaml", headers={
                    "Content-Disposition": 'attachment; filename="patient.yaml"'})
            changes = None
            if action == "what_if":
                name, value = parse_assignment(f"{form.get('what_if_fact', '')}={form.get('what_if_value', '')}")
                changes = (name, value)
            return self._page(request, raw, reading, [], changes, report=action == "report")
        except InputError as exc:
            problems = [str(p) for p in exc.problems]
            return self._page(request, raw, reading, problems, None, status=400)
        except UnicodeDecodeError:
            return self._page(request, raw, reading, ["the uploaded file is not UTF-8 text"], None, status=400)

    def _raw(self, form: Any, lists: Mapping[str, list[str]], action: str) -> dict[str, Any]:
        """The patient: from the fields on the main form, else from the page's hidden copy, plus an answer."""
        if form.get("source") == "fields":
            raw = raw_from_form(self.kb, form, lists)
        else:
            try:
                kept = parse_yaml(str(form.get("patient", "")) or "{}")
            except YamlProblem as exc:
                raise InputError(f"the page's patient copy is unreadable: {exc.message}", field="patient") from None
            if not isinstance(kept, Mapping):
                raise InputError("the page's patient copy is not a mapping of facts: reload the page", field="patient")
            raw = dict(kept)
        if action == "answer":
            name, value = parse_assignment(f"{form.get('answer_fact', '')}={form.get('answer_value', '')}")
            spec = self.kb.facts.get(name)
            if spec is not None and spec.type == "list" and isinstance(value, str):  # one item, or none
                value = [] if value.strip().lower() == "none" else [v.strip() for v in value.split(",") if v.strip()]
            raw[name] = value
        return raw

    def _check_csrf(self, request: Request, form: Any) -> None:
        cookie = request.cookies.get(CSRF_COOKIE, "")
        token = str(form.get("csrf", ""))
        if not cookie or not hmac.compare_digest(cookie.encode("utf-8"), token.encode("utf-8")):
            raise PermissionError("This form has expired or did not come from this page: reload the page "
                                  "and send it again.")

    def _page(self, request: Request, raw: Mapping[str, Any], reading: Any, problems: list[str],
              changes: tuple[str, Any] | None, status: int = 200, report: bool = False) -> Response:
        token = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(32)
        notes: list[str] = []
        context: dict[str, Any] = {"consultation": None, "what_if": None}
        if raw and not problems:
            try:
                given = read_input(self.kb, raw, name="the patient")  # the one reading path (engine/patient.py)
                notes += given.read_as
                facts = given.facts
                context["facts"] = facts
                consultation = consult(self.kb, facts)
                context["consultation"] = consultation
                if changes is not None:
                    change = normalize(self.kb, {changes[0]: changes[1]})
                    from ..engine.patient import fact_name
                    name = fact_name(self.kb, changes[0])
                    context["what_if"] = what_if_to_dict(self.kb, what_if(self.kb, facts, {name: change.get(name)}))
            except InputError as exc:
                problems, status = [str(p) for p in exc.problems], 400
        fhir = reading_to_dict(reading) if reading is not None else None
        if report and context["consultation"] is not None:
            html = self.render(self.kb, context["consultation"], "the patient", fhir, notes)
            return HTMLResponse(html, headers={"Content-Disposition": 'attachment; filename="myoivig-report.html"',
                                               **security_headers(html)})
        html = self.render(
            self.kb, context["consultation"], "the patient", fhir, notes, template="page.html",
            fields=form_fields(self.kb, context.get("facts") or raw), problems=problems, csrf=token,
            patient_yaml=_hidden_patient(raw),
            what_if=context["what_if"], unknown=UNKNOWN, none_of=NONE_OF, web=True)
        response = HTMLResponse(html, status_code=status, headers=security_headers(html))
        response.set_cookie(CSRF_COOKIE, token, httponly=True, samesite="strict", path="/")
        return response


_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.S)


def security_headers(html: str) -> dict[str, str]:
    """A Content-Security-Policy that allows the page's own inline style and script by hash, and nothing else."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, body in _INLINE.findall(html):
        digest = base64.b64encode(hashlib.sha256(body.encode("utf-8")).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    policy = ("default-src 'none'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; "
              f"base-uri 'none'; style-src {' '.join(hashes['style']) or chr(39) + 'none' + chr(39)}; "
              f"script-src {' '.join(hashes['script']) or chr(39) + 'none' + chr(39)}")
    return {"Content-Security-Policy": policy, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}
