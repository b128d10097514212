"""Soak: many consultations through the durable_rules engine, each checked against the direct evaluator.

Not part of the unit suite (`make soak` runs it). It passes only with zero engine
errors, zero disagreements, no thread started and memory flat after warm-up, in
one process and in several processes running at once.

    python tests/soak.py --patients 100000              # one process
    python tests/soak.py --patients 20000 --processes 2 # two at once, on two cores
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import threading
import time
from typing import Any

from myoivig.engine import consult, load_knowledge_base, normalize
from myoivig.engine.durable_engine import engine_for
from myoivig.engine.evaluator import evaluate_rules
from myoivig.engine.model import KnowledgeBase
from myoivig.engine.population import generate

MEMORY_GROWTH_LIMIT_KB = 10_000  # after warm-up; the KB is loaded and the engine compiled before it


def rss_kb() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def patients(kb: KnowledgeBase, count: int, seed: int) -> Any:
    """Generated patients, made 1,000 at a time (so the cohort itself does not fill memory),
    with every tenth one's numbers pushed to tiny or threshold values."""
    edges = (0.0000001, 1e-09, 6, 6.004, 6.005, 17.999, 18, 65, 65.001, 152.4, 0.01)
    index = 0
    for chunk in range(0, count, 1000):
        for facts in generate(kb, min(1000, count - chunk), seed=seed * 1_000_003 + chunk):
            if index % 10 == 0:
                for name in facts:
                    spec = kb.facts[name]
                    if spec.type == "number" and spec.range:
                        value = edges[index // 10 % len(edges)]
                        facts[name] = min(max(value, spec.range[0]), spec.range[1])
            index += 1
            yield normalize(kb, facts)


def worker(count: int, seed: int) -> dict[str, Any]:
    kb = load_knowledge_base()
    assert isinstance(kb, KnowledgeBase)
    engine = engine_for(kb)
    threads_before = threading.active_count()
    errors: list[str] = []
    disagreements = 0
    warm = count // 10
    rss_warm = 0
    start = time.perf_counter()
    for index, facts in enumerate(patients(kb, count, seed)):
        if index == warm:
            rss_warm = rss_kb()
        try:
            fired = sorted(f.rule for f in engine.run(facts))
            if fired != sorted(evaluate_rules(kb, facts).fired):
                disagreements += 1
            if index % 500 == 0:
                consult(kb, facts)  # the whole consultation (dose, missing, cross-check) now and then
        except Exception as exc:
            errors.append(f"patient {index}: {exc}")
    return {"seed": seed, "patients": count, "errors": len(errors), "first_errors": errors[:5],
            "disagreements": disagreements, "threads_before": threads_before,
            "threads_after": threading.active_count(), "rss_after_warmup_kb": rss_warm,
            "rss_end_kb": rss_kb(), "seconds": round(time.perf_counter() - start, 1)}


def ok(result: dict[str, Any]) -> bool:
    return (result["errors"] == 0 and result["disagreements"] == 0
            and result["threads_after"] == result["threads_before"]
            and result["rss_end_kb"] - result["rss_after_warmup_kb"] <= MEMORY_GROWTH_LIMIT_KB)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=100_000, help="per process")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.patients, args.seed)))
        return 0
    children = [subprocess.Popen([sys.executable, __file__, "--worker", "--patients", str(args.patients),
                                  "--seed", str(args.seed + index)], stdout=subprocess.PIPE, text=True)
                for index in range(args.processes)]
    failed = False
    for child in children:
        out, _ = child.communicate()
        if child.returncode != 0:
            print(f"process crashed: exit code {child.returncode}")
            failed = True
            continue
        result = json.loads(out)
        failed = failed or not ok(result)
        growth = (result["rss_end_kb"] - result["rss_after_warmup_kb"]) / 1024
        print(f"seed {result['seed']}: {result['patients']:,} patients in {result['seconds']} s; "
              f"engine errors {result['errors']}, disagreements {result['disagreements']}, "
              f"threads {result['threads_before']} -> {result['threads_after']}, "
              f"memory after warm-up {result['rss_after_warmup_kb'] / 1024:.1f} MB, growth {growth:+.1f} MB"
              f" - {'OK' if ok(result) else 'FAILED'}")
        for error in result["first_errors"]:
            print(f"  {error}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
