"""The form of knowledge-base files: the published JSON Schema, and problems located for an editor."""
from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from .errors import Problem
from .suggestions import did_you_mean
from .yamlio import position

SCHEMA_PATH = Path(__file__).parent / "schema" / "knowledge_base.schema.json"
NAME_PATTERN = "^[a-z][a-z0-9_]*$"
"""The form of fact names, in the schema; said in words when a name breaks it."""


@cache
def schema() -> dict[str, Any]:
    """The published schema of knowledge-base files, read once."""
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def schema_kinds() -> list[str]:
    """The conclusion kinds the published schema allows (a test holds them to model.KINDS)."""
    return list(schema()["$defs"]["rule"]["properties"]["conclude"]["properties"]["kind"]["enum"])


def schema_problems(document: Any, definition: str, file: str) -> list[Problem]:
    """Check one parsed YAML document against a definition of the schema."""
    return [problem for problem, _path in schema_findings(document, definition, file)]


def schema_findings(document: Any, definition: str, file: str) -> list[tuple[Problem, list[Any]]]:
    """Each problem with the path of the element it is in (which rule, which fact)."""
    import jsonschema  # here, not at the top: a knowledge base read from the cache needs no schema check

    root = dict(schema())
    root["$ref"] = f"#/$defs/{definition}"
    validator = jsonschema.Draft202012Validator(root)
    problems: list[tuple[Problem, list[Any]]] = []
    for error in sorted(validator.iter_errors(document), key=lambda e: list(map(str, e.absolute_path))):
        best = jsonschema.exceptions.best_match([error])
        path, message = list(best.absolute_path), best.message
        at = path  # where the editor should look: the path, or a key or item inside it
        hint = "see engine/schema/knowledge_base.schema.json"
        if best.validator == "uniqueItems":  # point at the repeat, not at a list that may span lines
            again = next(i for i, item in enumerate(best.instance) if item in best.instance[:i])
            path = at = [*path, again]
            message = f"{best.instance[again]!r} is given twice"
        elif best.validator == "additionalProperties" and isinstance(best.instance, dict):
            known = best.schema.get("properties", {})
            extra = next((key for key in best.instance if key not in known), None)
            if extra is not None:  # point at the stray key, not at the mapping that holds it
                message = f"'{extra}' is not a field here; allowed: {', '.join(known)}"
                hint, at = did_you_mean(str(extra), known) or hint, [*path, extra]
        elif best.validator == "enum":
            allowed = [str(v) for v in best.validator_value]
            message = f"{_short(best.instance)} is not allowed here; allowed: {', '.join(allowed)}"
            hint = did_you_mean(str(best.instance), allowed) or hint
        elif best.validator == "required":
            missing = best.message.split("'")[1] if best.message.count("'") >= 2 else "a field"
            message = f"'{missing}' is missing (needed here: {', '.join(best.validator_value)})"
        elif best.validator == "type":
            message = f"{best.instance!r} is not {_TYPE_WORDS.get(str(best.validator_value), best.validator_value)}"
        elif best.validator == "pattern" and best.validator_value == NAME_PATTERN:
            message = f"{_short(best.instance)} is not a name here: lowercase letters, digits and '_', starting " \
                      "with a letter"
        elif best.validator == "anyOf" and all(set(option) == {"required"} for option in best.validator_value):
            choices = [name for option in best.validator_value for name in option["required"]]
            message = f"needs {' or '.join(repr(c) for c in choices)} (at least one)"
        elif best.validator in ("minLength", "maxLength"):
            size = "at least" if best.validator == "minLength" else "at most"
            message = f"{_short(best.instance)} is too {'short' if size == 'at least' else 'long'} ({size} " \
                      f"{best.validator_value} characters)"
        line, column = position(document, at)
        node = _at(document, path)
        keys = getattr(node, "key_positions", {})
        if isinstance(best.instance, str) and best.instance in keys:
            line, column = keys[best.instance]  # a bad key: point at the key itself
        rule = _rule_id_at(document, path)
        # in a rule, the rule's id is shown beside the message: its field path is enough
        shown = path[2:] if rule is not None else path
        where = _path_words(shown) or ("" if rule is not None else "(top level)")
        text = f"{where}: {message}" if where else message
        problems.append((Problem(file, line, column, text, rule=rule, hint=hint),
                         list(best.absolute_path)))
    return problems


def _path_words(path: list[Any]) -> str:
    """`conclude.kind`, `values[0]`: a place in the file as its author would name it."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else f".{step}" if text else str(step)
    return text


_TYPE_WORDS = {"string": "text", "object": "a mapping (name: value lines)", "array": "a list", "number": "a number",
               "integer": "a whole number", "boolean": "true or false"}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def broken_items(findings: list[tuple[Problem, list[Any]]], key: str) -> set[Any] | None:
    """The items of the document's `key` (rules by index, facts by name) that have schema problems, so
    the rest can still be checked for meaning in the same run; None when a problem lies outside them."""
    items: set[Any] = set()
    for _problem, path in findings:
        if len(path) < 2 or path[0] != key:
            return None
        items.add(path[1])
    return items


def _at(document: Any, path: list[Any]) -> Any:
    node = document
    for step in path:
        try:
            node = node[step]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _rule_id_at(document: Any, path: list[Any]) -> str | None:
    if len(path) >= 2 and path[0] == "rules" and isinstance(path[1], int):
        try:
            rule_id = document["rules"][path[1]].get("id")
            return rule_id if isinstance(rule_id, str) else None
        except (KeyError, IndexError, AttributeError, TypeError):
            return None
    return None
