"""Every command and option a user can type is in the README (as sqlite-utils checks its docs)."""
from __future__ import annotations

import click
import pytest

from myoivig.cli.main import cli

from .conftest import ROOT

README = (ROOT / "README.md").read_text()


def commands(group: click.Group, prefix: str = "myoivig") -> list[tuple[str, click.Command]]:
    found = []
    context = click.Context(group)
    for name in group.list_commands(context):
        command = group.get_command(context, name)
        assert command is not None, name
        path = f"{prefix} {name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += commands(command, path)
    return found


@pytest.mark.parametrize("path,command", commands(cli), ids=[p for p, _ in commands(cli)])
def test_command_and_its_options_are_in_the_readme(path: str, command: click.Command) -> None:
    assert path in README
    for param in command.params:
        if isinstance(param, click.Option):
            assert any(opt in README for opt in param.opts if opt not in ("-h", "--help")), (path, param.opts)
