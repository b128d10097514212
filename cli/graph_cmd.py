"""`myoivig graph`: draw the knowledge base, or one consultation's derivation."""
from __future__ import annotations

from pathlib import Path

import click

from .diagrams import FORMATS, case_graph, graph_format, kb_graph, render_graph
from .output import write_outputs
from .engine import consult

OUTPUT = click.option("-o", "--output", "output", required=True,
                      type=click.Path(dir_okay=False, path_type=Path),
                      help="File to write; its extension picks the format (dot, svg, png, pdf).")
FORMAT = click.option("--format", "fmt", type=click.Choice(FORMATS), default=None,
                      help="Format, when the extension does not say.")


@click.group("graph")
def graph() -> None:
    """Decision graphs (svg, png and pdf need graphviz's `dot` program; .dot never does)."""


@graph.command("kb")
@OUTPUT
@FORMAT
@click.option("--kb", "kb_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Knowledge-base folder to use instead of the shipped one.")
def graph_kb(output: Path, fmt: str | None, kb_dir: Path | None) -> None:
    """Draw every rule: input facts -> rules -> derived facts -> conclusions, by concern."""
    from .main import load_kb
    write_outputs([(output, render_graph(kb_graph(load_kb(kb_dir)), graph_format(output, fmt)))])
    click.echo(f"knowledge-base graph written to {output}")


@graph.command("case")
@click.argument("patient")
@OUTPUT
@FORMAT
@click.option("--why-not", "why_not_id", metavar="CONCLUSION_ID",
              help="Add, greyed, the rules that could have reached this conclusion.")
@click.option("--set", "assignments", multiple=True, metavar="NAME=VALUE", help="Add or override a fact.")
@click.option("--kb", "kb_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Knowledge-base folder to use instead of the shipped one.")
def graph_case(patient: str, output: Path, fmt: str | None, why_not_id: str | None,
               assignments: tuple[str, ...], kb_dir: Path | None) -> None:
    """Draw the derivation behind PATIENT's advice: facts, rules fired in order, conclusions, dose."""
    from .engine.explain import why_not
    from .main import load_kb, patient_facts
    kb = load_kb(kb_dir)
    facts = patient_facts(kb, patient, assignments)
    answer = why_not(kb, facts, why_not_id) if why_not_id else None
    write_outputs([(output, render_graph(case_graph(kb, consult(kb, facts), answer), graph_format(output, fmt)))])
    click.echo(f"decision graph written to {output}")


COMMANDS: list[click.Command] = [graph]
