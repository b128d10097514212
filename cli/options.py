"""What every command shares: one spelling of each option, and the helpers that read their values.

Commands import from here; main only lists the commands, so there is no import cycle.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from myoivig import __version__

from ..engine import KnowledgeBase, load_knowledge_base, normalize, parse_assignment, read_patient
from ..engine.model import Consultation
from ..engine.patient import PatientReading, fact_name, read_input

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]

def _completion_kb(ctx: click.Context) -> KnowledgeBase | None:
    try:
        return load_knowledge_base(ctx.params.get("kb_dir"))
    except Exception:
        return None


def complete_facts(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """`--set dys<TAB>` -> `dysphagia=`; after `=`, the fact's allowed values."""
    kb = _completion_kb(ctx)
    if kb is None:
        return []
    name, sep, value = incomplete.partition("=")
    if not sep:
        return [f"{fact}=" for fact in kb.facts if fact.startswith(name)]
    spec = kb.facts.get(name)
    values = ["true", "false"] if spec and spec.type == "bool" else list(spec.values) if spec else []
    return [f"{name}={v}" for v in values if v.startswith(value)]


def complete_conclusions(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[str]:
    """Conclusion ids and derived facts, for explain, --why-not and --how."""
    kb = _completion_kb(ctx)
    if kb is None:
        return []
    targets = [rule.id for rule in kb.conclusion_rules()] + list(kb.derived)
    return [target for target in targets if target.startswith(incomplete)]


kb_option: Decorator = click.option(
    "--kb", "kb_dir", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None,
    help="Knowledge-base folder to use instead of the shipped one.")
set_option: Decorator = click.option(
    "--set", "assignments", multiple=True, metavar="NAME=VALUE", shell_complete=complete_facts,
    help="Add or override a fact (repeatable), e.g. --set dysphagia=true.")
audit_option: Decorator = click.option(
    "--audit-log", "audit_log", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Append one JSON line for this consultation to FILE (see `myoivig replay`).")


as_of_option: Decorator = click.option(
    "--as-of", "as_of", type=click.DateTime(formats=["%Y-%m-%d"]), default=None, metavar="YYYY-MM-DD",
    help="FHIR input: count ages and months to this date (default: the Bundle's timestamp, else today).")


def format_option(choices: Sequence[str] = ("text", "json"), default: str | None = "text") -> Decorator:
    return click.option("--format", "fmt", type=click.Choice(list(choices)), default=default,
                        show_default=default is not None, help="Output format.")


def load_kb(kb_dir: Path | None) -> KnowledgeBase:
    return load_knowledge_base(kb_dir)


def patient_input(kb: KnowledgeBase, patient: str | None, assignments: Sequence[str],
                  as_of: dt.date | None = None) -> PatientReading:
    """The patient file (YAML, JSON, a FHIR Bundle or a CDS Hooks request) with `--set` applied."""
    given = read_input(kb, read_patient(patient) if patient is not None else {}, as_of, name=str(patient),
                       may_be_empty=patient is None or bool(assignments))
    notes = list(given.read_as)
    facts = dict(given.facts)
    for text in assignments:
        name, value = parse_assignment(text)
        update = normalize(kb, {name: value}, notes)
        facts.pop(fact_name(kb, name), None)
        facts.update(update)
    return PatientReading(facts, notes, given.fhir)


def patient_facts(kb: KnowledgeBase, patient: str | None, assignments: Sequence[str],
                  notes: list[str] | None = None) -> dict[str, Any]:
    """The patient's facts with every `--set name=value` applied, normalized (synonyms,
    aliases and units applied are added to `notes`)."""
    given = patient_input(kb, patient, assignments)
    if notes is not None:
        notes += given.read_as
    return given.facts


def normalize_changes(kb: KnowledgeBase, assignments: Sequence[str]) -> list[tuple[str, Any]]:
    """`--what-if` values, checked like any fact (null makes a fact unknown)."""
    changes = []
    for text in assignments:
        name, value = parse_assignment(text)
        normalized = normalize(kb, {name: value})  # refuses unknown names and bad values
        name = fact_name(kb, name)  # a synonym changes the fact it names (weakness -> severity)
        changes.append((name, normalized.get(name)))  # None: make the fact unknown
    return changes


def record(audit_log: Path | None, kb: KnowledgeBase, consultation: Consultation, command: str) -> None:
    """Append the consultation to the audit log, when one is asked for."""
    if audit_log is not None:
        from ..engine.audit import append_record, audit_record  # only with --audit-log

        append_record(audit_log, audit_record(kb, consultation, __version__, command))


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))
