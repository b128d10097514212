"""What the engine returns cannot be changed by whoever reads it.

A knowledge base is shared by every consultation of a process (and cached with its
engine); a consultation is read by the renderer, the graphs and the audit log. Were
either mutable, one reader could change what the next one sees.
"""
from __future__ import annotations

import dataclasses
import importlib
import inspect
from pathlib import Path

import pytest

ENGINE = Path(__file__).resolve().parent.parent / "engine"
WORKING_STATE = {"cases.CaseResult"}  # filled in while running, never handed out


def engine_dataclasses() -> list[tuple[str, type]]:
    found = []
    for path in sorted(ENGINE.rglob("*.py")):
        dotted = ".".join(path.relative_to(ENGINE).with_suffix("").parts).removesuffix(".__init__")
        module = importlib.import_module(f"myoivig.engine.{dotted}")
        for name, value in vars(module).items():
            if inspect.isclass(value) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                found.append((f"{dotted}.{name}", value))
    return found


@pytest.mark.parametrize("name, cls", engine_dataclasses(), ids=[n for n, _ in engine_dataclasses()])
def test_every_value_the_engine_hands_out_is_frozen(name: str, cls: type) -> None:
    frozen = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert frozen == (name not in WORKING_STATE), name


def test_the_working_state_list_names_real_classes() -> None:
    assert WORKING_STATE <= {name for name, _ in engine_dataclasses()}
