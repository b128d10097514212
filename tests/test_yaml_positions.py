"""Every position yamlio reports, exactly: a message's file:line:column is where an editor jumps.

Written after the mutation run: every `mark.line + 1` in engine/yamlio.py could be changed
without a test noticing.
"""
from __future__ import annotations

import pytest

from myoivig.engine.yamlio import MAX_BYTES, MAX_DEPTH, YamlProblem, decode, parse_yaml


@pytest.mark.parametrize("text, line, column, words", [
    ("a: 1\nb: &x 2\n", 2, 4, "anchors and aliases"),
    ("a: 1\nb:\n  - *x\n", 3, 5, "anchors and aliases"),
    ("x: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "\n", 1, MAX_DEPTH + 3, f"more than {MAX_DEPTH} levels"),
    ("a: 1\n? [k]\n: 2\n", 2, 3, "a mapping key must be a plain value"),
    ("a: 1\nb: 2\n\n  \na: 3\n", 5, 1, "duplicate key 'a' (first given at line 1)"),
    ("ab\ncd\0ef", 2, 3, "a NUL byte"),
    ("a: 1\nb: [1, 2\nc: 3\n", 3, 2, "malformed YAML"),
])
def test_each_problem_is_reported_where_it_stands(text: str, line: int, column: int, words: str) -> None:
    with pytest.raises(YamlProblem) as caught:
        parse_yaml(text)
    assert words in caught.value.message
    assert (caught.value.line, caught.value.column) == (line, column)


def test_mappings_and_lists_remember_where_each_part_stands() -> None:
    document = parse_yaml("top: 1\nrule:\n  when:\n    - a\n    -   b\n  then: x\n")
    assert (document.line, document.column) == (1, 1)
    assert document.key_positions == {"top": (1, 1), "rule": (2, 1)}
    rule = document["rule"]
    assert (rule.line, rule.column) == (3, 3)
    assert rule.key_positions == {"when": (3, 3), "then": (6, 3)}
    assert (rule["when"].line, rule["when"].column) == (4, 5)
    assert rule["when"].item_positions == [(4, 7), (5, 9)]


def test_a_file_may_be_exactly_as_large_as_its_limit() -> None:
    limit = MAX_BYTES["patient"]
    assert len(decode(b"#" * limit, "patient")) == limit
    with pytest.raises(YamlProblem, match=f"larger than {limit:,} bytes") as caught:
        decode(b"#" * (limit + 1), "patient")
    assert (caught.value.line, caught.value.column) == (1, 1)
