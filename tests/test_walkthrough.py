"""The knowledge engineer's walk-through of docs/knowledge-engineering.md, done for real on a copy.

First a comment line goes at the top of every rule file (so every rule's line moves), then
each marked block of the guide (`<!-- walk-through: FILE after "LINE" | append | new -->` and the
YAML block under it) is applied to a copy of this checkout's knowledge base and tests; then
`tests/kb_update.py` (make kb-update) regenerates what the edit derives, and the test modules that hold
the knowledge base run against the copy. They must pass with no Python edited: a test that pinned the
shipped knowledge base in Python (a MISSING list, a coverage count, a line number) fails here.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import ROOT

GUIDE = ROOT / "docs" / "knowledge-engineering.md"
BLOCK = re.compile(r"<!-- walk-through: (\S+) (after \"([^\"]*)\"|append|new) -->\n```yaml\n(.*?)```", re.S)
MODULES = ("tests/test_cases.py", "tests/test_missing.py", "tests/test_coverage.py", "tests/test_fhir.py",
           "tests/test_loader.py", "tests/test_kb.py", "tests/test_cli.py", "tests/test_advice.py")
"""The modules that check the shipped knowledge base: its cases, twins, coverage, outputs and errors."""
NOT_HERE = ("not test_diff_against_a_git_revision"  # needs the checkout's git history, which a copy has not
            " and not test_the_demo_patient_fits_in_forty_lines")
"""The demo patient's one-screen budget (40 lines) is a presentation promise of the shipped knowledge base:
the walk-through's new question adds three lines to it, and a person decides what to fold, not a regeneration."""


def walk_through_blocks() -> list[tuple[str, str, str | None, str]]:
    """(file, how, anchor line, text) for each block of the guide, in order."""
    found = [(m.group(1), m.group(2).split()[0], m.group(3), m.group(4)) for m in BLOCK.finditer(GUIDE.read_text())]
    assert found, "the guide has no walk-through blocks"
    return found


def apply(root: Path, file: str, how: str, anchor: str | None, text: str) -> None:
    target = root / file
    if how == "new":
        assert not target.exists(), f"{file} exists: the walk-through would overwrite it"
        target.write_text(text)
    elif how == "append":
        target.write_text(target.read_text().rstrip("\n") + "\n\n" + text)
    else:
        lines = target.read_text().splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if line.rstrip("\n") == anchor)
        lines[at + 1:at + 1] = [text]
        target.write_text("".join(lines))


def checkout_copy(root: Path) -> None:
    """What the knowledge-base tests read: the knowledge base, the tests, the schemas and the drawings."""
    for name in ("knowledge_base", "tests", "engine/schema", "diagrams"):
        shutil.copytree(ROOT / name, root / name, ignore=shutil.ignore_patterns("__pycache__", "*.py[co]"))
    for name in ("pyproject.toml", "setup.cfg"):
        shutil.copy(ROOT / name, root / name)


@pytest.mark.slow
def test_the_guides_walk_through_passes_the_tests_with_no_python_edited(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    checkout_copy(root)
    python_before = {p.relative_to(root): p.read_bytes() for p in root.rglob("*.py")}
    for rules in (root / "knowledge_base" / "rules").glob("*.yaml"):  # every line moves down: nothing may pin one
        rules.write_text("# A comment a knowledge engineer added.\n" + rules.read_text())
    for block in walk_through_blocks():
        apply(root, *block)
    env = {**os.environ, "MYOIVIG_KB_DIR": str(root / "knowledge_base")}
    update = subprocess.run([sys.executable, str(root / "tests" / "kb_update.py"), str(root)], cwd=root, env=env,
                            capture_output=True, text=True, timeout=900)
    assert update.returncode == 0, update.stdout + update.stderr
    assert "knowledge_base/cases/fhir/dm_heart_failure.json" in update.stdout  # its twin was written
    tests = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-k", NOT_HERE,
                            *MODULES],
                           cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    failed = [line for line in tests.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    assert tests.returncode == 0, "\n".join(failed) or tests.stdout[-4000:] + tests.stderr[-2000:]
    assert {p.relative_to(root): p.read_bytes() for p in root.rglob("*.py")} == python_before  # no Python edited
    coverage = subprocess.run([sys.executable, "-m", "myoivig", "kb", "coverage", "--fail-under", "100"], cwd=root,
                              env=env, capture_output=True, text=True, timeout=300)
    assert coverage.returncode == 0, coverage.stdout + coverage.stderr
