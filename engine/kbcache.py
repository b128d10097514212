"""Checked knowledge bases kept between runs, so a cold `consult` does not parse YAML it parsed before.

Parsing and checking the shipped knowledge base costs most of a cold start; reading it
back costs a millisecond. The key covers everything the result depends on: every byte
of the knowledge base's files (cases aside), the engine's own source (the checks), the
folder, and the current folder (messages give file:line relative to it). Anything else
is a miss, and a cache that cannot be read or written is ignored: it can make a run
faster, never different. `MYOIVIG_CACHE=off` turns it off; `MYOIVIG_CACHE_DIR` moves it
(default `$XDG_CACHE_HOME/myoivig`, else `~/.cache/myoivig`).
"""
from __future__ import annotations

import hashlib
import os
import pickle
import tempfile
from pathlib import Path

from .model import KnowledgeBase

ENGINE = Path(__file__).resolve().parent
KEEP = 16
"""Entries kept; the oldest go first."""


def _folder() -> Path | None:
    if os.environ.get("MYOIVIG_CACHE", "").lower() in ("off", "0", "no", "false"):
        return None
    base = os.environ.get("MYOIVIG_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "myoivig")
    return Path(base)


def entry(root: Path) -> Path | None:
    """Where this knowledge base, checked by this engine from this folder, is kept (None: no cache)."""
    where = _folder()
    if where is None:
        return None
    digest = hashlib.sha256(f"{root.resolve()}\0{Path.cwd()}\0".encode())
    try:
        sources = [p for p in root.rglob("*") if p.is_file() and "cases" not in p.relative_to(root).parts
                   and "__pycache__" not in p.parts]
        code = [p for p in ENGINE.rglob("*") if p.suffix in (".py", ".json") and "__pycache__" not in p.parts]
        for path in sorted(sources) + sorted(code):
            digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    except OSError:
        return None
    return where / f"kb-{digest.hexdigest()}.pickle"


def load(path: Path) -> KnowledgeBase | None:
    try:
        with path.open("rb") as stream:
            kb = pickle.load(stream)
    except Exception:  # absent, unreadable, or written by another Python: a miss
        return None
    return kb if isinstance(kb, KnowledgeBase) else None


def store(path: Path, kb: KnowledgeBase) -> None:
    temporary = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, suffix=".part")
        with os.fdopen(handle, "wb") as stream:
            pickle.dump(kb, stream, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(temporary, path)
        entries = sorted(path.parent.glob("kb-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for stale in entries[KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError:  # a read-only home or a full disk: the next run checks again
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
