"""Mutation testing of engine/ with cosmic-ray, in a throwaway clone (it edits files in place).

    make mutation                                   # every module of engine/ (hours)
    make mutation MUTATE="engine/verdict.py"        # one module (minutes)

Prints the share of mutants the tests kill, module by module and in all, and the survivors'
diffs into build/mutation/survivors.txt for docs/testing.md.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "build" / "mutation"
FAST_TESTS = ("tests/test_verdict.py tests/test_cases.py tests/test_dose.py tests/test_engine.py "
              "tests/test_generated_kbs.py tests/test_meaning.py tests/test_loader.py tests/test_explain.py "
              "tests/test_kb.py tests/test_ergonomics.py")


def run(command: str, cwd: Path) -> str:
    return subprocess.run(command, shell=True, cwd=cwd, check=True, capture_output=True, text=True).stdout


def main(modules: list[str]) -> int:
    subprocess.run(["rm", "-rf", str(WORK)], check=True)
    run(f"git clone -q {ROOT} {WORK}", ROOT)
    run("python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' cosmic-ray==8.7.0", WORK)
    killed_all = total_all = 0
    survivors = []
    for module in modules:
        config = WORK / "cr.toml"
        config.write_text(f'[cosmic-ray]\nmodule-path = "{module}"\ntimeout = 120.0\nexcluded-modules = []\n'
                          f'test-command = ".venv/bin/python -m pytest -x -q -p no:cacheprovider {FAST_TESTS}"\n'
                          '[cosmic-ray.distributor]\nname = "local"\n')
        run("rm -f session.sqlite && .venv/bin/cosmic-ray init cr.toml session.sqlite", WORK)
        run(".venv/bin/cosmic-ray exec cr.toml session.sqlite", WORK)
        report = run(".venv/bin/cr-report session.sqlite --show-diff", WORK)
        total = int(re.search(r"total jobs: (\d+)", report).group(1))  # type: ignore[union-attr]
        survived = int(re.search(r"surviving mutants: (\d+)", report).group(1))  # type: ignore[union-attr]
        killed_all, total_all = killed_all + total - survived, total_all + total
        print(f"{module}: {total - survived} of {total} mutants killed ({100 * (total - survived) / max(total, 1):.1f}%)")
        survivors.append(f"## {module}\n{report}")
    (WORK / "survivors.txt").write_text("\n".join(survivors))
    score = 100 * killed_all / max(total_all, 1)
    print(f"mutation score: {score:.1f}% ({killed_all} of {total_all} killed); survivors: {WORK / 'survivors.txt'}")
    return 0 if score >= 90 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or sorted(str(p.relative_to(ROOT)) for p in (ROOT / "engine").glob("*.py")
                                        if p.name != "__init__.py")))
