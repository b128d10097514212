"""`myoivig explain`: how a conclusion was reached, or why it was not."""
from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import click

from ..engine import InputError, KnowledgeBase, consult
from ..engine.explain import how, why_not
from ..engine.serialize import explanation_to_dict
from ..engine.verdict import VERDICTS
from .options import (
    audit_option,
    complete_conclusions,
    emit_json,
    format_option,
    kb_option,
    load_kb,
    patient_facts,
    record,
    set_option,
)
from .render import render_how, render_why_not


def explanation(kb: KnowledgeBase, facts: dict[str, Any], target: str, force_why_not: bool
                ) -> tuple[str, dict[str, Any]]:
    """Text and data for `explain`: the derivation if reached (unless why-not is asked), else why not."""
    consultation = consult(kb, facts)
    verdict = consultation.verdict.value
    footer = f"Verdict for this patient: {verdict} ({VERDICTS[verdict].headline})\n"
    if not force_why_not:
        derivation = how(kb, consultation, target)
        if derivation is not None:
            return render_how(kb, derivation, target) + footer, explanation_to_dict(target, verdict, how=derivation)
    answer = why_not(kb, facts, target)
    return render_why_not(kb, answer) + footer, explanation_to_dict(target, verdict, why_not=answer)


@click.command("explain", short_help="How a conclusion was reached, or why not.")
@click.argument("patient")
@click.argument("conclusion_id", required=False, shell_complete=complete_conclusions)
@click.option("--why-not", "why_not_id", metavar="CONCLUSION_ID", shell_complete=complete_conclusions,
              help="Why this conclusion (or derived fact) was not reached, and what would reach it.")
@set_option
@format_option()
@audit_option
@kb_option
def explain(patient: str, conclusion_id: str | None, why_not_id: str | None,
            assignments: tuple[str, ...], fmt: str, audit_log: Path | None, kb_dir: Path | None) -> None:
    """Explain CONCLUSION_ID for PATIENT: its derivation down to the input facts, with quotes.

    Without CONCLUSION_ID, list what can be explained: the conclusions reached, and the others.

    A conclusion that was not reached is explained as with --why-not: every rule that
    could have reached it, each condition held (+), failed (x) or unknown (?), and the
    fewest facts that would make it fire.
    """
    if conclusion_id is not None and why_not_id is not None:
        raise InputError("give either CONCLUSION_ID or --why-not CONCLUSION_ID, not both", field="CONCLUSION_ID")
    kb = load_kb(kb_dir)
    facts = patient_facts(kb, patient, assignments)
    if conclusion_id is None and why_not_id is None:  # what there is to explain
        consultation = consult(kb, facts)
        reached = [(c.id, c.statement) for c in consultation.conclusions]
        others = [rule.id for rule in kb.conclusion_rules() if rule.id not in consultation.fired]
        if fmt == "json":
            emit_json({"reached": [{"id": cid, "statement": text} for cid, text in reached], "not_reached": others})
            return
        click.echo(f"Concluded for this patient (myoivig explain {patient} ID):")
        for cid, text in reached:
            click.echo(f"  {cid}: {text}")
        click.echo("Not concluded (myoivig explain PATIENT --why-not ID):")
        click.echo(textwrap.fill(", ".join(others), 100, initial_indent="  ", subsequent_indent="  "))
        return
    text, data = explanation(kb, facts, why_not_id or conclusion_id or "", why_not_id is not None)
    record(audit_log, kb, consult(kb, facts), "explain")
    if fmt == "json":
        emit_json(data)
    else:
        click.echo(text, nl=False)


COMMANDS: list[click.Command] = [explain]
