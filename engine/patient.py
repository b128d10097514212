"""Patient facts: from what a clinician typed to the vocabulary's exact values.

A fact that is absent or null stays unknown. Anything that does not fit the
vocabulary is refused with the field named and the allowed values listed;
nothing is coerced silently.
"""
from __future__ import annotations

import datetime as dt
import json
import re
import reprlib
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from . import conditions as cond
from .conditions import exact_number
from .errors import MAX_PROBLEMS, InputError
from .model import BOOLEANS, FactSpec, KnowledgeBase
from .suggestions import suggest
from .yamlio import YamlProblem, decode, parse_yaml, read_limited

if TYPE_CHECKING:  # the FHIR reader is imported when a FHIR document comes, not by every consultation
    from .fhir import FhirReading

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


@dataclass(frozen=True)
class PatientReading:
    """A patient as read: the normalized facts, what was read as what (a synonym, an alias, a unit), and
    the FHIR reading when the input was FHIR (the provenance every surface shows)."""

    facts: Facts
    read_as: list[str]
    fhir: FhirReading | None = None


def is_fhir(document: Mapping[str, Any]) -> bool:
    """A FHIR Bundle or a CDS Hooks request, told apart from a patient file by its keys."""
    return document.get("resourceType") == "Bundle" or ("hook" in document and "context" in document)


def read_input(kb: KnowledgeBase, document: Mapping[str, Any], as_of: dt.date | None = None, *,
               name: str = "the patient", may_be_empty: bool = False) -> PatientReading:
    """The one path from any patient document - plain facts (a file, a JSON line, a CSV row, a form), a
    FHIR Bundle or a CDS Hooks request - to facts. The CLI, batch and the service all read here, so a
    value means the same whatever brought it, and a patient with no known fact is refused the same way.

    FHIR that gives no fact is not refused: its reading says what it held and why nothing was used.
    `may_be_empty` is for a file completed by `--set` on the command line.
    """
    notes: list[str] = []
    reading = None
    if is_fhir(document):  # the FHIR reader is imported when FHIR comes, not by every consultation
        from .bindings import load_bindings
        from .fhir import read_fhir

        reading = read_fhir(load_bindings(kb), document, as_of)
    facts = normalize(kb, reading.facts if reading is not None else document, notes)
    if not facts and reading is None and not may_be_empty:
        raise InputError(f"{name} gives no known fact: every fact is empty or null (see `myoivig facts "
                         "--template`)", field="patient")
    return PatientReading(facts, notes, reading)


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
        if (bad := _not_text(given)) or (bad := _not_text(value)):
            problems.append(InputError(f"'{_clip(given.encode('utf-8', 'backslashreplace').decode())}': {bad}",
                                       field=_clip(given.encode("utf-8", "backslashreplace").decode())))
            continue
        name = fact_name(kb, given)
        if name in given_as:
            problems.append(InputError(f"'{given}' and '{given_as[name]}' both give '{name}'", field=name))
            continue
        given_as[name] = given
        if name != given and notes is not None:
            notes.append(f"{given} -> {name}")
        spec = kb.facts.get(name)
        if spec is None:
            # past the problems that are told, only the count matters: no did-you-mean for each
            hint = suggest(name, kb.facts) if len(problems) < MAX_PROBLEMS else None
            if name in kb.derived:
                problems.append(InputError(f"'{name}' is concluded by the rules and cannot be given", field=name))
            else:
                lookalike = confusables(name)
                if lookalike:
                    hint = suggest(fold_confusables(name), list(kb.facts) + list(kb.synonyms)) or hint
                problems.append(InputError(f"unknown fact '{_clip(name)}'{lookalike}", field=_clip(name),
                                           suggestion=hint, allowed=None if hint else "see `myoivig facts`"))
            continue
        if value is None:
            continue  # explicitly unknown
        try:
            facts[name] = normalize_value(spec, value, notes)
        except InputError as exc:
            problems.append(exc)
            continue
        if spec.type == "number" and notes is not None:
            _rounding_note(kb, spec, value, facts[name], notes)
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
        if _too_long(value):
            raise refuse(f"{_show(value)} is too long to be a measurement")
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
        read = exact_number(value)
        return int(read) if isinstance(read, float) and read.is_integer() else read  # 70, whether 70 or "70.0"
    if spec.type == "enum":
        return _enum(spec, value, refuse, notes)
    if isinstance(value, str) and spec.synonyms and "," in value:
        value = [part for part in value.split(",") if part.strip()]  # "prednisone, methotrexate"
    if not isinstance(value, list):
        raise refuse(f"{_show(value)} is not a list")
    return sorted({_enum(spec, item, refuse, notes) for item in value})


_AMOUNT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([a-zA-Z]+)\s*")
_DECIMAL = re.compile(r"^\s*[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?\s*$")
"""A number as text, in base 10 only: `70`, `70.5`, `7e1`; never `6_5`, `0x41`, `1:05` or `inf`."""
MAX_DIGITS = 20
"""More digits than this is no measurement (a pasted identifier, a runaway cell)."""


def _with_units(spec: FactSpec, text: str, refuse: Any) -> float:
    """`165 cm`, `1.65 m`, `154 lb`, `5 ft 5 in`: the sum of each amount in the fact's own unit."""
    amounts = _AMOUNT.findall(text)
    if not amounts or "".join(m.group(0) for m in _AMOUNT.finditer(text)) != text:
        raise refuse(f"{_show(text)} is not a number")
    total = 0.0
    previous: tuple[str, float] | None = None
    for amount, unit in amounts:
        factor = {u.lower(): f for u, f in spec.units.items()}.get(unit.lower())
        if factor is None:
            raise InputError(f"fact '{spec.name}': unknown unit '{_clip(unit)}' in {_show(text)}", field=spec.name,
                             allowed=f"a number in {', '.join(spec.units)}")
        # `5 ft 5 in` and `1 m 65 cm` add up; `70 kg 154 lb` is two values, not one
        if previous is not None and not float(amount) * factor < previous[1]:
            raise InputError(f"fact '{spec.name}': {_show(text)} gives two values ('{previous[0]}' and "
                             f"'{amount} {unit}'); give one", field=spec.name,
                             allowed=f"one amount in {', '.join(spec.units)}, or a larger unit then a smaller one "
                                     "(5 ft 5 in)")
        previous = (f"{amount} {unit}", factor)
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
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 66:
        return f"a number of about {int(value.bit_length() * 0.30103) + 1} digits"
    return _SHORT.repr(value)


CONFUSABLE = {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ѕ": "s",
              "ј": "j", "ԁ": "d", "ɡ": "g", "ο": "o", "α": "a", "ν": "v", "ι": "i", "κ": "k", "ρ": "p", "τ": "t"}
"""Letters of other scripts that look like Latin ones (Cyrillic, Greek): a name that holds one is named."""


def confusables(name: str) -> str:
    """` (it holds U+0430 CYRILLIC SMALL LETTER A, not a Latin letter)`, or nothing for a plain name."""
    import unicodedata

    found = dict.fromkeys(char for char in name if ord(char) > 127)
    if not found:
        return ""
    said = ", ".join(f"U+{ord(char):04X} {unicodedata.name(char, 'UNNAMED')}" for char in list(found)[:3])
    return f" (it holds {said}, which is not a Latin letter)"


def fold_confusables(name: str) -> str:
    return "".join(CONFUSABLE.get(char, char) for char in name)


def _not_text(value: Any) -> str | None:
    """Why a name or value is not text (a lone UTF-16 surrogate, from JSON's `\\ud800`), or None."""
    items = value if isinstance(value, list) else [value]
    for item in items:
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "holds a lone surrogate (\\ud800-\\udfff), which is not text"
    return None


def _rounding_note(kb: KnowledgeBase, spec: FactSpec, given: Any, read: float, notes: list[str]) -> None:
    """Numbers are read to 2 decimal places; say so when it changed the value, and loudly when the change
    crosses a threshold a rule tests (17.996 years is read as 18: adult)."""
    number = _number(given) if isinstance(given, str) else given
    if not isinstance(number, (int, float)) or isinstance(number, bool) or number == read:
        return
    crossed = sorted({test.value for rule in kb.rules for test in cond.tests(rule.when)
                      if test.fact == spec.name and test.op in cond.COMPARISONS
                      and min(number, read) <= test.value <= max(number, read) and test.value != number})
    note = f"{spec.name}: {number} -> {read:g} (read to 2 decimal places)"
    if crossed:
        note += f"; this reaches the threshold {', '.join(f'{t:g}' for t in crossed)} a rule tests: check the value"
    notes.append(note)


def _clip(text: str, limit: int = 40) -> str:
    return text if len(text) <= limit else text[:limit] + "..."


def _too_long(value: Any) -> bool:
    """More digits than any measurement has: refused by name before any arithmetic (or a traceback) on it."""
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value.bit_length() > 66  # about 20 decimal digits, counted without writing them out
    significant = re.sub(r"^[\s+-]*0*", "", value[:10_000]) if isinstance(value, str) else ""
    return sum(char.isdigit() for char in significant) > MAX_DIGITS


def _number(value: Any) -> float | None:
    """A number, or a string that writes one in base 10 (`70`, `70.5`, `7e1`); never a boolean, NaN or infinity."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if len(value) > 40 or not _DECIMAL.match(value):
            return None
        value = float(value.strip())
    if isinstance(value, (int, float)) and value == value and value not in (float("inf"), float("-inf")):
        return value
    return None
