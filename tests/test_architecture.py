"""The layout holds: data flows one way, read from the imports themselves (diagrams/architecture.py)."""
from __future__ import annotations

from graphlib import CycleError, TopologicalSorter

import pytest

from myoivig.diagrams.architecture import architecture_graph, dependency_map

from .builders import structure
from .conftest import KB_DIR

DEPS = dependency_map()
MODULES = {name: {t for t in targets if "." in t} for name, targets in DEPS.items()}


def test_no_module_imports_itself_back() -> None:
    try:
        list(TopologicalSorter(MODULES).static_order())
    except CycleError as exc:  # pragma: no cover - the failure message
        pytest.fail(f"import cycle: {' -> '.join(exc.args[1])}")


def test_the_engine_knows_nothing_of_the_cli_or_graphviz() -> None:
    for name, targets in DEPS.items():
        if name.startswith("engine."):
            assert not targets & {"click", "graphviz", "cli", "diagrams"}, name
            assert not any(t.startswith(("cli.", "diagrams.")) for t in targets), name


def test_only_the_backend_touches_durable_rules() -> None:
    users = sorted(name for name, targets in DEPS.items() if targets & {"durable", "durable_rules_engine"})
    assert users == ["engine.durable_engine"]


def test_commands_never_import_main() -> None:
    assert [name for name, targets in DEPS.items() if "cli.main" in targets] == []


def test_the_committed_architecture_drawing_is_current() -> None:
    """Regenerate with `make graphs`."""
    committed = (KB_DIR.parent / "docs" / "architecture.gv").read_text()
    assert structure(committed) == structure(architecture_graph().source)
