"""What a FHIR document holds: a Bundle or a CDS Hooks prefetch, opened into the current copy of
each resource (versions, deletions, contained), and checked against the R4 models."""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from .records import Unmapped


@dataclass(frozen=True)
class _Input:
    """The resources of an input, the patient it names, the patient's fullUrls, and what could not be read."""

    resources: list[dict[str, Any]]
    patient_id: str | None
    patient_urls: frozenset[tuple[str | None, str]]  # (the Patient's id, its entry's fullUrl)
    skipped: tuple[Unmapped, ...]
    notes: tuple[str, ...] = ()  # copies of one resource that could not be told apart


@dataclass(frozen=True)
class _Copy:
    """One entry's resource, where it stands, and its place in a history Bundle (0 = the newest)."""

    resource: Mapping[str, Any] | None  # None: a deletion in a history Bundle
    key: str | None  # "Condition/c1"; None when the resource has no id
    history: int | None = None


def resources_of(document: Mapping[str, Any]) -> _Input:
    """The resources of a Bundle, or of a CDS Hooks request's prefetch (its Bundles opened); of several
    copies of one resource, only the current one (see `current_copies`)."""
    found: list[_Copy] = []
    urls: set[tuple[str | None, str]] = set()
    skipped: list[Unmapped] = []

    def bundle(value: Mapping[str, Any], where: str) -> None:
        validate_shell(value, where)
        entries = value.get("entry") or []
        history = value.get("type") == "history"
        for index, entry in enumerate(entries):
            resource = entry.get("resource") if isinstance(entry, Mapping) else None
            if not isinstance(resource, Mapping):
                deleted = _deleted(entry) if history else None
                if deleted is not None:
                    found.append(_Copy(None, deleted, index))
                else:
                    skipped.append(Unmapped(f"{where}entry[{index}]", "an entry without a resource"))
                continue
            rid = resource.get("id")
            key = f"{resource.get('resourceType')}/{rid}" if isinstance(rid, str) and rid else None
            found.append(_Copy(resource, key, index if history else None))
            if resource.get("resourceType") == "Patient" and isinstance(entry.get("fullUrl"), str):
                urls.add((resource.get("id"), entry["fullUrl"]))

    if document.get("resourceType") == "Bundle":
        bundle(document, "")
        resources, older, notes = current_copies(found)
        return _Input(resources, None, frozenset(urls), tuple(skipped + older), tuple(notes))
    context = document.get("context")
    patient_id = context.get("patientId") if isinstance(context, Mapping) else None
    prefetch = document.get("prefetch", {}) if document.get("prefetch") is not None else {}
    if not isinstance(prefetch, Mapping):
        raise InputError("prefetch is an object of prefetch keys to FHIR resources", field="prefetch")
    for key, value in prefetch.items():
        if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
            bundle(value, f"prefetch.{key}.")
        elif isinstance(value, Mapping) and value.get("resourceType"):
            rid = value.get("id")
            found.append(_Copy(value, f"{value['resourceType']}/{rid}" if isinstance(rid, str) and rid else None))
        elif value is not None:
            skipped.append(Unmapped(f"prefetch.{key}", "not a FHIR resource"))
    resources, older, notes = current_copies(found)
    return _Input(resources, str(patient_id) if patient_id is not None else None, frozenset(urls),
                  tuple(skipped + older), tuple(notes))


def current_copies(copies: list[_Copy]) -> tuple[list[dict[str, Any]], list[Unmapped], list[str]]:
    """One copy of each resource: in a history Bundle the newest entry (a deletion reads nothing); else
    the highest meta.versionId, or the latest meta.lastUpdated; identical copies are read once. Copies
    that differ with nothing to tell which is current are not read, with a note."""
    groups: dict[str, list[_Copy]] = {}
    for copy in copies:
        if copy.key is not None:
            groups.setdefault(copy.key, []).append(copy)
    chosen: dict[str, _Copy | None] = {}
    older: list[Unmapped] = []
    notes: list[str] = []
    for key, group in groups.items():
        if len(group) == 1:
            chosen[key] = group[0]
            continue
        in_history = [c for c in group if c.history is not None]
        current: _Copy | None
        if in_history:  # versionId first; else the history Bundle's order (newest first)
            kept = [c for c in group if c.resource is not None]
            current = _latest(kept) if len(kept) > 1 else (kept[0] if kept else None)
            newest = min(in_history, key=lambda c: c.history or 0)
            if current is None or (newest.resource is None and (current.history is None
                                                                or (newest.history or 0) < current.history)):
                current = newest
            why = "deleted, as the history Bundle's newest entry says" if current.resource is None else \
                f"an older version; {_version_name(current)} is read"
        else:
            current = _latest(group)
            if current is None and len({_canonical(c.resource) for c in group}) == 1:
                current, why = group[0], "an identical copy: read once"
            elif current is None:
                notes.append(f"{key} appears {len(group)} times with different content and neither meta.versionId "
                             "nor meta.lastUpdated tells which is current: none is read")
                chosen[key] = None
                continue
            else:
                why = f"an older version; {_version_name(current)} is read"
        chosen[key] = current
        older += [Unmapped(f"{key} ({_version_name(c)})", why) for c in group if c is not current]
    resources: list[dict[str, Any]] = []
    for copy in copies:
        if copy.resource is None:
            continue
        if copy.key is None or (chosen.get(copy.key) is copy):
            resources.append(dict(copy.resource))
    return resources, older, notes


def _latest(group: list[_Copy]) -> _Copy | None:
    """The copy with the highest versionId (numbers compared as numbers), else the latest lastUpdated; None
    when they do not all say one, or two say the same."""
    versions = [_version_id(c) for c in group]  # versionId is opaque: only numbers are ordered
    if all(v is not None for v in versions) and len(set(versions)) == len(versions):
        return group[versions.index(max(v for v in versions if v is not None))]
    times = [_last_updated(c) for c in group]
    if all(t is not None for t in times) and len(set(times)) == len(times):
        return group[times.index(max(t for t in times if t is not None))]
    return None


def _version_id(copy: _Copy) -> int | None:
    """A numeric versionId (servers count 1, 2, 3); an opaque one orders nothing, so it is None."""
    meta = (copy.resource or {}).get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    if not isinstance(version, str) or not (version.isascii() and version.isdigit()):
        return None
    return int(version)


def _last_updated(copy: _Copy) -> dt.datetime | None:
    meta = (copy.resource or {}).get("meta")
    when = meta.get("lastUpdated") if isinstance(meta, Mapping) else None
    try:
        instant = dt.datetime.fromisoformat(str(when).replace("Z", "+00:00"))
    except ValueError:
        return None
    return instant if instant.tzinfo else instant.replace(tzinfo=dt.timezone.utc)


def _version_name(copy: _Copy) -> str:
    meta = (copy.resource or {}).get("meta")
    version = meta.get("versionId") if isinstance(meta, Mapping) else None
    if version:
        return f"version {version}"
    return f"history entry {copy.history}" if copy.history is not None else "a copy"


def _canonical(resource: Mapping[str, Any] | None) -> str:
    return json.dumps(resource, sort_keys=True, default=str)


def _deleted(entry: Any) -> str | None:
    """`Condition/c1` for a history entry that records a deletion, else None."""
    if not isinstance(entry, Mapping):
        return None
    request = entry.get("request")
    if not isinstance(request, Mapping) or request.get("method") != "DELETE":
        return None
    url = str(request.get("url") or entry.get("fullUrl") or "").split("/_history/")[0].rstrip("/")
    parts = url.split("/")
    return "/".join(parts[-2:]) if len(parts) >= 2 and parts[-1] else None


def validate_shell(bundle: Mapping[str, Any], where: str = "") -> None:
    """The Bundle itself (type, timestamp, entry as a list) is valid R4, or the input is refused."""
    from fhir.resources.R4B.bundle import Bundle
    from pydantic import ValidationError

    entries = bundle.get("entry")
    if entries is not None and not isinstance(entries, list):
        raise InputError(f"{where}entry is a list of entries", field=f"{where}entry")
    try:
        Bundle.model_validate({key: value for key, value in bundle.items() if key != "entry"})
    except ValidationError as exc:
        path, message = first_problem(exc)
        raise InputError(f"{where}{path}: the Bundle is not valid FHIR R4: {message}",
                         field=f"{where}{path}") from None


def first_problem(exc: Any) -> tuple[str, str]:
    """The element path and message of pydantic's first error: the one a user fixes first."""
    first = exc.errors()[0]
    return ".".join(str(p) for p in first["loc"]), str(first["msg"])


def validate_resources(resources: Iterable[Mapping[str, Any]], where: str = "entry") -> list[Any]:
    """Each resource parsed by fhir.resources (R4B, whose elements equal R4's for what is read here).

    A resource that is not valid FHIR is refused with the path of the bad element (exit 2).
    """
    from fhir.resources.R4B import get_fhir_model_class  # here: pydantic is imported only for FHIR input
    from pydantic import ValidationError

    parsed: list[Any] = []
    for index, resource in enumerate(resources):
        kind = resource.get("resourceType")
        if not isinstance(kind, str) or not kind:
            raise InputError(f"{where}[{index}] has no resourceType", field=f"{where}[{index}].resourceType")
        try:
            model = get_fhir_model_class(kind)
        except ValueError:  # "Foo is not a valid FHIR Model"
            model = None
        if model is None:
            parsed.append(resource)  # not a FHIR R4 type myoivig knows: listed as unmapped below
            continue
        try:
            parsed.append(model.model_validate(resource))
        except ValidationError as exc:
            path, message = first_problem(exc)
            raise InputError(f"{where}[{index}].{path}: {kind}/{resource.get('id', '?')} is not valid FHIR R4: "
                             f"{message}", field=f"{where}[{index}].{path}") from None
        except (ValueError, TypeError, KeyError) as exc:
            raise InputError(f"{where}[{index}]: {kind}/{resource.get('id', '?')} is not valid FHIR R4: {exc}",
                             field=f"{where}[{index}]") from None
    return parsed
