"""YAML loading that keeps line numbers and refuses what could hurt or mislead.

PyYAML silently keeps the last of two equal keys and forgets where things were;
a knowledge engineer needs both to be told exactly what to fix. It also expands
anchors and aliases without limit (a 394-byte "alias bomb" took 345 MB), recurses
once per nesting level (100,000 levels is a RecursionError), and reads `yes`, `on`
and `off` as booleans (YAML 1.1). Here anchors and aliases are refused, nesting is
limited, files are size-checked before parsing, and only true/false are booleans
(the YAML 1.2 core schema): other spellings reach the vocabulary's own checks.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml


class Located(dict[Any, Any]):
    """A mapping that remembers where it and each of its keys stood (1-based)."""

    line: int = 0
    column: int = 0
    key_positions: dict[Any, tuple[int, int]]


class LocatedList(list[Any]):
    """A sequence that remembers where it and each of its items stood."""

    line: int = 0
    column: int = 0
    item_positions: list[tuple[int, int]]


class YamlProblem(Exception):
    """Malformed YAML, with its position."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


MAX_DEPTH = 50
"""Nesting deeper than this is refused (the knowledge base needs about 10)."""
MAX_BYTES = {"patient": 1_000_000, "knowledge base": 2_000_000}
"""The largest patient file and knowledge-base file read, in bytes."""


class _Loader(yaml.SafeLoader):
    """SafeLoader with YAML 1.2 booleans, dates as text, no anchors, aliases or tags, and limited nesting."""

    _depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        at = (event.start_mark.line + 1, event.start_mark.column + 1)
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise YamlProblem("anchors and aliases (&name, *name) are not accepted; write the values out", *at)
        if getattr(event, "tag", None) not in (None, "!"):  # !!int x raised a bare ValueError
            tag = event.tag.replace("tag:yaml.org,2002:", "!!", 1)
            raise YamlProblem(f"a tag ({tag}) is not accepted; write the value plainly, or quote it", *at)
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlProblem(f"nested more than {MAX_DEPTH} levels deep", *at)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {  # no YAML 1.1 booleans (yes, on), numbers (070, 1:05, 6_5, 0x41) or dates
    first: [(tag, regexp) for tag, regexp in resolvers
            if tag not in ("tag:yaml.org,2002:bool", "tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:int",
                           "tag:yaml.org,2002:float")]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
                              list("tTfF"))
MAX_DIGITS = 20
"""A number written with more digits is no measurement: it stays text, and the vocabulary refuses it by name."""
DECIMAL_INT = re.compile(rf"^[-+]?[0-9]{{1,{MAX_DIGITS}}}$")
DECIMAL_FLOAT = re.compile(rf"^[-+]?(?:[0-9]{{1,{MAX_DIGITS}}}\.[0-9]{{0,{MAX_DIGITS}}}|\.[0-9]{{1,{MAX_DIGITS}}})"
                           rf"(?:[eE][-+]?[0-9]{{1,3}})?$|^[-+]?[0-9]{{1,{MAX_DIGITS}}}[eE][-+]?[0-9]{{1,3}}$")
"""Numbers as people write them, in base 10 (the YAML 1.2 core schema without octal and hex): `070` is
seventy, not octal 56; `1:05` (base 60), `6_5` and `0x41` stay text and are refused as numbers."""
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", DECIMAL_INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", DECIMAL_FLOAT, list("-+0123456789."))
def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    return int(loader.construct_scalar(node), 10)  # base 10 always: 070 is seventy


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    return float(loader.construct_scalar(node))


_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> Located:
    loader.flatten_mapping(node)
    result = Located()
    result.line, result.column = node.start_mark.line + 1, node.start_mark.column + 1
    result.key_positions = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, (str, int, float, bool)) or key is None:
            raise YamlProblem("a mapping key must be a plain value",
                              key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        if key in result:
            first = result.key_positions[key][0]
            raise YamlProblem(f"duplicate key '{key}' (first given at line {first})",
                              key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_positions[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> LocatedList:
    result = LocatedList(loader.construct_object(child, deep=True) for child in node.value)
    result.line, result.column = node.start_mark.line + 1, node.start_mark.column + 1
    result.item_positions = [(c.start_mark.line + 1, c.start_mark.column + 1) for c in node.value]
    return result


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def parse_yaml(text: str) -> Any:
    """Parse YAML text; raise YamlProblem with a position on any defect."""
    nul = text.find("\0")
    if nul >= 0:
        line = text.count("\n", 0, nul) + 1
        raise YamlProblem("a NUL byte: this is not a text file", line, nul - (text.rfind("\n", 0, nul) + 1) + 1)
    try:
        return yaml.load(text, Loader=_Loader)
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(f"malformed YAML: {exc.problem or exc.context}", line, column) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"malformed YAML: {exc}", 1, 1) from None


def decode(data: bytes, what: str) -> str:
    """UTF-8 text within the size limit for `what` (a key of MAX_BYTES), or YamlProblem."""
    limit = MAX_BYTES[what]
    if len(data) > limit:
        raise YamlProblem(f"larger than {limit:,} bytes, the most a {what} file may be", 1, 1)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem("not UTF-8 text", line, column) from None


def read_limited(stream: Any, what: str) -> bytes:
    """At most one byte more than the limit, so that a huge input is refused without reading it all."""
    return bytes(stream.read(MAX_BYTES[what] + 1))


def read_yaml(path: Path, what: str = "knowledge base") -> Any:
    """Read and parse one YAML file (OSError and YamlProblem are the caller's to map)."""
    with path.open("rb") as stream:
        return parse_yaml(decode(read_limited(stream, what), what))


def position(document: Any, path: list[Any]) -> tuple[int, int]:
    """Best known (line, column) for the node at `path` inside a parsed document."""
    line, column = getattr(document, "line", 1) or 1, getattr(document, "column", 1) or 1
    node = document
    for step in path:
        if isinstance(node, Located) and step in node:
            line, column = node.key_positions[step]
            node = node[step]
        elif isinstance(node, LocatedList) and isinstance(step, int) and 0 <= step < len(node):
            line, column = node.item_positions[step]
            node = node[step]
        else:
            break
        if isinstance(node, (Located, LocatedList)) and not isinstance(step, str):
            line, column = node.line, node.column
    return line, column
