"""Patient facts: from what a clinician typed to the vocabulary's exact values.

A fact that is absent or null stays unknown. Anything that does not fit the
vocabulary is refused with the field named and the allowed values listed;
nothing is coerced silently.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, TextIO
from collections.abc import Mapping

import yaml

from .errors import InputError
from .conditions import exact_number
from .loader import suggest
from .model import FactSpec, KnowledgeBase
from .yamlio import YamlProblem, parse_yaml

Facts = dict[str, Any]


def read_patient(source: str | Path, stdin: TextIO | None = None) -> dict[str, Any]:
    """Read a patient from a YAML or JSON file, or from standard input for "-".

    A case file (a mapping with `patient:` and `expect:`) is read as its patient.
    """
    name = "standard input" if str(source) == "-" else str(source)
    try:
        if str(source) == "-":
            if stdin is None:
                import sys
                stdin = sys.stdin
            text = stdin.read()
        else:
            text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot read the patient file {name}: {exc.strerror or exc}",
                         field="PATIENT") from None
    except UnicodeDecodeError:
        raise InputError(f"the patient file {name} is not UTF-8 text", field="PATIENT") from None
    try:
        data = parse_yaml(text)  # JSON is YAML, so one parser reads both
    except YamlProblem as exc:
        raise InputError(f"{name}:{exc.line}:{exc.column}: {exc.message}", field="PATIENT") from None
    if data is None:
        data = {}
    if isinstance(data, Mapping) and isinstance(data.get("patient"), Mapping) and "expect" in data:
        data = data["patient"]
    if not isinstance(data, Mapping):
        raise InputError(f"{name}: a patient is a mapping of fact names to values",
                         field="PATIENT")
    return dict(data)


def parse_assignment(text: str) -> tuple[str, Any]:
    """`name=value` from the command line; the value is read as YAML (true, 12, [a, b])."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InputError(f"'{text}' is not of the form name=value", field="--set")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        parsed = value
    return name, parsed


def normalize(kb: KnowledgeBase, raw: Mapping[str, Any]) -> Facts:
    """Check every given fact against the vocabulary; return only known, exact values."""
    facts: Facts = {}
    for name, value in raw.items():
        name = str(name)
        spec = kb.facts.get(name)
        if spec is None:
            hint = suggest(name, kb.facts)
            if name in kb.derived:
                raise InputError(f"'{name}' is concluded by the rules and cannot be given", field=name)
            raise InputError(f"unknown fact '{name}'", field=name, suggestion=hint,
                             allowed=None if hint else "see `myoivig facts`")
        if value is None:
            continue  # explicitly unknown
        facts[name] = normalize_value(spec, value)
    return facts


def normalize_value(spec: FactSpec, value: Any) -> Any:
    """One value, checked against its fact's type, values and plausible range."""
    def refuse(what: str, suggestion: str | None = None) -> InputError:
        return InputError(f"fact '{spec.name}': {what}", field=spec.name,
                          allowed=spec.allowed(), suggestion=suggestion)

    if spec.type == "bool":
        if not isinstance(value, bool):
            raise refuse(f"{_show(value)} is not true or false")
        return value
    if spec.type == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value:
            raise refuse(f"{_show(value)} is not a number")
        low, high = spec.range or (float("-inf"), float("inf"))
        if not low <= value <= high:
            raise refuse(f"{value:g} {spec.unit or ''} is implausible".replace("  ", " "))
        return exact_number(value)
    if spec.type == "enum":
        return _enum(spec, value, refuse)
    if not isinstance(value, list):
        raise refuse(f"{_show(value)} is not a list")
    return sorted({_enum(spec, item, refuse) for item in value})


def _enum(spec: FactSpec, value: Any, refuse: Any) -> str:
    if not isinstance(value, str):
        raise refuse(f"{_show(value)} is not one of the allowed values")
    folded = value.strip().lower()
    for allowed in spec.values:
        if folded == allowed.lower():
            return allowed
    for alias, target in spec.aliases.items():
        if folded == alias.lower():
            return target
    raise refuse(f"'{value}' is not allowed", suggest(folded, list(spec.values) + list(spec.aliases)))


def _show(value: Any) -> str:
    return json.dumps(value) if isinstance(value, (str, list, dict)) else repr(value)
