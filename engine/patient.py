"""Patient facts: from what a clinician typed to the vocabulary's exact values.

A fact that is absent or null stays unknown. Anything that does not fit the
vocabulary is refused with the field named and the allowed values listed;
nothing is coerced silently.
"""
from __future__ import annotations

import json
import re
import reprlib
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, BinaryIO

from .conditions import exact_number
from .errors import InputError
from .model import BOOLEANS, FactSpec, KnowledgeBase
from .suggestions import suggest
from .yamlio import YamlProblem, decode, parse_yaml, read_limited

Facts = dict[str, Any]


def read_patient(source: str | Path, stdin: BinaryIO | None = None) -> dict[str, Any]:
    """Read a patient from a YAML or JSON file, or from standard input for "-".

    A case file (a mapping with `patient:` and `expect:`) is read as its patient.
    An empty file is refused: advice with every fact unknown is not what anyone asked for.
    """
    name = "standard input" if str(source) == "-" else str(source)
    try:
        if str(source) == "-":
            data = read_limited(stdin if stdin is not None else sys.stdin.buffer, "patient")
        else:
            with Path(source).open("rb") as stream:
                data = read_limited(stream, "patient")
        document = parse_yaml(decode(data, "patient"))  # JSON is YAML, so one parser reads both
    except OSError as exc:
        raise InputError(f"cannot read the patient file {name}: {exc.strerror or exc}",
                         field="patient file") from None
    except YamlProblem as exc:
        raise InputError(f"{name}:{exc.line}:{exc.column}: {exc.message}", field="patient file") from None
    if document is None or document == {}:
        raise InputError(f"{name} holds no facts: give at least one (see `myoivig facts`)", field="patient file")
    if isinstance(document, Mapping) and isinstance(document.get("patient"), Mapping) and "expect" in document:
        document = document["patient"]
    if not isinstance(document, Mapping):
        raise InputError(f"{name}: a patient is a mapping of fact names to values",
                         field="patient file")
    return dict(document)


def parse_assignment(text: str) -> tuple[str, Any]:
    """`name=value` from the command line; the value is read as YAML (true, 12, [a, b])."""
    name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise InputError(f"'{text}' is not of the form name=value", field="assignment")
    try:
        parsed = parse_yaml(value) if value.strip() else None
    except YamlProblem:
        parsed = value
    return name, parsed


def normalize(kb: KnowledgeBase, raw: Mapping[str, Any], notes: list[str] | None = None) -> Facts:
    """Check every given fact against the vocabulary; return only known, exact values.

    Every problem is collected, so a patient file with five mistakes gets five messages.
    Synonyms (`age`), value aliases (`prednisone`) and units (`165 cm`, `5 ft 5 in`) are read
    as the vocabulary declares them, and each one applied is told in `notes`.
    """
    facts: Facts = {}
    problems: list[InputError] = []
    given_as: dict[str, str] = {}
    for given, value in raw.items():
        given = str(given)
        name = fact_name(kb, given)
        if name in given_as:
            problems.append(InputError(f"'{given}' and '{given_as[name]}' both give '{name}'", field=name))
            continue
        given_as[name] = given
        if name != given and notes is not None:
            notes.append(f"{given} -> {name}")
        spec = kb.facts.get(name)
        if spec is None:
            hint = suggest(name, kb.facts)
            if name in kb.derived:
                problems.append(InputError(f"'{name}' is concluded by the rules and cannot be given", field=name))
            else:
                problems.append(InputError(f"unknown fact '{_clip(name)}'", field=name, suggestion=hint,
                                           allowed=None if hint else "see `myoivig facts`"))
            continue
        if value is None:
            continue  # explicitly unknown
        try:
            facts[name] = normalize_value(spec, value, notes)
        except InputError as exc:
            problems.append(exc)
    if problems:
        raise InputError.of(problems)
    return facts


def fact_name(kb: KnowledgeBase, given: str) -> str:
    """The vocabulary's name for what a clinician wrote (`age` -> `age_years`); unknown names stay as written."""
    return given if given in kb.facts else kb.synonyms.get(given.strip().lower(), given)


def normalize_value(spec: FactSpec, value: Any, notes: list[str] | None = None) -> Any:
    """One value, checked against its fact's type, values and plausible range."""
    def refuse(what: str, suggestion: str | None = None) -> InputError:
        return InputError(f"fact '{spec.name}': {what}", field=spec.name,
                          allowed=spec.allowed(), suggestion=suggestion)

    if spec.type == "bool":
        if isinstance(value, str) and value.strip().lower() in BOOLEANS:
            return BOOLEANS[value.strip().lower()]
        if not isinstance(value, bool):
            raise refuse(f"{_show(value)} is not true or false")
        return value
    if spec.type == "number":
        number = _number(value)
        if number is None and isinstance(value, str) and spec.units:
            number = _with_units(spec, value, refuse)
            if notes is not None:
                notes.append(f"{spec.name}: {value.strip()} -> {exact_number(number):g} {spec.unit}")
        if number is None:
            raise refuse(f"{_show(value)} is not a number")
        value = number
        low, high = spec.range or (float("-inf"), float("inf"))
        if not low <= value <= high:
            raise refuse(f"{value:g} {spec.unit or ''} is implausible".replace("  ", " "))
        return exact_number(value)
    if spec.type == "enum":
        return _enum(spec, value, refuse, notes)
    if isinstance(value, str) and spec.synonyms and "," in value:
        value = [part for part in value.split(",") if part.strip()]  # "prednisone, methotrexate"
    if not isinstance(value, list):
        raise refuse(f"{_show(value)} is not a list")
    return sorted({_enum(spec, item, refuse, notes) for item in value})


_AMOUNT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]+)\s*")


def _with_units(spec: FactSpec, text: str, refuse: Any) -> float:
    """`165 cm`, `1.65 m`, `154 lb`, `5 ft 5 in`: the sum of each amount in the fact's own unit."""
    amounts = _AMOUNT.findall(text)
    if not amounts or "".join(m.group(0) for m in _AMOUNT.finditer(text)) != text:
        raise refuse(f"{_show(text)} is not a number")
    total = 0.0
    for amount, unit in amounts:
        factor = {u.lower(): f for u, f in spec.units.items()}.get(unit.lower())
        if factor is None:
            raise InputError(f"fact '{spec.name}': unknown unit '{_clip(unit)}' in {_show(text)}", field=spec.name,
                             allowed=f"a number in {', '.join(spec.units)}")
        total += float(amount) * factor
    return total


def _enum(spec: FactSpec, value: Any, refuse: Any, notes: list[str] | None = None) -> str:
    if not isinstance(value, str):
        raise refuse(f"{_show(value)} is not one of the allowed values")
    folded = value.strip().lower()
    for allowed in spec.values:
        if folded == allowed.lower():
            return allowed
    for alias, target in spec.aliases.items():
        if folded == alias.lower():
            if notes is not None:
                notes.append(f"{spec.name}: {value.strip()} -> {target}")
            return target
    raise refuse(f"'{value}' is not allowed", suggest(folded, list(spec.values) + list(spec.aliases)))


_SHORT = reprlib.Repr()
_SHORT.maxlevel, _SHORT.maxlist, _SHORT.maxdict, _SHORT.maxstring, _SHORT.maxother = 2, 4, 4, 40, 40


def _show(value: Any) -> str:
    """A rejected value, bounded in length and depth: the message never echoes a huge input."""
    if isinstance(value, str):
        return json.dumps(_clip(value))
    return _SHORT.repr(value)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _number(value: Any) -> float | None:
    """A number, or a string that writes one (`70`, `70.5`, `7e1`); never a boolean, NaN or infinity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value.strip()) if len(value) <= 40 else None
        except ValueError:
            return None
    if isinstance(value, (int, float)) and value == value and value not in (float("inf"), float("-inf")):
        return value
    return None
