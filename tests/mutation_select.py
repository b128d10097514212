"""The test command of one mutant: only the tests that run the mutated statement, its module's own first.

cosmic-ray edits one file of a clone in place and runs this; `git diff` says where. The map from
line to tests comes from one covered run of the suite (tests/mutation.py builds it). Running the
whole suite for every mutant would take a day; running the tests that can see it takes an hour.
Exit 0 means the mutant survived, anything else that it was killed.
"""
from __future__ import annotations

import ast
import json
import os
import re
import subprocess
import sys
from pathlib import Path

MAP = Path(".mutation/map.json")
BUDGET_SECONDS = float(os.environ.get("MUTATION_BUDGET", 20.0))
"""At most this much of the tests' measured time per mutant, quickest first. Kills come from the
first failing test, so this bounds what a surviving mutant on a line every test runs costs (90 s
otherwise); it can only lower the score, never raise it."""
AFTER_SECONDS = float(os.environ.get("MUTATION_AFTER", 0.0))
"""Skip the tests within this much time of the start of the order: a second look at a survivor
(`tests/mutation.py --recheck`) runs the tests the first budget did not reach."""


def mutated_lines() -> tuple[str, set[int]]:
    diff = subprocess.run(["git", "diff", "-U0", "--", "engine", "cli"], capture_output=True, text=True,
                          check=True).stdout
    found = re.search(r"^--- a/(\S+)", diff, re.M)
    if found is None:
        sys.exit("mutation_select: no mutated file in `git diff`")
    lines: set[int] = set()
    for start, count in re.findall(r"^@@ -(\d+)(?:,(\d+))? ", diff, re.M):
        lines.update(range(int(start), int(start) + max(int(count or 1), 1)))
    return found.group(1), lines


def statement_lines(path: str, lines: set[int]) -> set[int]:
    """The lines of the innermost statements holding the mutation: coverage records a statement
    by its first line, a mutation can sit on any."""
    source = subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, text=True, check=True).stdout
    statements = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.stmt)]
    covered: set[int] = set()
    for line in lines:
        holding = [s for s in statements if s.lineno <= line <= (s.end_lineno or s.lineno)]
        if holding:
            inner = min(holding, key=lambda s: (s.end_lineno or s.lineno) - s.lineno)
            covered.update(range(inner.lineno, (inner.end_lineno or inner.lineno) + 1))
        covered.add(line)
    return covered


def reach(tests: list[str], durations: dict[str, float], budget: float) -> int:
    """How many tests of `tests`, in order, fit in `budget` seconds of measured time (at least one)."""
    spent = 0.0
    for count, test in enumerate(tests):
        spent += durations.get(test, 0.0)
        if count and spent > budget:
            return count
    return len(tests)


def main() -> int:
    data = json.loads(MAP.read_text())
    path, lines = mutated_lines()
    module = data["files"].get(path, {"lines": {}, "imported": [], "all": []})
    wanted = statement_lines(path, lines)
    parts = Path(path).parts  # engine/fhir/reader.py is tested by tests/test_fhir.py
    stem = parts[1] if len(parts) > 2 else Path(path).stem
    tests = {test for line in wanted for test in module["lines"].get(str(line), [])}
    if not tests and wanted & set(module["imported"]):
        tests = set(data["durations"])  # module-level code (a decorator, a table): any test may see it
    if not tests and parts[0] == "cli":  # run only by a server the tests start (`myoivig serve`), which no
        tests = {t for t in data["durations"] if t.split("::")[0] == f"tests/test_{stem}.py"}  # context records
    if not tests:
        print(f"no test runs {path} lines {sorted(lines)}")
        return 0

    def order(test: str) -> tuple[bool, float, str]:
        """The module's own test files first (tests/test_fhir.py for engine/fhir/*.py), then quickest:
        the tests written for a module would otherwise queue behind hundreds of quicker ones."""
        return stem not in test.split("::")[0], data["durations"].get(test, 0.0), test

    ordered = sorted(tests, key=order)
    if AFTER_SECONDS:
        ordered = ordered[reach(ordered, data["durations"], AFTER_SECONDS):]
        if not ordered:
            print(f"no test beyond the first {AFTER_SECONDS:.0f} s runs {path} lines {sorted(lines)}")
            return 0
    ordered = ordered[:reach(ordered, data["durations"], BUDGET_SECONDS)]
    code = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
                           "--snapshot-warn-unused", *ordered]).returncode
    return 0 if code == 5 else code  # no test collected kills nothing; a conftest that cannot import does


if __name__ == "__main__":
    sys.exit(main())
