"""`make differential`: the incremental missing-fact search against the exhaustive one, and the incremental
rule evaluation against the full one, on 20,000 generated patients whose numbers sit at range ends,
thresholds and one step either side (engine/population.edge_patients). Every list must be equal,
fact for fact, in order, with the concern each could change. Minutes; `make test` runs a slice
(tests/test_missing.py).

    python tests/differential.py --patients 20000 [--seed 1]
"""
from __future__ import annotations

import argparse
import random
import sys
import time

from myoivig.engine import load_knowledge_base, normalize
from myoivig.engine.errors import InputError
from myoivig.engine.evaluator import evaluate_changed, evaluate_rules
from myoivig.engine.missing import candidate_values, find_missing
from myoivig.engine.population import edge_patients


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    kb = load_knowledge_base()
    rng = random.Random(args.seed)
    checked = refused = 0
    spent = {"incremental": 0.0, "exhaustive": 0.0}
    for number, raw in enumerate(edge_patients(kb, args.patients, seed=args.seed), 1):
        try:
            facts = normalize(kb, raw)
        except InputError:
            refused += 1
            continue
        start = time.perf_counter()
        fast = find_missing(kb, facts)
        spent["incremental"] += time.perf_counter() - start
        start = time.perf_counter()
        slow = find_missing(kb, facts, exhaustive=True)
        spent["exhaustive"] += time.perf_counter() - start
        if fast != slow:
            print(f"patient {number} {facts}:\n  incremental {fast}\n  exhaustive  {slow}")
            return 1
        unknown = [name for name in kb.facts if name not in facts]
        if unknown:
            changes = {name: rng.choice(candidate_values(kb, name))
                       for name in rng.sample(unknown, min(len(unknown), rng.randint(1, 3)))}
            whole = evaluate_rules(kb, {**facts, **changes})
            part = evaluate_changed(kb, evaluate_rules(kb, facts), facts, changes)
            if (part.rules, part.derived) != (whole.rules, whole.derived):
                print(f"patient {number} {facts} with {changes}: incremental evaluation differs")
                return 1
        checked += 1
    print(f"{checked:,} patients: incremental and exhaustive searches equal on every one ({refused} refused by "
          f"the reader); search time {spent['incremental']:.1f} s against {spent['exhaustive']:.1f} s "
          f"({spent['exhaustive'] / max(spent['incremental'], 1e-9):.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
