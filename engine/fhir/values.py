"""Reading FHIR values: codings, dates, numbers, and whom a resource names."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from ..bindings import Bindings


def _described(reactions: list[Any], words: list[str]) -> bool:
    """A reaction's own description names one of `words` (anaphylaxis written out, not coded)."""
    return any(word in str(r.description or "").lower() for r in reactions for word in words)


def _subject_name(resource: Any) -> str | None:
    """Who a resource says it is about: its subject's (or `patient`'s) reference, or identifier."""
    subject = getattr(resource, "subject", None) or getattr(resource, "patient", None)
    if subject is None:
        return None
    if getattr(subject, "reference", None) is not None:
        return str(subject.reference)
    identifier = getattr(subject, "identifier", None)
    if identifier is not None and identifier.value is not None:
        return _identifier_name(identifier)
    return None


def _identifier_name(identifier: Any) -> str:
    return f"identifier {identifier.system or ''}|{identifier.value}"


def _type(resource: Any) -> str:
    if isinstance(resource, Mapping):
        return str(resource.get("resourceType"))
    return str(resource.get_resource_type())


def _id(resource: Any) -> str:
    value = resource.get("id") if isinstance(resource, Mapping) else resource.id
    return str(value) if value else "(no id)"


def _codings(concept: Any) -> list[tuple[str, str]]:
    if concept is None:
        return []
    return [(str(c.system), str(c.code)) for c in concept.coding or [] if c.system and c.code]


def _codes_text(bindings: Bindings, concept: Any) -> str:
    codes = [bindings.code_display(*key) for key in _codings(concept)]
    if codes:
        return ", ".join(codes)
    return f"'{concept.text}' (no coding)" if concept is not None and concept.text else "a resource with no code"


def _status(concept: Any) -> str | None:
    codes = _codings(concept)
    return codes[0][1] if codes else None


def _date(text: str) -> dt.date:
    return dt.date.fromisoformat(text[:10])


def _day(value: Any) -> dt.date | None:
    """The day of a FHIR date or dateTime; None for a partial date (YYYY or YYYY-MM), which names no day."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return _date(str(value))
    except ValueError:
        return None


def _date_text(value: Any) -> str | None:
    """A date as its day (`2026-01-05`), a time as its UTC instant (`2026-01-05T07:00:00Z`): values of one
    fact are ordered by this text, so two weights of one day are told apart by their times."""
    if value is None:
        return None
    if isinstance(value, dt.datetime) and value.tzinfo is not None:  # midnight with an offset is an instant too
        return value.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    day = _day(value)
    return day.isoformat() if day is not None else str(value)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)


def _shown(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
