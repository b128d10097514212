"""`myoivig examples`: patients to copy, named by clinical picture (the knowledge base's cases)."""
from __future__ import annotations

import json
import textwrap
from pathlib import Path

import click
import yaml

from ..engine import InputError
from ..engine.cases import case_paths, load_case
from ..engine.suggestions import suggest
from .options import kb_option, load_kb


@click.command("examples", short_help="Example patients to copy, by clinical picture.")
@click.argument("name", required=False)
@kb_option
def examples(name: str | None, kb_dir: Path | None) -> None:
    """List the example patients, or print NAME's patient file (e.g. myoivig examples ibm_dysphagia > p.yaml).

    They are the knowledge base's own cases, so each one's advice is tested.
    """
    kb = load_kb(kb_dir)
    cases = {path.stem: path for path in case_paths(kb)}
    if name is None:
        for stem, path in cases.items():
            click.echo(f"{stem}\n" + textwrap.fill(load_case(path).description, 96, initial_indent="    ",
                                                      subsequent_indent="    "))
        return
    if name not in cases:
        raise InputError(f"no example '{name}'", field="example", suggestion=suggest(name, cases),
                         allowed="see `myoivig examples`")
    case = load_case(cases[name])
    header = "".join(f"# {line}\n" for line in textwrap.wrap(case.description, 96))
    body = yaml.safe_dump(json.loads(json.dumps(case.patient)), sort_keys=False, default_flow_style=None, width=100)
    click.echo(header + "# myoivig consult this-file.yaml\n" + body, nl=False)


COMMANDS: list[click.Command] = [examples]
