"""The generated population, to the value: a diff run anywhere compares the same patients."""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from myoivig.engine.population import generate


def _kb() -> Any:
    """A vocabulary of one fact of each kind, a number with a range and one without."""
    return SimpleNamespace(facts={
        "b": SimpleNamespace(type="bool", values=(), range=None),
        "e": SimpleNamespace(type="enum", values=("x", "y", "z"), range=None),
        "l": SimpleNamespace(type="list", values=("p", "q", "r", "s"), range=None),
        "n": SimpleNamespace(type="number", values=(), range=(10, 20)),
        "m": SimpleNamespace(type="number", values=(), range=None),
    })


def test_seed_3_gives_exactly_these_patients() -> None:
    """The same seed and vocabulary give the same patients on every run and machine (golden values);
    numbers without a range are drawn from 0 to 100, lists hold 0 to 2 sorted values, a fifth unknown."""
    assert generate(_kb(), 4, seed=3) == [
        {"b": False, "e": "z", "l": ["p", "r"], "m": 25.9},
        {"b": False, "e": "z", "l": ["p", "q"], "n": 18.7, "m": 74.1},
        {"b": True, "e": "z", "n": 18.2, "m": 59.5},
        {"b": False, "e": "y", "l": ["p", "s"], "n": 11.0},
    ]


def test_nothing_left_unknown_gives_every_fact() -> None:
    """unknown=0: every fact is given a value, an empty list among them."""
    assert generate(_kb(), 2, seed=3, unknown=0.0) == [
        {"b": False, "e": "z", "l": ["p", "r"], "n": 18.4, "m": 23.4},
        {"b": False, "e": "y", "l": [], "n": 11.5, "m": 39.0},
    ]


def test_no_patients_and_all_unknown() -> None:
    """Zero patients is an empty population; unknown=1 gives patients with no facts."""
    assert generate(_kb(), 0) == []
    assert generate(_kb(), 3, unknown=1.0) == [{}, {}, {}]


def test_the_default_seed_is_7() -> None:
    """A diff without --seed compares the seed-7 population."""
    assert generate(_kb(), 3) == generate(_kb(), 3, seed=7) != generate(_kb(), 3, seed=8)
