from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from myoivig.engine import KnowledgeBase, load_knowledge_base

ROOT = Path(__file__).resolve().parent.parent
KB_DIR = Path(os.environ.get("MYOIVIG_KB_DIR") or ROOT / "knowledge_base").resolve()
"""The knowledge base the tests hold to: the shipped one, or (MYOIVIG_KB_DIR) an edited copy, as the
walk-through test runs them (tests/test_walkthrough.py)."""
CASES = sorted((KB_DIR / "cases").glob("*.yaml"))
_OWN_CACHE = pytest.StashKey[str]()


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


@pytest.fixture
def deadline() -> Iterator[None]:
    """A file repair (audit.cut_unfinished_line) that never ends is a failure, not a hung suite."""
    def expire(*_: object) -> None:
        raise TimeoutError("cut_unfinished_line did not finish")
    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(5)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def pytest_configure(config: pytest.Config) -> None:
    """The suite keeps its checked knowledge bases apart from the user's cache (engine/kbcache.py)."""
    import os
    import tempfile
    if "MYOIVIG_CACHE_DIR" not in os.environ:
        config.stash[_OWN_CACHE] = os.environ["MYOIVIG_CACHE_DIR"] = tempfile.mkdtemp(prefix="myoivig-test-cache-")


def pytest_unconfigure(config: pytest.Config) -> None:
    """The cache made for this run goes with it: a mutation run starts pytest thousands of times."""
    own = config.stash.get(_OWN_CACHE, None)
    if own:
        shutil.rmtree(own, ignore_errors=True)


SLOW_MODULES = {"test_walkthrough", "test_surfaces", "test_batch", "test_service", "test_report", "test_kb",
                "test_reading", "test_engine", "test_fuzz_loader", "test_web", "test_generated_kbs",
                "test_bad_input", "test_outputs", "test_traps", "test_cli", "test_ergonomics"}
"""Modules whose tests start processes, servers, browsers or clusters, or consult every case and generated
patients: `make test` runs them, `make test-fast` (the inner loop, under 30 s) leaves them out."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the slow ones: whole modules above, and any test that copies and checks a knowledge base."""
    for item in items:
        module = item.nodeid.split("::")[0].rsplit("/", 1)[-1].removesuffix(".py")
        if module in SLOW_MODULES or "kb_copy" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)
