"""Did you mean ...: the closest known name for a misspelt one."""
from __future__ import annotations

import difflib
from collections.abc import Iterable


def suggest(name: str, candidates: Iterable[str]) -> str | None:
    """The closest known name, for a "did you mean" hint (a typo, or the start of a long id)."""
    candidates = list(candidates)
    matches = difflib.get_close_matches(name, candidates, n=1, cutoff=0.6)
    if matches:
        return matches[0]
    extended = sorted((c for c in candidates if len(name) >= 4 and name in c), key=len)
    return extended[0] if extended else None


def did_you_mean(name: str, candidates: Iterable[str]) -> str | None:
    match = suggest(name, candidates)
    return f"did you mean '{match}'?" if match else None
