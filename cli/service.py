"""The CDS Hooks 2.0 service: discovery, patient-view, order-select and feedback over HTTP.

It reads only what the EHR prefetches (it never calls the FHIR server), answers every error
with an OperationOutcome and never a stack trace, and runs every consultation through one engine
under a lock, in a worker thread, because durable_rules is single-threaded. `--workers N` runs N
such processes on one listening socket (processes, not threads, for the same reason); what they
share - issued cards, report links, used JWT ids, the feedback log - is in SQLite or under a file lock.
"""
from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import os
import re
import signal
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from html import escape
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from ..engine import InputError, KnowledgeBase, MyoivigError, consult, normalize
from ..engine.bindings import Bindings, load_bindings
from ..engine.cards import SPEC_VERSION, cards, pruned, speaks
from ..engine.errors import EngineError, HookError
from ..engine.fhir import MEDICATION_SEARCHES, FhirReading, IvigOrder, ivig_order
from ..engine.patient import read_input
from ..engine.serialize import reading_to_dict
from .report_store import ReportStore

MAX_BODY = 5 * 1024 * 1024
"""Bigger requests are refused with 413 before they are read into memory [local policy]."""
REQUIRED_PREFETCH = ("patient", "conditions")
"""Without these the service cannot tell what the patient has: 412, as the spec asks."""
HOOKS = {"myoivig-patient-view": "patient-view", "myoivig-order-select": "order-select"}
OUTCOMES = ("accepted", "overridden")
MAX_DEPTH = 32
"""JSON nested deeper is refused (400): a FHIR Bundle with nested extensions is about 15 deep [local policy]."""
MAX_STRING = 1024 * 1024
"""The longest string value read (400 beyond) [local policy]."""
MAX_NUMBER = 40
"""The most characters a JSON number may have (a 5,000-digit number is a 400, not a 500) [local policy]."""
FHIR_ID = re.compile(r"[A-Za-z0-9\-.]{1,64}")
"""FHIR R4's id datatype: what context.patientId must be."""
BODY_SECONDS = 10.0
"""A body not fully arrived this long after its headers is dropped with 408 [local policy]."""
SHUTDOWN_SECONDS = 10.0
"""On SIGTERM, requests in flight get this long to finish; then the rest are dropped [local policy]."""
FEEDBACK_LOG_BYTES = 10 * 1024 * 1024
FEEDBACK_LOGS_KEPT = 5
"""The feedback log is rotated past 10 MB (LOG.1 ... LOG.5, the oldest dropped) [local policy]."""


@dataclass
class ServiceConfig:
    kb: KnowledgeBase
    feedback_log: Path
    store: ReportStore  # issued cards (for feedback) and, with public_url, the reports behind their links
    as_of: dt.date | None = None  # for demonstrations and tests; the server's date otherwise
    jwks: Mapping[str, Any] | None = None
    issuers: Sequence[str] = ()
    audience_base: str | None = None
    cors_origins: Sequence[str] = ()
    max_body: int = MAX_BODY
    max_token_seconds: int = 300  # a JWT valid for longer is refused [local policy: CDS Hooks wants short-lived]
    jku_allowed: Sequence[str] = ()  # key-set URLs a JWT may name; its keys are still read from --jwks, never fetched
    body_seconds: float = BODY_SECONDS
    feedback_log_bytes: int = FEEDBACK_LOG_BYTES
    lock: threading.Lock = field(default_factory=threading.Lock)
    public_url: str | None = None  # where clinicians' browsers reach the service: cards link to reports


def discovery(kb: KnowledgeBase, bindings: Bindings) -> dict[str, Any]:
    """The services, with prefetch templates made from the bindings (the codes live in one place)."""
    def codes(*names: str) -> str:
        found = [f"{c.system}|{c.code}" for b in bindings.bindings if b.name in names for c in b.codes.values()]
        return ",".join(found)

    pid = "{{context.patientId}}"
    prefetch = {
        "patient": f"Patient/{pid}",
        "conditions": f"Condition?patient={pid}",
        "allergies": f"AllergyIntolerance?patient={pid}&clinical-status=active",
        "observations": f"Observation?patient={pid}&code=" + codes(*[b.name for b in bindings.of(
            "quantity", "threshold", "result", "assessment")]),
        MEDICATION_SEARCHES[0]: f"MedicationRequest?patient={pid}&status=active",
        MEDICATION_SEARCHES[1]: f"MedicationStatement?patient={pid}&status=active",
    }
    knowledge = {"name": kb.name, "version": kb.version, "sha256": kb.sha256, "bindingsSha256": bindings.sha256}
    usage = ("Works from prefetched data only; it never queries the FHIR server. "
             "Facts FHIR cannot carry (refractory disease, a flare, intolerance) appear as missing.")
    return {"services": [
        {"hook": "patient-view", "id": "myoivig-patient-view", "title": "IVIG in myositis",
         "description": "Whether IVIG is indicated for this myositis patient, with cautions, dose and what is "
                        "missing; every card cites the source document. Cards only for a covered myositis.",
         "usageRequirements": usage, "prefetch": prefetch,
         "extension": {"org.myoivig": {"knowledgeBase": knowledge, "specVersion": SPEC_VERSION}}},
        {"hook": "order-select", "id": "myoivig-order-select", "title": "IVIG order advice (myositis)",
         "description": "When an IVIG order is selected: indication, cautions, hard stops and the dose the "
                        "knowledge base computes.",
         "usageRequirements": usage, "prefetch": prefetch,
         "extension": {"org.myoivig": {"knowledgeBase": knowledge, "specVersion": SPEC_VERSION}}},
    ]}


def create_app(config: ServiceConfig) -> Starlette:
    kb = config.kb
    bindings = load_bindings(kb)  # broken bindings stop the server before it listens
    services = discovery(kb, bindings)

    async def list_services(request: Request) -> Response:
        authorize(config, request)
        return JSONResponse(services)

    async def accepted(request: Request) -> tuple[str, dict[str, Any]]:
        """The service named in the path and the request's JSON body, once the caller is let in."""
        service = request.path_params["service"]
        if service not in HOOKS:
            raise HookError(404, "not-found", f"no CDS service '{service}'; see GET /cds-services")
        authorize(config, request)
        return service, await read_json(request, config.max_body, config.body_seconds)

    async def call(request: Request) -> Response:
        service, body = await accepted(request)
        hook = check_request(body, HOOKS[service])
        prefetch: Mapping[str, Any] = body["prefetch"] if isinstance(body.get("prefetch"), Mapping) else {}
        missing = [key for key in REQUIRED_PREFETCH if not (key == "conditions" and key in prefetch
                                                              and prefetch[key] is None)  # null: no data
                   and (not isinstance(prefetch.get(key), Mapping)
                        or prefetch[key].get("resourceType") in (None, "OperationOutcome"))]
        if missing:
            raise HookError(412, "required", f"prefetch lacks {', '.join(missing)}: this service reads prefetched "
                            "data only", expression="prefetch")
        order = ivig_order(bindings, body["context"], prefetch) if hook == "order-select" else None
        if hook == "order-select" and order is None:
            return JSONResponse({"cards": []})
        found = await run_in_threadpool(advise, config, bindings, body, hook, order)
        return JSONResponse({"cards": found})

    async def feedback(request: Request) -> Response:
        service, body = await accepted(request)
        items = body.get("feedback")
        if not isinstance(items, list) or not items:
            raise HookError(400, "invalid", "feedback is a non-empty array", "feedback")
        lines = [feedback_record(config, service, item, index) for index, item in enumerate(items)]
        with config.lock:
            append_rotating(config.feedback_log, "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines),
                            config.feedback_log_bytes)
        return JSONResponse({})

    async def report(request: Request) -> Response:
        """The full report behind a card's link, made again from the kept facts; a browser gets a page."""
        kept = config.store.get(request.path_params["token"]) if config.public_url else None
        browser = "text/html" in request.headers.get("accept", "")
        if kept is None or kept.kb_sha256 != kb.sha256:
            title, text, status, code = ("No such report", "This link is unknown or has expired: open the patient's "
                                         "chart again for current advice.", 404, "not-found") if kept is None else (
                "Made with another knowledge base", f"This report was made with knowledge base {kept.kb_sha256[:12]}; "
                f"the service now runs {kb.sha256[:12]}. Open the patient's chart again for current advice.", 410,
                "not-found")
            # a browser that followed a card's link gets a page; a program gets an OperationOutcome
            return HTMLResponse(_notice(title, text), status_code=status) if browser else outcome(status, code, text)
        from .report_cmd import report_html

        def made() -> str:
            with config.lock:  # one engine, one consultation at a time
                consultation = consult(kb, normalize(kb, kept.facts))
            return report_html(kb, consultation, kept.patient, kept.reading)

        return HTMLResponse(await run_in_threadpool(made))

    from .report_cmd import report_html
    from .web import Page

    page = Page(kb, config.as_of or dt.date.today(), report_html, config.lock)
    routes = [Route("/", page.get, methods=["GET"]), Route("/", page.post, methods=["POST"]),
              Route("/cds-services", guarded(list_services), methods=["GET"]),
              Route("/cds-services/{service}", guarded(call), methods=["POST"]),
              Route("/cds-services/{service}/feedback", guarded(feedback), methods=["POST"]),
              Route("/reports/{token}", guarded(report), methods=["GET"])]
    middleware = [Middleware(CORSMiddleware, allow_origins=list(config.cors_origins),
                             allow_methods=["GET", "POST", "OPTIONS"],
                             allow_headers=["Authorization", "Content-Type"], allow_private_network=True)]
    return Starlette(routes=routes, middleware=middleware, exception_handlers={404: not_found, 405: not_allowed})


def guarded(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    """Every failure becomes an OperationOutcome here, so none reaches the server as a traceback (which
    would also drop the client's kept-alive connection)."""
    async def answer(request: Request) -> Response:
        try:
            return await handler(request)
        except HookError as exc:
            return outcome(exc.status, exc.code, exc.message, exc.expression)
        except Exception:
            return outcome(500, "exception", "the service failed; nothing was advised")
    return answer


async def not_found(request: Request, exc: Exception) -> Response:
    return outcome(404, "not-found", f"no such endpoint: {request.url.path}")


async def not_allowed(request: Request, exc: Exception) -> Response:
    return outcome(405, "not-supported", f"{request.method} is not allowed on {request.url.path}")


def _notice(title: str, text: str) -> str:
    """A plain page for a browser that followed a card's link (it would show an OperationOutcome as raw JSON)."""
    return (f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{escape(title)}</title></head>"
            f"<body><h1>{escape(title)}</h1><p>{escape(text)}</p></body></html>")


def outcome(status: int, code: str, message: str, expression: str | None = None) -> JSONResponse:
    issue = pruned({"severity": "error", "code": code, "diagnostics": message,
                    "expression": [expression] if expression else None})
    return JSONResponse({"resourceType": "OperationOutcome", "issue": [issue]}, status_code=status,
                        media_type="application/fhir+json")


async def read_json(request: Request, limit: int, seconds: float = BODY_SECONDS) -> dict[str, Any]:
    """The body as JSON, or the HookError that says why not: its media type, size, arrival time, syntax,
    depth, string lengths and number lengths are all bounded."""
    media = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media not in ("application/json", "application/fhir+json"):
        # a form or text/plain body is what a web page can post without a CORS preflight: refused
        raise HookError(415, "not-supported", f"the body must be application/json, not '{media or 'none'}'")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HookError(413, "too-long", f"the request is over {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds):  # a client that stops half-way is dropped, not waited on
            async for chunk in request.stream():
                chunks.append(chunk)
                size += len(chunk)
                if size > limit:
                    raise HookError(413, "too-long", f"the request is over {limit} bytes")
    except TimeoutError:
        raise HookError(408, "timeout", f"the body did not arrive within {seconds:g} s") from None
    try:
        data = json.loads(b"".join(chunks), parse_int=_number(int), parse_float=_number(float),
                          parse_constant=_no_constant)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HookError(400, "invalid", f"the body is not JSON: {exc}") from None
    except RecursionError:
        raise HookError(400, "invalid", f"the body is nested more than {MAX_DEPTH} levels deep") from None
    if not isinstance(data, dict):
        raise HookError(400, "invalid", "the body is a JSON object")
    _check_bounds(data)
    return data


def _number(kind: Callable[[str], Any]) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        if len(text) > MAX_NUMBER:
            raise HookError(400, "invalid", f"a number in the body has {len(text)} characters; at most {MAX_NUMBER}")
        return kind(text)
    return read


def _no_constant(text: str) -> Any:
    raise HookError(400, "invalid", f"{text} is not a JSON number")


def _check_bounds(data: Any) -> None:
    """Depth and string lengths, walked without recursion (a deep body cannot overflow the walk)."""
    stack: list[tuple[Any, int, str]] = [(data, 1, "")]
    while stack:
        value, depth, where = stack.pop()
        if depth > MAX_DEPTH:
            raise HookError(400, "invalid", f"the body is nested more than {MAX_DEPTH} levels deep (at {where})",
                            where or None)
        if isinstance(value, str) and len(value) > MAX_STRING:
            raise HookError(400, "invalid", f"{where} is {len(value):,} characters long; at most {MAX_STRING:,}",
                            where or None)
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(key, str) and len(key) > MAX_STRING:
                raise HookError(400, "invalid", f"a key in {where or 'the body'} is too long", where or None)
            if isinstance(item, (dict, list, str)):
                stack.append((item, depth + 1, f"{where}.{key}" if isinstance(key, str) else f"{where}[{key}]"))


def check_request(body: Mapping[str, Any], hook: str) -> str:
    for name in ("hook", "hookInstance", "context"):
        if name not in body:
            raise HookError(400, "required", f"the request lacks '{name}'", name)
    if body["hook"] != hook:
        raise HookError(400, "invalid", f"this service answers '{hook}', not '{body['hook']}'", "hook")
    try:
        uuid.UUID(str(body["hookInstance"]))
    except ValueError:
        raise HookError(400, "invalid", "hookInstance is a UUID", "hookInstance") from None
    if not isinstance(body["context"], Mapping) or not body["context"].get("patientId"):
        raise HookError(400, "required", "context.patientId is required", "context.patientId")
    if not isinstance(body["context"]["patientId"], str) or not FHIR_ID.fullmatch(body["context"]["patientId"]):
        raise HookError(400, "invalid", "context.patientId is a FHIR id: 1 to 64 letters, digits, '-' and '.'",
                        "context.patientId")
    if "fhirAuthorization" in body and "fhirServer" not in body:
        raise HookError(400, "invalid", "fhirAuthorization is given without fhirServer", "fhirServer")
    if hook == "order-select":
        for name in ("selections", "draftOrders"):
            if name not in body["context"]:
                raise HookError(400, "required", f"order-select needs context.{name}", f"context.{name}")
        selections, orders = body["context"]["selections"], body["context"]["draftOrders"]
        if not isinstance(selections, list) or not all(isinstance(s, str) for s in selections):
            raise HookError(400, "invalid", "context.selections is a list of references", "context.selections")
        if not isinstance(orders, Mapping) or orders.get("resourceType") != "Bundle" or not all(
                isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping) for e in orders.get("entry") or []):
            raise HookError(400, "invalid", "context.draftOrders is a Bundle of resources", "context.draftOrders")
    return hook


def advise(config: ServiceConfig, bindings: Bindings, body: Mapping[str, Any], hook: str,
           order: IvigOrder | None = None) -> list[dict[str, Any]]:
    """Map, consult and make the cards; InputError is the client's 400, anything else a 500. An IVIG order
    named in words only is told among the points to check."""
    try:
        given = read_input(config.kb, body, config.as_of or dt.date.today())
        if given.fhir is None:  # check_request has seen `hook` and `context`: this is a CDS Hooks request
            raise HookError(400, "invalid", "the body is not a CDS Hooks request")
        reading: FhirReading = given.fhir
        if order is not None and order.note:
            reading = replace(reading, warnings=(order.note, *reading.warnings))
        facts = given.facts
    except InputError as exc:
        raise HookError(400, "invalid", str(exc), exc.field) from None
    with config.lock:  # one engine, one consultation at a time
        try:
            consultation = consult(config.kb, facts)
        except MyoivigError as exc:
            raise HookError(500, "processing", f"the engine failed: {exc}") from None
    if not speaks(hook, consultation, reading):
        return []
    instance = str(body["hookInstance"])
    report_url = None
    if config.public_url:  # a random token: a second call never replaces the first
        token = config.store.put(consultation.patient, reading_to_dict(reading), reading.patient or "the patient",
                                 config.kb.sha256)
        report_url = None if token is None else f"{config.public_url.rstrip('/')}/reports/{token}"
    found = cards(config.kb, consultation, instance, reading, report_url)
    config.store.issued({card["uuid"]: (instance, list(card["extension"]["org.myoivig"].get("rules", [])))
                         for card in found})
    return found


def feedback_record(config: ServiceConfig, service: str, item: Any, index: int) -> dict[str, Any]:
    """One log line for one feedback item; the free-text comment is counted, never kept (it may hold PHI)."""
    where = f"feedback[{index}]"
    if not isinstance(item, Mapping):
        raise HookError(400, "invalid", f"{where} is an object", where)
    for name in ("card", "outcome", "outcomeTimestamp"):
        if not item.get(name):
            raise HookError(400, "required", f"{where} lacks '{name}'", f"{where}.{name}")
    if item["outcome"] not in OUTCOMES:
        raise HookError(400, "invalid", f"{where}.outcome is '{item['outcome']}'; allowed: {', '.join(OUTCOMES)}",
                        f"{where}.outcome")
    if not isinstance(item["card"], str):
        raise HookError(400, "invalid", f"{where}.card is the card's uuid", f"{where}.card")
    if not RFC3339.fullmatch(str(item["outcomeTimestamp"])):
        raise HookError(400, "invalid", f"{where}.outcomeTimestamp is not an RFC 3339 time with its zone "
                        "(2026-01-15T10:00:00Z or +01:00)", f"{where}.outcomeTimestamp")
    try:
        dt.datetime.fromisoformat(str(item["outcomeTimestamp"]).replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise HookError(400, "invalid", f"{where}.outcomeTimestamp is not an RFC 3339 time with its zone",
                        f"{where}.outcomeTimestamp") from None
    if item["outcome"] == "accepted" and not isinstance(item.get("acceptedSuggestions"), list):
        raise HookError(400, "required", f"{where}: an accepted card needs acceptedSuggestions",
                        f"{where}.acceptedSuggestions")
    if item["outcome"] == "overridden" and "acceptedSuggestions" in item:
        raise HookError(400, "invalid", f"{where}: an overridden card accepts no suggestion",
                        f"{where}.acceptedSuggestions")
    override = item.get("overrideReason") or {}
    if not isinstance(override, Mapping) or not isinstance(override.get("reason") or {}, Mapping):
        raise HookError(400, "invalid", f"{where}.overrideReason is an object with a Coding as reason",
                        f"{where}.overrideReason")
    reason = override.get("reason") or {}
    sent = config.store.card(item["card"])
    if sent is None:
        raise HookError(400, "invalid", f"{where}.card '{_clip(item['card'])}' is not a card this service issued "
                        f"(or it was issued more than {config.store.ttl / 3600:g} hours ago)", f"{where}.card")
    return {"received": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"), "service": service,
            "card": str(item["card"]), "outcome": item["outcome"], "outcomeTimestamp": item["outcomeTimestamp"],
            "overrideReason": {"system": reason.get("system"), "code": reason.get("code")} if reason else None,
            "commentLength": len(str(override.get("userComment") or "")),
            "acceptedSuggestions": [s.get("id") for s in item.get("acceptedSuggestions") or []
                                    if isinstance(s, Mapping)],
            "rules": sent[1], "hookInstance": sent[0],
            "knowledgeBaseSha256": config.kb.sha256}


RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})")
"""RFC 3339's date-time: a time zone is required (a time without one is no particular moment)."""


def _clip(value: Any, limit: int = 40) -> str:
    text = str(value)
    return text if len(text) <= limit else text[:limit] + "..."


def append_rotating(path: Path, text: str, max_bytes: int, kept: int = FEEDBACK_LOGS_KEPT) -> None:
    """Append to a JSON-lines log; past max_bytes it becomes LOG.1 (LOG.1 becomes LOG.2, ...), so the
    log never grows without bound. LOG.lock is held meanwhile: worker processes append and rotate one
    at a time."""
    import fcntl

    with path.with_name(f"{path.name}.lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
        if size and size + len(text.encode("utf-8")) > max_bytes:
            for number in range(kept - 1, 0, -1):
                older = path.with_name(f"{path.name}.{number}")
                if older.exists():
                    os.replace(older, path.with_name(f"{path.name}.{number + 1}"))
            os.replace(path, path.with_name(f"{path.name}.1"))
        with path.open("a", encoding="utf-8") as log:
            log.write(text)


KEY_ALGORITHMS = {"RSA": "RS384", "EC": "ES384"}
"""The algorithm of a JWKS key that names none: the two CDS Hooks allows, by key type."""


def authorize(config: ServiceConfig, request: Request) -> None:
    """With --jwks, every call carries a JWT the EHR signed (ES384 or RS384); none is replayed."""
    if config.jwks is None:
        return
    import jwt

    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise HookError(401, "login", "a Bearer JWT is required")
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
        if "jku" in header and header["jku"] not in config.jku_allowed:
            # the keys come from --jwks only: a token pointing at another key set is not trusted, never fetched
            raise HookError(401, "login", f"the JWT names a key set this service does not trust (jku "
                            f"'{_clip(header['jku'])}'); allowed: {', '.join(config.jku_allowed) or 'none'}")
        kid = header.get("kid")
        found = next((k for k in config.jwks.get("keys") or [] if isinstance(k, Mapping) and k.get("kid") == kid), None)
        # a key without `alg` (many EHR JWKS omit it) is CDS Hooks' algorithm for its type, not PyJWT's RS256
        key = jwt.PyJWK(dict(found), algorithm=found.get("alg") or KEY_ALGORITHMS.get(str(found.get("kty")))) \
            if found is not None else None
        if key is None:
            raise HookError(401, "login", f"unknown key id '{kid}'")
        if header.get("typ") != "JWT" or (key.algorithm_name and header.get("alg") != key.algorithm_name):
            raise HookError(401, "login", f"the JWT's header ({header.get('alg')}, {header.get('typ')}) does not "
                            f"match key '{kid}'")
        # the audience is the configured public URL, never a request header (serve refuses --jwks without one)
        audience = str(config.audience_base or config.public_url or "").rstrip("/") + request.url.path
        claims = jwt.decode(token, key.key, algorithms=["ES384", "RS384"], audience=audience,
                            issuer=list(config.issuers) or None,
                            options={"require": ["iss", "aud", "exp", "iat", "jti"]})
        if float(claims["exp"]) - float(claims["iat"]) > config.max_token_seconds:
            raise HookError(401, "login", f"the JWT is valid for {float(claims['exp']) - float(claims['iat']):.0f} s; "
                            f"at most {config.max_token_seconds} s is accepted")
    except (jwt.PyJWTError, TypeError, ValueError) as exc:  # a key of one type offered a token of another
        raise HookError(401, "login", f"the JWT is refused: {exc}") from None
    if not config.store.first_use(str(claims["jti"]), float(claims["exp"])):  # shared by every worker process
        raise HookError(401, "login", "the JWT was already used (jti replayed)")


def serve(config: ServiceConfig, host: str, port: int, log: Callable[[str], None],
          shutdown_seconds: float = SHUTDOWN_SECONDS, workers: int = 1) -> None:
    """Listen until SIGTERM or Ctrl-C; then requests in flight get shutdown_seconds to finish, and the
    process ends normally (exit 0), not by the signal. With `workers` > 1 this process binds the socket,
    forks that many workers onto it, starts another in place of one that dies, and stops them all."""
    import uvicorn

    class Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            # uvicorn re-raises the signal after its graceful stop (exit 143): a requested stop is a clean one
            previous = {sig: signal.signal(sig, self.handle_exit) for sig in (signal.SIGINT, signal.SIGTERM)}
            try:
                yield
            finally:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)

    app = create_app(config)  # broken bindings stop the server before it listens
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        listening = _listen(host, port, family)
    except OSError as exc:
        raise InputError(f"--port {port}: cannot listen on {host}: {exc.strerror or exc}", field="--port") from None
    port = listening.getsockname()[1]

    def run() -> None:
        server = Server(uvicorn.Config(app, log_level="warning", access_log=False,
                                       timeout_graceful_shutdown=int(shutdown_seconds) or 1, timeout_keep_alive=5))
        server.run(sockets=[listening])

    shown = f"[{host}]" if family == socket.AF_INET6 else host
    log(f"myoivig CDS Hooks service on http://{shown}:{port}/cds-services "
        f"(knowledge base {config.kb.name} {config.kb.version}, sha256 {config.kb.sha256[:12]}; "
        f"JWT {'required' if config.jwks is not None else 'off'}; {workers} worker process(es))")
    try:
        if workers == 1:
            run()
        else:
            _supervise(run, workers, shutdown_seconds, log)
    finally:
        listening.close()
    log("myoivig CDS Hooks service stopped")


def _listen(host: str, port: int, family: socket.AddressFamily) -> socket.socket:
    """The listening socket, as socket.create_server makes it but with the protocol named: asyncio sets
    TCP_NODELAY only on connections of a socket whose `proto` is TCP (create_server leaves it 0). Without
    it, every answer after a connection's first waited for the client's delayed ACK: 40 ms (Nagle)."""
    listening = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            listening.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        listening.bind((host, port))
        listening.listen(2048)
    except OSError:
        listening.close()
        raise
    return listening


STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}


def _supervise(run: Callable[[], None], workers: int, shutdown_seconds: float, log: Callable[[str], None]) -> None:
    """Fork `workers` processes that each `run()`; replace one that dies; on SIGTERM or SIGINT, pass SIGTERM
    on and wait for each (requests in flight finish), killing any still there shutdown_seconds + 5 s later.

    The stop signals only set a flag, and are blocked across each fork: a signal never lands half-way
    through the bookkeeping, and a new worker never runs this process's handler."""
    stopping = False

    def stop(signum: int, frame: Any) -> None:
        nonlocal stopping
        stopping = True

    children: set[int] = set()

    def fork() -> None:
        signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
        try:
            pid = os.fork()
            if pid == 0:  # a worker: its own engine and connections; only the socket and the app are shared
                code = 1
                try:
                    signal.signal(signal.SIGTERM, signal.SIG_DFL)
                    signal.signal(signal.SIGINT, signal.default_int_handler)
                    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
                    run()
                    code = 0
                except KeyboardInterrupt:
                    code = 0
                except BaseException:  # say why, or a crash loop would end in a bare "exit 1"
                    traceback.print_exc()
                finally:
                    os._exit(code)
            children.add(pid)
        finally:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)

    previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
    deaths: list[float] = []
    try:
        for _ in range(workers):
            fork()
        while not stopping:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if pid == 0:
                time.sleep(0.1)
                continue
            children.discard(pid)
            deaths = [t for t in deaths if t > time.monotonic() - 30] + [time.monotonic()]
            if len(deaths) > 2 * workers:
                raise EngineError(f"the service's workers keep ending ({len(deaths)} in 30 s, the last with "
                                  f"{_ended(status)}; its error is above); stopped")
            log(f"worker {pid} ended ({_ended(status)}); starting another")
            fork()
    finally:
        for pid in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + shutdown_seconds + 5
        while children:  # a second stop signal only sets the flag again: the workers still get their time
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid:
                children.discard(pid)
            elif time.monotonic() > deadline:
                for straggler in children:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(straggler, signal.SIGKILL)
                deadline = float("inf")
            else:
                time.sleep(0.05)
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _ended(status: int) -> str:
    return f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status) else f"exit {os.WEXITSTATUS(status)}"
