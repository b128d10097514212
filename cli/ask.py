"""The consultation that asks for what it is missing, one fact at a time."""
from __future__ import annotations

from typing import Any

import click

from ..engine import InputError, KnowledgeBase, consult
from ..engine.advice import advise
from ..engine.patient import normalize_value, parse_assignment


def why_it_matters(kb: KnowledgeBase, name: str, could_change: tuple[str, ...], dose: bool,
                   detail: bool = False) -> str:
    """In clinical words: the advice an answer could change (rule ids and places only with --detail)."""
    lines = [f"{name} matters because these conclusions depend on it:"]
    for rule_id in could_change:
        rule = kb.rule(rule_id)
        statement = rule.conclude.statement if rule.conclude else ""
        lines.append(f"  - {rule_id} ({rule.where}): {statement}" if detail else f"  - {statement}")
    if dose:
        lines.append("  - the dose")
    return "\n".join(lines)


def ask_missing(kb: KnowledgeBase, facts: dict[str, Any]) -> dict[str, Any]:
    """Ask the most decisive unknown fact until nothing left could change the advice.

    Prompts go to standard error so that standard output holds only the advice.
    `why` explains a question, `skip` leaves the fact unknown, end of input stops asking.
    """
    facts = dict(facts)
    skipped: set[str] = set()
    while True:
        # the questions the advice asks (with a hard stop standing, only those that could lift or add one)
        pending = [m for m in advise(kb, consult(kb, facts)).missing if m.fact not in skipped]
        if not pending:
            return facts
        item = pending[0]
        spec = kb.facts[item.fact]
        while True:
            try:
                answer = click.prompt(f"{spec.question} [{spec.allowed()}; why; skip]", err=True,
                                      default="", show_default=False).strip()
            except click.Abort:
                return facts
            if answer.lower() == "why":
                click.echo(why_it_matters(kb, item.fact, item.could_change, item.could_change_dose), err=True)
                continue
            if answer.lower() in ("skip", ""):
                skipped.add(item.fact)
                break
            try:
                _, value = parse_assignment(f"{item.fact}={answer}")
                if spec.type == "list" and isinstance(value, str):
                    value = [part.strip() for part in value.split(",") if part.strip()]
                facts[item.fact] = normalize_value(spec, value)
                break
            except InputError as exc:
                click.echo(f"  {exc}", err=True)
