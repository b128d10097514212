"""`myoivig graph`: draw the knowledge base, or one consultation's derivation."""
from __future__ import annotations

from pathlib import Path

import click

from ..diagrams import FORMATS, case_graph, graph_format, kb_graph, render_graph
from ..engine import consult
from .options import audit_option, kb_option, load_kb, patient_facts, record, set_option
from .output import STDOUT, write_outputs

OUTPUT = click.option("-o", "--output", "output", required=True,
                      type=click.Path(dir_okay=False, path_type=Path),
                      help="File to write; its extension picks the format (dot, svg, png, pdf); "
                           "- writes DOT to standard output.")
FORMAT = click.option("--graph-format", "fmt", type=click.Choice(FORMATS), default=None,
                      help="The file format, when the extension does not say it.")


@click.group("graph", short_help="Decision graphs: the knowledge base, or one patient.")
def graph() -> None:
    """Decision graphs (svg, png and pdf need graphviz's `dot` program; .dot never does)."""


@graph.command("kb")
@OUTPUT
@FORMAT
@kb_option
def graph_kb(output: Path, fmt: str | None, kb_dir: Path | None) -> None:
    """Draw every rule: input facts -> rules -> derived facts -> conclusions, by concern."""
    write_outputs([(output, render_graph(kb_graph(load_kb(kb_dir)), graph_format(output, fmt)))])
    if output != STDOUT:
        click.echo(f"knowledge-base graph written to {output}", err=True)


@graph.command("case")
@click.argument("patient")
@OUTPUT
@FORMAT
@click.option("--why-not", "why_not_id", metavar="CONCLUSION_ID",
              help="Add, greyed, the rules that could have reached this conclusion.")
@set_option
@audit_option
@kb_option
def graph_case(patient: str, output: Path, fmt: str | None, why_not_id: str | None,
               assignments: tuple[str, ...], audit_log: Path | None, kb_dir: Path | None) -> None:
    """Draw the derivation behind PATIENT's advice: facts, rules fired in order, conclusions, dose."""
    from ..engine.explain import why_not
    kb = load_kb(kb_dir)
    facts = patient_facts(kb, patient, assignments)
    answer = why_not(kb, facts, why_not_id) if why_not_id else None
    consultation = consult(kb, facts)
    write_outputs([(output, render_graph(case_graph(kb, consultation, answer), graph_format(output, fmt)))])
    record(audit_log, kb, consultation, "graph case")
    if output != STDOUT:
        click.echo(f"decision graph written to {output}", err=True)


COMMANDS: list[click.Command] = [graph]
