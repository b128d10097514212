"""The loader under fuzzing: any mangled rule file ends in problems with file and line, never a traceback.

A fixed budget runs in `make test`; `make fuzz` runs the same property with a much larger one
(MYOIVIG_FUZZ_EXAMPLES).
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from myoivig.engine import MyoivigError, check_knowledge_base, consult, load_knowledge_base

from .conftest import KB_DIR

EXAMPLES = int(os.environ.get("MYOIVIG_FUZZ_EXAMPLES", "60"))
TARGETS = ["rules/indication.yaml", "rules/combination.yaml", "vocabulary.yaml", "sources.yaml"]
FRAGMENTS = ["\n", ": ", "- ", "  ", "{", "}", "[", "]", "&a ", "*a", "!!python/object:os.system ", "\t", "\x00",
             "\xe9", "not:", "all:", "any:", "known: false", "lt: 1.0e-7", "derive: [x]", "id: indication.x",
             "ref: \"9\"", "\"", "'", "#", "?", "|", ">-", "%YAML 1.1\n", "---\n", "...\n"]


@st.composite
def mangled(draw: st.DrawFn, text: str) -> str:
    """`text` with a few random edits: a slice deleted, a fragment inserted, a line doubled or dropped."""
    for _ in range(draw(st.integers(1, 4))):
        where = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["delete", "insert", "double", "drop"]))
        if edit == "delete":
            text = text[:where] + text[where + draw(st.integers(1, 40)):]
        elif edit == "insert":
            text = text[:where] + draw(st.sampled_from(FRAGMENTS)) + text[where:]
        else:
            lines = text.splitlines(keepends=True)
            index = min(where % max(len(lines), 1), len(lines) - 1)
            lines[index:index + 1] = [lines[index]] * (2 if edit == "double" else 0)
            text = "".join(lines)
    return text


def test_a_mangled_knowledge_base_never_crashes_the_loader(tmp_path: Path) -> None:
    root = tmp_path / "knowledge_base"
    shutil.copytree(KB_DIR, root, ignore=shutil.ignore_patterns("__pycache__", "__init__.py", "cases"))
    originals = {name: (root / name).read_text() for name in TARGETS}

    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.sampled_from(TARGETS).flatmap(lambda name: st.tuples(st.just(name), mangled(originals[name]))))
    def check(change: tuple[str, str]) -> None:
        name, text = change
        path = root / name
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        try:
            kb, problems = check_knowledge_base(root)
            errors = [p for p in problems if p.severity == "error"]
            assert (kb is None) == bool(errors)
            for problem in errors:
                assert problem.file and problem.line >= 1 and problem.column >= 1, problem
            if kb is not None:  # still valid after the edit: it must load and advise like any other
                try:
                    consult(load_knowledge_base(root), {"diagnosis": "dermatomyositis", "dysphagia": True})
                except MyoivigError:
                    pass  # e.g. an `excludes` that now contradicts itself: a message, not a crash
        finally:
            path.write_text(originals[name])

    check()
