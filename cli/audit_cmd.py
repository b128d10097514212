"""`myoivig replay` and `myoivig audit verify`: past consultations from an audit log, judged against today's
knowledge base, and the log's hash chain checked."""
from __future__ import annotations

import re
from pathlib import Path

import click

from ..engine.audit import KEY_VARIABLE, ChainCheck, audit_key, check_chain, log_lines, read_log, replay
from ..engine.errors import FINDINGS
from ..engine.serialize import plain
from .options import emit_json, format_option, kb_option, load_kb


def chain_lines(check: ChainCheck) -> list[str]:
    """The chain's verdict in words: intact or where it broke, and the head to keep elsewhere."""
    out = [f"chain: {'intact' if check.intact else 'BROKEN'} - {check.records} records"
           + (f", {check.unchained} written before the chain began (not protected)" if check.unchained else "")
           + _signing(check)]
    out += [f"  line {line}: {why}" for line, why in check.breaks]
    out.append(f"  head {check.head}: keep it outside the log; a later head that does not follow from it "
               "means the log's end was cut or edited")
    return out


def _signing(check: ChainCheck) -> str:
    if not check.signed:
        return f"; no MAC checked ({KEY_VARIABLE} not set)"
    return "; every MAC checked" + (f" ({check.unsigned} unsigned, written before the key)" if check.unsigned else "")


@click.command("replay", short_help="Past consultations against today's knowledge base.")
@click.argument("audit_log", type=click.Path(dir_okay=False, path_type=Path))
@format_option()
@kb_option
def replay_cmd(audit_log: Path, fmt: str, kb_dir: Path | None) -> None:
    """Re-run every record of AUDIT_LOG with today's knowledge base: unchanged, changed (what and which
    rule), or unreadable; the log's hash chain is checked first. Exit 1 when any record changed or could
    not be read, or the chain is broken."""
    kb = load_kb(kb_dir)
    check = check_chain(log_lines(audit_log), audit_key())
    counts = dict.fromkeys(("unchanged", "changed", "unreadable"), 0)
    results = []
    for result in replay(kb, read_log(audit_log)):  # one record at a time: a log of any size
        counts[result.status] += 1
        if fmt == "json":
            results.append(plain(result))
            continue
        head = f"line {result.line}: {result.status}"
        if result.recorded_with:
            head += f" (advised with {result.recorded_with})"
        click.echo(head)
        if result.verdict:
            click.echo(f"  verdict: {result.verdict[0]} -> {result.verdict[1]}")
        for rule in result.gained:
            click.echo(f"  + {rule}")
        for rule in result.lost:
            click.echo(f"  - {rule}")
        if result.dose:
            click.echo(f"  dose: {result.dose[0]} -> {result.dose[1]}")
        if result.reason:
            click.echo(f"  {result.reason}")
    if fmt == "json":
        emit_json({"knowledge_base": {"name": kb.name, "version": kb.version, "sha256": kb.sha256},
                   "records": results, "counts": counts, "chain": plain(check)})
    else:
        click.echo(f"{sum(counts.values())} records against {kb.name} {kb.version} ({kb.sha256[:12]}): "
                   f"{counts['unchanged']} unchanged, {counts['changed']} changed, {counts['unreadable']} unreadable")
        for line in chain_lines(check):
            click.echo(line)
    if counts["changed"] or counts["unreadable"] or not check.intact:
        raise SystemExit(FINDINGS)


@click.group("audit", short_help="Check an audit log.")
def audit_group() -> None:
    """The audit log's own checks."""


@audit_group.command("verify", short_help="Check the log's hash chain (and MACs with a key).")
@click.argument("audit_log", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--head", "expected_head", default=None, metavar="SHA256",
              help="A head kept from an earlier verify: it must be a line of the log now (nothing before it cut).")
@format_option()
def verify_cmd(audit_log: Path, expected_head: str | None, fmt: str) -> None:
    """Each record names the SHA-256 of the line before it, so a line removed, inserted, moved or edited
    breaks the chain; with MYOIVIG_AUDIT_KEY set, each record's HMAC is checked too. Exit 1 when broken."""
    if expected_head is not None and not re.fullmatch(r"[0-9a-f]{64}", expected_head):
        raise click.BadParameter("a head is the 64 lowercase hex digits `audit verify` printed", param_hint="--head")
    check = check_chain(log_lines(audit_log), audit_key())
    breaks = list(check.breaks)
    if expected_head is not None:
        import hashlib
        if not any(hashlib.sha256(raw).hexdigest() == expected_head for _, raw in log_lines(audit_log)):
            breaks.append((0, f"the head {expected_head[:12]}... kept earlier is no longer a line of the log"))
    result = ChainCheck(check.records, check.unchained, tuple(breaks), check.head, check.signed, check.unsigned)
    if fmt == "json":
        emit_json(plain(result) | {"intact": result.intact})
    else:
        for line in chain_lines(result):
            click.echo(line)
    if not result.intact:
        raise SystemExit(FINDINGS)


COMMANDS: list[click.Command] = [replay_cmd, audit_group]
