"""`myoivig serve`: the CDS Hooks service on a loopback port (or behind a TLS proxy)."""
from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
from pathlib import Path

import click

from ..engine import InputError
from .options import kb_option, load_kb


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@click.command("serve", short_help="The CDS Hooks 2.0 service (patient-view, order-select).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="Port to listen on.")
@click.option("--feedback-log", type=click.Path(dir_okay=False, path_type=Path),
              default=Path("myoivig-feedback.jsonl"), show_default=True,
              help="JSON-lines file the feedback endpoint appends to.")
@click.option("--jwks", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Require a JWT signed by a key of this JWKS file on every call (off without it).")
@click.option("--issuer", "issuers", multiple=True, metavar="URL",
              help="With --jwks: an allowed `iss` (repeatable; any issuer when none is given).")
@click.option("--audience-base", metavar="URL", default=None,
              help="With --jwks: the public base URL the EHR calls (the JWT's `aud`); else --public-url.")
@click.option("--jku", "jku_allowed", multiple=True, metavar="URL",
              help="With --jwks: a key-set URL a JWT's `jku` header may name (repeatable); its keys must be in "
                   "--jwks, which is never fetched. A JWT naming any other jku is refused.")
@click.option("--max-token-lifetime", "max_token_seconds", default=300, show_default=True,
              type=click.IntRange(1, 3600), help="With --jwks: the longest a JWT may be valid (exp - iat), seconds.")
@click.option("--cors-origin", "cors_origins", multiple=True, metavar="URL",
              help="A browser origin allowed to call the service (repeatable), e.g. https://sandbox.cds-hooks.org.")
@click.option("--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
              help="Count ages and months to this date instead of today (for demonstrations and tests).")
@click.option("--public-url", metavar="URL", default=None,
              help="The URL clinicians' browsers reach this service at: cards then link to the full HTML report.")
@click.option("--store", type=click.Path(dir_okay=False, path_type=Path), default=Path("myoivig-reports.sqlite3"),
              show_default=True,
              help="SQLite file keeping the cards issued (for feedback) and their report links (with "
                   "--public-url) across restarts.")
@click.option("--report-ttl", "report_ttl_hours", default=168.0, show_default=True,
              type=click.FloatRange(0, 8760, min_open=True),
              help="Hours a report link (and a card, for feedback) is kept; its facts are then deleted "
                   "[local policy].")
@click.option("--workers", type=click.IntRange(1, 64), default=None, metavar="N",
              help="Worker processes answering on the one port (default: the CPUs this process may use). "
                   "Each loads the knowledge base once; durable_rules is single-threaded, so processes.")
@click.option("--insecure", is_flag=True,
              help="Allow a non-loopback --host without --jwks (plain HTTP, no client check).")
@kb_option
def serve_cmd(host: str, port: int, feedback_log: Path, jwks: Path | None, issuers: tuple[str, ...],
              audience_base: str | None, jku_allowed: tuple[str, ...], max_token_seconds: int,
              cors_origins: tuple[str, ...],
              as_of: dt.datetime | None, public_url: str | None, store: Path, report_ttl_hours: float,
              workers: int | None, insecure: bool, kb_dir: Path | None) -> None:
    """Serve CDS Hooks: GET /cds-services, POST /cds-services/{id}, POST /cds-services/{id}/feedback.

    It reads prefetched FHIR only; errors are OperationOutcomes. Stop it with Ctrl-C or SIGTERM: requests
    in flight get 10 s to finish, then it exits 0.
    """
    try:
        from .service import ServiceConfig, serve
    except ImportError as exc:
        raise InputError(f"the service needs the `serve` extra: pip install 'myoivig[serve]' ({exc.name} is missing)",
                         field="serve") from None
    if not _loopback(host) and jwks is None and not insecure:
        raise InputError(f"--host {host} is not loopback: give --jwks so that only the EHR can call, "
                         "or --insecure to accept anyone", field="--host")
    if jwks is not None and not (audience_base or public_url):
        raise InputError("--jwks needs the public URL the EHR calls (the JWTs' audience): give --audience-base "
                         "or --public-url; it is never taken from the request's Host header", field="--audience-base")
    if jwks is not None and not issuers:
        raise InputError("--jwks needs at least one --issuer: the EHRs whose tokens are accepted", field="--issuer")
    keys = None
    if jwks is not None:
        try:
            keys = json.loads(jwks.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise InputError(f"{jwks} is not a JWKS JSON file: {exc}", field="--jwks") from None
    kb = load_kb(kb_dir)
    from .report_store import ReportStore
    try:
        reports = ReportStore(store, report_ttl_hours)
    except Exception as exc:  # sqlite3.Error, OSError: a store that cannot be opened is the user's to fix
        raise InputError(f"cannot open the report store {store}: {exc}", field="--store") from None
    config = ServiceConfig(kb=kb, feedback_log=feedback_log, as_of=as_of.date() if as_of else None, jwks=keys,
                           issuers=issuers, audience_base=audience_base, cors_origins=cors_origins,
                           jku_allowed=jku_allowed,
                           public_url=public_url, max_token_seconds=max_token_seconds, store=reports)
    serve(config, host, port, lambda line: click.echo(line, err=True),
          workers=workers or len(os.sched_getaffinity(0)))


COMMANDS = [serve_cmd]
