"""Commands of the `myoivig` CLI registered from this module (see main.py)."""
from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
