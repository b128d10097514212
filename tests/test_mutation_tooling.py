"""The mutation score's own bookkeeping: a survivor is matched to a confirmed-equivalent entry by the
line it changes, and every entry still names a line the code has (a stale entry would excuse nothing,
or worse, a new mutant on a rewritten line)."""
from __future__ import annotations

from pathlib import Path

from tests.mutation import EQUIVALENT, ROOT, change, equivalents
from tests.mutation_select import reach

DIFF = """--- mutation diff ---
--- a/engine/audit.py
+++ b/engine/audit.py
@@ -71,7 +71,7 @@
     try:
-        handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
+        handle = os.open(path, os.O_RDWR | os.O_APPEND ^ os.O_CREAT, 0o644)
     except OSError as exc:
"""


def test_a_mutant_is_known_by_the_line_it_removes_and_the_line_it_adds() -> None:
    assert change(DIFF) == ("handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)",
                            "handle = os.open(path, os.O_RDWR | os.O_APPEND ^ os.O_CREAT, 0o644)")


def test_a_removed_decorator_adds_nothing() -> None:
    assert change("--- a/engine/x.py\n+++ b/engine/x.py\n@@ -1 +1 @@\n-    @overload\n+\n") == ("@overload", "")


def test_every_confirmed_equivalent_names_a_line_the_module_still_has() -> None:
    entries = equivalents()
    for (module, operator, before, after), why in entries.items():
        lines = {line.strip() for line in (ROOT / module).read_text().splitlines()}
        assert before in lines, f"{EQUIVALENT.name}: {module} no longer has `{before}`: confirm the entry again"
        assert operator.startswith("core/") and after != before and len(why) > 20, (module, before)


def test_the_equivalents_file_has_no_entry_twice() -> None:
    import yaml
    raw = yaml.safe_load(Path(EQUIVALENT).read_text()) or []
    assert len(raw) == len(equivalents())


def test_a_look_runs_the_tests_that_fit_its_budget_and_at_least_one() -> None:
    """The second look starts where the first stopped: both cut the same ordered list with reach()."""
    durations = {"a": 5.0, "b": 10.0, "c": 10.0}
    assert reach(["a", "b", "c"], durations, 20.0) == 2
    assert reach(["a", "b", "c"], durations, 15.0) == 2
    assert reach(["a", "b", "c"], durations, 25.0) == 3
    assert reach(["c", "a"], durations, 1.0) == 1
    assert reach([], durations, 20.0) == 0
