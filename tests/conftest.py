from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from myoivig.engine import KnowledgeBase, load_knowledge_base

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = ROOT / "knowledge_base"
CASES = sorted((KB_DIR / "cases").glob("*.yaml"))


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load_knowledge_base(KB_DIR)


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def kb_copy(tmp_path: Path) -> Path:
    """A writable copy of the shipped knowledge base, for breaking it on purpose."""
    target = tmp_path / "knowledge_base"
    shutil.copytree(KB_DIR, target, ignore=shutil.ignore_patterns("__pycache__", "__init__.py"))
    return target


def pytest_configure(config: pytest.Config) -> None:
    """The suite keeps its checked knowledge bases apart from the user's cache (engine/kbcache.py)."""
    import os
    import tempfile
    os.environ.setdefault("MYOIVIG_CACHE_DIR", tempfile.mkdtemp(prefix="myoivig-test-cache-"))
