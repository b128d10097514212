"""Did-you-mean hints: the closest name for a typo, else the shortest name holding a long enough prefix.
"""
from __future__ import annotations

import pytest

from myoivig.engine.suggestions import did_you_mean, suggest

FACTS = ["diagnosis", "severity", "dysphagia", "autoantibodies", "months_since_diagnosis"]


def test_a_typo_gets_the_single_closest_name() -> None:
    """`severty` is one letter off `severity`: the hint names it, not a list."""
    assert suggest("severty", FACTS) == "severity"
    assert suggest("diagnosys", FACTS) == "diagnosis"


def test_candidates_may_be_any_iterable_read_once() -> None:
    """A generator of names (the vocabulary's keys) is read once and still searched twice."""
    assert suggest("anti", (name for name in ["anti_hmgcr_necrotizing_myopathy"])) == \
        "anti_hmgcr_necrotizing_myopathy"


@pytest.mark.parametrize(("name", "candidate", "found"), [
    ("abcde", "abcxy", "abcxy"),   # similarity exactly 0.6: the cut-off itself is a match
    ("abcde", "abxyz", None),      # 0.4: not similar enough, and not a part of it
    ("zzzzz", "abcde", None),
])
def test_the_similarity_cut_off_is_0_6_inclusive(name: str, candidate: str, found: str | None) -> None:
    """Three letters of five in common is close enough to suggest; two is not."""
    assert suggest(name, [candidate]) == found


@pytest.mark.parametrize(("name", "found"), [
    ("ant", None),                          # three letters: too short to be a prefix worth naming
    ("anti", "zz_anti_zz_zz"),              # four letters: the shortest name holding it
    ("anti_", "zz_anti_zz_zz"),             # five letters too
])
def test_a_part_of_a_long_name_needs_four_letters(name: str, found: str | None) -> None:
    """The start of a long id suggests the shortest id holding it, from four letters on."""
    candidates = ["aaaaaaaaaaaaaaaaaaaaaa_anti_bbbbbbbbbbbbbbbbbbbbbbbb", "zz_anti_zz_zz", "nothing_of_the_kind_here"]
    assert suggest(name, candidates) == found


def test_a_name_contained_in_no_candidate_gets_no_hint() -> None:
    """Nothing close and nothing containing it: no hint rather than a wrong one."""
    assert suggest("thrombo", ["aaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbb"]) is None
    assert suggest("thrombo", []) is None


def test_did_you_mean_words_the_hint_and_says_nothing_without_one() -> None:
    """The exact phrase users read after an unknown name, quoting the suggestion."""
    assert did_you_mean("severty", FACTS) == "did you mean 'severity'?"
    assert did_you_mean("qqqqqqq", FACTS) is None
