"""Reading one patient's FHIR resources into evidence: whose they are, then each kind of resource
through the bindings (Patient, Condition, Observation, medications, List, AllergyIntolerance, DiagnosticReport)."""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..bindings import Binding, Bindings
from ..errors import InputError
from .document import resources_of, validate_resources
from .evidence import Ledger
from .orders import medication_concept
from .records import (
    ACTIVE_CONDITION,
    ACTIVE_MEDICATION,
    COMPONENT_VALUES,
    DECIMALS,
    FINAL_OBSERVATION,
    MEDICATION_SEARCHES,
    ORDER_INTENTS,
    RESOURCE_TYPES,
    Evidence,
    FhirReading,
    Unmapped,
)
from .values import (
    _codes_text,
    _codings,
    _date,
    _date_text,
    _day,
    _described,
    _id,
    _identifier_name,
    _number,
    _status,
    _subject_name,
    _type,
)


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


class _Reader(Ledger):
    """Collects evidence, unmapped resources and warnings while one input is read (never handed out)."""

    def __init__(self, bindings: Bindings, as_of: dt.date) -> None:
        super().__init__(bindings, as_of)
        self.patient_ref: str | None = None
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
