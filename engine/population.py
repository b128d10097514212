"""A reproducible generated population of patients, for diffs and benchmarks.

Seeded: the same seed and vocabulary give the same patients on every run and
machine. About a fifth of the facts are left unknown, as in real consultations.
"""
from __future__ import annotations

import random
from typing import Any

from .model import KnowledgeBase


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
