"""Mutation testing of engine/ (and named cli/ modules) with cosmic-ray, in throwaway clones (it edits
files in place).

    make mutation                                   # every mutant of engine/ (3-4 hours on 2 cores)
    make mutation MUTATE="engine/verdict.py"        # one module (a minute or two)
    make mutation MUTATE="cli/render.py cli/service.py"  # the text view and the CDS Hooks service
    python3 tests/mutation.py --sample 4            # a seeded quarter of the mutants: an estimate
    python3 tests/mutation.py --sample 4 --seed 1   # another quarter, drawn afresh
    python3 tests/mutation.py --resume              # go on with an interrupted run

One covered run of the suite maps each line of engine/ and cli/ to the tests that execute it (a line
only a server process runs gets its module's own test file); each mutant is
then tested by those tests only, the module's own test files first, then quickest, up to 20 s of
them (tests/mutation_select.py). Mutants inside type annotations are skipped and not counted: with
`from __future__ import annotations` they are never evaluated, so they could only ever survive.
Mutants confirmed equivalent by hand (tests/mutation_equivalent.yaml, each with why) are reported
apart. Prints the share of the others killed, module by module and in all; every survivor's diff
goes to build/mutation/survivors.txt for docs/testing.md.
"""
from __future__ import annotations

import argparse
import ast
import hashlib
import importlib.util
import json
import os
import queue
import re
import sqlite3
import subprocess
import threading
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
INSTALL = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' cosmic-ray==8.7.0 pytest-cov==7.0.0"
TARGET = 90.0
EQUIVALENT = ROOT / "tests" / "mutation_equivalent.yaml"


def run(command: str, cwd: Path) -> str:
    done = subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"failed in {cwd}: {command}\n{done.stdout[-3000:]}{done.stderr[-3000:]}")
    return done.stdout


def prepare(clone: Path) -> None:
    run(f"git clone -q {ROOT} {clone}", ROOT)
    run(INSTALL + " 2>&1 | grep -v '^WARNING: Location' || true", clone)
    run("test -x .venv/bin/cosmic-ray", clone)
    (clone / ".mutation").mkdir()


def test_map(clone: Path) -> dict:
    """Which tests execute each line of engine/ and cli/, and how long each test takes."""
    out = run(".venv/bin/python -m pytest -q -p no:cacheprovider --cov=engine --cov=cli --cov-report= "
              "--cov-context=test "
              "--durations=0 --durations-min=0", clone)
    durations: dict[str, float] = {}
    for seconds, test in re.findall(r"^([\d.]+)s (?:setup|call|teardown) +(\S.*)$", out, re.M):
        durations[test] = durations.get(test, 0.0) + float(seconds)
    run(".venv/bin/coverage json --show-contexts -q -o .mutation/coverage.json", clone)
    files = {}
    for path, data in json.loads((clone / ".mutation/coverage.json").read_text())["files"].items():
        lines: dict[str, list[str]] = {}
        imported = []
        for line, contexts in data["contexts"].items():
            tests = sorted({c.rsplit("|", 1)[0] for c in contexts if c})
            if tests:
                lines[line] = tests
            else:
                imported.append(int(line))
        files[path] = {"lines": lines, "imported": imported, "all": sorted({t for ts in lines.values() for t in ts})}
    return {"files": files, "durations": durations}


def annotation_spans(source: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    spans = []
    for node in ast.walk(ast.parse(source)):
        notes: list[ast.expr | None] = []
        if isinstance(node, ast.arg):
            notes.append(node.annotation)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            notes.append(node.returns)
        elif isinstance(node, ast.AnnAssign):
            notes.append(node.annotation)
        spans += [((n.lineno, n.col_offset), (n.end_lineno or n.lineno, n.end_col_offset or 0)) for n in notes if n]
    return spans


def skip(session: Path, module: Path, sample: int, seed: int = 0) -> None:
    """Mark annotation mutants, and with `sample` > 1 all but a seeded 1 in `sample`, as not to run.

    Another `seed` draws another sample: tests written against one sample's survivors are
    measured fairly only on a sample they were not written from."""
    spans = annotation_spans(module.read_text())
    marks = []
    with sqlite3.connect(session) as db:
        for job, operator, row, col, occurrence in db.execute(
                "SELECT job_id, operator_name, start_pos_row, start_pos_col, occurrence FROM mutation_specs"):
            if any(start <= (row, col) < end for start, end in spans):
                marks.append(("annotation", job))
            elif sample > 1:
                salt = f"{seed}:" if seed else ""
                digest = hashlib.sha256(f"{salt}{module.name}:{operator}:{row}:{col}:{occurrence}".encode()).digest()
                if digest[0] % sample:
                    marks.append(("not sampled", job))
        db.executemany("INSERT OR REPLACE INTO work_results (worker_outcome, output, job_id) VALUES ('skipped', ?, ?)",
                       marks)


def session_name(module: str) -> str:
    """engine/fhir/reader.py -> engine__fhir__reader: one session per module, whatever folder it is in."""
    return Path(module).with_suffix("").as_posix().replace("/", "__")


def module_of(session: Path) -> str:
    return session.stem.replace("__", "/") + ".py"


def mutate(clone: Path, module: str, sample: int, seed: int = 0) -> dict:
    session = clone / ".mutation" / (session_name(module) + ".sqlite")
    config = clone / ".mutation" / (session_name(module) + ".toml")
    config.write_text(f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = 300.0\nexcluded-modules = []\n'
                      'test-command = ".venv/bin/python tests/mutation_select.py"\n'
                      '[cosmic-ray.distributor]\nname = "local"\n')
    if not session.exists():
        run(f".venv/bin/cosmic-ray init {config} {session}", clone)
        skip(session, clone / module, sample, seed)
    run(f".venv/bin/cosmic-ray exec {config} {session}", clone)
    return collect(session, module)


def collect(session: Path, module: str) -> dict:
    """A module's results so far: finished mutants only (an interrupted run is reported as far as it got)."""
    with sqlite3.connect(session) as db:
        rows = db.execute("SELECT r.test_outcome, r.worker_outcome, r.diff, r.output, s.operator_name, "
                          "s.start_pos_row FROM work_results r JOIN mutation_specs s USING (job_id) "
                          "ORDER BY s.start_pos_row, s.operator_name").fetchall()
    survivors = [{"line": line, "operator": op, "diff": diff, "output": (output or "")[-400:]}
                 for outcome, _, diff, output, op, line in rows if (outcome or "").lower() == "survived"]
    annotations = sum(1 for _, worker, _, output, *_ in rows if worker == "skipped" and output == "annotation")
    unsampled = sum(1 for _, worker, _, output, *_ in rows if worker == "skipped" and output == "not sampled")
    second = sum(1 for outcome, _, _, output, *_ in rows if outcome == "KILLED" and SECOND_LOOK in (output or ""))
    return {"module": module, "total": len(rows) - annotations - unsampled, "survived": len(survivors),
            "second_look": second,
            "skipped": annotations, "unsampled": unsampled, "survivors": survivors}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("modules", nargs="*", help="modules of engine/ or cli/ (default: all of engine/)")
    parser.add_argument("--jobs", type=int, default=2, help="clones mutated side by side (default 2)")
    parser.add_argument("--resume", action="store_true", help="reuse build/mutation and its finished mutants")
    parser.add_argument("--report", action="store_true", help="only report what build/mutation holds so far")
    parser.add_argument("--sample", type=int, default=1, metavar="N",
                        help="run a seeded 1 in N of the mutants (an estimate of the score; default: all)")
    parser.add_argument("--seed", type=int, default=0,
                        help="with --sample: which sample (a fresh seed for tests written from another's survivors)")
    parser.add_argument("--recheck", type=float, metavar="SECONDS",
                        help="after the run (with --report: on what build/mutation holds): give each survivor the "
                             "covering tests the first 20 s did not reach, up to SECONDS more")
    args = parser.parse_args()
    modules = args.modules or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "engine").rglob("*.py")
                                     if p.name != "__init__.py")
    clones = [WORK / f"w{i}" for i in range(args.jobs)]
    if args.report:
        if args.recheck:
            recheck(clones, args.recheck, modules)
        return report([collect(session, module_of(session))
                       for session in sorted(WORK.glob("w*/.mutation/*.sqlite"))], args.sample)
    if not args.resume:
        subprocess.run(["rm", "-rf", str(WORK)], check=True)
        WORK.mkdir(parents=True)
        threads = [threading.Thread(target=prepare, args=(clone,)) for clone in clones]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        mapping = json.dumps(test_map(clones[0]))
        for clone in clones:
            (clone / ".mutation" / "map.json").write_text(mapping)
    todo: queue.Queue[str] = queue.Queue()
    for module in sorted(modules, key=lambda m: -(ROOT / m).stat().st_size):
        todo.put(module)
    results: list[dict] = []

    def worker(clone: Path) -> None:
        while True:
            try:
                module = todo.get_nowait()
            except queue.Empty:
                return
            result = mutate(clone, module, args.sample, args.seed)
            results.append(result)
            killed = result["total"] - result["survived"]
            print(f"{module}: {killed} of {result['total']} killed ({100 * killed / max(result['total'], 1):.1f}%), "
                  f"{result['skipped']} in annotations skipped", flush=True)

    threads = [threading.Thread(target=worker, args=(clone,)) for clone in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if args.recheck:
        recheck(clones, args.recheck, modules)
        results = [collect(session, module_of(session))
                   for session in sorted(WORK.glob("w*/.mutation/*.sqlite"))]
    return report(results, args.sample)


SECOND_LOOK = "[second look]"


def recheck(clones: list[Path], seconds: float, modules: list[str]) -> None:
    """Give each survivor the covering tests its first 20 s did not reach, up to `seconds` more.

    A mutant that any test of the suite kills is killed; the first budget only bounds the cost of a
    whole run. The row is updated in place, and marked so that a resumed second look skips it."""
    todo: queue.Queue[tuple[Path, str, str, str, list[str]]] = queue.Queue()
    for session in sorted(WORK.glob("w*/.mutation/*.sqlite")):
        if module_of(session) not in modules:
            continue
        with sqlite3.connect(session) as db:
            for job, diff, output, *spec in db.execute(
                    "SELECT job_id, diff, output, module_path, operator_name, occurrence FROM work_results "
                    "JOIN mutation_specs USING (job_id) WHERE test_outcome = 'SURVIVED'"):
                if SECOND_LOOK not in (output or ""):
                    todo.put((session, job, diff, output or "", [str(part) for part in spec]))
    print(f"second look at {todo.qsize()} survivors, up to {seconds:.0f} s of further tests each", flush=True)
    first = select_budget()

    def worker(clone: Path) -> None:
        while True:
            try:
                session, job, diff, output, spec = todo.get_nowait()
            except queue.Empty:
                return
            # cosmic-ray's own edit: its diffs can end in a line the file does not have, which git refuses
            subprocess.run([".venv/bin/cosmic-ray", "apply", *spec], cwd=clone, check=True, capture_output=True)
            try:
                done = subprocess.run([".venv/bin/python", "tests/mutation_select.py"], cwd=clone, text=True,
                                      capture_output=True, timeout=3 * seconds + 120,
                                      env={**os.environ, "MUTATION_AFTER": str(first), "MUTATION_BUDGET": str(seconds)})
                killed, said = done.returncode != 0, done.stdout[-400:]
            except subprocess.TimeoutExpired:
                killed, said = True, "timed out"  # as cosmic-ray counts a mutant that hangs its tests
            finally:
                subprocess.run(["git", "checkout", "--", "engine", "cli"], cwd=clone, check=True)
            with sqlite3.connect(session) as db:
                db.execute("UPDATE work_results SET test_outcome = ?, output = ? WHERE job_id = ?",
                           ("KILLED" if killed else "SURVIVED", f"{output}\n{SECOND_LOOK} {said}", job))
            print(f"  {'killed  ' if killed else 'survived'} {module_of(session)}: {change(diff)[1]}", flush=True)

    threads = [threading.Thread(target=worker, args=(clone,)) for clone in clones]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def select_budget() -> float:
    """The first look's budget, as tests/mutation_select.py defines it."""
    spec = importlib.util.spec_from_file_location("mutation_select", ROOT / "tests" / "mutation_select.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return float(module.BUDGET_SECONDS)


def change(diff: str) -> tuple[str, str]:
    """A mutant's edit as (the line it removes, the line it adds), stripped: what identifies it across
    commits that move it to another line."""
    removed = [line[1:].strip() for line in diff.splitlines() if line.startswith("-") and not line.startswith("---")]
    added = [line[1:].strip() for line in diff.splitlines() if line.startswith("+") and not line.startswith("+++")]
    return " / ".join(removed), " / ".join(added)


def equivalents() -> dict[tuple[str, str, str, str], str]:
    """Mutants confirmed equivalent by hand (tests/mutation_equivalent.yaml): no input can tell them
    from the original, so no test can kill them. Each entry says why."""
    entries = yaml.safe_load(EQUIVALENT.read_text()) or []
    return {(e["module"], e["operator"], e["before"].strip(), e["after"].strip()): e["why"] for e in entries}


def report(results: list[dict], sample: int) -> int:
    """The score is killed / (run - confirmed equivalent), the usual definition; the raw share is printed
    beside it, and every survivor, equivalent or not, is written out with its diff."""
    results.sort(key=lambda r: r["module"])
    known = equivalents()
    for result in results:
        for survivor in result["survivors"]:
            survivor["equivalent"] = known.get((result["module"], survivor["operator"], *change(survivor["diff"])))
        result["equivalent"] = sum(1 for s in result["survivors"] if s["equivalent"])
        killed = result["total"] - result["survived"]
        print(f"  {result['module']:<28} {killed:>4} of {result['total'] - result['equivalent']:>4} killed"
              + (f" ({result['equivalent']} equivalent)" if result["equivalent"] else ""), flush=True)
    (WORK / "results.json").write_text(json.dumps(results, indent=1))
    (WORK / "survivors.txt").write_text("".join(
        f"## {r['module']} line {s['line']} {s['operator']}"
        + (f" EQUIVALENT: {s['equivalent']}" if s["equivalent"] else "")
        + f"\n{s['diff']}\n{s['output']}\n"
        for r in results for s in r["survivors"]))
    total = sum(r["total"] for r in results)
    killed = total - sum(r["survived"] for r in results)
    equivalent = sum(r["equivalent"] for r in results)
    score = 100 * killed / max(total - equivalent, 1)
    sampled = f", a seeded 1 in {sample} of the mutants" if sample > 1 else ""
    second = sum(r.get("second_look", 0) for r in results)
    sampled += f", {second} of them on a second look" if second else ""
    print(f"mutation score: {score:.1f}% ({killed} of {total - equivalent} killed{sampled}; {equivalent} more "
          f"confirmed equivalent, listed in {EQUIVALENT.relative_to(ROOT)}; {100 * killed / max(total, 1):.1f}% "
          f"of all {total}); survivors: {WORK / 'survivors.txt'}")
    return 0 if score >= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
