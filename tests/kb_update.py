"""`make kb-update`: regenerate everything a knowledge-base edit derives, and print what changed.

    python tests/kb_update.py [ROOT]      # ROOT: a checkout (default: this one)

In order: each case's FHIR twin (`kb twins`), the cases' expected outputs (`kb test --update`), the
patient schema, the knowledge-base drawings, and the reviewed outputs (the syrupy snapshots of the
test modules that render the shipped cases). The knowledge base is ROOT/knowledge_base, also for
commands run without --kb (MYOIVIG_KB_DIR), so a copy of the checkout is regenerated on its own:
tests/test_walkthrough.py does exactly that. Nothing here is Python a knowledge engineer edits.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
from pathlib import Path

SNAPSHOT_MODULES = ("tests/test_cli.py", "tests/test_cards.py", "tests/test_diagrams.py", "tests/test_explain.py")
"""The test modules whose reviewed outputs (tests/__snapshots__) render the shipped knowledge base."""
DERIVED = ("knowledge_base/cases", "engine/schema/patient.schema.json", "diagrams/knowledge_base.gv",
           "diagrams/knowledge_base.svg", "tests/__snapshots__")
"""What a knowledge-base edit can change: compared before and after, and listed."""


def fingerprints(root: Path) -> dict[str, str]:
    found = {}
    for name in DERIVED:
        path = root / name
        for file in sorted(path.rglob("*") if path.is_dir() else [path]):
            if file.is_file():
                found[str(file.relative_to(root))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parent.parent)
    root = parser.parse_args().root.resolve()
    kb = root / "knowledge_base"
    env = {**os.environ, "MYOIVIG_KB_DIR": str(kb)}
    myoivig = [sys.executable, "-m", "myoivig"]
    before = fingerprints(root)

    def step(title: str, command: list[str], output: Path | None = None, quiet: bool = False,
             must_pass: bool = True) -> None:
        print(f"== {title}", flush=True)
        done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True)
        if output is not None and done.returncode == 0:
            output.write_text(done.stdout, encoding="utf-8")
        elif not quiet or done.returncode != 0:
            sys.stdout.write(done.stdout)
        sys.stderr.write(done.stderr)
        if done.returncode != 0 and not must_pass:
            print("   (some tests of these modules fail: `make test` shows them; the snapshots are rewritten)")
        elif done.returncode != 0:
            raise SystemExit(f"kb-update stopped: `{' '.join(command[2:] if command[:2] == myoivig[:2] else command)}`"
                             f" exited {done.returncode}; fix what it says and run it again")

    step("knowledge base", [*myoivig, "kb", "validate", "--kb", str(kb)])
    step("FHIR twins", [*myoivig, "kb", "twins", "--kb", str(kb)])
    step("expected case outputs", [*myoivig, "kb", "test", "--update", "--kb", str(kb)], quiet=True)
    step("patient schema", [*myoivig, "facts", "--schema", "--kb", str(kb)],
         output=root / "engine" / "schema" / "patient.schema.json")
    for suffix in ("gv", "svg"):
        step(f"knowledge-base drawing (.{suffix})",
             [*myoivig, "graph", "kb", "--kb", str(kb), "-o", str(root / "diagrams" / f"knowledge_base.{suffix}")])
    step("reviewed outputs (snapshots)", [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                                          *SNAPSHOT_MODULES, "--snapshot-update"], quiet=True, must_pass=False)
    after = fingerprints(root)
    changed = sorted(name for name in before.keys() | after.keys() if before.get(name) != after.get(name))
    print(f"== {len(changed)} files changed" + (":" if changed else " - nothing to review"))
    for name in changed:
        print(f"  {'added' if name not in before else 'removed' if name not in after else 'changed'} {name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
