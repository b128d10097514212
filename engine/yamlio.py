"""YAML loading that keeps line numbers and refuses duplicate keys.

PyYAML silently keeps the last of two equal keys and forgets where things were;
a knowledge engineer needs both to be told exactly what to fix.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml


class Located(dict):
    """A mapping that remembers where it and each of its keys stood (1-based)."""

    line: int = 0
    column: int = 0
    key_positions: dict[Any, tuple[int, int]]


class LocatedList(list):
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


class _Loader(yaml.SafeLoader):
    pass


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
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader derives from SafeLoader
    except YamlProblem:
        raise
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlProblem(f"malformed YAML: {exc.problem or exc.context}", line, column) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"malformed YAML: {exc}", 1, 1) from None


def read_yaml(path: Path) -> Any:
    """Read and parse one YAML file (OSError and YamlProblem are the caller's to map)."""
    return parse_yaml(path.read_text(encoding="utf-8"))


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
