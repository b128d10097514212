"""A reproducible generated population of patients, for diffs and benchmarks.

Seeded: the same seed and vocabulary give the same patients on every run and
machine. About a fifth of the facts are left unknown, as in real consultations.
"""
from __future__ import annotations

import random
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from . import conditions as cond
from .model import KnowledgeBase

SWEEP_CASES = 6
"""Cases varied at each threshold (those that give the fact first, by name): enough to show an edit."""


def generate(kb: KnowledgeBase, count: int, seed: int = 7, unknown: float = 0.2) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    patients = []
    for _ in range(count):
        facts: dict[str, Any] = {}
        for name, spec in kb.facts.items():
            if rng.random() < unknown:
                continue
            if spec.type == "bool":
                facts[name] = rng.random() < 0.3
            elif spec.type == "enum":
                facts[name] = rng.choice(spec.values)
            elif spec.type == "list":
                facts[name] = sorted(rng.sample(spec.values, rng.randint(0, 2)))
            else:
                low, high = spec.range or (0, 100)
                facts[name] = round(rng.uniform(low, high), 1)
        patients.append(facts)
    return patients


def edge_patients(kb: KnowledgeBase, count: int, seed: int = 7, unknown: float = 0.35) -> list[dict[str, Any]]:
    """Patients whose numbers sit where advice turns: a range's ends, each threshold a rule tests and one
    step either side, the smallest steps above the low end; a uniform number now and then. More facts are
    unknown than in `generate`, so the missing-fact search has work. Numbers stay within their ranges."""
    rng = random.Random(seed)
    step = 10 ** -cond.NUMBER_PLACES
    points: dict[str, list[float]] = {}
    for name, spec in kb.facts.items():
        if spec.type != "number":
            continue
        low, high = spec.range or (0, 100)
        found = {low, high, low + step, low + 2 * step, high - step}
        for rule in kb.rules:
            found.update(v for test in cond.tests(rule.when) if test.fact == name and test.op in cond.COMPARISONS
                         for v in (test.value - step, test.value, test.value + step))
        points[name] = sorted(round(v, cond.NUMBER_PLACES) for v in found if low <= v <= high)
    patients = []
    for facts in generate(kb, count, seed=seed, unknown=unknown):
        for name in points:
            if name in facts and rng.random() < 0.8:
                facts[name] = rng.choice(points[name])
        patients.append(facts)
    return patients


def threshold_sweep(kbs: Sequence[KnowledgeBase], cases: Mapping[str, Mapping[str, Any]]
                    ) -> Iterator[tuple[str, dict[str, Any]]]:
    """Case patients with each number a rule of either knowledge base tests set at its threshold, just
    below and just above it (one step of the places numbers are read to). A random population rarely
    lands there, so a one-sided edit of a window (`<= 6` made `<= 12`) would show on nobody."""
    step = 10 ** -cond.NUMBER_PLACES
    points = sorted({(test.fact, float(test.value)) for kb in kbs for rule in kb.rules
                     for test in cond.tests(rule.when) if test.op in cond.COMPARISONS and test.fact in kb.facts})
    for fact, threshold in points:
        giving = sorted(name for name, patient in cases.items() if fact in patient)
        chosen = (giving or sorted(cases))[:SWEEP_CASES]
        low, high = next((kb.facts[fact].range for kb in kbs if fact in kb.facts), None) or (float("-inf"),
                                                                                             float("inf"))
        for value in (threshold - step, threshold, threshold + step):
            value = cond.exact_number(value)
            if not low <= value <= high:
                continue
            for name in chosen:
                yield f"case {name}, {fact} = {cond.show_value(value)}", {**cases[name], fact: value}
