"""The project's own layout as a graph, read from its imports (so the drawing cannot drift from the code).

    python -m myoivig.diagrams.architecture docs/architecture.gv   (make graphs; svg needs `dot`)
"""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import graphviz

ROOT = Path(__file__).resolve().parent.parent  # the source tree, or the installed `myoivig`: both hold the layers
LAYERS = {"engine": "engine/: knowledge base, rules, consultation (no click, no graphviz)",
          "diagrams": "diagrams/: graphs from the model and the trace (no durable_rules)",
          "cli": "cli/: parse, call the library, format, exit codes"}
THIRD_PARTY = ("durable", "durable_rules_engine", "click", "graphviz", "jsonschema", "yaml")


def modules() -> dict[str, Path]:
    """Every module of the three layers, subfolders included, as `layer.name` (`engine.fhir.reader`)."""
    found = {}
    for layer in LAYERS:
        for path in sorted((ROOT / layer).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__" and len(parts) > 2:
                parts = parts[:-1]  # a subpackage is the module its __init__ defines
            if parts[-1] not in ("__init__", "__main__"):
                found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules and third-party libraries one module imports (`myoivig.x` and relative
    imports alike: `..engine.advice` from cli/ is engine/advice.py)."""
    package = name.split(".")[:-1] if path.stem != "__init__" else name.split(".")
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            base = (node.module or "").split(".") if node.module else []
            if node.level == 0:
                if base[0] in THIRD_PARTY:
                    found.add(base[0])
                if base[0] != "myoivig":
                    continue
                target = base[1:]
            else:
                target = package[:len(package) - node.level + 1] + base
            candidates = [".".join(target + [alias.name]) for alias in node.names] + [".".join(target)]
            modules_named = {c for c in candidates if c in known}
            found |= modules_named or ({target[0]} if target else set())  # `from ..engine import consult`: its API
        elif isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names if alias.name.split(".")[0] in THIRD_PARTY}
    return found


def dependency_map() -> dict[str, set[str]]:
    known = modules()
    return {name: imports(name, path, set(known)) for name, path in known.items()}


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
