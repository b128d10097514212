"""Throughput of the durable_rules engine against the direct evaluator of the same rules.

Both run the same generated patients in one process, side by side, so the ratio
means something on a shared, noisy machine; absolute numbers do not. Run with
`make bench`; it is never part of the test suite.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from myoivig.engine import load_knowledge_base
from myoivig.engine.backend import DurableEngine
from myoivig.engine.consultation import consult
from myoivig.engine.model import KnowledgeBase
from myoivig.engine.population import generate
from myoivig.engine.reasoning import evaluate_rules


def rate(label: str, run: Callable[[dict[str, Any]], Any], patients: list[dict[str, Any]]) -> float:
    start = time.perf_counter()
    for facts in patients:
        run(facts)
    elapsed = time.perf_counter() - start
    per_second = len(patients) / elapsed
    print(f"  {label:<44} {per_second:>10,.0f} patients/s  ({elapsed * 1000 / len(patients):.3f} ms each)")
    return per_second


def main(count: int = 2000) -> None:
    kb = load_knowledge_base()
    assert isinstance(kb, KnowledgeBase)
    patients = generate(kb, count)
    engine = DurableEngine(kb)
    for facts in patients[:50]:  # warm up both, and check they agree before timing anything
        assert sorted(f.rule for f in engine.run(facts)) == sorted(evaluate_rules(kb, facts).fired)
    print(f"{len(kb.rules)} rules, {count} generated patients (20% of facts unknown), one process:")
    durable = rate("durable_rules engine (trace on)", engine.run, patients)
    direct = rate("direct three-valued evaluator (plain Python)", lambda f: evaluate_rules(kb, f), patients)
    full = rate("full consultation (engine + dose + missing)", lambda f: consult(kb, f), patients[: count // 4])
    print(f"ratio direct / durable: {direct / durable:.1f}x; full consultation / durable: {full / durable:.2f}x")


if __name__ == "__main__":
    main()
