"""`myoivig replay`: past consultations from an audit log, judged against today's knowledge base."""
from __future__ import annotations

from pathlib import Path

import click

from .engine.audit import read_log, replay
from .engine.report import plain
from .options import emit_json, format_option, kb_option, load_kb


@click.command("replay", short_help="Past consultations against today's knowledge base.")
@click.argument("audit_log", type=click.Path(dir_okay=False, path_type=Path))
@format_option()
@kb_option
def replay_cmd(audit_log: Path, fmt: str, kb_dir: Path | None) -> None:
    """Re-run every record of AUDIT_LOG with today's knowledge base: unchanged, changed (what and which
    rule), or unreadable. Exit 1 when any record changed or could not be read."""
    kb = load_kb(kb_dir)
    results = list(replay(kb, iter(read_log(audit_log))))
    counts = {status: sum(r.status == status for r in results) for status in ("unchanged", "changed", "unreadable")}
    if fmt == "json":
        emit_json({"knowledge_base": {"name": kb.name, "version": kb.version, "sha256": kb.sha256},
                   "records": [plain(r) for r in results], "counts": counts})
    else:
        for result in results:
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
        click.echo(f"{len(results)} records against {kb.name} {kb.version} ({kb.sha256[:12]}): "
                   f"{counts['unchanged']} unchanged, {counts['changed']} changed, {counts['unreadable']} unreadable")
    if counts["changed"] or counts["unreadable"]:
        raise SystemExit(1)


COMMANDS: list[click.Command] = [replay_cmd]
