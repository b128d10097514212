"""The `myoivig` command: parse arguments, call the library, format, set the exit code."""
from __future__ import annotations

import datetime as dt
import errno
import importlib
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from myoivig import __version__

from ..engine import InputError, MyoivigError, consult
from ..engine.advice import advise
from ..engine.errors import INTERRUPTED, OutputError
from ..engine.serialize import consultation_record, patient_schema
from .options import (
    as_of_option,
    audit_option,
    complete_conclusions,
    complete_facts,
    emit_json,
    format_option,
    kb_option,
    load_kb,
    normalize_changes,
    patient_input,
    record,
    set_option,
)
from .output import write_outputs
from .render import render_consultation, render_template

COMMAND_MODULES = {"audit": "audit_cmd", "batch": "batch_cmd", "examples": "examples_cmd", "explain": "explain_cmd",
                   "graph": "graph_cmd", "kb": "kb_cmd", "replay": "audit_cmd", "report": "report_cmd",
                   "serve": "serve_cmd"}
"""Each command module owns its commands; main only names them, and imports one when it is used
(a cold `consult` never imports graphviz, jsonschema or Dask)."""


OUTPUT_ERRNOS = (errno.EPIPE, errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG)
"""Errors of writing the output, which the user fixes (a full disk, a reader that left): exit 74, no traceback."""


def _silence_stdout() -> None:
    """What is left in stdout's buffer must not raise again when the interpreter flushes it at exit."""
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError):
        pass


class MyoivigGroup(click.Group):
    """Turns the library's errors into a message on stderr and their exit code, never a traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*self.commands, *COMMAND_MODULES})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMAND_MODULES and cmd_name not in self.commands:
            module = importlib.import_module(f"{__package__}.{COMMAND_MODULES[cmd_name]}")
            for command in module.COMMANDS:
                self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (the entry makes it one): not click's "Aborted!", exit 1
            _silence_stdout()
            click.echo("Interrupted.", err=True)
            ctx.exit(INTERRUPTED)
        except MyoivigError as exc:
            if isinstance(exc, OutputError):
                _silence_stdout()
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except OSError as exc:  # click.echo of the advice: a full disk, or a reader that left (| head)
            if exc.errno not in OUTPUT_ERRNOS:
                raise
            _silence_stdout()
            reason = "its reader closed the pipe" if exc.errno == errno.EPIPE else exc.strerror
            click.echo(f"Error: cannot write the output: {reason}", err=True)
            ctx.exit(OutputError.exit_code)


def show_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    kb = load_kb(None)
    click.echo(f"myoivig {__version__}, knowledge base {kb.name} {kb.version} (sha256 {kb.sha256})")
    ctx.exit()


@click.group(cls=MyoivigGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=show_version,
              help="Show the program's version and the shipped knowledge base's name, version and sha256.")
def cli() -> None:
    """myoivig - should this myositis patient get IVIG, how, and with what care?

    Every conclusion cites the sentence of the source document it rests on;
    advice the document does not give is marked [local policy].
    """


@cli.command("consult", short_help="Advice on IVIG for one patient.")
@click.argument("patient", required=False)
@set_option
@format_option(("text", "json", "cds-hooks"))
@click.option("--detail", "-v", "detail", is_flag=True,
              help="Add quotes, evidence labels, dose arithmetic, rule ids and resolved conflicts.")
@click.option("--trace", is_flag=True, help="Add the rule trace (text format; JSON always has it).")
@click.option("--how", "how_id", metavar="CONCLUSION_ID", shell_complete=complete_conclusions,
              help="Add the derivation of one conclusion.")
@click.option("--what-if", "what_if", multiple=True, metavar="NAME=VALUE", shell_complete=complete_facts,
              help="Show how the advice would change with this fact (repeatable).")
@click.option("--ask", is_flag=True, help="Ask for missing facts that could change the advice, one at a time.")
@click.option("--graph", "graph_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also draw the decision graph (format from the extension: dot, svg, png, pdf).")
@click.option("--save-case", "case_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also save this patient and its advice as a case file (for `myoivig kb test`).")
@as_of_option
@audit_option
@kb_option
def consult_cmd(patient: str | None, assignments: tuple[str, ...], fmt: str, detail: bool, trace: bool,
                how_id: str | None, what_if: tuple[str, ...], ask: bool, graph_file: Path | None,
                case_file: Path | None, as_of: dt.datetime | None, audit_log: Path | None,
                kb_dir: Path | None) -> None:
    """Advise on IVIG for the patient in PATIENT (YAML or JSON file, a FHIR R4 Bundle, a CDS Hooks
    request, or - for stdin).

    Without PATIENT, or with --ask, it asks for the facts that could change the advice.
    """
    from .ask import ask_missing
    from .render import render_how, render_what_if
    kb = load_kb(kb_dir)
    given = patient_input(kb, patient, assignments, as_of.date() if as_of else None)
    facts, read_as = given.facts, given.read_as
    changes = dict(normalize_changes(kb, what_if))
    if ask or patient is None:
        facts = ask_missing(kb, facts)
    consultation = consult(kb, facts)
    derivation = comparison = None
    if how_id or changes:  # the explanations are imported when asked for
        from ..engine.explain import how
        from ..engine.explain import what_if as compare

        derivation = how(kb, consultation, how_id) if how_id else None
        if how_id and derivation is None:
            raise InputError(f"'{how_id}' was not concluded for this patient; ask "
                             f"`myoivig explain PATIENT --why-not {how_id}`", field="--how")
        comparison = compare(kb, facts, changes) if changes else None
    outputs: list[tuple[Path, bytes]] = []
    if graph_file is not None:
        from ..diagrams import case_graph, graph_format, render_graph
        outputs.append((graph_file, render_graph(case_graph(kb, consultation), graph_format(graph_file))))
    if case_file is not None:
        from ..engine.cases import case_from_consultation
        description = f"Saved from a consultation on {Path(patient).name if patient else 'answers'}."
        outputs.append((case_file, case_from_consultation(kb, consultation, description).encode("utf-8")))
    write_outputs(outputs)  # every file or none, before any advice is printed
    record(audit_log, kb, consultation, "consult")
    if fmt == "cds-hooks":
        from ..engine.cards import cards, facts_key
        emit_json({"cards": cards(kb, consultation, facts_key(facts), given.fhir)})
        return
    if fmt == "json":
        emit_json(consultation_record(kb, consultation, read_as=read_as, fhir=given.fhir, how=derivation,
                                      what_if=comparison))
        return
    text = render_consultation(kb, advise(kb, consultation), detail=detail, trace=trace, read_as=read_as,
                               fhir=given.fhir)
    if derivation is not None:
        text += "\n" + render_how(kb, derivation, how_id or "")
    if comparison is not None:
        text += "\n" + render_what_if(kb, comparison)
    click.echo(text, nl=False)


@cli.command(short_help="The facts a patient can have.")
@format_option()
@kb_option
@click.option("--template", is_flag=True,
              help="Print a patient file to fill in: every fact, commented with its question and allowed values.")
@click.option("--schema", "schema", is_flag=True, help="Print the JSON Schema of patient files, for editors.")
def facts(fmt: str, kb_dir: Path | None, template: bool, schema: bool) -> None:
    """List the facts a patient can have: type, allowed values, meaning, question."""
    kb = load_kb(kb_dir)
    if schema:
        emit_json(patient_schema(kb))
        return
    if template:
        click.echo(render_template(kb), nl=False)
        return
    if fmt == "json":
        emit_json({name: {"type": spec.type, "allowed": spec.allowed(), "values": list(spec.values),
                          "aliases": dict(spec.aliases), "synonyms": list(spec.synonyms), "unit": spec.unit,
                          "units": dict(spec.units), "range": list(spec.range) if spec.range else None,
                          "meaning": spec.meaning, "question": spec.question}
                   for name, spec in kb.facts.items()})
        return
    for name, spec in kb.facts.items():
        click.echo(f"{name} ({spec.type}): {spec.meaning}")
        click.echo(f"    allowed: {spec.allowed()}")
        if spec.synonyms:
            click.echo(f"    also written: {', '.join(spec.synonyms)}")
        if spec.units:
            click.echo(f"    units: {', '.join(spec.units)}")
        if spec.aliases:
            click.echo("    aliases: " + ", ".join(f"{a}={t}" for a, t in spec.aliases.items()))
        click.echo(f"    asks: {spec.question}")




def main(argv: Sequence[str] | None = None) -> None:
    """The program (see __main__.run, which makes SIGTERM an interrupt before anything else runs)."""
    cli.main(args=list(argv) if argv is not None else None, prog_name="myoivig")


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
