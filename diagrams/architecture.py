"""The project's own layout as a graph, read from its imports (so the drawing cannot drift from the code).

    python -m myoivig.diagrams.architecture docs/architecture.gv   (make graphs; svg needs `dot`)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import graphviz

ROOT = Path(__file__).resolve().parent.parent  # the source tree, or the installed `myoivig`
SOURCE_TREE = (ROOT / "cli").is_dir()  # installed, cli/ is the package root itself
LAYERS = {"engine": "engine/: knowledge base, rules, consultation (no click, no graphviz)",
          "diagrams": "diagrams/: graphs from the model and the trace (no durable_rules)",
          "cli": "cli/: parse, call the library, format, exit codes"}
THIRD_PARTY = ("durable", "durable_rules_engine", "click", "graphviz", "jsonschema", "yaml")


def _folder(layer: str) -> Path:
    if layer == "cli":
        return ROOT / "cli" if SOURCE_TREE else ROOT
    return ROOT / layer


def modules() -> dict[str, Path]:
    """Every module of the three layers, as `layer.name`."""
    found = {}
    for layer in LAYERS:
        for path in sorted(_folder(layer).glob("*.py")):
            if path.stem not in ("__init__", "__main__"):
                found[f"{layer}.{path.stem}"] = path
    return found


def imports(path: Path, layer: str, known: set[str]) -> set[str]:
    """The project modules and third-party libraries one module imports."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level == 0:
                top = base.split(".")[0]
                if top in THIRD_PARTY:
                    found.add(top)
                continue
            parts = base.split(".") if base else []
            if node.level == 2 or (node.level == 1 and layer == "cli" and parts and parts[0] in ("engine", "diagrams")):
                target_layer, rest = (parts[0], parts[1:]) if parts else ("", [])
            else:
                target_layer, rest = layer, parts
            names = [f"{target_layer}.{rest[0]}"] if rest else [f"{target_layer}.{a.name}" for a in node.names]
            modules_named = {name for name in names if name in known}
            found |= modules_named or {target_layer}  # `from .engine import consult`: the package's API
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names if alias.name.split(".")[0] in THIRD_PARTY}
    return found


def dependency_map() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(path, name.split(".")[0], set(known)) for name, path in known.items()}


def architecture_graph() -> graphviz.Digraph:
    """Modules grouped by layer; an arrow from a module to what it imports."""
    graph = graphviz.Digraph("architecture")
    graph.attr(rankdir="RL", fontname="Helvetica", fontsize="12", labelloc="t", newrank="true",
               label="myoivig modules: an arrow points from a module to what it imports")
    graph.attr("node", fontname="Helvetica", fontsize="10", shape="box", style="rounded")
    deps = dependency_map()
    for layer, title in LAYERS.items():
        with graph.subgraph(name=f"cluster_{layer}") as cluster:
            cluster.attr(label=title, style="rounded")
            for name in sorted(n for n in deps if n.startswith(layer + ".")):
                cluster.node(name, name.split(".", 1)[1])
    for library in sorted({lib for targets in deps.values() for lib in targets if lib in THIRD_PARTY}):
        graph.node(library, library, shape="component", style="dashed")
    for layer in sorted({t for targets in deps.values() for t in targets if t in LAYERS}):
        graph.node(layer, f"{layer} (package API)", shape="folder")
    for name, targets in sorted(deps.items()):
        for target in sorted(targets):
            graph.edge(name, target, style="dashed" if target in THIRD_PARTY else "solid")
    return graph


if __name__ == "__main__":  # pragma: no cover - make graphs
    out = Path(sys.argv[1])
    source = architecture_graph()
    if out.suffix in (".gv", ".dot"):
        out.write_text(source.source, encoding="utf-8")
    else:
        out.write_bytes(source.pipe(format=out.suffix.lstrip(".")))
