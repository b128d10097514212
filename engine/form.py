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


@cache
def schema() -> dict[str, Any]:
    """The published schema of knowledge-base files, read once."""
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def schema_kinds() -> list[str]:
    """The conclusion kinds the published schema allows (a test holds them to model.KINDS)."""
    return list(schema()["$defs"]["rule"]["properties"]["conclude"]["properties"]["kind"]["enum"])


def schema_problems(document: Any, definition: str, file: str) -> list[Problem]:
    """Check one parsed YAML document against a definition of the schema."""
    import jsonschema  # here, not at the top: a knowledge base read from the cache needs no schema check

    root = dict(schema())
    root["$ref"] = f"#/$defs/{definition}"
    validator = jsonschema.Draft202012Validator(root)
    problems = []
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
        line, column = position(document, at)
        node = _at(document, path)
        keys = getattr(node, "key_positions", {})
        if isinstance(best.instance, str) and best.instance in keys:
            line, column = keys[best.instance]  # a bad key: point at the key itself
        where = "/".join(map(str, path)) or "(top level)"
        problems.append(Problem(file, line, column, f"{where}: {message}", rule=_rule_id_at(document, path),
                                hint=hint))
    return problems


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
