"""engine/yamlio.py as a whole: every refusal with its exact message and file:line:column, the
positions kept for every mapping, key, list and item, the YAML 1.2 booleans, and the size limits.

Positions are chosen on purpose at 0-based marks that are odd and at least 3 (1-based 4, 6, 8...):
there `mark + 1` differs from `mark | 1`, `mark ^ 1`, `mark << 1`, `mark - 1` and `mark * 1`, so an
arithmetic slip in any position is seen. (At mark 1, `1 + 1 == 1 << 1`; at even marks `m + 1 == m | 1`.)

Positions yamlio reports where a 0-based mark is odd, the nesting limit's exact edge, and `position`.

Written from the mutation survivors: `mark.column + 1` and `mark.column ^ 1` agree on every even
column, and the earlier position tests happened to use only even ones.

Every position yamlio reports, exactly: a message's file:line:column is where an editor jumps.

Written after the mutation run: every `mark.line + 1` in engine/yamlio.py could be changed
without a test noticing.
"""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml

from myoivig.engine.yamlio import (
    MAX_BYTES,
    MAX_DEPTH,
    Located,
    LocatedList,
    YamlProblem,
    decode,
    parse_yaml,
    position,
    read_limited,
    read_yaml,
)

ANCHORS = "anchors and aliases (&name, *name) are not accepted; write the values out"
HEAD = "a: 1\nb: 2\nc: 3\n"  # three lines, so the line under test is line 4 (0-based 3)


@pytest.mark.parametrize("text, message, line, column", [
    (HEAD + "d:   &x 2\n", ANCHORS, 4, 6),
    (HEAD + "d:   *x\n", ANCHORS, 4, 6),
    (HEAD + "d:  " + "[" * MAX_DEPTH + "]" * MAX_DEPTH + "\n", f"nested more than {MAX_DEPTH} levels deep", 4, 54),
    ("a: 1\nb: 2\nx:\n ? [k]\n : 2\n", "a mapping key must be a plain value", 4, 4),
    ("a: 1\nb: 2\nx:\n   ~: 1\n", "a mapping key must be a plain value", 4, 4),
    ("a: 1\nb: 2\nx:\n   !!int 1: y\n", "a tag (!!int) is not accepted; write the value plainly, or quote it", 4, 4),
    ("a: 1\nb:\n     c: 1\n     c: 2\n", "duplicate key 'c' (first given at line 3)", 4, 6),
    ("a: 1\nb:\n     1: x\n     1: y\n", "duplicate key '1' (first given at line 3)", 4, 6),
    ("1: a\ntrue: b\n", "duplicate key 'True' (first given at line 1)", 2, 1),
    ("a\nb\nc\nabcde\0", "a NUL byte: this is not a text file", 4, 6),
    ("\0", "a NUL byte: this is not a text file", 1, 1),
    (HEAD + "d:  x: y\n", "malformed YAML: mapping values are not allowed here", 4, 6),
    (HEAD + "d: 4\nf:  [1, 2\nggg: 3\n", "malformed YAML: expected ',' or ']', but got ':'", 6, 4),
    ("a: \x07", 'malformed YAML: unacceptable character #x0007: special characters are not allowed\n'
                '  in "<unicode string>", position 3', 1, 1),
], ids=["anchor", "alias", "too-deep", "list-key", "null-key", "tagged-key", "duplicate-key", "duplicate-int-key",
        "true-is-1", "nul", "nul-first", "mapping-in-scalar", "unclosed-flow-list", "control-character"])
def test_each_refusal_has_its_exact_message_and_position(text: str, message: str, line: int, column: int) -> None:
    """A knowledge engineer reads the message and jumps to file:line:column; both must be exact."""
    with pytest.raises(YamlProblem) as caught:
        parse_yaml(text)
    assert (caught.value.message, caught.value.line, caught.value.column) == (message, line, column)
    assert str(caught.value) == message


def test_a_parser_error_without_a_position_is_reported_at_the_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """PyYAML may give a marked error with no mark and only a context: still a message, at 1:1."""
    def fail(*_: Any, **__: Any) -> None:
        raise yaml.MarkedYAMLError(context="while reading a thing")
    monkeypatch.setattr(yaml, "load", fail)
    with pytest.raises(YamlProblem) as caught:
        parse_yaml("a: 1\n")
    assert (caught.value.message, caught.value.line, caught.value.column) == (
        "malformed YAML: while reading a thing", 1, 1)


def test_every_mapping_key_list_and_item_keeps_its_position() -> None:
    """Later messages (schema, meaning) point at keys and items through exactly these positions."""
    document = parse_yaml(HEAD.replace("c: 3\n", "c:\n     d: 1\n     ee: 2\n") + "l:\n     - x\n     -   y\n")
    assert document == {"a": 1, "b": 2, "c": {"d": 1, "ee": 2}, "l": ["x", "y"]}
    assert isinstance(document, Located) and isinstance(document["l"], LocatedList)
    assert (document.line, document.column) == (1, 1)
    assert document.key_positions == {"a": (1, 1), "b": (2, 1), "c": (3, 1), "l": (6, 1)}
    assert (document["c"].line, document["c"].column) == (4, 6)
    assert document["c"].key_positions == {"d": (4, 6), "ee": (5, 6)}
    assert (document["l"].line, document["l"].column) == (7, 6)
    assert document["l"].item_positions == [(7, 8), (8, 10)]


def test_empty_mappings_and_lists_keep_their_position_too() -> None:
    """`{}` and `[]` still say where they stand, with no keys or items."""
    document = parse_yaml(HEAD + "m:   {}\nn:   []\n")
    assert (document["m"].line, document["m"].column, document["m"].key_positions) == (4, 6, {})
    assert (document["n"].line, document["n"].column, document["n"].item_positions) == (5, 6, [])


def test_a_mapping_or_list_built_in_code_claims_no_position() -> None:
    """0 means "no position" (conditions.parse passes it on); `position` then falls back to 1:1."""
    assert (Located().line, Located().column, LocatedList().line, LocatedList().column) == (0, 0, 0, 0)


@pytest.mark.parametrize(("written", "read"), [
    ("070", 70), ("0165", 165), ("-7", -7), ("+7", 7), ("7.5", 7.5), (".5", 0.5), ("7.", 7.0), ("7e1", 70.0),
    ("1:05", "1:05"), ("6_5", "6_5"), ("0x41", "0x41"), ("0o17", "0o17"), ("0b101", "0b101"), (".inf", ".inf"),
    ("1_000.5", "1_000.5"), ("1" * 21, "1" * 21), ("2020-01-02", "2020-01-02"),
])
def test_numbers_are_base_ten_as_people_write_them(written: str, read: object) -> None:
    """YAML 1.1 read 070 as octal 56, 1:05 as 65 (base 60), 6_5 as 65 and 0x41 as 65: here a number is
    decimal, and anything else stays text for the vocabulary to refuse by name."""
    value = parse_yaml(f"v: {written}\n")["v"]
    assert value == read and type(value) is type(read)


def test_only_true_and_false_are_booleans() -> None:
    """YAML 1.1 read `yes`, `on`, `off`, `y` and `No` as booleans; here they reach the vocabulary as words."""
    text = ("a: yes\nb: on\nc: TRUE\nd: False\ne: 12\nf: 1.5\ng: ~\nh: No\ni: off\nj: y\n"
            "k: true\nl: false\nm: True\nn: FALSE\no: 0x1f\np: '7'\n")
    assert parse_yaml(text) == {"a": "yes", "b": "on", "c": True, "d": False, "e": 12, "f": 1.5, "g": None,
                                "h": "No", "i": "off", "j": "y", "k": True, "l": False, "m": True, "n": False,
                                "o": "0x1f", "p": "7"}
    assert type(parse_yaml("x: 1\n")["x"]) is int and type(parse_yaml("x: true\n")["x"]) is bool


def test_plain_keys_of_every_scalar_type_are_accepted() -> None:
    """Numbers and booleans are plain values and may be keys (reference numbers, for instance)."""
    document = parse_yaml("1: a\n1.5: b\nfalse: c\nx: d\n")
    assert document == {1: "a", 1.5: "b", False: "c", "x": "d"}
    assert document.key_positions == {1: (1, 1), 1.5: (2, 1), False: (3, 1), "x": (4, 1)}


@pytest.mark.parametrize("text, expected", [("", None), ("# nothing\n", None), ("- 1\n- 2\n", [1, 2]), ("7\n", 7)])
def test_documents_that_are_not_mappings_are_returned_as_they_are(text: str, expected: Any) -> None:
    """An empty file is None and a list stays a list: the schema check names what is wrong."""
    assert parse_yaml(text) == expected


@pytest.mark.parametrize("data, line, column", [
    (b"a\nb\nc\nabcde\xff", 4, 6),
    (b"\xff", 1, 1),
    (b"abc\xe9", 1, 4),
    (b"\n\xff", 2, 1),  # the line break is the file's first byte
])
def test_bytes_that_are_not_utf8_are_refused_where_they_stand(data: bytes, line: int, column: int) -> None:
    """A Latin-1 `é` in a patient file is pointed at, not read as garbage."""
    with pytest.raises(YamlProblem) as caught:
        decode(data, "patient")
    assert (caught.value.message, caught.value.line, caught.value.column) == ("not UTF-8 text", line, column)


def test_utf8_text_is_decoded_whole() -> None:
    assert decode("a: é\n".encode(), "patient") == "a: é\n"


@pytest.mark.parametrize("what", ["patient", "knowledge base"])
def test_each_kind_of_file_may_be_exactly_as_large_as_its_own_limit(what: str) -> None:
    """A patient file may be 1,000,000 bytes and a knowledge-base file 2,000,000, not one byte more."""
    limit = MAX_BYTES[what]
    assert len(decode(b"#" * limit, what)) == limit
    with pytest.raises(YamlProblem) as caught:
        decode(b"#" * (limit + 1), what)
    assert (caught.value.message, caught.value.line, caught.value.column) == (
        f"larger than {limit:,} bytes, the most a {what} file may be", 1, 1)


def test_the_limits_themselves() -> None:
    assert MAX_BYTES == {"patient": 1_000_000, "knowledge base": 2_000_000}
    assert MAX_DEPTH == 50


@pytest.mark.parametrize("what", ["patient", "knowledge base"])
def test_reading_stops_one_byte_past_the_limit(what: str) -> None:
    """A huge input is refused without reading it all: one byte more than the limit is enough to know."""
    stream = io.BytesIO(b"#" * (MAX_BYTES[what] + 10))
    assert len(read_limited(stream, what)) == MAX_BYTES[what] + 1
    assert read_limited(io.BytesIO(b"abc"), what) == b"abc"


def test_read_yaml_reads_a_knowledge_base_file_unless_told_it_is_a_patient_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The default limit is the knowledge base's, the larger one (limits shrunk here to keep the test quick)."""
    monkeypatch.setitem(MAX_BYTES, "patient", 10)
    monkeypatch.setitem(MAX_BYTES, "knowledge base", 20)
    path = tmp_path / "big.yaml"
    path.write_bytes(b"a: 1\n# fifteen\n")
    assert read_yaml(path) == {"a": 1}
    with pytest.raises(YamlProblem, match=r"^larger than 10 bytes, the most a patient file may be$"):
        read_yaml(path, "patient")
    path.write_bytes(b"a: 1\n# sixteen bytes\n")
    with pytest.raises(YamlProblem, match=r"^larger than 20 bytes, the most a knowledge base file may be$"):
        read_yaml(path)


def test_read_yaml_passes_on_positions_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "kb.yaml"
    path.write_bytes(b"a: 1\nb:\n     c: 1\n     c: 2\n")
    with pytest.raises(YamlProblem) as caught:
        read_yaml(path)
    assert (caught.value.line, caught.value.column) == (4, 6)


DOCUMENT = "1:\n   a: b\nx:\n   a: b\nl:\n   - [a, b]\n   -    c\n"


@pytest.mark.parametrize("path, expected", [
    ([], (1, 1)),
    ([1], (2, 4)),            # a key that is not a name leads to its value when that is a mapping
    (["x"], (3, 1)),          # a name key points at the key itself
    (["x", "a"], (4, 4)),
    (["l", 0], (6, 6)),
    (["l", 0, 1], (6, 10)),
    (["l", 1], (7, 9)),
    (["l", 1, 0], (7, 9)),    # a step into a scalar stops at the scalar
    (["l", "0"], (5, 1)),     # a list is not indexed by a name
    (["l", 2], (5, 1)),       # one past the end: the list's key
    (["l", -1], (5, 1)),      # no counting from the end
    (["x", "a", "b"], (4, 4)),
])
def test_position_walks_keys_and_indexes_to_the_nearest_known_part(path: list[Any],
                                                                    expected: tuple[int, int]) -> None:
    """Schema messages point at the node a JSON path names, or the nearest part of it that exists."""
    assert position(parse_yaml(DOCUMENT), path) == expected


@pytest.mark.parametrize("document", [None, "text", {"a": 1}, Located(), LocatedList()])
def test_position_in_something_without_positions_is_1_1(document: Any) -> None:
    """An empty file or a hand-built mapping is reported at 1:1, never at 0:0 or 2:2."""
    assert position(document, ["a"]) == (1, 1)
    assert position(document, []) == (1, 1)


@pytest.mark.parametrize("text, message", [
    ("a: 1\nn: !!int x\n", "a tag (!!int) is not accepted; write the value plainly, or quote it"),
    ("a: 1\nn: !local 3\n", "a tag (!local) is not accepted; write the value plainly, or quote it"),
])
def test_a_tag_is_a_located_problem_not_a_crash(text: str, message: str) -> None:
    """!!int x made PyYAML raise a bare ValueError (a traceback); tags are refused where they stand."""
    with pytest.raises(YamlProblem) as caught:
        parse_yaml(text)
    assert (caught.value.message, caught.value.line, caught.value.column) == (message, 2, 4)


def test_a_date_is_text() -> None:
    """YAML 1.1 made 2020-13-45 a bare ValueError and 2020-12-05 a datetime.date; no fact is a date."""
    assert parse_yaml("onset: 2020-13-45\nother: 2020-12-05\n2020-01-01: y\n") == {
        "onset": "2020-13-45", "other": "2020-12-05", "2020-01-01": "y"}


# ---------------------------------------------------------------- Positions yamlio reports where a 0-based mark is odd, the ne
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


NESTED_DOCUMENT = "rule:\n  when: x\n  items:\n    - a\n    - {k: v}\n"


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
    assert position(parse_yaml(NESTED_DOCUMENT), path) == expected


@pytest.mark.parametrize("document", [None, "text", {"patient": 1}, Located(), LocatedList()])
def test_position_in_a_document_without_positions_is_the_start(document: Any) -> None:
    """An empty file, a bare scalar or a hand-built mapping is reported at 1:1, never at column 0 or 2."""
    assert position(document, ["patient"]) == (1, 1)


# ---------------------------------------------------------------- Every position yamlio reports, exactly: a message's file:lin
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
