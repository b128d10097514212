"""FHIR R4 input: a Bundle, or a CDS Hooks request's prefetch, read into the vocabulary's facts.

Open world: a resource that is not there never makes a fact false. Every fact read says which
resource it came from; every resource that gives no fact is listed with the reason; two resources
that disagree leave a warning. Codes come from the bindings (bindings.py), never from here.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from .bindings import Binding, Bindings
from .errors import InputError

ACTIVE_CONDITION = {"active", "recurrence", "relapse"}
FINAL_OBSERVATION = {"final", "amended", "corrected"}
ACTIVE_MEDICATION = {"active", "intended"}
ORDER_INTENTS = {"order", "original-order", "reflex-order", "filler-order", "instance-order", "plan"}
"""A MedicationRequest with another intent (a proposal, an option) is not a therapy the patient takes."""
RESOURCE_TYPES = ("Patient", "Condition", "Observation", "MedicationRequest", "MedicationStatement", "Medication",
                  "List", "AllergyIntolerance", "DiagnosticReport", "Bundle", "OperationOutcome")
"""What myoivig reads; any other resource is listed as unmapped."""
COMPONENT_VALUES = ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean", "valueInteger",
                    "valueRange", "valueRatio", "valueSampledData", "valueTime", "valueDateTime", "valuePeriod")
"""An Observation component's value[x]: read as the value of an Observation with the component's code."""
MEDICATION_SEARCHES = ("medicationRequests", "medicationStatements")
"""The discovery document's prefetch keys for active medication (cli/service.py names them too)."""
DECIMALS = 2
"""Converted quantities are rounded to this many decimals [local policy]: 154.32 [lb_av] is 70.0 kg."""


@dataclass(frozen=True)
class Evidence:
    """Where one fact came from: the resource, the code, the date, and what was read."""

    fact: str
    value: Any
    resource: str  # "Observation/w1"
    code: str | None  # "LOINC 29463-7"
    date: str | None
    read: str  # what was read, e.g. "154.32 [lb_av] = 70.0 kg"
    local_policy: str | None = None


@dataclass(frozen=True)
class Unmapped:
    resource: str
    reason: str


@dataclass(frozen=True)
class FhirReading:
    """What a FHIR input said, in the vocabulary, and everything about how it was read."""

    facts: dict[str, Any]
    evidence: tuple[Evidence, ...]
    unmapped: tuple[Unmapped, ...]
    warnings: tuple[str, ...]
    as_of: str
    as_of_from: str  # "--as-of", "Bundle.timestamp" or "today"
    bindings_file: str
    bindings_sha256: str
    patient: str | None
    conflicting: tuple[str, ...] = ()  # facts left unknown because resources disagree
    asked: tuple[str, ...] = ()  # facts a resource says exist without their value (a myositis of no stated type)


def is_fhir(document: Mapping[str, Any]) -> bool:
    """A FHIR Bundle or a CDS Hooks request, told apart from a patient file by its keys."""
    return document.get("resourceType") == "Bundle" or ("hook" in document and "context" in document)


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


def read_fhir(bindings: Bindings, document: Mapping[str, Any], as_of: dt.date | None = None) -> FhirReading:
    """The facts a FHIR Bundle (or CDS Hooks prefetch) gives, with their provenance."""
    given = resources_of(document)
    resources = validate_resources(given.resources, "entry" if document.get("resourceType") == "Bundle" else "prefetch")
    if as_of is not None:
        as_of_from = "--as-of"
    elif document.get("resourceType") == "Bundle" and document.get("timestamp"):
        as_of, as_of_from = _date(str(document["timestamp"])), "Bundle.timestamp"
    else:
        as_of, as_of_from = dt.date.today(), "today"
    assert as_of is not None
    reader = _Reader(bindings, as_of)
    reader.unmapped += given.skipped
    reader.warnings += given.notes
    reader.read(resources, given.patient_id, given.patient_urls)
    if document.get("resourceType") != "Bundle":
        reader.empty_medication_searches(document.get("prefetch") or {})
    facts = reader.facts()
    reader.stale(facts)
    return FhirReading(facts, tuple(reader.evidence), tuple(reader.unmapped), tuple(reader.warnings),
                       as_of.isoformat(), as_of_from, bindings.file, bindings.sha256, reader.patient_ref,
                       tuple(sorted(reader.conflicting)), tuple(sorted(reader.asked - set(facts))))


class _Reader:
    """Collects evidence, unmapped resources and warnings while one input is read (never handed out)."""

    def __init__(self, bindings: Bindings, as_of: dt.date) -> None:
        self.bindings, self.as_of = bindings, as_of
        self.evidence: list[Evidence] = []
        self.unmapped: list[Unmapped] = []
        self.warnings: list[str] = []
        self.patient_ref: str | None = None
        self.conflicting: set[str] = set()  # facts left unknown because resources disagree
        self.asked: set[str] = set()  # facts a resource says exist without giving their value
        self._found: dict[str, list[tuple[str, Evidence]]] = {}  # fact -> (sort key, evidence)
        self._results: dict[str, dict[str, list[tuple[str, bool, Evidence]]]] = {}  # fact -> item -> results
        self._patient_refs: set[str] = set()
        self._identifiers: set[tuple[str, str]] = set()
        self._subject_only: str | None = None  # with no Patient in the input: the one patient its resources name

    def read(self, resources: list[Any], patient_id: str | None,
             patient_urls: frozenset[tuple[str | None, str]] = frozenset()) -> None:
        patients = [r for r in resources if _type(r) == "Patient"]
        if patient_id is not None:
            patients = [p for p in patients if p.id == patient_id] or patients[:0]
        if len(patients) > 1 and any(p.id is None for p in patients):
            raise InputError(f"the input holds {len(patients)} Patient resources, not all with an id: they cannot "
                             "be told apart; give one patient's resources", field="Patient")
        if len({p.id for p in patients}) > 1:
            raise InputError(f"the input holds {len(patients)} patients; give one patient's resources",
                             field="Patient")
        if patient_id is not None:
            self.patient_ref = f"Patient/{patient_id}"
        elif patients:
            self.patient_ref = f"Patient/{patients[0].id}"
        else:  # no Patient: the resources must all name the same one, or whose facts are these?
            named = sorted({name for r in resources if (name := _subject_name(r)) is not None})
            if len(named) > 1:
                raise InputError(f"the input holds no Patient and its resources name {len(named)} patients "
                                 f"({', '.join(named[:4])}{', ...' if len(named) > 4 else ''}); give one "
                                 "patient's resources", field="Patient")
            if named and named[0].startswith("Patient/"):
                self.patient_ref = named[0]
            self._subject_only = named[0] if named else None
        own = patients[0].id if patients else patient_id
        urls = {url for pid, url in patient_urls if pid == own}  # another Patient's fullUrl is not this patient
        self._patient_refs = ({self.patient_ref} | urls) if self.patient_ref else urls
        self._identifiers = {(str(i.system), str(i.value)) for p in patients[:1] for i in p.identifier or []
                             if i.value is not None}
        medications = {f"Medication/{r.id}": r for r in resources if _type(r) == "Medication"}
        present = {f"{_type(r)}/{_id(r)}" for r in resources}
        diagnosis_conditions = []
        for resource in resources:
            kind = _type(resource)
            ref = f"{kind}/{_id(resource)}"
            if kind == "Medication":
                continue  # read through the medication that names it
            if kind == "Bundle":
                self.unmapped.append(Unmapped(ref, "a Bundle inside the input is not opened"))
                continue
            if kind == "OperationOutcome":
                self.unmapped.append(Unmapped(ref, "an error the EHR returned in place of data"))
            elif kind not in RESOURCE_TYPES:
                self.unmapped.append(Unmapped(ref, f"myoivig reads no {kind} resources"))
            elif kind == "Patient":
                if patients and resource is patients[0]:
                    self._patient(resource, ref)
                elif patients and resource.id == patients[0].id:
                    self.unmapped.append(Unmapped(ref, "a second copy of the patient's Patient resource; the first "
                                                       "in the input is read"))
                else:
                    self.unmapped.append(Unmapped(ref, "another patient"))
            elif (why := self._not_about_patient(resource)) is not None:
                self.unmapped.append(Unmapped(ref, why))
            elif kind == "Condition":
                if self._condition(resource, ref):
                    diagnosis_conditions.append(resource)
            elif kind == "Observation":
                self._observation(resource, ref)
            elif kind in ("MedicationRequest", "MedicationStatement"):
                self._medication(resource, ref, medications)
            elif kind == "List":
                self._list(resource, ref)
            elif kind == "AllergyIntolerance":
                self._allergy(resource, ref)
            elif kind == "DiagnosticReport":
                self._report(resource, ref, present)
        self._onset(diagnosis_conditions)

    # -- resources ------------------------------------------------------------------------------

    def _patient(self, patient: Any, ref: str) -> None:
        policies = self.bindings.patient_policies
        if patient.deceasedBoolean or patient.deceasedDateTime is not None:
            when = f" on {patient.deceasedDateTime}" if patient.deceasedDateTime is not None else ""
            raise InputError(f"{ref} is recorded as deceased{when}: no advice is given", field="Patient.deceased")
        if patient.birthDate is not None:
            born = patient.birthDate
            if isinstance(born, dt.date) and born > self.as_of:
                self.unmapped.append(Unmapped(f"{ref}.birthDate", f"a birth date after {self.as_of} ({born}) "
                                              "gives no age"))
            elif isinstance(born, dt.date):
                years = self.as_of.year - born.year - ((self.as_of.month, self.as_of.day) < (born.month, born.day))
                self._add("age_years", years, ref, None, str(born), f"born {born}: {years} years on {self.as_of}",
                          policies.get("age_years"))
            else:
                self.unmapped.append(Unmapped(f"{ref}.birthDate", f"a partial birth date ({born}) gives no age"))
        sex, read = None, ""
        disagree = False
        for url, systems in self.bindings.sex_extensions:  # in the bindings' order: the first that says wins
            said: dict[str, str] = {}
            for extension in patient.extension or []:
                if extension.url != url:
                    continue
                coding = extension.valueCoding
                code = str(extension.valueCode if extension.valueCode is not None else coding.code if coding else "")
                keys = [(str(coding.system), code)] if coding is not None and coding.system else \
                    [(system, code) for system in systems]  # a bare valueCode: any of the extension's systems
                found = next((self.bindings.sex_codes[k] for k in keys if k[0] in systems
                              and k in self.bindings.sex_codes), None)
                if found is not None:
                    said.setdefault(found, code)
            if len(said) > 1:  # F and M in one extension: whose is right? unknown, with a note
                self.warnings.append(f"{ref}: {url.rsplit('/', 1)[-1]} says both {' and '.join(sorted(said))}; "
                                     "sex is left unknown")
                disagree = True
                break
            if said:
                [(sex, code)] = said.items()
                read = f"US Core {'birth sex' if url.endswith('birthsex') else 'sex'} {code}"
                break
        if sex is None and not disagree and patient.gender in ("female", "male"):
            sex, read = patient.gender, f"gender {patient.gender}"
        if sex is not None:
            self._add("sex", sex, ref, None, None, read, policies.get("sex"))

    def _condition(self, condition: Any, ref: str) -> bool:
        """Read a Condition; True when it is the myositis diagnosis (its onset dates the disease)."""
        verification = _status(condition.verificationStatus)
        clinical = _status(condition.clinicalStatus)
        if verification == "entered-in-error":
            self.unmapped.append(Unmapped(ref, "entered in error"))
            return False
        matches = [(b, b.values[key], self.bindings.code_display(*key)) for b in self.bindings.of("condition")
                   for key in _codings(condition.code) if key in b.values]
        unspecified = [b for b in self.bindings.of("condition_unspecified")
                       if any(key in b.codes for key in _codings(condition.code))]
        if not matches and unspecified and verification in (None, "confirmed") \
                and (clinical is None or clinical in ACTIVE_CONDITION):
            for binding in unspecified:  # a myositis without its type: the fact stays unknown, and is asked
                self.asked.add(binding.fact)
                self.warnings.append(f"{ref} records {_codes_text(self.bindings, condition.code)} without its "
                                     f"type: which one is it? {binding.fact} is left unknown and asked")
            return False
        if not matches:
            self.unmapped.append(Unmapped(ref, f"no binding for {_codes_text(self.bindings, condition.code)}"))
            return False
        date = _date_text(condition.onsetDateTime or condition.recordedDate)
        if verification in ("unconfirmed", "provisional", "differential"):
            self.unmapped.append(Unmapped(ref, f"verification status {verification}: sets no fact until confirmed"))
            return False
        is_diagnosis = False
        for binding, value, code in matches:
            if verification == "refuted":
                if value is True and len(matches) == 1:
                    self._add(binding.fact, False, ref, code, date, "refuted", binding.local_policy)
                else:  # a refuted diagnosis, or a combination code: refuting the whole says nothing of a part
                    self.unmapped.append(Unmapped(ref, f"a refuted {binding.fact} sets no value"))
            elif clinical is not None and clinical not in ACTIVE_CONDITION:
                self.unmapped.append(Unmapped(ref, f"clinical status {clinical}: not a current {binding.fact}"))
            else:
                self._add(binding.fact, value, ref, code, date, f"{clinical or 'active'} condition",
                          binding.local_policy)
                if binding.fact == "diagnosis":
                    is_diagnosis = True
                    self._severity(condition, ref, date)
        return is_diagnosis

    def _severity(self, condition: Any, ref: str, date: str | None) -> None:
        if condition.severity is None:
            return
        for binding in self.bindings.of("condition_severity"):
            for key in _codings(condition.severity):
                if key in binding.values:
                    self._add(binding.fact, binding.values[key], ref, self.bindings.code_display(*key), date,
                              "Condition.severity", binding.local_policy)
                    return
        self.unmapped.append(Unmapped(f"{ref}.severity",
                                      f"no binding for {_codes_text(self.bindings, condition.severity)}"))

    def _report(self, report: Any, ref: str, present: set[str]) -> None:
        """A DiagnosticReport's results: contained ones are read here, the others where they stand."""
        contained = {f"#{r.id}": r for r in report.contained or [] if _type(r) == "Observation"}
        absent = []
        for result in report.result or []:
            target = str(result.reference or "")
            if target in contained:
                self._observation(contained[target], f"{ref}{target}")
            elif target not in present and "/".join(target.split("/")[-2:]) not in present:
                absent.append(target or "a result without a reference")
        if absent:
            self.unmapped.append(Unmapped(ref, f"results not in the input: {', '.join(absent[:5])} (only what the "
                                          "EHR sends is read)"))
        elif not report.result:
            self.unmapped.append(Unmapped(ref, "a report without results"))

    def _observation(self, observation: Any, ref: str) -> None:
        sources = ("quantity", "threshold", "result", "assessment")
        matches = [(b, key) for b in self.bindings.of(*sources) for key in _codings(observation.code) if key in b.codes]
        if not matches and observation.component:  # a panel (vital signs): each bound component is read
            parts = [(index, part) for index, part in enumerate(observation.component)
                     if any(key in b.codes for b in self.bindings.of(*sources) for key in _codings(part.code))]
            for index, part in parts:
                values = {name: getattr(part, name, None) for name in COMPONENT_VALUES}
                self._observation(observation.model_copy(update={"code": part.code, "component": None,
                                                                 "interpretation": part.interpretation, **values}),
                                  f"{ref}.component[{index}]")
            if parts:
                return
        if not matches:
            self.unmapped.append(Unmapped(ref, f"no binding for {_codes_text(self.bindings, observation.code)}"))
            return
        if observation.status not in FINAL_OBSERVATION:
            self.unmapped.append(Unmapped(ref, f"status {observation.status}: only final results are read"))
            return
        binding, key = matches[0]
        code = self.bindings.code_display(*key)
        date = _date_text(observation.effectiveDateTime
                          or (observation.effectivePeriod.start if observation.effectivePeriod else None)
                          or observation.issued)
        if binding.source in ("quantity", "threshold"):
            self._quantity(observation, ref, binding, code, date)
        elif binding.source == "result":
            self._result(observation, ref, binding, code, date)
        elif observation.valueBoolean is not None:
            self._add(binding.fact, bool(observation.valueBoolean), ref, code, date,
                      f"answered {'yes' if observation.valueBoolean else 'no'}", binding.local_policy)
        else:
            answers = {key: b.values[key] for b in self.bindings.bindings if b.fact == binding.fact
                       and b.source != "assessment" for key in b.values}
            keys = [key for key in _codings(observation.valueCodeableConcept) if key in answers]
            if keys:
                self._add(binding.fact, answers[keys[0]], ref, code, date,
                          f"answered {self.bindings.code_display(*keys[0])}", binding.local_policy)
            else:
                self.unmapped.append(Unmapped(ref, "an assessment is answered by valueBoolean or a bound "
                                              "valueCodeableConcept, and this one has neither"))

    def _quantity(self, observation: Any, ref: str, binding: Binding, code: str, date: str | None) -> None:
        quantity = observation.valueQuantity
        if quantity is None and observation.valueInteger is not None and "1" in binding.units:
            number, unit = Decimal(observation.valueInteger), "1"
        elif quantity is None or quantity.value is None:
            self.unmapped.append(Unmapped(ref, f"no valueQuantity for {binding.fact}"))
            return
        elif quantity.system != self.bindings.systems.get("UCUM") or not quantity.code:
            said = ", ".join(f"{name} '{value}'" for name, value in (("code", quantity.code), ("unit", quantity.unit),
                                                                     ("system", quantity.system)) if value)
            self.unmapped.append(Unmapped(ref, f"a unit that is not a UCUM code ({said or 'no unit'}): units are read "
                                          f"from UCUM ({self.bindings.systems.get('UCUM')}) only"))
            return
        else:
            number, unit = quantity.value, str(quantity.code)
        if unit not in binding.units:
            self.unmapped.append(Unmapped(ref, f"unit '{unit}' is not one myoivig converts for {binding.fact}; "
                                          f"allowed: {', '.join(binding.units)} (UCUM)"))
            return
        exact = float(number) * binding.units[unit]
        value = round(exact, DECIMALS)
        comparator = str(quantity.comparator) if quantity is not None and quantity.comparator else ""
        shown = f"{comparator}{number} {unit}" + (f" = {comparator}{_number(value)} {binding.unit}"
                                                  if binding.units[unit] != 1 else "")
        if binding.true_below is not None:
            threshold = binding.true_below
            if (comparator == "<" and exact <= threshold) or (comparator in ("<=", "") and exact < threshold):
                below = True
            elif (comparator in (">", ">=") and exact >= threshold) or comparator == "":
                below = False
            else:
                self.unmapped.append(Unmapped(ref, f"{shown} is a bound that does not say which side of "
                                              f"{_number(threshold)} the value lies"))
                return
            self._add(binding.fact, below, ref, code, date,
                      f"{shown}: {'below' if below else 'not below'} {_number(threshold)}", binding.local_policy)
        elif comparator:
            self.unmapped.append(Unmapped(ref, f"{shown} is a bound, not a value"))
        else:
            self._add(binding.fact, value if value != int(value) else int(value), ref, code, date, shown,
                      binding.local_policy)

    def _result(self, observation: Any, ref: str, binding: Binding, code: str, date: str | None) -> None:
        found = set(_codings(observation.valueCodeableConcept))
        for interpretation in observation.interpretation or []:
            found |= set(_codings(interpretation))
        text = (observation.valueString or "").strip().lower()
        if found & self.bindings.positive or text == "positive" or observation.valueBoolean is True:
            positive = True
        elif found & self.bindings.negative or text == "negative" or observation.valueBoolean is False:
            positive = False
        else:
            self.unmapped.append(Unmapped(ref, "neither positive nor negative (a bare number is not read: "
                                          "cut-offs are assay-specific)"))
            return
        value = binding.values[next(k for k in _codings(observation.code) if k in binding.codes)]
        if value is True:
            self._add(binding.fact, positive, ref, code, date, "positive" if positive else "negative",
                      binding.local_policy)
            return
        evidence = Evidence(binding.fact, value, ref, code, date, "positive" if positive else "negative",
                            binding.local_policy)
        self.evidence.append(evidence)
        self._results.setdefault(binding.fact, {}).setdefault(str(value), []).append((date or "", positive, evidence))

    def _medication(self, statement: Any, ref: str, medications: Mapping[str, Any]) -> None:
        if statement.status not in ACTIVE_MEDICATION:
            self.unmapped.append(Unmapped(ref, f"status {statement.status}: not a current therapy"))
            return
        intent = getattr(statement, "intent", None)
        if intent is not None and intent not in ORDER_INTENTS:
            self.unmapped.append(Unmapped(ref, f"intent {intent}: not a current therapy"))
            return
        concept = medication_concept(statement, medications)
        date = _date_text(getattr(statement, "authoredOn", None) or getattr(statement, "dateAsserted", None))
        for binding in self.bindings.of("medication"):
            for key in _codings(concept):
                if key in binding.values:
                    self._add(binding.fact, binding.values[key], ref, self.bindings.code_display(*key), date,
                              f"{statement.status} {_type(statement)}", binding.local_policy, list_item=True)
                    return
        self.unmapped.append(Unmapped(ref, f"no binding for {_codes_text(self.bindings, concept)}"))

    def _list(self, listing: Any, ref: str) -> None:
        for binding in self.bindings.of("medication"):
            keys = [k for k in _codings(listing.code) if k in binding.empty_list]
            if keys and not listing.entry and listing.emptyReason is not None and "nilknown" in {
                    c for _, c in _codings(listing.emptyReason)}:
                self._add(binding.fact, None, ref, self.bindings.code_display(*keys[0]), _date_text(listing.date),
                          "an empty list: nil known", binding.local_policy, list_item=True)
                return
        self.unmapped.append(Unmapped(ref, "only an empty current-medication list (emptyReason nilknown) is read"))

    def _allergy(self, allergy: Any, ref: str) -> None:
        """An allergy to human immunoglobulin with anaphylaxis, a severe reaction or a high criticality is the
        labels' hard stop; any other immunoglobulin reaction is shown; a text-only one is shown to confirm."""
        reactions = list(allergy.reaction or [])
        concepts = [allergy.code] + [r.substance for r in reactions]
        codes = [key for concept in concepts for key in _codings(concept)]
        binding = next((b for b in self.bindings.of("allergy") if any(key in b.codes for key in codes)), None)
        if binding is None:
            words = " ".join(str(text) for concept in concepts if concept is not None
                             for text in [concept.text, *(c.display for c in concept.coding or [])] if text)
            named = next((b for b in self.bindings.of("allergy")
                          if any(word.lower() in words.lower() for word in b.text)), None) if words else None
            if named is not None:
                self.warnings.append(f"{ref}: an allergy to '{words[:80]}' may be to human immunoglobulin but carries "
                                     f"no bound code: confirm it; {named.fact} is left unknown and asked")
                self._to_confirm(named, allergy, ref, f"an allergy to '{words[:40]}' in words only")
            else:
                self.unmapped.append(Unmapped(ref, f"no binding for {_codes_text(self.bindings, allergy.code)}"))
            return
        verification, clinical = _status(allergy.verificationStatus), _status(allergy.clinicalStatus)
        if verification in ("entered-in-error", "refuted") or clinical in ("inactive", "resolved"):
            status = verification if verification in ("entered-in-error", "refuted") else clinical
            self.unmapped.append(Unmapped(ref, f"an immunoglobulin allergy that is {status}: not read"))
            return
        anaphylaxis = {key for b in self.bindings.of("allergy_reaction") for key in b.codes}
        seen = [key for r in reactions for m in r.manifestation or [] for key in _codings(m) if key in anaphylaxis]
        severe = [r for r in reactions if r.severity == "severe"]
        code = self.bindings.code_display(*next(key for key in codes if key in binding.codes))
        date = next((text for value in (allergy.lastOccurrence, allergy.onsetDateTime, allergy.recordedDate)
                     if (text := _date_text(value))), None)
        if seen or severe or allergy.criticality == "high":
            why = ("anaphylaxis" if seen else "a severe reaction" if severe else "high criticality")
            self._add(binding.fact, True, ref, code, date, f"an immunoglobulin allergy with {why}",
                      binding.local_policy)
            return
        said = [str(text) for r in reactions for m in r.manifestation or []
                for text in [m.text, *(c.display or c.code for c in m.coding or [])] if text]
        anaphylaxis_words = [word.lower() for b in self.bindings.of("allergy_reaction") for word in b.text]
        if any(word in text.lower() for text in said for word in anaphylaxis_words) or _described(
                reactions, anaphylaxis_words):
            self.warnings.append(f"{ref}: an immunoglobulin allergy whose reaction reads like anaphylaxis "
                                 f"({', '.join(said)[:80]}) but carries no bound anaphylaxis code: confirm it; "
                                 f"{binding.fact} is left unknown and asked")
            self._to_confirm(binding, allergy, ref, "an immunoglobulin allergy with anaphylaxis in words only")
            return
        self.warnings.append(f"{ref}: an immunoglobulin allergy with no anaphylaxis or severe reaction recorded "
                             f"({', '.join(said)[:80] or 'no reaction recorded'}): confirm what the reaction was "
                             "(anaphylaxis would be a hard stop); otherwise premedicate and infuse slowly")

    def _to_confirm(self, binding: Binding, allergy: Any, ref: str, read: str) -> None:
        """A reaction that may be the hard stop, in words only: the dose waits for a clinician to confirm it.
        Refuted, entered-in-error and inactive allergies are never confirmed."""
        verification, clinical = _status(allergy.verificationStatus), _status(allergy.clinicalStatus)
        if binding.confirm_fact is None or verification in ("entered-in-error", "refuted") \
                or clinical in ("inactive", "resolved"):
            return
        date = next((text for value in (allergy.lastOccurrence, allergy.onsetDateTime, allergy.recordedDate)
                     if (text := _date_text(value))), None)
        self._add(binding.confirm_fact, True, ref, None, date, read, binding.local_policy)

    def _onset(self, conditions: list[Any]) -> None:
        dates = []
        for condition in conditions:
            ref = f"Condition/{_id(condition)}"
            period_start = condition.onsetPeriod.start if condition.onsetPeriod else None
            for value, element in ((condition.onsetDateTime, "onsetDateTime"), (period_start, "onsetPeriod.start"),
                                   (condition.recordedDate, "recordedDate (so at least this long)")):
                if value is None:
                    continue
                day = _day(value)
                if day is None:
                    self.unmapped.append(Unmapped(f"{ref}.{element.split()[0]}",
                                                  f"a partial date ({value}) gives no months since diagnosis"))
                else:
                    dates.append((day, ref, element))
                break
        if not dates:
            return
        day, ref, element = min(dates)
        months = (self.as_of.year - day.year) * 12 + self.as_of.month - day.month - (self.as_of.day < day.day)
        if months < 0:
            self.warnings.append(f"{ref}: the diagnosis is dated {day}, after the reference date {self.as_of}")
            return
        self._add("months_since_diagnosis", months, ref, None, day.isoformat(),
                  f"{element} {day}: {months} months on {self.as_of}",
                  self.bindings.patient_policies.get("months_since_diagnosis"))

    def empty_medication_searches(self, prefetch: Mapping[str, Any]) -> None:
        """Both active-medication searches answered, with no entry: no current therapy [local policy].
        A key left out or answered null means no data, and the list stays unknown."""
        searches = [prefetch.get(key) for key in MEDICATION_SEARCHES]
        if all(isinstance(s, Mapping) and s.get("resourceType") == "Bundle" and not s.get("entry")
               for s in searches):
            for binding in self.bindings.of("medication"):
                self._add(binding.fact, None, "prefetch " + " and ".join(MEDICATION_SEARCHES), None, None,
                          "both searches for active medication came back empty", binding.local_policy,
                          list_item=True)

    # -- collecting -----------------------------------------------------------------------------

    def _not_about_patient(self, resource: Any) -> str | None:
        """Why a resource is not the consulted patient's, or None when its subject (or `patient`) names that
        patient: by reference, fullUrl or urn:uuid, or by an identifier the Patient carries. A resource that
        names no patient, or another one, is never read as this patient's."""
        subject = getattr(resource, "subject", None) or getattr(resource, "patient", None)
        if subject is None:
            return "names no patient (no subject): not read as this patient's"
        reference = getattr(subject, "reference", None)
        if reference is not None:
            reference = str(reference).split("/_history/")[0]  # Patient/p1/_history/3 is Patient/p1
            if str(reference) in self._patient_refs or (self.patient_ref is not None and str(reference).endswith(
                    f"/{self.patient_ref}")) or str(reference) == self._subject_only:
                return None
            return f"about another patient ({reference})"
        identifier = getattr(subject, "identifier", None)
        if identifier is not None and identifier.value is not None:
            if (str(identifier.system), str(identifier.value)) in self._identifiers or \
                    _identifier_name(identifier) == self._subject_only:
                return None
            return f"about a patient named by identifier {identifier.value}, which the Patient does not carry"
        return "names no patient (its subject has neither a reference nor an identifier)"

    def _add(self, fact: str, value: Any, ref: str, code: str | None, date: str | None, read: str,
             policy: str | None, list_item: bool = False) -> None:
        evidence = Evidence(fact, value, ref, code, date, read, policy)
        self.evidence.append(evidence)
        self._found.setdefault(fact, []).append(("list" if list_item else (date or ""), evidence))

    def facts(self) -> dict[str, Any]:
        """One value per fact: lists gather positives, the most recent value wins, and a tie that
        disagrees leaves the fact unknown with a warning."""
        facts: dict[str, Any] = {}
        for fact, found in self._found.items():
            if found[0][0] == "list":
                items = sorted({e.value for _, e in found if e.value is not None})
                facts[fact] = items
                continue
            latest = max(key for key, _ in found)
            newest = {repr(e.value): e for key, e in found if key == latest}
            if len(newest) > 1:
                self.warnings.append(f"{fact}: " + ", ".join(f"{e.resource} says {_shown(e.value)}"
                                                              for e in newest.values())
                                     + (f" on {latest}" if latest else "") + "; left unknown")
                self.conflicting.add(fact)
                continue
            chosen = next(iter(newest.values()))
            older = {repr(e.value) for key, e in found if key != latest} - set(newest)
            if older and fact == "diagnosis":
                self.warnings.append("diagnosis: resources name " + ", ".join(sorted(
                    {str(e.value) for _, e in found})) + "; left unknown")
                self.conflicting.add(fact)
                continue
            standing = [e for _, e in found if e.value is True
                        and e.resource.startswith(("Condition/", "AllergyIntolerance/"))]
            if chosen.value is False and standing:  # a past anaphylaxis does not become untrue
                self.warnings.append(f"{fact}: {standing[0].resource} (active) says true, {chosen.resource} "
                                     f"({chosen.date or 'undated'}) says false; the active "
                                     f"{standing[0].resource.split('/')[0]} stands [local policy]")
                chosen = standing[0]
            facts[fact] = chosen.value
            self._mark_superseded(fact, chosen, [e for _, e in found])
        for fact, by_item in self._results.items():
            facts.update(self._result_list(fact, by_item))
        return facts

    def _mark_superseded(self, fact: str, chosen: Evidence, found: list[Evidence]) -> None:
        """Say which value was read: older values are marked; an undated value beside a dated one, and a value
        older than its binding's window, are flagged [local policy]."""
        others = [e for e in found if e is not chosen]
        if not others:
            return
        index = {id(e): i for i, e in enumerate(self.evidence)}
        for other in others:
            if id(other) in index and other.value != chosen.value:
                newer = "is newer" if other.date else "is dated"
                self.evidence[index[id(other)]] = replace(other, read=f"{other.read}; not read: "
                                                          f"{chosen.resource} {newer}")
        undated = [e for e in others if not e.date and e.value != chosen.value]
        if chosen.date and undated:
            self.warnings.append(f"{fact}: {', '.join(e.resource for e in undated)} undated "
                                 f"({', '.join(_shown(e.value) for e in undated)}); the dated {chosen.resource} "
                                 f"({_shown(chosen.value)}, {chosen.date}) is read")

    def stale(self, facts: Mapping[str, Any]) -> None:
        """A value read older than its binding's `stale_after_days` is flagged [local policy]."""
        for binding in self.bindings.bindings:
            if binding.stale_after_days is None or binding.fact not in facts:
                continue
            read = [e for e in self.evidence if e.fact == binding.fact and e.value == facts[binding.fact]
                    and "; not read:" not in e.read]
            day = _day(read[-1].date[:10]) if read and read[-1].date else None
            if day is not None and (self.as_of - day).days > binding.stale_after_days:
                self.warnings.append(f"{binding.fact}: {read[-1].resource} is dated {day}, "
                                     f"{(self.as_of - day).days} days before {self.as_of} (more than "
                                     f"{binding.stale_after_days}): measure it again before the dose [local policy]")
            elif day is None and read:
                self.warnings.append(f"{binding.fact}: {read[-1].resource} is undated: check that it is recent "
                                     "before the dose [local policy]")

    def _result_list(self, fact: str, items: Mapping[str, list[tuple[str, bool, Evidence]]]) -> dict[str, Any]:
        """Each antibody by its latest result; the list is empty only when every bound one is negative."""
        positive: list[str] = []
        negative: list[str] = []
        for item, results in items.items():
            latest = max(date for date, _, _ in results)
            answers = {found for date, found, _ in results if date == latest}
            if len(answers) > 1:
                self.warnings.append(f"{fact}: {item} is both positive and negative on {latest or 'an undated day'}; "
                                     f"{item} left unknown")
                self.conflicting.add(fact)
                continue
            (positive if answers.pop() else negative).append(item)
        bound = {str(v) for b in self.bindings.bindings if b.fact == fact for v in b.values.values()}
        untested = sorted(bound - set(positive) - set(negative))
        if positive:
            return {fact: sorted(positive)}
        if not untested:
            return {fact: []}
        self.warnings.append(f"{fact}: {', '.join(sorted(negative))} negative, {', '.join(untested)} not tested: "
                             "left unknown (an empty list means all tested, none found)")
        return {}


@dataclass(frozen=True)
class IvigOrder:
    """A selected draft order that is IVIG: by a bound code, or by its words only (to be confirmed)."""

    resource: str  # "MedicationRequest/mr1"
    coded: bool
    said: str  # the code shown, or the words that named it

    @property
    def note(self) -> str | None:
        """What the clinician must check, for an order named in words only."""
        return None if self.coded else (f"{self.resource}: the order names '{self.said}' in words only, no bound "
                                        "code: advice is given as for IVIG; confirm the product ordered")


def ivig_order(bindings: Bindings, context: Mapping[str, Any],
               prefetch: Mapping[str, Any] | None = None) -> IvigOrder | None:
    """The selected draft order that is IVIG (order-select speaks only then): its medicationCodeableConcept,
    or the Medication its medicationReference names (contained, in draftOrders, or prefetched), carries a
    bound `order` code, or names IVIG in words (the bindings' `text`)."""
    from fhir.resources.R4B import get_fhir_model_class
    from pydantic import ValidationError

    selected = {str(s) for s in context.get("selections") or []}
    draft: list[Mapping[str, Any]] = [e["resource"] for e in (context.get("draftOrders") or {}).get("entry") or []
                                      if isinstance(e, Mapping) and isinstance(e.get("resource"), Mapping)]
    found = list(draft) + [v for v in (prefetch or {}).values() if isinstance(v, Mapping)
                           and v.get("resourceType") == "Medication"]
    for value in (prefetch or {}).values():
        if isinstance(value, Mapping) and value.get("resourceType") == "Bundle":
            found += [e["resource"] for e in value.get("entry") or [] if isinstance(e, Mapping)
                      and isinstance(e.get("resource"), Mapping) and e["resource"].get("resourceType") == "Medication"]
    medications: dict[str, Any] = {}
    model = get_fhir_model_class("Medication")
    for resource in found:
        if resource.get("resourceType") == "Medication" and resource.get("id"):
            try:
                medications[f"Medication/{resource['id']}"] = model.model_validate(resource)
            except (ValidationError, ValueError, TypeError):
                continue
    codes = {key: b for b in bindings.of("order") for key in b.codes}
    words = [word for b in bindings.of("order") for word in b.text]
    for raw in draft:
        ref = f"{raw.get('resourceType')}/{raw.get('id')}"
        if ref not in selected or raw.get("resourceType") not in ("MedicationRequest", "MedicationStatement"):
            continue
        try:
            order = get_fhir_model_class(str(raw["resourceType"])).model_validate(raw)
        except (ValidationError, ValueError, TypeError):
            continue
        concept = medication_concept(order, medications)
        bound = [key for key in _codings(concept) if key in codes]
        if bound:
            return IvigOrder(ref, True, bindings.code_display(*bound[0]))
        text = " ".join(str(t) for t in [getattr(concept, "text", None),
                                          *(c.display for c in getattr(concept, "coding", None) or [])] if t)
        if text and any(word.lower() in text.lower() for word in words):
            return IvigOrder(ref, False, text[:80])
    return None


def medication_concept(statement: Any, medications: Mapping[str, Any]) -> Any:
    """What a MedicationRequest or MedicationStatement gives: its medicationCodeableConcept, or the code of the
    Medication its medicationReference names (contained, `#id`, or elsewhere in the input)."""
    if statement.medicationCodeableConcept is not None:
        return statement.medicationCodeableConcept
    reference = statement.medicationReference.reference if statement.medicationReference is not None else None
    if reference is None:
        return None
    reference = str(reference)
    if reference.startswith("#"):
        medication = next((r for r in statement.contained or [] if _type(r) == "Medication"
                           and f"#{r.id}" == reference), None)
    else:
        medication = medications.get(reference) or medications.get("/".join(reference.split("/")[-2:]))
    return medication.code if medication is not None else None


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
