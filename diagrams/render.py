"""Graphs into bytes: DOT source as it is, or svg, png and pdf through graphviz's `dot` program.

Nothing here touches a file: the CLI writes what this returns (all or nothing, see cli/output.py).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import graphviz

from ..engine.errors import InputError

FORMATS = ("dot", "gv", "svg", "png", "pdf")


def graph_format(path: Path, fmt: str | None = None) -> str:
    """The format asked for, or the one the file's extension names."""
    if fmt is None and str(path) == "-":
        fmt = "dot"  # standard output: DOT source, for a pipe into `dot`
    chosen = (fmt or path.suffix.lstrip(".") or "").lower()
    if chosen not in FORMATS:
        raise InputError(f"cannot write a graph as '{chosen or path.name}'", field="format",
                         allowed=", ".join(FORMATS))
    return chosen


def render_graph(graph: graphviz.Digraph, fmt: str) -> bytes:
    """The graph in `fmt`; svg, png and pdf need the `dot` program."""
    if fmt in ("dot", "gv"):
        return str(graph.source).encode("utf-8")
    if shutil.which("dot") is None:
        raise InputError(f"rendering {fmt} needs the graphviz `dot` program, which is not installed: "
                         "install it with `apt-get install graphviz` (or write a .dot file)", field="format")
    try:
        return bytes(graph.pipe(format=fmt))
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError) as exc:
        raise InputError(f"graphviz could not render {fmt}: {exc}", field="format") from None
