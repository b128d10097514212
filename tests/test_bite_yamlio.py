"""Positions yamlio reports where a 0-based mark is odd, the nesting limit's exact edge, and `position`.

Written from the mutation survivors: `mark.column + 1` and `mark.column ^ 1` agree on every even
column, and the earlier position tests happened to use only even ones.
"""
from __future__ import annotations

from typing import Any

import pytest

from myoivig.engine.yamlio import MAX_DEPTH, Located, LocatedList, YamlProblem, parse_yaml, position


@pytest.mark.parametrize("text, line, column, words", [
    ("x:\n   ? [k]\n   : 2\n", 2, 6, "a mapping key must be a plain value"),
    ("\0abc", 1, 1, "a NUL byte"),
    ("\nab\0", 2, 3, "a NUL byte"),
    ("a: 1\nb: c: d\n", 2, 5, "malformed YAML: mapping values are not allowed here"),
    ("a: \x07", 1, 1, "malformed YAML: unacceptable character #x0007"),
])
def test_problems_at_odd_marks_are_reported_where_they_stand(text: str, line: int, column: int, words: str) -> None:
    """An editor jumps to file:line:column, so each must be exact, odd 0-based marks included."""
    with pytest.raises(YamlProblem) as caught:
        parse_yaml(text)
    assert caught.value.message.startswith(words)
    assert (caught.value.line, caught.value.column) == (line, column)


def test_keys_and_items_at_odd_columns_keep_their_positions() -> None:
    """Later messages point at keys and list items through these positions."""
    document = parse_yaml("a:\n   b: 1\nl:\n-  x\n-  y\n")
    assert document["a"].key_positions == {"b": (2, 4)}
    assert (document["a"].line, document["a"].column) == (2, 4)
    assert document["l"].item_positions == [(4, 4), (5, 4)]


@pytest.mark.parametrize("levels, refused", [(MAX_DEPTH, False), (MAX_DEPTH + 1, True)])
def test_nesting_is_refused_only_past_the_limit(levels: int, refused: bool) -> None:
    """A document exactly MAX_DEPTH levels deep (the root mapping counts as one) is still read."""
    text = "x: " + "[" * (levels - 1) + "]" * (levels - 1)
    if refused:
        with pytest.raises(YamlProblem, match=f"nested more than {MAX_DEPTH} levels deep"):
            parse_yaml(text)
    else:
        assert parse_yaml(text)["x"]


DOCUMENT = "rule:\n  when: x\n  items:\n    - a\n    - {k: v}\n"


@pytest.mark.parametrize("path, expected", [
    (["rule"], (1, 1)),                # a key whose value is a mapping: the key, not the mapping
    (["rule", "when"], (2, 3)),
    (["rule", "items", 0], (4, 7)),    # a scalar item
    (["rule", "items", 1], (5, 7)),    # a mapping item: where the mapping starts
    (["rule", "items", 2], (3, 3)),    # one past the end: the nearest known part, the list's key
    (["rule", "items", 5], (3, 3)),
    (["rule", "items", -1], (3, 3)),
    (["rule", "missing"], (1, 1)),
])
def test_position_finds_the_nearest_known_part_of_a_path(path: list[Any], expected: tuple[int, int]) -> None:
    """A message about a part that is absent still points at the closest thing that is there."""
    assert position(parse_yaml(DOCUMENT), path) == expected


@pytest.mark.parametrize("document", [None, "text", {"patient": 1}, Located(), LocatedList()])
def test_position_in_a_document_without_positions_is_the_start(document: Any) -> None:
    """An empty file, a bare scalar or a hand-built mapping is reported at 1:1, never at column 0 or 2."""
    assert position(document, ["patient"]) == (1, 1)
