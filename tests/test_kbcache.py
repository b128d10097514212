"""The cache of checked knowledge bases: faster, never different.

The cache of checked knowledge bases: where it lives, what its key covers, and that it never breaks a run.
"""
from __future__ import annotations

import os
import pickle
import shutil
from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, KnowledgeBaseError, load_knowledge_base, loader
from myoivig.engine.kbcache import KEEP, entry, load, store

from .conftest import KB_DIR


def checks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every full check of a knowledge base from now on."""
    seen: list[Path] = []
    real = loader.check_knowledge_base

    def counting(root: Path | str | None = None) -> object:
        seen.append(Path(str(root)))
        return real(root)
    monkeypatch.setattr(loader, "check_knowledge_base", counting)
    return seen


@pytest.mark.slow
def test_a_knowledge_base_checked_once_is_read_back_unchanged(cache: Path, kb_copy: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen = checks(monkeypatch)
    first = load_knowledge_base(kb_copy)
    again = load_knowledge_base(kb_copy)
    assert seen == [kb_copy]
    assert again == first and again.sha256 == first.sha256
    assert [(r.id, r.file, r.line) for r in again.rules] == [(r.id, r.file, r.line) for r in first.rules]
    assert len(list(cache.glob("kb-*.pickle"))) == 1


@pytest.mark.slow
def test_any_edit_is_checked_again_and_a_broken_one_is_refused(cache: Path, kb_copy: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    load_knowledge_base(kb_copy)
    seen = checks(monkeypatch)
    rules = kb_copy / "rules" / "dosing.yaml"
    rules.write_text("# a comment\n" + rules.read_text())
    load_knowledge_base(kb_copy)
    (kb_copy / "cases" / "new.yaml").write_text("patient: {}\n")  # cases are not part of the rules
    load_knowledge_base(kb_copy)
    assert seen == [kb_copy]
    rules.write_text(rules.read_text().replace("when:", "wen:", 1))
    with pytest.raises(KnowledgeBaseError, match=r"dosing\.yaml"):
        load_knowledge_base(kb_copy)


@pytest.mark.slow
def test_a_cached_base_names_its_rule_files_within_itself_from_any_folder(
        cache: Path, kb_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Advice cites a rule's file the same way wherever the process runs (a Dask worker elsewhere too)."""
    monkeypatch.chdir(kb_copy)
    here = load_knowledge_base(kb_copy)
    monkeypatch.chdir(kb_copy.parent)
    assert load_knowledge_base(kb_copy) == here and here.rules[0].file.startswith("rules/")


@pytest.mark.slow
def test_a_damaged_or_switched_off_cache_changes_nothing(cache: Path, kb_copy: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    expected = load_knowledge_base(kb_copy)
    path = entry(kb_copy)
    assert path is not None and path.exists()
    path.write_bytes(b"not a pickle")
    assert load_knowledge_base(kb_copy) == expected
    assert path.read_bytes() != b"not a pickle"  # rewritten
    shutil.rmtree(cache)
    monkeypatch.setenv("MYOIVIG_CACHE", "off")
    assert entry(kb_copy) is None
    assert load_knowledge_base(kb_copy) == expected and not cache.exists()


@pytest.mark.slow
def test_asking_for_warnings_always_checks(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_knowledge_base(KB_DIR)
    seen = checks(monkeypatch)
    loaded, warnings = load_knowledge_base(KB_DIR, with_warnings=True)
    assert seen == [KB_DIR] and isinstance(warnings, list) and loaded.sha256


@pytest.mark.slow
def test_an_unwritable_cache_is_ignored(tmp_path: Path, kb_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(blocker / "cache"))  # a folder inside a file
    assert load_knowledge_base(kb_copy).sha256


# ---------------------------------------------------------------- The cache of checked knowledge bases: where it lives, what i
@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(folder))
    monkeypatch.delenv("MYOIVIG_CACHE", raising=False)
    return folder


@pytest.fixture
def small_kb(tmp_path: Path) -> Path:
    """A folder of two rule files and a case: the key is over bytes, not meaning."""
    root = tmp_path / "kbfolder"
    (root / "rules").mkdir(parents=True)
    (root / "cases").mkdir()
    (root / "vocabulary.yaml").write_text("facts: {}\n")
    (root / "rules" / "a.yaml").write_text("rules: []\n")
    (root / "cases" / "c.yaml").write_text("patient: {}\n")
    return root


@pytest.mark.parametrize("off", ["off", "OFF", "0", "no", "false", "False"])
def test_the_cache_is_switched_off_by_any_of_its_words(cache: Path, small_kb: Path, monkeypatch: pytest.MonkeyPatch,
                                                       off: str) -> None:
    """MYOIVIG_CACHE=off (or 0, no, false, any case): no entry, so every run checks."""
    monkeypatch.setenv("MYOIVIG_CACHE", off)
    assert entry(small_kb) is None


@pytest.mark.parametrize("on", ["on", "1", "yes", ""])
def test_other_values_leave_it_on(cache: Path, small_kb: Path, monkeypatch: pytest.MonkeyPatch, on: str) -> None:
    monkeypatch.setenv("MYOIVIG_CACHE", on)
    found = entry(small_kb)
    assert found is not None and found.parent == cache


def test_the_folder_defaults_to_xdg_then_home(small_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """$MYOIVIG_CACHE_DIR, else $XDG_CACHE_HOME/myoivig, else ~/.cache/myoivig."""
    monkeypatch.delenv("MYOIVIG_CACHE", raising=False)
    monkeypatch.delenv("MYOIVIG_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert entry(small_kb).parent == tmp_path / "xdg" / "myoivig"  # type: ignore[union-attr]
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert entry(small_kb).parent == tmp_path / "home" / ".cache" / "myoivig"  # type: ignore[union-attr]


def test_the_key_covers_the_rules_bytes_and_the_current_folder_but_not_cases(
        cache: Path, small_kb: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Any byte of a rule file, or another current folder (messages are relative to it), is another entry;
    a case, or Python's bytecode, is not."""
    first = entry(small_kb)
    assert first is not None and first.name.startswith("kb-") and first.name.endswith(".pickle")
    assert len(first.name) == len("kb-") + 64 + len(".pickle")
    assert entry(small_kb) == first
    (small_kb / "cases" / "c.yaml").write_text("patient: {diagnosis: DM}\n")
    (small_kb / "cases" / "d.yaml").write_text("patient: {}\n")
    (small_kb / "__pycache__").mkdir()
    (small_kb / "__pycache__" / "x.pyc").write_bytes(b"\0")
    assert entry(small_kb) == first
    (small_kb / "rules" / "a.yaml").write_text("rules: [] \n")
    second = entry(small_kb)
    assert second not in (None, first)
    monkeypatch.chdir(tmp_path)
    assert entry(small_kb) not in (None, first, second)


def test_a_file_that_cannot_be_read_means_no_cache(cache: Path, small_kb: Path) -> None:
    """An unreadable file in the knowledge base: no key can be trusted, so none is given."""
    (small_kb / "rules" / "mem.yaml").symlink_to("/proc/self/mem")  # a regular file whose read fails (EIO)
    assert entry(small_kb) is None


def test_load_reads_back_a_knowledge_base_and_nothing_else(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Absent, damaged, or another object's pickle: a miss (None), never an exception."""
    stored = tmp_path / "kb-x.pickle"
    assert load(stored) is None
    stored.write_bytes(b"not a pickle")
    assert load(stored) is None
    stored.write_bytes(pickle.dumps({"name": kb.name}))
    assert load(stored) is None
    stored.write_bytes(pickle.dumps(kb))
    assert load(stored) == kb


def test_store_keeps_the_sixteen_newest_entries(kb: KnowledgeBase, cache: Path) -> None:
    """The oldest entries go first; the new one and the 15 newest stay; no temporary file is left."""
    cache.mkdir()
    for age in range(KEEP + 1):  # 17 older entries, old_0 the newest
        old = cache / f"kb-old_{age:02}.pickle"
        old.write_bytes(b"x")
        os.utime(old, (1_000_000 - age, 1_000_000 - age))
    store(cache / "kb-new.pickle", kb)
    kept = sorted(p.name for p in cache.iterdir())
    assert KEEP == 16
    assert kept == sorted(["kb-new.pickle"] + [f"kb-old_{age:02}.pickle" for age in range(KEEP - 1)])
    assert load(cache / "kb-new.pickle") == kb


def test_store_with_fewer_entries_removes_none(kb: KnowledgeBase, cache: Path) -> None:
    cache.mkdir()
    (cache / "other.txt").write_text("not an entry")
    store(cache / "kb-a.pickle", kb)
    store(cache / "kb-b.pickle", kb)
    assert sorted(p.name for p in cache.iterdir()) == ["kb-a.pickle", "kb-b.pickle", "other.txt"]


def test_an_unwritable_cache_is_ignored_and_leaves_no_part_file(kb: KnowledgeBase, tmp_path: Path) -> None:
    """A cache folder that is a file, or an entry that cannot be replaced: silence, no debris."""
    blocker = tmp_path / "file"
    blocker.write_text("")
    store(blocker / "kb-a.pickle", kb)  # mkdir fails: nothing happens
    folder = tmp_path / "cache"
    (folder / "kb-a.pickle").mkdir(parents=True)  # a directory where the entry goes: the replace fails
    store(folder / "kb-a.pickle", kb)
    assert [p.name for p in folder.iterdir()] == ["kb-a.pickle"] and (folder / "kb-a.pickle").is_dir()


def test_a_failure_after_the_entry_is_in_place_keeps_it(kb: KnowledgeBase, cache: Path) -> None:
    """A dangling entry the clean-up cannot stat: the stored entry stays, and nothing is raised."""
    cache.mkdir()
    (cache / "kb-dangling.pickle").symlink_to(cache / "gone")
    store(cache / "kb-a.pickle", kb)
    assert load(cache / "kb-a.pickle") == kb
    assert not list(cache.glob("*.part"))


def test_the_key_covers_the_engine_s_code_and_schemas(cache: Path, small_kb: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """A new engine (its checks, .py, or its schemas, .json) checks again; other files and bytecode do not count."""
    from myoivig.engine import kbcache
    engine = tmp_path / "engine"
    (engine / "__pycache__").mkdir(parents=True)
    (engine / "checks.py").write_text("x = 1\n")
    (engine / "schema.json").write_text("{}")
    (engine / "notes.txt").write_text("a")
    monkeypatch.setattr(kbcache, "ENGINE", engine)
    first = entry(small_kb)
    (engine / "notes.txt").write_text("b")
    (engine / "__pycache__" / "checks.py").write_text("y = 2\n")
    assert entry(small_kb) == first
    (engine / "schema.json").write_text("{ }")
    second = entry(small_kb)
    assert second != first
    (engine / "checks.py").write_text("x = 2\n")
    assert entry(small_kb) not in (first, second)
