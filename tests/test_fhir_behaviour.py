"""The FHIR reader (engine/fhir.py), rule by rule and exactly: what each resource gives, what it is
listed as when it gives nothing (the exact reason a clinician reads), the provenance line, the dates
and the boundaries of every comparison (birthdays, month days, thresholds, comparators)."""
from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest

from myoivig.engine import InputError, KnowledgeBase
from myoivig.engine.bindings import Bindings, load_bindings
from myoivig.engine.fhir import (
    Evidence,
    FhirReading,
    Unmapped,
    is_fhir,
    read_fhir,
    reading_to_dict,
    resources_of,
    validate_resources,
    validate_shell,
)

from .builders import ANTIBODIES  # each antibody's first bound code, read from the shipped bindings

SCT, LOINC, UCUM = "http://snomed.info/sct", "http://loinc.org", "http://unitsofmeasure.org"
ICD = "http://hl7.org/fhir/sid/icd-10-cm"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"
LOCAL = "http://example.org/myoivig/CodeSystem/assessment"
US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
V3 = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
AS_OF = dt.date(2026, 1, 15)
EGFR_UNIT = "mL/min/{1.73_m2}"
POS = {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "10828004"}]}}
NEG = {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "260385009"}]}}


@pytest.fixture(scope="module")
def bindings(kb: KnowledgeBase) -> Bindings:
    return load_bindings(kb)


# -- building tiny inputs ---------------------------------------------------------------------------

def patient(pid: str = "p", **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, **fields}


def bundle(*resources: dict[str, Any], timestamp: str | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": r} for r in resources]}
    if timestamp:
        document["timestamp"] = timestamp
    return document


def observation(code: str, value: dict[str, Any], rid: str = "o", date: str | None = "2026-01-05",
                status: str = "final", system: str = LOINC) -> dict[str, Any]:
    found = {"resourceType": "Observation", "id": rid, "status": status, "subject": {"reference": "Patient/p"},
             "code": {"coding": [{"system": system, "code": code}]}, **value}
    if date:
        found["effectiveDateTime"] = date
    return found


def quantity(value: float, code: str, comparator: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"value": value, "unit": code, "system": UCUM, "code": code}
    if comparator:
        found["comparator"] = comparator
    return {"valueQuantity": found}


def condition(system: str, code: str, rid: str = "c", verification: str | None = "confirmed",
              clinical: str | None = "active", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p"},
                             "code": {"coding": [{"system": system, "code": code}]}, **extra}
    if verification:
        found["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status", "code": verification}]}
    if clinical:
        found["clinicalStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": clinical}]}
    return found


def medication(kind: str = "MedicationRequest", rid: str = "m", code: str | None = "8640", status: str = "active",
               **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {"resourceType": kind, "id": rid, "status": status, **extra}
    if kind == "MedicationRequest":
        found.setdefault("intent", "order")
        found.setdefault("subject", {"reference": "Patient/p"})
    else:
        found.setdefault("subject", {"reference": "Patient/p"})
    if code is not None:
        found["medicationCodeableConcept"] = {"coding": [{"system": RXNORM, "code": code}]}
    return found


def hook(patient_id: Any = "p", **prefetch: Any) -> dict[str, Any]:
    return {"hook": "patient-view", "hookInstance": "i", "context": {"patientId": patient_id}, "prefetch": prefetch}


def read(bindings: Bindings, *resources: dict[str, Any], as_of: dt.date | None = AS_OF) -> FhirReading:
    return read_fhir(bindings, bundle(*resources), as_of)


def unmapped(reading: FhirReading) -> list[tuple[str, str]]:
    return [(u.resource, u.reason) for u in reading.unmapped]


def evidence(reading: FhirReading, fact: str | None = None) -> list[tuple[Any, ...]]:
    return [(e.fact, e.value, e.resource, e.code, e.date, e.read) for e in reading.evidence
            if fact is None or e.fact == fact]


# -- reading the input's shell: Bundle, prefetch, entries ------------------------------------------

def test_a_bundle_gives_its_resources_and_its_patients_full_urls_only() -> None:
    """Only a Patient entry's fullUrl names the patient: an Observation's fullUrl is no patient reference."""
    document = bundle(patient(), observation("29463-7", quantity(70, "kg")))
    document["entry"][0]["fullUrl"] = "urn:uuid:pat"
    document["entry"][1]["fullUrl"] = "urn:uuid:obs"
    given = resources_of(document)
    assert [r["resourceType"] for r in given.resources] == ["Patient", "Observation"]
    assert given.patient_id is None and given.patient_urls == frozenset({("p", "urn:uuid:pat")}) and given.skipped == ()


def test_a_full_url_that_is_not_text_is_not_a_patient_reference() -> None:
    """Only a string fullUrl can be matched against a reference."""
    document = bundle(patient())
    document["entry"][0]["fullUrl"] = 12
    assert resources_of(document).patient_urls == frozenset()


def test_a_resource_referring_to_a_non_patient_full_url_is_about_another_patient(bindings: Bindings) -> None:
    """A subject naming the fullUrl of an Observation is not this patient."""
    document = bundle(patient(), observation("29463-7", quantity(70, "kg"), "w") | {"subject": {"reference": "urn:uuid:obs"}},
                      observation("8302-2", quantity(165, "cm"), "h"))
    document["entry"][2]["fullUrl"] = "urn:uuid:obs"
    reading = read_fhir(bindings, document, AS_OF)
    assert unmapped(reading) == [("Observation/w", "about another patient (urn:uuid:obs)")]
    assert reading.facts == {"height_cm": 165}


def test_an_entry_without_a_type_is_gathered_for_its_refusal_later() -> None:
    """Gathering only looks for Patients' full URLs; a typeless resource waits for validate_resources to
    be refused by its place ("entry[0] has no resourceType"), not for a TypeError here."""
    gathered = resources_of(bundle({"id": "x"}, patient()))
    assert gathered.resources == [{"id": "x"}, patient()]
    with pytest.raises(InputError) as refused:
        validate_resources(gathered.resources, "entry")
    assert str(refused.value) == "entry[0] has no resourceType"


def test_a_bundle_without_entries_gives_nothing() -> None:
    """An empty collection is valid and simply holds no facts."""
    given = resources_of({"resourceType": "Bundle", "type": "collection"})
    assert (given.resources, given.patient_id, given.patient_urls, given.skipped) == ([], None, frozenset(), ())


def test_an_entry_that_is_not_an_object_is_listed_by_its_place() -> None:
    """A bare string where an entry should be is named, not a traceback."""
    document = bundle(patient())
    document["entry"].append("junk")
    document["entry"].append({"resource": "junk"})
    assert resources_of(document).skipped == (Unmapped("entry[1]", "an entry without a resource"),
                                              Unmapped("entry[2]", "an entry without a resource"))


def test_a_prefetch_opens_its_bundles_and_takes_its_single_resources() -> None:
    """Each prefetch key is a Bundle (opened, its places named under the key), a resource, null or junk."""
    search = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": observation("29463-7", quantity(70, "kg"))}, {"search": {"mode": "match"}},
                        {"fullUrl": "urn:uuid:p2", "resource": patient("p2")}]}
    document = hook(patient_id=7, patient=patient("7"), allergy={"resourceType": "AllergyIntolerance", "id": "a"},
                    search=search, nothing=None, junk=[1, 2], untyped={"id": "x"})
    given = resources_of(document)
    assert [r["resourceType"] for r in given.resources] == ["Patient", "AllergyIntolerance", "Observation", "Patient"]
    assert given.patient_id == "7" and given.patient_urls == frozenset({("p2", "urn:uuid:p2")})
    assert given.skipped == (Unmapped("prefetch.search.entry[1]", "an entry without a resource"),
                             Unmapped("prefetch.junk", "not a FHIR resource"),
                             Unmapped("prefetch.untyped", "not a FHIR resource"))


@pytest.mark.parametrize("document", [
    {"hook": "patient-view", "context": "p"},
    {"hook": "patient-view", "context": {}},
    {"hook": "patient-view", "context": {"patientId": None}, "prefetch": None},
])
def test_a_request_without_a_patient_id_names_no_patient(document: dict[str, Any]) -> None:
    """No context.patientId (or no context object, or a null prefetch): no patient named, nothing read."""
    given = resources_of(document)
    assert given.patient_id is None and given.resources == [] and given.skipped == ()


@pytest.mark.parametrize("prefetch", [[], "x", 3])
def test_a_prefetch_that_is_not_an_object_is_refused_with_its_field(prefetch: Any) -> None:
    """The client's mistake is named with the field to fix."""
    with pytest.raises(InputError) as refused:
        resources_of({"hook": "patient-view", "context": {"patientId": "p"}, "prefetch": prefetch})
    assert str(refused.value) == "prefetch is an object of prefetch keys to FHIR resources"
    assert refused.value.field == "prefetch"


def test_an_entry_that_is_not_a_list_is_refused_with_its_place() -> None:
    """Under a prefetch key, the message says which key's Bundle is broken."""
    with pytest.raises(InputError) as refused:
        resources_of(hook(search={"resourceType": "Bundle", "type": "searchset", "entry": {"resource": {}}}))
    assert (str(refused.value), refused.value.field) == (
        "prefetch.search.entry is a list of entries", "prefetch.search.entry")


def test_a_bundle_shell_that_is_not_fhir_is_refused_with_its_element() -> None:
    """A Bundle's own elements are checked: the element path, the Bundle, and pydantic's first reason."""
    with pytest.raises(InputError) as refused:
        validate_shell({"resourceType": "Bundle", "type": "collection", "timestamp": "yesterday"}, "prefetch.x.")
    assert refused.value.field == "prefetch.x.timestamp"
    assert str(refused.value).startswith("prefetch.x.timestamp: the Bundle is not valid FHIR R4: ")
    validate_shell({"resourceType": "Bundle", "type": "collection", "entry": None})  # no entry element is fine


@pytest.mark.parametrize("resource", [{"id": "x"}, {"resourceType": "", "id": "x"}, {"resourceType": 5}])
def test_a_resource_without_a_type_is_refused_with_its_place(resource: dict[str, Any]) -> None:
    """The place is the entry's index in the input, so the sender can find it."""
    with pytest.raises(InputError) as refused:
        validate_resources([patient(), resource], "prefetch")
    assert (str(refused.value), refused.value.field) == ("prefetch[1] has no resourceType",
                                                            "prefetch[1].resourceType")


def test_an_invalid_resource_without_id_is_named_with_a_question_mark() -> None:
    """The message names the element, the resource (its id, or ? without one) and the reason."""
    with pytest.raises(InputError) as refused:
        validate_resources([{"resourceType": "Patient", "birthDate": "1970-13-01"}])
    assert refused.value.field == "entry[0].birthDate"
    assert str(refused.value) == ("entry[0].birthDate: Patient/? is not valid FHIR R4: Value error, Date value "
                                     "string does not match spec regex.")


@pytest.mark.parametrize(("contained", "rid", "reason"), [
    ({"resourceType": "Foo"}, "c", "'R4.FooType'"),
    ({"resourceType": 5}, None, "can only concatenate str (not \"int\") to str"),
])
def test_a_resource_the_fhir_library_cannot_parse_is_refused_not_a_traceback(contained: dict[str, Any], rid: str | None,
                                                                              reason: str) -> None:
    """A contained resource of no FHIR type breaks the parser itself: still an input error at the entry."""
    resource: dict[str, Any] = {"resourceType": "Condition", "subject": {"reference": "Patient/p"},
                                "contained": [contained]}
    if rid:
        resource["id"] = rid
    with pytest.raises(InputError) as refused:
        validate_resources([patient(), resource])
    assert refused.value.field == "entry[1]"
    assert str(refused.value) == f"entry[1]: Condition/{rid or '?'} is not valid FHIR R4: {reason}"


@pytest.mark.parametrize(("document", "expected"), [
    ({"resourceType": "Bundle"}, True), ({"hook": "patient-view", "context": {}}, True),
    ({"resourceType": "Patient"}, False), ({"hook": "patient-view"}, False), ({"context": {}}, False),
    ({"diagnosis": "DM"}, False)])
def test_fhir_input_is_told_apart_from_a_patient_file(document: dict[str, Any], expected: bool) -> None:
    """A Bundle, or a CDS Hooks request (hook and context), is FHIR; anything else is a patient file."""
    assert is_fhir(document) is expected


def test_valid_resources_are_parsed_and_unknown_types_kept_as_given() -> None:
    """Known types become FHIR models; a type FHIR R4 lacks is kept as the dict, to be listed later."""
    parsed = validate_resources([patient(), {"resourceType": "Foo", "id": "f"}])
    assert parsed[0].get_resource_type() == "Patient" and parsed[0].id == "p"
    assert parsed[1] == {"resourceType": "Foo", "id": "f"}


# -- the reference date and the reading's own fields ------------------------------------------------

def test_the_reference_date_comes_from_as_of_then_timestamp_then_today(bindings: Bindings) -> None:
    """Ages are counted to --as-of, else the Bundle's timestamp (its day), else today; the output says which."""
    stamped = bundle(patient(birthDate="1970-03-01"), timestamp="2026-03-01T23:59:00+05:00")
    given = read_fhir(bindings, stamped, dt.date(2026, 2, 28))
    assert (given.as_of, given.as_of_from, given.facts["age_years"]) == ("2026-02-28", "--as-of", 55)
    from_stamp = read_fhir(bindings, stamped)
    assert (from_stamp.as_of, from_stamp.as_of_from, from_stamp.facts["age_years"]) == (
        "2026-03-01", "Bundle.timestamp", 56)
    today = read_fhir(bindings, bundle(patient()))
    assert (today.as_of, today.as_of_from) == (dt.date.today().isoformat(), "today")
    request = read_fhir(bindings, hook(patient=patient()))
    assert (request.as_of, request.as_of_from) == (dt.date.today().isoformat(), "today")


def test_a_reading_carries_the_bindings_checksum_and_the_patient(bindings: Bindings) -> None:
    """The advice cites which bindings read the chart, for audit."""
    reading = read(bindings, patient("p1"))
    assert (reading.bindings_file, reading.bindings_sha256, reading.patient) == (
        bindings.file, bindings.sha256, "Patient/p1")
    assert reading.bindings_file == "fhir/bindings.yaml"  # within the knowledge base, wherever the process runs


def weight_policy(bindings: Bindings) -> str | None:
    return next(b.local_policy for b in bindings.bindings if b.fact == "weight_kg" and b.source == "quantity")


def test_reading_to_dict_is_the_json_of_the_reading(bindings: Bindings) -> None:
    """Every field of the `fhir` part of a consultation's JSON, in order."""
    reading = read(bindings, patient(gender="male"), {"resourceType": "Foo", "id": "f"},
                   observation("29463-7", quantity(70, "kg"), "a"), observation("29463-7", quantity(80, "kg"), "b"))
    assert reading_to_dict(reading) == {
        "as_of": "2026-01-15", "as_of_from": "--as-of", "patient": "Patient/p",
        "bindings": {"file": bindings.file, "sha256": bindings.sha256},
        "provenance": [
            {"fact": "sex", "value": "male", "resource": "Patient/p", "code": None, "date": None,
             "read": "gender male", "local_policy": bindings.patient_policies["sex"]},
            {"fact": "weight_kg", "value": 70, "resource": "Observation/a", "code": "LOINC 29463-7",
             "date": "2026-01-05", "read": "70 kg", "local_policy": weight_policy(bindings)},
            {"fact": "weight_kg", "value": 80, "resource": "Observation/b", "code": "LOINC 29463-7",
             "date": "2026-01-05", "read": "80 kg", "local_policy": weight_policy(bindings)}],
        "unmapped": [{"resource": "Foo/f", "reason": "myoivig reads no Foo resources"}],
        "warnings": ["weight_kg: Observation/a says 70, Observation/b says 80 on 2026-01-05; left unknown"]}
    assert reading.conflicting == ("weight_kg",)


def test_conflicting_facts_are_listed_sorted(bindings: Bindings) -> None:
    """Several facts in conflict are named in a stable order."""
    reading = read(bindings, observation("29463-7", quantity(70, "kg"), "w1"), observation("29463-7", quantity(80, "kg"), "w2"),
                   observation("8302-2", quantity(160, "cm"), "h1"), observation("8302-2", quantity(170, "cm"), "h2"))
    assert reading.conflicting == ("height_cm", "weight_kg")
    assert reading.facts == {}


# -- patients ---------------------------------------------------------------------------------------

def test_two_copies_of_one_patient_read_once_and_the_copy_is_listed(bindings: Bindings) -> None:
    """The same Patient twice (say, from two searches) gives its facts once; the copy is named, not read."""
    reading = read(bindings, patient(birthDate="1970-03-01"), patient(birthDate="1970-03-01"))
    assert unmapped(reading) == [("Patient/p (a copy)", "an identical copy: read once")]
    assert [e[0] for e in evidence(reading)] == ["age_years"]


@pytest.mark.parametrize("count", [2, 3])
def test_more_than_one_patient_is_refused_with_the_count(bindings: Bindings, count: int) -> None:
    """One consultation is one patient's."""
    with pytest.raises(InputError) as refused:
        read(bindings, *(patient(f"p{n}") for n in range(count)))
    assert (str(refused.value), refused.value.field) == (
        f"the input holds {count} patients; give one patient's resources", "Patient")


def test_the_named_patient_absent_means_no_patient_is_read(bindings: Bindings) -> None:
    """context.patientId names someone not in the prefetch: no other patient is read in their place."""
    search = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": patient("a", birthDate="1970-03-01")},
                        {"resource": patient("b", birthDate="1980-03-01")}]}
    reading = read_fhir(bindings, hook(patient_id="z", search=search), AS_OF)
    assert reading.patient == "Patient/z" and reading.facts == {}
    assert unmapped(reading) == [("Patient/a", "another patient"), ("Patient/b", "another patient")]


def test_a_resource_about_another_patient_is_listed_and_an_absolute_reference_is_the_patient(
        bindings: Bindings) -> None:
    """References are matched as Patient/id, a fullUrl, or an absolute URL ending in /Patient/id."""
    other = observation("29463-7", quantity(70, "kg"), "w") | {"subject": {"reference": "Patient/q"}}
    absolute = observation("8302-2", quantity(165, "cm"), "h") | {
        "subject": {"reference": "https://ehr.example/fhir/Patient/p"}}
    similar = observation("98979-8", quantity(40, EGFR_UNIT), "e") | {"subject": {"reference": "Patient/pp"}}
    reading = read(bindings, patient(), other, absolute, similar)
    assert reading.facts == {"height_cm": 165}
    assert unmapped(reading) == [("Observation/w", "about another patient (Patient/q)"),
                                 ("Observation/e", "about another patient (Patient/pp)")]


def test_without_a_patient_the_one_patient_its_resources_name_is_read(bindings: Bindings) -> None:
    """A Bundle of results alone (no Patient) is read when every result names the same patient."""
    reading = read(bindings, observation("29463-7", quantity(70, "kg")) | {"subject": {"reference": "Patient/q"}})
    assert reading.facts == {"weight_kg": 70} and reading.patient == "Patient/q" and reading.unmapped == ()


def test_without_a_patient_resources_naming_two_patients_are_refused(bindings: Bindings) -> None:
    """Patient/a's diagnosis, Patient/b's weight: no consultation can mix them."""
    with pytest.raises(InputError, match="the input holds no Patient and its resources name 2 patients"):
        read(bindings, condition(ICD, "M33.10") | {"subject": {"reference": "Patient/a"}},
             observation("29463-7", quantity(130, "kg")) | {"subject": {"reference": "Patient/b"}})


def test_a_resource_naming_the_patient_by_identifier_is_read_and_another_identifier_is_not(bindings: Bindings) -> None:
    """A subject with only an identifier is the patient's when the Patient carries that identifier."""
    mrn = {"system": "urn:hospital:mrn", "value": "123"}
    reading = read(bindings, patient(identifier=[mrn]),
                   observation("29463-7", quantity(70, "kg"), rid="w") | {"subject": {"identifier": mrn}},
                   observation("8302-2", quantity(165, "cm"), rid="h")
                   | {"subject": {"identifier": {"system": "urn:hospital:mrn", "value": "999"},
                                  "display": "another patient"}})
    assert reading.facts.get("weight_kg") == 70 and "height_cm" not in reading.facts
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("Observation/h", "about a patient named by identifier 999, which the Patient does not carry")]


@pytest.mark.parametrize(("born", "as_of", "years"), [
    ("1970-03-01", dt.date(2026, 3, 1), 56),    # the birthday itself
    ("1970-03-01", dt.date(2026, 2, 28), 55),   # the day before
    ("1970-03-01", dt.date(2026, 3, 2), 56),
    ("1970-03-15", dt.date(2026, 3, 14), 55),   # same month, a day short
    ("1970-03-15", dt.date(2026, 3, 16), 56),
    ("1970-02-15", dt.date(2026, 3, 14), 56),   # an earlier month, a later day
    ("1970-04-14", dt.date(2026, 3, 15), 55),   # a later month, an earlier day
    ("2000-02-29", dt.date(2026, 2, 28), 25),
    ("2000-02-29", dt.date(2026, 3, 1), 26),
    ("2026-01-15", dt.date(2026, 1, 15), 0),
])
def test_age_is_whole_years_turning_on_the_birthday(bindings: Bindings, born: str, as_of: dt.date, years: int) -> None:
    """A patient is a year older on their birthday, not the day before or after."""
    reading = read(bindings, patient(birthDate=born), as_of=as_of)
    assert evidence(reading) == [("age_years", years, "Patient/p", None, born,
                                  f"born {born}: {years} years on {as_of.isoformat()}")]
    assert reading.evidence[0].local_policy == bindings.patient_policies["age_years"]
    assert reading.facts == {"age_years": years}


@pytest.mark.parametrize("born", ["1970", "1970-03"])
def test_a_partial_birth_date_gives_no_age_and_says_why(bindings: Bindings, born: str) -> None:
    """A year (or month) of birth names no birthday: age stays unknown, listed on the element."""
    reading = read(bindings, patient(birthDate=born))
    assert reading.facts == {}
    assert unmapped(reading) == [("Patient/p.birthDate", f"a partial birth date ({born}) gives no age")]


def test_two_different_copies_of_the_patient_are_not_read_without_a_version(bindings: Bindings) -> None:
    """Two Patient resources with one id that disagree, with nothing to tell which is current: neither is
    read (whose birth date is right?), and the reading says so; a version decides."""
    reading = read(bindings, patient(birthDate="1970-01-01"), patient(birthDate="1990-01-01"))
    assert reading.facts == {}
    assert reading.warnings[0].startswith("Patient/p appears 2 times with different content")
    versioned = read(bindings, patient(birthDate="1970-01-01", meta={"versionId": "2"}),
                     patient(birthDate="1990-01-01", meta={"versionId": "1"}))
    assert versioned.facts == {"age_years": 56}


def test_a_birth_date_after_the_as_of_date_gives_no_age_and_says_why(bindings: Bindings) -> None:
    """A birth date in the future is an error in the record: the age stays unknown and listed, not -4."""
    reading = read(bindings, patient(birthDate="2030-01-01"))
    assert reading.facts == {}
    assert unmapped(reading) == [("Patient/p.birthDate", "a birth date after 2026-01-15 (2030-01-01) gives no age")]
    assert evidence(read(bindings, patient(birthDate="2026-01-15"))) == [
        ("age_years", 0, "Patient/p", None, "2026-01-15", "born 2026-01-15: 0 years on 2026-01-15")]


def test_an_age_is_the_difference_of_the_years_however_far_apart(bindings: Bindings) -> None:
    """An implausible birth year still gives its exact age, which the vocabulary then refuses by name."""
    assert read(bindings, patient(birthDate="1000-06-01")).facts == {"age_years": 1025}


def test_no_birth_date_and_no_gender_give_nothing(bindings: Bindings) -> None:
    """Open world: a Patient with no data sets no fact and lists nothing."""
    reading = read(bindings, patient())
    assert reading.facts == {} and reading.unmapped == () and reading.evidence == ()


def sex_of(bindings: Bindings, extensions: list[dict[str, Any]], gender: str | None = None) -> list[tuple[Any, ...]]:
    fields: dict[str, Any] = {"extension": extensions} if extensions else {}
    if gender:
        fields["gender"] = gender
    reading = read(bindings, patient(**fields))
    assert all(e.local_policy == bindings.patient_policies["sex"] for e in reading.evidence)
    return [(e[1], e[5]) for e in evidence(reading, "sex")]


SEX, BIRTHSEX = US_CORE + "us-core-sex", US_CORE + "us-core-birthsex"


@pytest.mark.parametrize(("extensions", "gender", "expected"), [
    ([{"url": SEX, "valueCode": "248152002"}, {"url": SEX, "valueCode": "248153007"}], "female",
     []),                                        # two US Core sexes disagree: unknown, and gender is not asked
    ([{"url": SEX, "valueCode": "F"}], "male", [("female", "US Core sex F")]),
    ([{"url": SEX, "valueCode": "male"}], None, [("male", "US Core sex male")]),
    ([{"url": SEX, "valueCode": "other"}, {"url": SEX, "valueCode": "M"}], None, [("male", "US Core sex M")]),
    ([{"url": SEX, "valueCoding": {"system": SCT, "code": "248152002"}},
      {"url": SEX, "valueCoding": {"system": SCT, "code": "248152002"}}], None,
     [("female", "US Core sex 248152002")]),                               # the same twice is no disagreement
    ([{"url": SEX, "valueCoding": {"system": SCT, "code": "33791000087105"}},
      {"url": SEX, "valueCoding": {"system": SCT, "code": "248153007"}}], None, [("male", "US Core sex 248153007")]),
    ([{"url": SEX, "valueCoding": {"system": SCT, "code": "33791000087105"}}], "female",
     [("female", "gender female")]),
    ([{"url": BIRTHSEX, "valueCode": "F"}], "male", [("female", "US Core birth sex F")]),
    ([{"url": BIRTHSEX, "valueCode": "F"}, {"url": BIRTHSEX, "valueCode": "M"}], None, []),  # they disagree
    ([{"url": BIRTHSEX, "valueCode": "UNK"}], "male", [("male", "gender male")]),
    ([{"url": BIRTHSEX, "valueCode": "female"}], None, []),                 # birth sex is F or M only
    ([{"url": SEX, "valueCode": "248153007"}, {"url": BIRTHSEX, "valueCode": "F"}], "female",
     [("male", "US Core sex 248153007")]),
    ([], "male", [("male", "gender male")]),
    ([], "unknown", []),
    ([], None, []),
])
def test_sex_is_read_by_its_precedence_and_says_from_what(bindings: Bindings, extensions: list[dict[str, Any]],
                                                         gender: str | None, expected: list[tuple[str, str]]) -> None:
    """US Core sex, then birth sex, then gender; the provenance says which gave it; one extension that
    says both female and male leaves sex unknown (the ideal body weight would depend on a guess)."""
    assert sex_of(bindings, extensions, gender) == expected


# -- conditions -------------------------------------------------------------------------------------

def test_an_active_condition_gives_its_fact_with_provenance(bindings: Bindings) -> None:
    """Fact, value, resource, code, onset date and the clinical status read, with the binding's policy."""
    reading = read(bindings, condition(SCT, "40739000", "d", onsetDateTime="2025-05-06T10:00:00Z"))
    assert evidence(reading) == [("dysphagia", True, "Condition/d", "SNOMED 40739000", "2025-05-06T10:00:00Z",
                                  "active condition")]
    assert reading.evidence[0].local_policy == next(b.local_policy for b in bindings.bindings if b.fact == "dysphagia")


@pytest.mark.parametrize("clinical", ["active", "recurrence", "relapse"])
def test_a_recurring_condition_is_current(bindings: Bindings, clinical: str) -> None:
    """Recurrence and relapse are current, and the provenance says which."""
    reading = read(bindings, condition(SCT, "40739000", clinical=clinical, recordedDate="2025-02-03"))
    assert evidence(reading) == [("dysphagia", True, "Condition/c", "SNOMED 40739000", "2025-02-03",
                                  f"{clinical} condition")]


@pytest.mark.parametrize("clinical", ["inactive", "remission", "resolved"])
def test_a_past_condition_is_listed_not_read(bindings: Bindings, clinical: str) -> None:
    """A resolved or remitted condition is not a current one."""
    reading = read(bindings, condition(SCT, "709044004", clinical=clinical))
    assert reading.facts == {} and unmapped(reading) == [
        ("Condition/c", f"clinical status {clinical}: not a current renal_insufficiency")]


def test_a_condition_is_dated_by_onset_before_recorded_date(bindings: Bindings) -> None:
    """The onset is the condition's date; the recorded date only when no onset is given."""
    reading = read(bindings, condition(SCT, "40739000", "a", onsetDateTime="2024-01-02", recordedDate="2025-01-02"),
                   condition(SCT, "709044004", "b", recordedDate="2025-03-04"),
                   condition(SCT, "233703007", "n"))
    assert [(e.resource, e.date) for e in reading.evidence] == [
        ("Condition/a", "2024-01-02"), ("Condition/b", "2025-03-04"), ("Condition/n", None)]


def test_entered_in_error_is_listed_before_its_code_is_looked_at(bindings: Bindings) -> None:
    """An erroneous entry is named as such even when its code is not bound."""
    assert unmapped(read(bindings, condition(SCT, "22298006", verification="entered-in-error"))) == [
        ("Condition/c", "entered in error")]


@pytest.mark.parametrize("verification", ["unconfirmed", "provisional", "differential"])
def test_an_unconfirmed_diagnosis_sets_nothing_and_dates_nothing(bindings: Bindings, verification: str) -> None:
    """A suspected dermatomyositis gives no diagnosis and no months since diagnosis."""
    reading = read(bindings, condition(SCT, "396230008", verification=verification, onsetDateTime="2025-01-10",
                                       severity={"coding": [{"system": SCT, "code": "24484000"}]}))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Condition/c", f"verification status {verification}: sets no fact until confirmed")]


def test_a_refuted_yes_no_condition_is_false_with_its_date(bindings: Bindings) -> None:
    """Refuted dysphagia is explicit evidence of no dysphagia, and the provenance says 'refuted'."""
    reading = read(bindings, condition(SCT, "40739000", verification="refuted", clinical="resolved",
                                       recordedDate="2025-06-07"))
    assert evidence(reading) == [("dysphagia", False, "Condition/c", "SNOMED 40739000", "2025-06-07", "refuted")]
    assert reading.facts == {"dysphagia": False} and reading.unmapped == ()


def test_a_refuted_diagnosis_sets_no_value_and_dates_nothing(bindings: Bindings) -> None:
    """Refuting dermatomyositis does not say which myositis it is, nor when it began."""
    reading = read(bindings, condition(SCT, "396230008", verification="refuted", onsetDateTime="2025-01-10"))
    assert reading.facts == {}
    assert unmapped(reading) == [("Condition/c", "a refuted diagnosis sets no value")]


def test_refuting_a_combination_code_sets_none_of_its_facts(bindings: Bindings) -> None:
    """M33.11 refuted says nothing of respiratory involvement alone: each part is listed, none set."""
    reading = read(bindings, condition(ICD, "M33.11", verification="refuted", clinical=None))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Condition/c", "a refuted diagnosis sets no value"),
                                 ("Condition/c", "a refuted respiratory_involvement sets no value")]


def test_no_verification_status_is_read_as_confirmed(bindings: Bindings) -> None:
    """A Condition with neither status is taken as an active, confirmed entry on the problem list."""
    reading = read(bindings, condition(SCT, "40739000", verification=None, clinical=None))
    assert evidence(reading) == [("dysphagia", True, "Condition/c", "SNOMED 40739000", None, "active condition")]


def test_a_combination_code_gives_each_fact_and_dates_the_diagnosis_once(bindings: Bindings) -> None:
    """ICD-10-CM M33.11 is dermatomyositis and respiratory involvement; its onset dates the disease."""
    reading = read(bindings, condition(ICD, "M33.11", onsetDateTime="2025-10-15",
                                       severity={"coding": [{"system": SCT, "code": "6736007"}]}))
    assert evidence(reading) == [
        ("diagnosis", "dermatomyositis", "Condition/c", "ICD10CM M33.11", "2025-10-15", "active condition"),
        ("severity", "moderate", "Condition/c", "SNOMED 6736007", "2025-10-15", "Condition.severity"),
        ("respiratory_involvement", True, "Condition/c", "ICD10CM M33.11", "2025-10-15", "active condition"),
        ("months_since_diagnosis", 3, "Condition/c", None, "2025-10-15", "onsetDateTime 2025-10-15: 3 months on 2026-01-15")]


def test_an_unbound_severity_is_listed_on_its_element(bindings: Bindings) -> None:
    """A severity the bindings do not know is named on Condition.severity; the diagnosis still stands."""
    reading = read(bindings, condition(SCT, "31384009", severity={"coding": [{"system": SCT, "code": "1234"}]}))
    assert reading.facts == {"diagnosis": "polymyositis"}
    assert unmapped(reading) == [("Condition/c.severity", "no binding for SNOMED 1234")]
    text_only = read(bindings, condition(SCT, "31384009", severity={"text": "bad"}))
    assert unmapped(text_only) == [("Condition/c.severity", "no binding for 'bad' (no coding)")]


def test_the_first_bound_severity_coding_is_read(bindings: Bindings) -> None:
    """A severity coded twice (an unbound code first) is read from its bound coding, once."""
    reading = read(bindings, condition(SCT, "31384009", severity={"coding": [
        {"system": "http://other.example", "code": "s"}, {"system": SCT, "code": "24484000"},
        {"system": SCT, "code": "255604002"}]}))
    assert reading.facts == {"diagnosis": "polymyositis", "severity": "severe"} and reading.unmapped == ()
    assert [e.read for e in reading.evidence if e.fact == "severity"] == ["Condition.severity"]


@pytest.mark.parametrize(("code", "reason"), [
    ({"coding": [{"system": "http://other.example", "code": "x1"}]}, "no binding for http://other.example|x1"),
    ({"coding": [{"system": SCT, "code": "1"}, {"system": ICD, "code": "Z1"}]}, "no binding for SNOMED 1, ICD10CM Z1"),
    ({"coding": [{"code": "nosystem"}]}, "no binding for a resource with no code"),
    ({"text": "myositis?"}, "no binding for 'myositis?' (no coding)"),
])
def test_an_unbound_condition_is_named_by_its_codes(bindings: Bindings, code: dict[str, Any], reason: str) -> None:
    """The knowledge engineer sees which codes to bind: short names for known systems, URIs otherwise."""
    resource = condition(SCT, "x")
    resource["code"] = code
    assert unmapped(read(bindings, resource)) == [("Condition/c", reason)]


# -- months since diagnosis -------------------------------------------------------------------------

@pytest.mark.parametrize(("onset", "months"), [
    ("2026-01-15", 0), ("2026-01-01", 0), ("2025-12-16", 0), ("2025-12-15", 1), ("2025-01-15", 12),
    ("2025-01-16", 11), ("2024-02-29", 22), ("2025-10-16T23:00:00+10:00", 2),
])
def test_months_since_diagnosis_are_whole_months_to_the_reference_date(bindings: Bindings, onset: str,
                                                                       months: int) -> None:
    """A month is complete on the same day of a later month, not the day before."""
    reading = read(bindings, condition(SCT, "31384009", onsetDateTime=onset))
    day = onset[:10]
    assert evidence(reading, "months_since_diagnosis") == [
        ("months_since_diagnosis", months, "Condition/c", None, day, f"onsetDateTime {day}: {months} months on 2026-01-15")]
    assert reading.evidence[-1].local_policy == bindings.patient_policies["months_since_diagnosis"]


@pytest.mark.parametrize("onset", ["2026-01-16", "2027-01-01"])
def test_a_diagnosis_after_the_reference_date_gives_no_months_but_a_warning(bindings: Bindings, onset: str) -> None:
    """A future onset is a data error to look at, not a negative month count."""
    reading = read(bindings, condition(SCT, "31384009", onsetDateTime=onset))
    assert "months_since_diagnosis" not in reading.facts
    assert reading.warnings == (f"Condition/c: the diagnosis is dated {onset}, after the reference date 2026-01-15",)


def test_onset_period_start_then_recorded_date_date_the_disease(bindings: Bindings) -> None:
    """Without onsetDateTime, the period's start; without either, the recorded date (so at least this long)."""
    period = read(bindings, condition(SCT, "31384009", onsetPeriod={"start": "2025-11-15"}, recordedDate="2025-01-01"))
    assert evidence(period, "months_since_diagnosis")[0][4:] == (
        "2025-11-15", "onsetPeriod.start 2025-11-15: 2 months on 2026-01-15")
    recorded = read(bindings, condition(SCT, "31384009", onsetPeriod={"end": "2025-11-15"}, recordedDate="2025-09-15"))
    assert evidence(recorded, "months_since_diagnosis")[0][4:] == (
        "2025-09-15", "recordedDate (so at least this long) 2025-09-15: 4 months on 2026-01-15")


def test_a_partial_onset_is_not_replaced_by_a_later_element(bindings: Bindings) -> None:
    """The onset given (if partial) is the one that counts: the recorded date does not stand in for it."""
    reading = read(bindings, condition(SCT, "31384009", onsetDateTime="2025-10", recordedDate="2025-11-01"))
    assert "months_since_diagnosis" not in reading.facts
    assert unmapped(reading) == [("Condition/c.onsetDateTime", "a partial date (2025-10) gives no months since diagnosis")]
    assert reading.evidence[0].date == "2025-10"   # the diagnosis is dated as given


def test_the_earliest_of_several_diagnosis_conditions_dates_the_disease(bindings: Bindings) -> None:
    """Two dermatomyositis entries: the disease is as old as the first one."""
    reading = read(bindings, condition(SCT, "396230008", "late", onsetDateTime="2025-06-01"),
                   condition(ICD, "M33.10", "early", onsetDateTime="2024-06-01"),
                   condition(ICD, "M33.12", "partial", onsetDateTime="2023"))
    assert reading.facts["months_since_diagnosis"] == 19
    assert evidence(reading, "months_since_diagnosis")[0][2] == "Condition/early"
    assert ("Condition/partial.onsetDateTime", "a partial date (2023) gives no months since diagnosis") in unmapped(reading)


def test_a_diagnosis_without_any_date_gives_no_months(bindings: Bindings) -> None:
    """No onset, no recorded date: months unknown, nothing listed."""
    reading = read(bindings, condition(SCT, "31384009"))
    assert reading.facts == {"diagnosis": "polymyositis"} and reading.unmapped == () and reading.warnings == ()


# -- observations -----------------------------------------------------------------------------------

@pytest.mark.parametrize("status", ["final", "amended", "corrected"])
def test_final_amended_and_corrected_results_are_read(bindings: Bindings, status: str) -> None:
    """A corrected weight is a result like a final one."""
    assert read(bindings, observation("29463-7", quantity(70, "kg"), status=status)).facts == {"weight_kg": 70}


@pytest.mark.parametrize("status", ["registered", "preliminary", "cancelled", "entered-in-error", "unknown"])
def test_other_statuses_are_listed(bindings: Bindings, status: str) -> None:
    """Only final results are read, and the status is named."""
    reading = read(bindings, observation("29463-7", quantity(70, "kg"), status=status))
    assert reading.facts == {} and unmapped(reading) == [("Observation/o", f"status {status}: only final results are read")]


def test_an_unbound_observation_is_listed_before_its_status(bindings: Bindings) -> None:
    """An unbound code is named, whatever its status."""
    reading = read(bindings, observation("1234-5", quantity(70, "kg"), status="preliminary"))
    assert unmapped(reading) == [("Observation/o", "no binding for LOINC 1234-5")]


def test_an_undated_observation_has_no_date(bindings: Bindings) -> None:
    """No effective time and no issue: the provenance shows no date."""
    reading = read(bindings, observation("29463-7", quantity(70, "kg"), date=None))
    assert evidence(reading) == [("weight_kg", 70, "Observation/o", "LOINC 29463-7", None, "70 kg")]


def test_a_dated_value_beats_an_undated_one(bindings: Bindings) -> None:
    """An undated result is the oldest: any dated one is more recent, and the reading says which was read."""
    reading = read(bindings, observation("29463-7", quantity(90, "kg"), "u", date=None),
                   observation("29463-7", quantity(70, "kg"), "d", date="2001-01-01"))
    assert reading.facts == {"weight_kg": 70}
    assert reading.warnings[0] == "weight_kg: Observation/u undated (90); the dated Observation/d (70, 2001-01-01) is read"


def test_two_undated_values_that_disagree_are_a_conflict_without_a_day(bindings: Bindings) -> None:
    """The warning says no day when there is none."""
    reading = read(bindings, observation("29463-7", quantity(90, "kg"), "a", date=None),
                   observation("29463-7", quantity(70, "kg"), "b", date=None))
    assert reading.warnings == ("weight_kg: Observation/a says 90, Observation/b says 70; left unknown",)


def test_the_same_value_twice_on_one_day_is_no_conflict(bindings: Bindings) -> None:
    """A repeated weight agrees with itself."""
    reading = read(bindings, observation("29463-7", quantity(70, "kg"), "a"),
                   observation("29463-7", quantity(70000, "g"), "b"))
    assert reading.facts == {"weight_kg": 70} and reading.warnings == () and reading.conflicting == ()


def test_the_newest_of_three_dates_wins_whatever_the_order(bindings: Bindings) -> None:
    """Most recent by date, not by position in the Bundle."""
    reading = read(bindings, observation("29463-7", quantity(71, "kg"), "a", "2025-06-01"),
                   observation("29463-7", quantity(72, "kg"), "b", "2025-12-01T08:00:00Z"),
                   observation("29463-7", quantity(70, "kg"), "c", "2024-01-01"))
    assert reading.facts == {"weight_kg": 72}


def test_an_effective_time_is_kept_as_its_utc_instant(bindings: Bindings) -> None:
    """A dateTime with an offset keeps its time, in UTC, so two values of one day are ordered; midnight with
    an offset is an instant too (00:00-10:00 is 10:00Z, after a 05:00Z value of that day)."""
    reading = read(bindings, observation("29463-7", quantity(70, "kg"), date="2025-12-01T23:30:00+10:00"))
    assert reading.evidence[0].date == "2025-12-01T13:30:00Z"
    later = read(bindings, observation("29463-7", quantity(60, "kg"), "a", date="2026-01-05T00:00:00-10:00"),
                 observation("29463-7", quantity(90, "kg"), "b", date="2026-01-05T05:00:00+00:00"))
    assert later.facts == {"weight_kg": 60} and later.evidence[0].date == "2026-01-05T10:00:00Z"


@pytest.mark.parametrize(("value", "unit", "read_as", "fact_value"), [
    (154.32, "[lb_av]", "154.32 [lb_av] = 70 kg", 70),
    (100, "[lb_av]", "100 [lb_av] = 45.36 kg", 45.36),
    (70500, "g", "70500 g = 70.5 kg", 70.5),
    (70, "kg", "70 kg", 70),
    (70.25, "kg", "70.25 kg", 70.25),
    (70.0, "kg", "70.0 kg", 70),
])
def test_a_weight_is_converted_and_said_exactly(bindings: Bindings, value: float, unit: str, read_as: str,
                                               fact_value: float) -> None:
    """The provenance line shows what was read and what it became; whole numbers become integers."""
    reading = read(bindings, observation("29463-7", quantity(value, unit)))
    assert evidence(reading) == [("weight_kg", fact_value, "Observation/o", "LOINC 29463-7", "2026-01-05", read_as)]
    assert type(reading.facts["weight_kg"]) is type(fact_value)


@pytest.mark.parametrize(("value", "expected"), [({"valueQuantity": {"unit": "kg", "code": "kg"}}, None),
                                                  ({"valueInteger": 70}, None), ({"valueString": "70"}, None)])
def test_a_weight_without_a_quantity_value_is_listed(bindings: Bindings, value: dict[str, Any], expected: None) -> None:
    """No number in a valueQuantity: nothing guessed, the reason named."""
    reading = read(bindings, observation("29463-7", value))
    assert reading.facts.get("weight_kg") is expected
    assert unmapped(reading) == [("Observation/o", "no valueQuantity for weight_kg")]


def test_a_quantity_without_unit_is_refused_with_the_allowed_units(bindings: Bindings) -> None:
    """A bare number has no unit: it is never taken as kg."""
    reading = read(bindings, observation("29463-7", {"valueQuantity": {"value": 70}}))
    assert unmapped(reading) == [("Observation/o", "a unit that is not a UCUM code (no unit): units are read from "
                                                    "UCUM (http://unitsofmeasure.org) only")]


def test_the_code_of_a_quantity_wins_over_its_display_unit(bindings: Bindings) -> None:
    """UCUM code 'g' with a display unit 'kg' is read as grams."""
    reading = read(bindings, observation("29463-7", {"valueQuantity": {"value": 70000, "unit": "kg", "code": "g",
                                                                       "system": UCUM}}))
    assert reading.facts == {"weight_kg": 70}


def test_a_count_is_read_from_an_integer(bindings: Bindings) -> None:
    """IVIG courses given as valueInteger, unit '1'; as a quantity of {course}."""
    counted = read(bindings, observation("ivig-courses-given", {"valueInteger": 3}, system=LOCAL))
    assert evidence(counted) == [("ivig_courses_given", 3, "Observation/o", "MYOIVIG ivig-courses-given", "2026-01-05",
                                  "3 1")]
    quantity_read = read(bindings, observation("ivig-courses-given", quantity(2, "{course}"), system=LOCAL))
    assert evidence(quantity_read)[0][1:] == (2, "Observation/o", "MYOIVIG ivig-courses-given", "2026-01-05",
                                              "2 {course}")


@pytest.mark.parametrize(("value", "unit", "comparator", "expected", "read_as"), [
    (6.99, "mg/dL", None, True, "6.99 mg/dL: below 7"),
    (7, "mg/dL", None, False, "7 mg/dL: not below 7"),
    (7.01, "mg/dL", None, False, "7.01 mg/dL: not below 7"),
    (7, "mg/dL", "<", True, "<7 mg/dL: below 7"),
    (6, "mg/dL", "<=", True, "<=6 mg/dL: below 7"),
    (7, "mg/dL", ">=", False, ">=7 mg/dL: not below 7"),
    (7, "mg/dL", ">", False, ">7 mg/dL: not below 7"),
    (8, "mg/dL", ">", False, ">8 mg/dL: not below 7"),
])
def test_a_threshold_reads_each_side_and_says_which(bindings: Bindings, value: float, unit: str, comparator: str | None,
                                                   expected: bool, read_as: str) -> None:
    """IgA below 7 mg/dL is deficiency; the threshold itself is not below; a bound decides when it can."""
    reading = read(bindings, observation("2458-8", quantity(value, unit, comparator)))
    assert evidence(reading) == [("iga_deficiency", expected, "Observation/o", "LOINC 2458-8", "2026-01-05", read_as)]
    assert reading.evidence[0].local_policy == next(b.local_policy for b in bindings.bindings if b.name == "iga_level")


@pytest.mark.parametrize(("value", "comparator", "expected"), [
    (0.0699, None, True), (0.07, None, False), (0.05, "<", True), (0.0701, ">=", False)])
def test_a_threshold_in_another_unit_is_compared_after_conversion(bindings: Bindings, value: float,
                                                                  comparator: str | None, expected: bool) -> None:
    """IgA in g/L is multiplied by 100 before it meets the 7 mg/dL threshold."""
    reading = read(bindings, observation("2458-8", quantity(value, "g/L", comparator)))
    assert reading.facts == {"iga_deficiency": expected}


def test_a_converted_threshold_value_names_the_threshold_unit(bindings: Bindings) -> None:
    """The clinician checks '0.0699 g/L = 6.99 mg/dL' against the chart, not '6.99 None'."""
    reading = read(bindings, observation("2458-8", quantity(0.0699, "g/L")))
    assert reading.evidence[0].read == "0.0699 g/L = 6.99 mg/dL: below 7"


def test_an_inclusive_bound_at_the_threshold_does_not_decide(bindings: Bindings) -> None:
    """'<=7' may be 7 itself, which is not below 7: the fact must stay unknown."""
    reading = read(bindings, observation("2458-8", quantity(7, "mg/dL", "<=")))
    assert "iga_deficiency" not in reading.facts


@pytest.mark.parametrize(("value", "comparator", "shown"), [
    (7.01, "<", "<7.01 mg/dL"), (10, "<=", "<=10 mg/dL"), (6.99, ">", ">6.99 mg/dL"), (5, ">=", ">=5 mg/dL")])
def test_a_bound_on_the_wrong_side_leaves_the_threshold_open(bindings: Bindings, value: float, comparator: str,
                                                            shown: str) -> None:
    """'<7.01' may be 7.005 or 3: the side of 7 is not known, and the line says so."""
    reading = read(bindings, observation("2458-8", quantity(value, "mg/dL", comparator)))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Observation/o", f"{shown} is a bound that does not say which side of 7 the value lies")]


def test_a_bound_is_not_a_weight(bindings: Bindings) -> None:
    """'>150 [lb_av]' is named with its conversion, and the weight stays unknown."""
    reading = read(bindings, observation("29463-7", quantity(150, "[lb_av]", ">")))
    assert unmapped(reading) == [("Observation/o", ">150 [lb_av] = >68.04 kg is a bound, not a value")]


def test_an_egfr_threshold_shows_its_fractional_threshold_exactly(bindings: Bindings) -> None:
    """eGFR 59.5 is below 60; the line names the unit as UCUM writes it."""
    reading = read(bindings, observation("33914-3", quantity(59.5, EGFR_UNIT)))
    assert evidence(reading) == [("renal_insufficiency", True, "Observation/o", "LOINC 33914-3", "2026-01-05",
                                  "59.5 mL/min/{1.73_m2}: below 60")]


# -- assessments ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("answer", "value", "read_as"), [(True, True, "answered yes"), (False, False, "answered no")])
def test_an_assessment_answered_yes_or_no(bindings: Bindings, answer: bool, value: bool, read_as: str) -> None:
    """A clinician's yes or no is the fact, with the assessment's code."""
    reading = read(bindings, observation("flare", {"valueBoolean": answer}, system=LOCAL))
    assert evidence(reading) == [("flare", value, "Observation/o", "MYOIVIG flare", "2026-01-05", read_as)]


def test_an_assessment_answered_with_a_bound_code(bindings: Bindings) -> None:
    """Thrombotic risk answered with a recorded risk factor's code is true, and names the code."""
    reading = read(bindings, observation("thrombotic-risk", {"valueCodeableConcept": {"coding": [
        {"system": "http://other.example", "code": "z"}, {"system": ICD, "code": "D68.61"}]}}, system=LOCAL))
    assert evidence(reading) == [("thrombotic_risk", True, "Observation/o", "MYOIVIG thrombotic-risk", "2026-01-05",
                                  "answered ICD10CM D68.61")]


def test_a_severity_assessment_gives_the_severity_code_it_names(bindings: Bindings) -> None:
    """Answered 'Mild' it is mild."""
    reading = read(bindings, observation("myositis-severity", {"valueCodeableConcept": {"coding": [
        {"system": SCT, "code": "255604002"}]}}, system=LOCAL))
    assert evidence(reading) == [("severity", "mild", "Observation/o", "MYOIVIG myositis-severity", "2026-01-05",
                                  "answered SNOMED 255604002")]


@pytest.mark.parametrize("value", [{}, {"valueString": "yes"}, {"valueCodeableConcept": {"coding": [
    {"system": LOCAL, "code": "flare"}]}}])
def test_an_assessment_with_no_readable_answer_is_listed(bindings: Bindings, value: dict[str, Any]) -> None:
    """Text or an unbound code (even the question's own code) is no answer."""
    reading = read(bindings, observation("flare", value, system=LOCAL))
    assert reading.facts == {}
    assert unmapped(reading) == [("Observation/o", "an assessment is answered by valueBoolean or a bound "
                                                    "valueCodeableConcept, and this one has neither")]


# -- results (antibodies) ---------------------------------------------------------------------------

@pytest.mark.parametrize(("value", "positive"), [
    (POS, True), (NEG, False),
    ({"interpretation": [{"coding": [{"system": V3, "code": "POS"}]}]}, True),
    ({"interpretation": [{"coding": [{"system": V3, "code": "H"}]}, {"coding": [{"system": V3, "code": "NEG"}]}]}, False),
    ({"valueString": " POSITIVE"}, True), ({"valueString": "Negative "}, False),
    ({"valueBoolean": True}, True), ({"valueBoolean": False}, False),
    ({**POS, "interpretation": [{"coding": [{"system": V3, "code": "NEG"}]}]}, True),  # positive named first wins
])
def test_a_yes_no_result_is_positive_or_negative(bindings: Bindings, value: dict[str, Any], positive: bool) -> None:
    """Anti-IgA antibodies: a code, an interpretation, a word or a boolean say positive or negative."""
    reading = read(bindings, observation("anti-iga", value, system=LOCAL))
    assert evidence(reading) == [("anti_iga_antibodies", positive, "Observation/o", "MYOIVIG anti-iga", "2026-01-05",
                                  "positive" if positive else "negative")]
    assert reading.facts == {"anti_iga_antibodies": positive}


@pytest.mark.parametrize("value", [{"valueQuantity": {"value": 40, "unit": "U"}}, {"valueString": "borderline"},
                                   {"interpretation": [{"coding": [{"system": V3, "code": "H"}]}]}])
def test_a_result_that_is_neither_is_listed_with_why(bindings: Bindings, value: dict[str, Any]) -> None:
    """A titre alone is not read: cut-offs differ by assay."""
    reading = read(bindings, observation("93493-5", value))
    assert reading.facts == {} and reading.evidence == ()
    assert unmapped(reading) == [("Observation/o", "neither positive nor negative (a bare number is not read: "
                                                    "cut-offs are assay-specific)")]




def antibody(name: str, value: dict[str, Any], date: str | None = "2026-01-05", rid: str | None = None) -> dict[str, Any]:
    code, system = ANTIBODIES[name]
    return observation(code, value, rid or name.replace("_", "-"), date, system=system)


def test_a_positive_antibody_is_listed_with_its_evidence(bindings: Bindings) -> None:
    """The list holds the positive antibodies, sorted; each result is cited."""
    reading = read(bindings, antibody("anti_srp", POS), antibody("anti_hmgcr", POS), antibody("anti_jo1", NEG))
    assert reading.facts == {"autoantibodies": ["anti_hmgcr", "anti_srp"]}
    assert evidence(reading) == [
        ("autoantibodies", "anti_srp", "Observation/anti-srp", "LOINC 33921-8", "2026-01-05", "positive"),
        ("autoantibodies", "anti_hmgcr", "Observation/anti-hmgcr", "LOINC 93493-5", "2026-01-05", "positive"),
        ("autoantibodies", "anti_jo1", "Observation/anti-jo1", "LOINC 33571-1", "2026-01-05", "negative")]
    assert reading.warnings == ()


def test_a_whole_negative_panel_is_the_empty_list_and_one_missing_leaves_it_unknown(bindings: Bindings) -> None:
    """Seven of eight negative is not 'none found': the untested one is named."""
    names = sorted(ANTIBODIES)
    assert read(bindings, *(antibody(n, NEG) for n in names)).facts == {"autoantibodies": []}
    seven = read(bindings, *(antibody(n, NEG) for n in names if n != "anti_sae"))
    assert seven.facts == {} and seven.conflicting == ()
    assert seven.warnings == ("autoantibodies: anti_hmgcr, anti_jo1, anti_mda5, anti_mi2, anti_nxp2, anti_srp, "
                              "anti_tif1g negative, anti_sae not tested: left unknown (an empty list means all "
                              "tested, none found)",)


@pytest.mark.parametrize(("results", "expected"), [
    ([("2015-01-01", POS), ("2026-01-05", NEG), ("2020-01-01", POS)], []),     # a newer negative ends a positive
    ([("2026-01-05", POS), ("2015-01-01", NEG)], ["anti_hmgcr"]),             # a newer positive ends a negative
    ([(None, NEG), ("2000-01-01", POS)], ["anti_hmgcr"]),                     # undated is oldest
    ([("2026-01-05", POS), ("2026-01-05", POS)], ["anti_hmgcr"]),             # agreeing repeats are one answer
])
def test_each_antibody_is_its_latest_result(bindings: Bindings, results: list[tuple[str | None, dict[str, Any]]],
                                           expected: list[str]) -> None:
    """Only the latest result of an antibody counts; the rest of the panel is negative here."""
    others = [antibody(n, NEG) for n in sorted(ANTIBODIES) if n != "anti_hmgcr"]
    history = [antibody("anti_hmgcr", value, date, f"h{i}") for i, (date, value) in enumerate(results)]
    reading = read(bindings, *history, *others)
    assert reading.facts == {"autoantibodies": expected} and reading.warnings == ()


def test_a_same_day_disagreement_leaves_that_antibody_unknown(bindings: Bindings) -> None:
    """Positive and negative on one day: the antibody is unknown, so is the list unless another is positive."""
    undated = read(bindings, antibody("anti_mi2", POS, None, "a"), antibody("anti_mi2", NEG, None, "b"))
    assert undated.facts == {} and undated.conflicting == ("autoantibodies",)
    assert undated.warnings[0] == "autoantibodies: anti_mi2 is both positive and negative on an undated day; anti_mi2 left unknown"
    with_positive = read(bindings, antibody("anti_mi2", POS, rid="a"), antibody("anti_mi2", NEG, rid="b"),
                         antibody("anti_srp", POS))
    assert with_positive.facts == {"autoantibodies": ["anti_srp"]}
    assert with_positive.warnings == ("autoantibodies: anti_mi2 is both positive and negative on 2026-01-05; "
                                      "anti_mi2 left unknown",)


# -- medications and lists --------------------------------------------------------------------------

def test_active_therapies_make_a_sorted_list_without_repeats(bindings: Bindings) -> None:
    """Each bound active therapy once, whatever the order and however many records name it."""
    reading = read(bindings, medication(rid="a", code="105585", authoredOn="2025-12-01"),
                   medication("MedicationStatement", "b", "8640", dateAsserted="2025-11-02T10:00:00Z"),
                   medication(rid="c", code="312615"), medication("MedicationStatement", "d", "6851", status="intended"))
    assert reading.facts == {"current_therapies": ["corticosteroids", "methotrexate"]}
    assert evidence(reading) == [
        ("current_therapies", "methotrexate", "MedicationRequest/a", "RXNORM 105585", "2025-12-01", "active MedicationRequest"),
        ("current_therapies", "corticosteroids", "MedicationStatement/b", "RXNORM 8640", "2025-11-02T10:00:00Z",
         "active MedicationStatement"),
        ("current_therapies", "corticosteroids", "MedicationRequest/c", "RXNORM 312615", None, "active MedicationRequest"),
        ("current_therapies", "methotrexate", "MedicationStatement/d", "RXNORM 6851", None, "intended MedicationStatement")]


@pytest.mark.parametrize(("resource", "reason"), [
    (medication(status="completed"), "status completed: not a current therapy"),
    (medication(status="on-hold"), "status on-hold: not a current therapy"),
    (medication("MedicationStatement", status="stopped"), "status stopped: not a current therapy"),
    (medication(intent="proposal"), "intent proposal: not a current therapy"),
    (medication(intent="option"), "intent option: not a current therapy"),
    (medication(code="999"), "no binding for RXNORM 999"),
    (medication(code=None, medicationReference={"reference": "Medication/absent"}),
     "no binding for a resource with no code"),
])
def test_a_medication_that_is_not_a_current_bound_therapy_is_listed(bindings: Bindings, resource: dict[str, Any],
                                                                   reason: str) -> None:
    """Stopped, proposed or unbound: named with why, and the list stays unknown."""
    reading = read(bindings, resource)
    assert reading.facts == {} and unmapped(reading) == [(f"{resource['resourceType']}/m", reason)]


@pytest.mark.parametrize("intent", ["order", "original-order", "reflex-order", "filler-order", "instance-order", "plan"])
def test_every_order_intent_is_a_current_therapy(bindings: Bindings, intent: str) -> None:
    """An order of any kind, or a plan, is a therapy the patient takes."""
    assert read(bindings, medication(intent=intent)).facts == {"current_therapies": ["corticosteroids"]}


def test_a_referenced_medication_gives_its_code(bindings: Bindings) -> None:
    """Medication read through the request; the Medication itself is not listed as unmapped."""
    drug = {"resourceType": "Medication", "id": "drug", "code": {"coding": [{"system": RXNORM, "code": "1256"}]}}
    unbound = {"resourceType": "Medication", "id": "other", "code": {"coding": [{"system": RXNORM, "code": "1"}]}}
    reading = read(bindings, drug, unbound, medication(code=None, medicationReference={"reference": "Medication/drug"}),
                   medication(rid="n", code=None, medicationReference={"reference": "Medication/other"}))
    assert reading.facts == {"current_therapies": ["azathioprine"]}
    assert unmapped(reading) == [("MedicationRequest/n", "no binding for RXNORM 1")]


def nil_list(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "List", "id": "l", "status": "current", "mode": "snapshot",
            "code": {"coding": [{"system": LOINC, "code": "10160-0"}]}, "subject": {"reference": "Patient/p"},
            "emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                        "code": "nilknown"}]}, **extra}


def test_an_empty_medication_list_nil_known_is_no_current_therapy(bindings: Bindings) -> None:
    """'Nil known' is explicit evidence: the list is empty, and the List is cited."""
    reading = read(bindings, nil_list(date="2025-12-20T10:00:00Z"))
    assert reading.facts == {"current_therapies": []}
    assert evidence(reading) == [("current_therapies", None, "List/l", "LOINC 10160-0", "2025-12-20T10:00:00Z",
                                  "an empty list: nil known")]
    assert reading.unmapped == ()
    with_therapy = read(bindings, nil_list(), medication())
    assert with_therapy.facts == {"current_therapies": ["corticosteroids"]}


@pytest.mark.parametrize("change", [
    {"emptyReason": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/list-empty-reason",
                                 "code": "notasked"}]}},
    {"emptyReason": None},
    {"code": {"coding": [{"system": LOINC, "code": "1-8"}]}},
    {"entry": [{"item": {"reference": "MedicationStatement/x"}}], "emptyReason": None},
])
def test_any_other_list_is_listed_as_not_read(bindings: Bindings, change: dict[str, Any]) -> None:
    """Not asked, not a medication list, or a list with entries: only 'nil known' is read."""
    resource = {k: v for k, v in {**nil_list(), **change}.items() if v is not None}
    reading = read(bindings, resource)
    assert reading.facts == {}
    assert unmapped(reading) == [("List/l", "only an empty current-medication list (emptyReason nilknown) is read")]


def test_both_empty_medication_searches_are_no_current_therapy(bindings: Bindings) -> None:
    """Two empty searchsets answer the question; one with an entry or a missing one does not."""
    empty = {"resourceType": "Bundle", "type": "searchset", "entry": []}
    both = read_fhir(bindings, hook(patient=patient(), medicationRequests=empty,
                                    medicationStatements={"resourceType": "Bundle", "type": "searchset"}), AS_OF)
    assert both.facts == {"current_therapies": []}
    assert evidence(both) == [("current_therapies", None, "prefetch medicationRequests and medicationStatements", None,
                               None, "both searches for active medication came back empty")]
    assert both.evidence[0].local_policy == next(b.local_policy for b in bindings.bindings if b.fact == "current_therapies")
    filled = {"resourceType": "Bundle", "type": "searchset", "entry": [{"resource": medication(code="1")}]}
    one = read_fhir(bindings, hook(patient=patient(), medicationRequests=filled, medicationStatements=empty), AS_OF)
    assert one.facts == {}
    missing = read_fhir(bindings, hook(patient=patient(), medicationRequests=empty), AS_OF)
    assert missing.facts == {}
    not_bundle = read_fhir(bindings, hook(patient=patient(), medicationRequests=empty,
                                          medicationStatements=patient()), AS_OF)
    assert "current_therapies" not in not_bundle.facts


# -- resources not read -----------------------------------------------------------------------------

def test_each_unread_kind_of_resource_is_listed_in_order(bindings: Bindings) -> None:
    """Nested Bundles, EHR errors and types myoivig does not read are named, in input order."""
    reading = read(bindings, {"resourceType": "Bundle", "type": "collection"},
                   {"resourceType": "OperationOutcome", "id": "oo", "issue": [{"severity": "error", "code": "timeout"}]},
                   {"resourceType": "Encounter", "id": "e", "status": "finished", "class": {"code": "AMB"}},
                   {"resourceType": "Medication", "id": "m"}, {"resourceType": "Foo"})
    assert unmapped(reading) == [("Bundle/(no id)", "a Bundle inside the input is not opened"),
                                 ("OperationOutcome/oo", "an error the EHR returned in place of data"),
                                 ("Encounter/e", "myoivig reads no Encounter resources"),
                                 ("Foo/(no id)", "myoivig reads no Foo resources")]


# -- which value stands -----------------------------------------------------------------------------

def test_two_diagnoses_over_time_leave_the_diagnosis_unknown_and_a_repeat_does_not(bindings: Bindings) -> None:
    """An old polymyositis and a new dermatomyositis name two diseases; the same one twice is one."""
    two = read(bindings, condition(SCT, "31384009", "old", onsetDateTime="2020-01-01"),
               condition(SCT, "396230008", "new", onsetDateTime="2025-01-01"))
    assert "diagnosis" not in two.facts and two.conflicting == ("diagnosis",)
    assert two.warnings == ("diagnosis: resources name dermatomyositis, polymyositis; left unknown",)
    same = read(bindings, condition(SCT, "31384009", "old", onsetDateTime="2020-01-01"),
                condition(ICD, "M33.20", "new", onsetDateTime="2025-01-01"))
    assert same.facts["diagnosis"] == "polymyositis" and same.warnings == ()


def test_a_diagnosis_in_conflict_leaves_every_other_fact_read(bindings: Bindings) -> None:
    """The conflict is the diagnosis's alone: facts read after it (weight, age) still stand."""
    reading = read(bindings, condition(SCT, "31384009", "old", onsetDateTime="2020-01-01"),
                   condition(SCT, "396230008", "new", onsetDateTime="2025-01-01"),
                   observation("29463-7", quantity(70, "kg")), patient(birthDate="1970-01-01"))
    assert reading.conflicting == ("diagnosis",)
    assert {k: reading.facts.get(k) for k in ("weight_kg", "age_years")} == {"weight_kg": 70, "age_years": 56}


def test_an_older_different_value_of_another_fact_is_superseded_silently(bindings: Bindings) -> None:
    """A weight that changed is no conflict: the newest stands."""
    reading = read(bindings, observation("29463-7", quantity(80, "kg"), "a", "2025-12-01"),
                   observation("29463-7", quantity(70, "kg"), "b", "2026-01-06"))
    assert reading.facts == {"weight_kg": 70} and reading.warnings == () and reading.conflicting == ()


def test_an_active_condition_stands_against_a_newer_false(bindings: Bindings) -> None:
    """A problem-list CKD outweighs today's normal eGFR, with a warning naming both and the eGFR's date."""
    reading = read(bindings, condition(SCT, "709044004", "ckd"),
                   observation("98979-8", quantity(75, EGFR_UNIT), "egfr", date=None),
                   observation("98979-8", quantity(80, EGFR_UNIT), "egfr2", date="2025-01-01"))
    assert reading.facts == {"renal_insufficiency": True}
    assert reading.warnings == ("renal_insufficiency: Condition/ckd (active) says true, Observation/egfr2 (2025-01-01) "
                                "says false; the active Condition stands [local policy]",)
    undated = read(bindings, condition(SCT, "709044004", "ckd", onsetDateTime="2020-01-01"),
                   observation("98979-8", quantity(75, EGFR_UNIT), "egfr", date="2026-01-01"),
                   observation("98979-8", quantity(75, EGFR_UNIT), "old", date=None))
    assert undated.facts == {"renal_insufficiency": True}


def test_a_true_lab_and_a_refuted_condition_follow_the_newest(bindings: Bindings) -> None:
    """Only an active Condition stands against a newer false; a newer true simply wins."""
    reading = read(bindings, condition(SCT, "709044004", "ckd", verification="refuted", recordedDate="2020-01-01"),
                   observation("98979-8", quantity(40, EGFR_UNIT), "egfr"))
    assert reading.facts == {"renal_insufficiency": True} and reading.warnings == ()
    refuted_newer = read(bindings, condition(SCT, "709044004", "ckd", verification="refuted", recordedDate="2026-01-10"),
                         observation("98979-8", quantity(40, EGFR_UNIT), "egfr"))
    assert refuted_newer.facts == {"renal_insufficiency": False} and refuted_newer.warnings == ()


def test_a_false_answer_without_a_standing_condition_is_false(bindings: Bindings) -> None:
    """An assessment answered no, with no active Condition, is simply false."""
    reading = read(bindings, observation("thrombotic-risk", {"valueBoolean": False}, system=LOCAL))
    assert reading.facts == {"thrombotic_risk": False} and reading.warnings == ()


def test_a_conflict_of_booleans_is_said_in_lower_case(bindings: Bindings) -> None:
    """true/false as the vocabulary writes them."""
    reading = read(bindings, observation("flare", {"valueBoolean": True}, "a", system=LOCAL),
                   observation("flare", {"valueBoolean": False}, "b", system=LOCAL))
    assert reading.warnings == ("flare: Observation/a says true, Observation/b says false on 2026-01-05; left unknown",)
    assert reading.facts == {} and reading.conflicting == ("flare",)


def test_evidence_is_a_plain_record() -> None:
    """Provenance records compare by value (the report and cards match them to facts)."""
    assert Evidence("f", 1, "R/1", None, None, "r") == Evidence("f", 1, "R/1", None, None, "r", None)


# -- boundaries found by comparing the reader against its own variants ----------------------------

def test_a_bundle_with_an_unknown_element_is_refused() -> None:
    """Every element of the Bundle but its entries is checked, whatever its name."""
    with pytest.raises(InputError) as refused:
        validate_shell({"resourceType": "Bundle", "type": "collection", "abc": 1})
    assert (str(refused.value), refused.value.field) == (
        "abc: the Bundle is not valid FHIR R4: Extra inputs are not permitted", "abc")


def test_other_people_in_the_input_are_not_patients(bindings: Bindings) -> None:
    """A Practitioner or a RelatedPerson is listed, never counted as a second patient."""
    reading = read(bindings, patient(birthDate="1970-03-01"), {"resourceType": "Practitioner", "id": "dr"},
                   {"resourceType": "RelatedPerson", "id": "rp", "patient": {"reference": "Patient/p"}})
    assert reading.facts == {"age_years": 55} and reading.patient == "Patient/p"
    assert unmapped(reading) == [("Practitioner/dr", "myoivig reads no Practitioner resources"),
                                 ("RelatedPerson/rp", "myoivig reads no RelatedPerson resources")]


@pytest.mark.parametrize("other", ["q", "a"])
def test_the_context_patient_is_read_and_the_other_listed(bindings: Bindings, other: str) -> None:
    """Of two patients in a request, only the one context.patientId names gives facts."""
    search = {"resourceType": "Bundle", "type": "searchset",
              "entry": [{"resource": patient(other, birthDate="2010-03-01")},
                        {"resource": patient("p", birthDate="1970-03-01")}]}
    reading = read_fhir(bindings, hook(search=search), AS_OF)
    assert reading.facts == {"age_years": 55} and reading.patient == "Patient/p"
    assert unmapped(reading) == [(f"Patient/{other}", "another patient")]


def test_a_resource_type_sorting_before_bundle_is_not_a_bundle(bindings: Bindings) -> None:
    """An AllergyIntolerance is a resource read for its substance, not a nested Bundle."""
    reading = read(bindings, {"resourceType": "AllergyIntolerance", "id": "a", "patient": {"reference": "Patient/p"}})
    assert unmapped(reading) == [("AllergyIntolerance/a", "no binding for a resource with no code")]


def test_a_prefetched_resource_sorting_before_bundle_is_taken_as_a_resource(bindings: Bindings) -> None:
    """A single AllergyIntolerance under a prefetch key is a resource, not a Bundle to open."""
    reading = read_fhir(bindings, hook(allergy={"resourceType": "AllergyIntolerance", "id": "a",
                                                "patient": {"reference": "Patient/p"}}), AS_OF)
    assert unmapped(reading) == [("AllergyIntolerance/a", "no binding for a resource with no code")]


@pytest.mark.parametrize("url", ["http://aaa.example/sex", "http://zzz.example/sex", US_CORE + "us-core-birthsex"])
def test_only_the_us_core_sex_extension_gives_sex_by_code(bindings: Bindings, url: str) -> None:
    """An extension of another URL (or birth sex with a SNOMED code) with a sex code is not the sex."""
    assert sex_of(bindings, [{"url": url, "valueCode": "male"}], "female") == [("female", "gender female")]
    assert sex_of(bindings, [{"url": url, "valueCoding": {"system": SCT, "code": "248153007"}}], "female") == [
        ("female", "gender female")]


@pytest.mark.parametrize("url", ["http://aaa.example/birthsex", "http://zzz.example/birthsex"])
def test_only_the_us_core_birth_sex_extension_gives_birth_sex(bindings: Bindings, url: str) -> None:
    """Another extension coded M is not the birth sex."""
    assert sex_of(bindings, [{"url": url, "valueCode": "M"}], "female") == [("female", "gender female")]


def test_a_condition_that_gives_nothing_dates_nothing(bindings: Bindings) -> None:
    """An erroneous or unbound Condition's onset is never the disease's onset."""
    reading = read(bindings, condition(SCT, "396230008", "err", verification="entered-in-error",
                                       onsetDateTime="2025-01-10"),
                   condition(SCT, "22298006", "mi", onsetDateTime="2025-01-10"))
    assert reading.facts == {} and reading.evidence == () and reading.warnings == ()
    assert unmapped(reading) == [("Condition/err", "entered in error"), ("Condition/mi", "no binding for SNOMED 22298006")]


def test_an_observation_is_dated_by_its_period_else_its_issue(bindings: Bindings) -> None:
    """effectiveDateTime, else effectivePeriod.start, else issued (its day)."""
    period = observation("29463-7", quantity(70, "kg"), "p", date=None) | {"effectivePeriod": {"start": "2025-11-02"}}
    issued = observation("8302-2", quantity(165, "cm"), "i", date=None) | {"issued": "2025-10-03T08:00:00Z"}
    both = observation("98979-8", quantity(70, EGFR_UNIT), "b", date="2025-09-01") | {
        "effectivePeriod": None, "issued": "2025-10-03T08:00:00Z"}
    both = {k: v for k, v in both.items() if v is not None}
    reading = read(bindings, period, issued, both)
    assert [(e.resource, e.date) for e in reading.evidence] == [
        ("Observation/p", "2025-11-02"), ("Observation/i", "2025-10-03T08:00:00Z"), ("Observation/b", "2025-09-01")]


@pytest.mark.parametrize(("code", "value", "unit", "read_as", "fact_value"), [
    ("8302-2", 1.62, "m", "1.62 m = 162 cm", 162),
    ("8302-2", 65, "[in_i]", "65 [in_i] = 165.1 cm", 165.1),
    ("29463-7", -1.5, "[lb_av]", "-1.5 [lb_av] = -0.68 kg", -0.68),
    ("29463-7", -1.5, "kg", "-1.5 kg", -1.5),
])
def test_every_conversion_is_shown_and_negatives_kept(bindings: Bindings, code: str, value: float, unit: str,
                                                     read_as: str, fact_value: float) -> None:
    """Any factor other than 1 shows its result; a negative is passed on as read for the range check."""
    reading = read(bindings, observation(code, quantity(value, unit)))
    assert [(e.value, e.read) for e in reading.evidence] == [(fact_value, read_as)]


@pytest.mark.parametrize("text", ["weakly reactive", "not detected", "equivocal", "present"])
def test_result_words_other_than_positive_and_negative_are_not_guessed(bindings: Bindings, text: str) -> None:
    """Only the words positive and negative count; everything else is listed."""
    reading = read(bindings, observation("anti-iga", {"valueString": text}, system=LOCAL))
    assert reading.facts == {} and [u.reason for u in reading.unmapped] == [
        "neither positive nor negative (a bare number is not read: cut-offs are assay-specific)"]


def test_a_newer_negative_replaces_an_older_positive_without_a_warning(bindings: Bindings) -> None:
    """Anti-IgA antibodies that have gone: the newest result stands, with no conflict."""
    reading = read(bindings, observation("anti-iga", POS, "old", "2020-01-01", system=LOCAL),
                   observation("anti-iga", NEG, "new", "2026-01-01", system=LOCAL))
    assert reading.facts == {"anti_iga_antibodies": False} and reading.warnings == () and reading.conflicting == ()


@pytest.mark.parametrize(("answer", "system"), [("31384009", SCT), ("Z86.718", ICD)])
def test_a_severity_question_is_answered_only_by_a_severity_code(bindings: Bindings, answer: str, system: str) -> None:
    """A diagnosis or a risk-factor code is no answer to 'how severe'."""
    reading = read(bindings, observation("myositis-severity", {"valueCodeableConcept": {"coding": [
        {"system": system, "code": answer}]}}, system=LOCAL))
    assert reading.facts == {} and [u.reason for u in reading.unmapped] == [
        "an assessment is answered by valueBoolean or a bound valueCodeableConcept, and this one has neither"]


def test_what_was_read_cannot_be_altered_afterwards(bindings: Bindings) -> None:
    """Provenance is a record: the reading, its evidence and its unmapped lines are immutable."""
    reading = read(bindings, patient(gender="male"), {"resourceType": "Foo", "id": "f"})
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.evidence[0].value = "female"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.unmapped[0].reason = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        reading.patient = "Patient/q"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        resources_of(bundle()).patient_id = "q"  # type: ignore[misc]
