"""The cache of checked knowledge bases: faster, never different."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBaseError, load_knowledge_base, loader
from myoivig.engine.kbcache import entry

from .conftest import KB_DIR


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(folder))
    return folder


def checks(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Record every full check of a knowledge base from now on."""
    seen: list[Path] = []
    real = loader.check_knowledge_base

    def counting(root: Path | str | None = None) -> object:
        seen.append(Path(str(root)))
        return real(root)
    monkeypatch.setattr(loader, "check_knowledge_base", counting)
    return seen


def test_a_knowledge_base_checked_once_is_read_back_unchanged(cache: Path, kb_copy: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    seen = checks(monkeypatch)
    first = load_knowledge_base(kb_copy)
    again = load_knowledge_base(kb_copy)
    assert seen == [kb_copy]
    assert again == first and again.sha256 == first.sha256
    assert [(r.id, r.file, r.line) for r in again.rules] == [(r.id, r.file, r.line) for r in first.rules]
    assert len(list(cache.glob("kb-*.pickle"))) == 1


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


def test_a_cached_base_names_its_rule_files_within_itself_from_any_folder(
        cache: Path, kb_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Advice cites a rule's file the same way wherever the process runs (a Dask worker elsewhere too)."""
    monkeypatch.chdir(kb_copy)
    here = load_knowledge_base(kb_copy)
    monkeypatch.chdir(kb_copy.parent)
    assert load_knowledge_base(kb_copy) == here and here.rules[0].file.startswith("rules/")


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


def test_asking_for_warnings_always_checks(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    load_knowledge_base(KB_DIR)
    seen = checks(monkeypatch)
    loaded, warnings = load_knowledge_base(KB_DIR, with_warnings=True)
    assert seen == [KB_DIR] and isinstance(warnings, list) and loaded.sha256


def test_an_unwritable_cache_is_ignored(tmp_path: Path, kb_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(blocker / "cache"))  # a folder inside a file
    assert load_knowledge_base(kb_copy).sha256
