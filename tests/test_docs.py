"""Every command and option a user can type is in the README (as sqlite-utils checks its docs)."""
from __future__ import annotations

from typing import Any

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


def test_the_changelog_has_a_dated_section_per_release_the_newest_naming_the_versions_shipped(kb: Any) -> None:
    """`## YYYY-MM-DD - program X, knowledge base Y`, newest first ("Unreleased" may stand above); the
    newest release names the program's version and the knowledge base's, unless changes wait above it."""
    import datetime as dt
    import re

    from myoivig import __version__

    headings = re.findall(r"^## (.*)$", (ROOT / "CHANGELOG.md").read_text(), re.M)
    releases = [h for h in headings if h != "Unreleased"]
    assert headings[:1] == ["Unreleased"] or headings[0] == releases[0]
    parsed = [re.fullmatch(r"(\d{4}-\d{2}-\d{2}) - program (\S+), knowledge base (\S+)", h) for h in releases]
    assert all(parsed), [h for h, m in zip(releases, parsed, strict=True) if not m]
    dates = [dt.date.fromisoformat(m.group(1)) for m in parsed if m]
    assert dates == sorted(dates, reverse=True)
    if headings[0] != "Unreleased":
        newest = parsed[0]
        assert newest and (newest.group(2), newest.group(3)) == (__version__, kb.version)
