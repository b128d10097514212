"""The FHIR reader's rules one by one, in process: what each kind of resource and value gives."""
from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import InputError, load_knowledge_base
from myoivig.engine.bindings import load_bindings
from myoivig.engine.fhir import read_fhir

from .builders import SCT, bundle, condition, observation, quantity, read

US_CORE = "http://hl7.org/fhir/us/core/StructureDefinition/"
POSITIVE = {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "10828004"}]}}


def hook_request(*resources: dict[str, Any], patient_id: str = "p", **prefetch: Any) -> dict[str, Any]:
    """A CDS Hooks request whose prefetch holds these resources (the first Patient under `patient`)."""
    patients = [r for r in resources if r["resourceType"] == "Patient"]
    others = [r for r in resources if r["resourceType"] != "Patient"]
    found: dict[str, Any] = {"patient": patients[0] if patients else None,
                             "conditions": {"resourceType": "Bundle", "type": "searchset",
                                            "entry": [{"resource": r} for r in others + patients[1:]]}}
    return {"hook": "patient-view", "hookInstance": "i", "context": {"patientId": patient_id},
            "prefetch": {**found, **prefetch}}


def read_request(document: dict[str, Any]) -> Any:
    return read_fhir(load_bindings(load_knowledge_base(None)), document, dt.date(2026, 1, 15))


def patient(pid: str = "p", **fields: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": pid, **fields}


def test_converted_values_keep_two_decimals() -> None:
    """100 lb is 45.36 kg, not 45.4: the rounding is the documented two decimals."""
    assert read(bundle(observation("29463-7", quantity(100, "[lb_av]")))).facts["weight_kg"] == 45.36


def test_a_negative_non_integer_is_kept_as_read_for_the_range_check() -> None:
    """The reader passes -1.5 on (the vocabulary's range then refuses it), never a rounded -1."""
    assert read(bundle(observation("29463-7", quantity(-1.5, "kg")))).facts["weight_kg"] == -1.5


def test_an_unknown_resource_type_is_listed_and_the_rest_still_read() -> None:
    """A type FHIR R4 lacks is unmapped by name; resources after it are read."""
    reading = read(bundle({"resourceType": "Foo", "id": "x"}, observation("29463-7", quantity(70, "kg"))))
    assert reading.facts["weight_kg"] == 70
    assert [(u.resource, u.reason) for u in reading.unmapped] == [("Foo/x", "myoivig reads no Foo resources")]


def test_an_unknown_contained_resource_is_invalid_fhir() -> None:
    """A Condition containing a resource of no FHIR type is refused with its place, not a traceback."""
    bad = {**condition(SCT, "31384009"), "contained": [{"resourceType": "Foo"}]}
    with pytest.raises(InputError, match=r"^entry\[1\]: Condition/c is not valid FHIR R4: 'R4.FooType'$"):
        read(bundle(bad))


def test_a_hook_request_is_read_from_its_prefetch_and_counts_to_today() -> None:
    """Errors name the prefetch; without --as-of a request's ages count to the reference date given."""
    with pytest.raises(InputError) as refused:
        read_request(hook_request(patient(birthDate="1970-13-01")))
    assert refused.value.field == "prefetch[0].birthDate"
    document = hook_request(patient(birthDate="1970-03-01"))
    today = read_fhir(load_bindings(load_knowledge_base(None)), document)
    assert today.as_of_from == "today" and today.as_of == dt.date.today().isoformat()
    assert read_request(document).facts["age_years"] == 55


def test_a_bundle_without_timestamp_counts_to_today() -> None:
    """No --as-of and no timestamp: today, and the output says so."""
    document = bundle()
    del document["timestamp"]
    assert read_fhir(load_bindings(load_knowledge_base(None)), document).as_of_from == "today"


def test_the_context_patient_is_the_one_read() -> None:
    """Of two patients in the prefetch, the one context.patientId names gives the facts; the other is listed."""
    reading = read_request(hook_request(patient("p", birthDate="1970-03-01"), patient("q", birthDate="2010-03-01")))
    assert reading.facts["age_years"] == 55 and reading.patient == "Patient/p"
    assert [(u.resource, u.reason) for u in reading.unmapped] == [("Patient/q", "another patient")]


def test_a_bundle_of_two_patients_is_refused_and_one_without_a_patient_is_read() -> None:
    """One patient's resources make one consultation; a Bundle of two is an input error."""
    two = bundle(patient("q"))
    with pytest.raises(InputError, match="the input holds 2 patients; give one patient's resources"):
        read(two)
    alone = bundle(observation("29463-7", quantity(70, "kg")))
    alone["entry"] = alone["entry"][1:]
    assert read(alone).facts == {"weight_kg": 70} and read(alone).patient == "Patient/p"  # the one its results name


def test_a_resource_without_subject_is_not_the_patients() -> None:
    """A 130 kg weight that names no patient does not set this patient's dose: it is listed, not read."""
    weight = observation("29463-7", quantity(130, "kg"))
    del weight["subject"]
    reading = read(bundle(weight))
    assert "weight_kg" not in reading.facts
    assert [(u.resource, u.reason) for u in reading.unmapped if u.resource.startswith("Observation")] == [
        (f"Observation/{weight['id']}", "names no patient (no subject): not read as this patient's")]


def test_a_medication_named_by_reference_is_read_from_the_medication() -> None:
    """MedicationStatement.medicationReference to a Medication in the Bundle gives its therapy."""
    medication = {"resourceType": "Medication", "id": "m",
                  "code": {"coding": [{"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}
    statement = {"resourceType": "MedicationStatement", "id": "s", "status": "active",
                 "medicationReference": {"reference": "Medication/m"}, "subject": {"reference": "Patient/p"}}
    assert read(bundle(medication, statement)).facts["current_therapies"] == ["corticosteroids"]


def test_an_operation_outcome_in_place_of_data_is_listed() -> None:
    """A prefetch the EHR could not fill is reported, not read as data."""
    outcome = {"resourceType": "OperationOutcome", "id": "oo",
               "issue": [{"severity": "error", "code": "timeout"}]}
    reading = read_request(hook_request(patient(), outcome))
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("OperationOutcome/oo", "an error the EHR returned in place of data")]


@pytest.mark.parametrize(("extensions", "gender", "expected"), [
    ([{"url": "http://example.org/other", "valueCode": "male"}], "female", "female"),
    ([{"url": US_CORE + "us-core-sex", "valueCoding": {"system": SCT, "code": "248153007"}}], "female", "male"),
    ([{"url": "http://zzz.example/sex", "valueCoding": {"system": SCT, "code": "248153007"}}], "female", "female"),
    ([{"url": "http://aaa.example/birthsex", "valueCode": "M"}], "female", "female"),
    ([{"url": "http://zzz.example/birthsex", "valueCode": "M"}], "female", "female"),
])
def test_only_the_us_core_extensions_say_sex(extensions: list[dict[str, Any]], gender: str, expected: str) -> None:
    """Another extension with a sex-like code is not the patient's sex; US Core sex as a Coding is."""
    document = bundle()
    document["entry"][0]["resource"].update({"gender": gender, "extension": extensions})
    assert read(document).facts["sex"] == expected


def test_only_the_diagnosis_dates_the_disease_and_carries_its_severity() -> None:
    """A dysphagia Condition's onset and severity are not the myositis's."""
    reading = read(bundle(condition(SCT, "40739000", onsetDateTime="2025-01-10",
                                    severity={"coding": [{"system": SCT, "code": "24484000"}]})))
    assert reading.facts == {"age_years": 55, "sex": "female", "dysphagia": True}


def test_months_are_whole_on_the_same_day_of_the_month() -> None:
    """Onset on the 15th, reference date the 15th three months later: 3 months, not 2."""
    assert read(bundle(condition(SCT, "31384009", onsetDateTime="2025-10-15"))).facts["months_since_diagnosis"] == 3


def test_a_partial_onset_date_gives_no_months_and_says_why() -> None:
    """"2025-10" names no day: months since diagnosis stay unknown, listed, never a crash."""
    reading = read(bundle(condition(SCT, "31384009", onsetDateTime="2025-10")))
    assert "months_since_diagnosis" not in reading.facts and reading.facts["diagnosis"] == "polymyositis"
    assert ("Condition/c.onsetDateTime", "a partial date (2025-10) gives no months since diagnosis") in [
        (u.resource, u.reason) for u in reading.unmapped]


def test_a_severity_assessment_reads_only_severity_codes() -> None:
    """Answered with a severity code it gives that severity; with another fact's code it is unmapped."""
    local = "http://example.org/myoivig/CodeSystem/assessment"
    severe = observation("myositis-severity", {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "24484000"}]}},
                         system=local)
    assert read(bundle(severe)).facts["severity"] == "severe"
    other = observation("myositis-severity", {"valueCodeableConcept": {"coding": [
        {"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "Z86.718"}]}}, system=local)
    reading = read(bundle(other))
    assert "severity" not in reading.facts
    assert reading.unmapped[0].reason.startswith("an assessment is answered by valueBoolean or a bound")


@pytest.mark.parametrize(("value", "expected"), [
    ({"valueString": "Positive"}, ["positive"]),
    ({"valueString": " negative "}, ["negative"]),
    ({"valueBoolean": True}, ["positive"]),
    ({"valueBoolean": False}, ["negative"]),
    ({"valueString": "weakly reactive"}, []),
])
def test_a_result_is_positive_or_negative_or_not_read(value: dict[str, Any], expected: list[str]) -> None:
    """Words and booleans count; any other text is not guessed at."""
    reading = read(bundle(observation("93493-5", value)))
    assert [e.read for e in reading.evidence if e.fact == "autoantibodies"] == expected
    assert (reading.facts.get("autoantibodies") == ["anti_hmgcr"]) == (expected == ["positive"])


@pytest.mark.parametrize(("code", "value", "unit", "fact", "expected"), [
    ("2458-8", "<", 5, "iga_deficiency", True),           # under 5 is under 7
    ("2458-8", "<", 7, "iga_deficiency", True),
    ("2458-8", "<", 10, "iga_deficiency", None),          # under 10 may or may not be under 7
    ("2458-8", ">", 7, "iga_deficiency", False),
    ("98979-8", ">", 60, "renal_insufficiency", False),
    ("98979-8", "<", 60, "renal_insufficiency", True),
    ("98979-8", ">=", 30, "renal_insufficiency", None),
    ("29463-7", "<", 100, "weight_kg", None),             # a bound is not a weight
])
def test_a_comparator_decides_a_threshold_only_when_it_can(code: str, value: str, unit: float, fact: str,
                                                           expected: bool | None) -> None:
    """'<10 mg/dL' IgA is not 'not deficient': a bound that leaves the side open leaves the fact unknown, listed."""
    units = {"2458-8": "mg/dL", "98979-8": "mL/min/{1.73_m2}", "29463-7": "kg"}[code]
    quantity = {"valueQuantity": {"value": unit, "comparator": value, "unit": units,
                                  "system": "http://unitsofmeasure.org", "code": units}}
    reading = read(bundle(observation(code, quantity)))
    assert reading.facts.get(fact) == expected
    if expected is None:
        assert reading.unmapped[0].resource == "Observation/o" and "bound" in reading.unmapped[0].reason


def test_a_threshold_is_compared_before_rounding() -> None:
    """IgA 6.999 mg/dL is below 7, though it shows as 7.0 rounded."""
    assert read(bundle(observation("2458-8", quantity(6.999, "mg/dL")))).facts["iga_deficiency"] is True


def test_an_active_condition_stands_against_a_newer_normal_lab() -> None:
    """CKD on the problem list and a normal eGFR today: the caution stays, with a warning to reconcile."""
    reading = read(bundle(condition(SCT, "709044004", "ckd", onsetDateTime="2020-01-01"),
                          observation("98979-8", quantity(62, "mL/min/{1.73_m2}"), "egfr")))
    assert reading.facts["renal_insufficiency"] is True
    assert reading.warnings == ("renal_insufficiency: Condition/ckd (active) says true, Observation/egfr (2026-01-05) "
                                "says false; the active Condition stands [local policy]",)


def test_references_by_full_url_reach_the_patient() -> None:
    """Synthea and transaction Bundles name the patient by its fullUrl (urn:uuid:...)."""
    document = bundle(observation("29463-7", quantity(70, "kg")) | {"subject": {"reference": "urn:uuid:1234"}})
    document["entry"][0]["fullUrl"] = "urn:uuid:1234"
    assert read(document).facts["weight_kg"] == 70
    other = bundle(observation("29463-7", quantity(70, "kg")) | {"subject": {"reference": "urn:uuid:9999"}})
    other["entry"][0]["fullUrl"] = "urn:uuid:1234"
    assert "weight_kg" not in read(other).facts


def test_entries_without_resources_and_nested_bundles_are_listed() -> None:
    """Nothing in the input disappears without a line saying so."""
    document = bundle({"resourceType": "Bundle", "id": "inner", "type": "collection"})
    document["entry"].append({"fullUrl": "urn:uuid:x"})
    reading = read(document)
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("entry[2]", "an entry without a resource"), ("Bundle/inner", "a Bundle inside the input is not opened")]


@pytest.mark.parametrize(("change", "message"), [
    ({"timestamp": "yesterday"}, "timestamp: the Bundle is not valid FHIR R4"),
    ({"entry": {"resource": {}}}, "entry is a list of entries"),
    ({"type": None}, "type: the Bundle is not valid FHIR R4"),
])
def test_a_broken_bundle_is_refused_with_its_element(change: dict[str, Any], message: str) -> None:
    """The Bundle itself is checked as FHIR R4, not only its resources."""
    document = {**bundle(), **change}
    document = {k: v for k, v in document.items() if v is not None}
    with pytest.raises(InputError, match=message):
        read(document)


def test_a_prefetch_that_is_not_an_object_is_refused() -> None:
    """A request whose prefetch is a list is the client's mistake, named."""
    with pytest.raises(InputError, match="prefetch is an object of prefetch keys to FHIR resources"):
        read_request({"hook": "patient-view", "hookInstance": "i", "context": {"patientId": "p"}, "prefetch": []})


def test_both_medication_searches_empty_mean_no_current_therapy() -> None:
    """Two empty searchsets say no active medication; a missing or null search leaves the list unknown."""
    empty = {"resourceType": "Bundle", "type": "searchset"}
    both = read_request(hook_request(patient(), medicationRequests=empty, medicationStatements=empty))
    assert both.facts["current_therapies"] == []
    evidence = [e for e in both.evidence if e.fact == "current_therapies"]
    assert [(e.resource, e.read) for e in evidence] == [
        ("prefetch medicationRequests and medicationStatements", "both searches for active medication came back empty")]
    one = read_request(hook_request(patient(), medicationRequests=empty, medicationStatements=None))
    assert "current_therapies" not in one.facts


def test_a_code_with_only_text_is_named_by_its_text() -> None:
    """A Condition coded by free text alone is listed with that text."""
    free = {**condition(SCT, "x"), "code": {"text": "myositis, unsure"}}
    assert read(bundle(free)).unmapped[0].reason == "no binding for 'myositis, unsure' (no coding)"


def test_refuting_a_combination_code_says_nothing_of_its_parts() -> None:
    """M33.11 refuted (dermatomyositis with respiratory involvement) does not mean no respiratory involvement."""
    reading = read(bundle(condition("http://hl7.org/fhir/sid/icd-10-cm", "M33.11", verification="refuted", clinical="")))
    assert "respiratory_involvement" not in reading.facts and "diagnosis" not in reading.facts
    assert {u.reason for u in reading.unmapped} == {"a refuted diagnosis sets no value",
                                                    "a refuted respiratory_involvement sets no value"}


def evidence_of(reading: Any, fact: str) -> list[tuple[str | None, str]]:
    return [(e.date, e.read) for e in reading.evidence if e.fact == fact]


def test_what_was_read_is_said_exactly() -> None:
    """The provenance line is what a clinician checks against the chart: unit, conversion, threshold side."""
    reading = read(bundle(observation("29463-7", quantity(100, "[lb_av]"), "w"),
                          observation("8302-2", quantity(165, "cm"), "h"),
                          observation("98979-8", quantity(42, "mL/min/{1.73_m2}"), "e"),
                          condition(SCT, "40739000", "d", clinical="")))
    assert evidence_of(reading, "weight_kg") == [("2026-01-05", "100 [lb_av] = 45.36 kg")]
    assert evidence_of(reading, "height_cm") == [("2026-01-05", "165 cm")]
    assert evidence_of(reading, "renal_insufficiency") == [("2026-01-05", "42 mL/min/{1.73_m2}: below 60")]
    assert evidence_of(reading, "dysphagia") == [(None, "active condition")]


def test_an_observation_is_dated_by_its_period_or_its_issue() -> None:
    """effectiveDateTime, else effectivePeriod.start, else issued."""
    period = observation("29463-7", quantity(70, "kg"), "p")
    del period["effectiveDateTime"]
    period["effectivePeriod"] = {"start": "2025-11-02"}
    issued = observation("8302-2", quantity(165, "cm"), "i")
    del issued["effectiveDateTime"]
    issued["issued"] = "2025-10-03T08:00:00Z"
    reading = read(bundle(period, issued))
    assert evidence_of(reading, "weight_kg")[0][0] == "2025-11-02"
    assert evidence_of(reading, "height_cm")[0][0] == "2025-10-03T08:00:00Z"  # an instant keeps its time


def test_counts_are_read_and_unit_only_quantities_are_not() -> None:
    """IVIG courses as valueInteger; a quantity with a unit in words but no UCUM code is not read."""
    local = "http://example.org/myoivig/CodeSystem/assessment"
    courses = observation("ivig-courses-given", {"valueInteger": 3}, "c", system=local)
    weight = observation("29463-7", {"valueQuantity": {"value": 70, "unit": "kg"}}, "w")
    facts = read(bundle(courses, weight)).facts
    assert facts["ivig_courses_given"] == 3 and "weight_kg" not in facts


def test_age_counts_a_birthday_already_passed_this_year() -> None:
    """Born 10 January 1970, on 15 January 2026: 56."""
    document = bundle()
    document["entry"][0]["resource"]["birthDate"] = "1970-01-10"
    assert read(document).facts["age_years"] == 56


def test_only_a_readable_diagnosis_dates_the_disease() -> None:
    """An entered-in-error dermatomyositis with an old onset does not date the polymyositis."""
    reading = read(bundle(condition(SCT, "396230008", "old", verification="entered-in-error", onsetDateTime="2010-01-10"),
                          condition(SCT, "31384009", "pm", onsetDateTime="2025-10-10")))
    assert reading.facts["months_since_diagnosis"] == 3 and reading.facts["diagnosis"] == "polymyositis"


def test_an_unconfirmed_condition_sets_nothing() -> None:
    """Unconfirmed, like provisional and differential, is not yet a fact."""
    reading = read(bundle(condition(SCT, "40739000", verification="unconfirmed")))
    assert "dysphagia" not in reading.facts
    assert reading.unmapped[0].reason == "verification status unconfirmed: sets no fact until confirmed"


def test_other_resource_types_are_not_patients_and_do_not_stop_the_reading() -> None:
    """A Practitioner is listed, not counted as a second patient; a Medication first does not end the reading."""
    medication = {"resourceType": "Medication", "id": "m"}
    practitioner = {"resourceType": "Practitioner", "id": "dr"}
    reading = read(bundle(medication, practitioner, observation("29463-7", quantity(70, "kg"))))
    assert reading.facts["weight_kg"] == 70
    assert [(u.resource, u.reason) for u in reading.unmapped] == [
        ("Practitioner/dr", "myoivig reads no Practitioner resources")]


def test_a_medication_statement_is_dated_when_asserted() -> None:
    """The date a statement was made is the date shown."""
    statement = {"resourceType": "MedicationStatement", "id": "s", "status": "active", "dateAsserted": "2025-12-24",
                 "subject": {"reference": "Patient/p"}, "medicationCodeableConcept": {"coding": [
                     {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}
    assert evidence_of(read(bundle(statement)), "current_therapies") == [("2025-12-24", "active MedicationStatement")]


def test_a_partial_recorded_date_is_named_by_its_element() -> None:
    """The unmapped line names the element that held the partial date."""
    reading = read(bundle(condition(SCT, "31384009", recordedDate="2024")))
    assert ("Condition/c.recordedDate", "a partial date (2024) gives no months since diagnosis") in [
        (u.resource, u.reason) for u in reading.unmapped]


def test_an_invalid_resource_is_named_by_its_first_problem() -> None:
    """Two problems in one resource: the message names the first, in the order FHIR lists elements."""
    with pytest.raises(InputError) as refused:
        read(bundle(condition(SCT, "31384009", onsetDateTime="2025-13-01", recordedDate="someday")))
    assert refused.value.field == "entry[1].onsetDateTime"


@pytest.mark.parametrize("deceased", [{"deceasedBoolean": True}, {"deceasedDateTime": "2026-01-02"}])
def test_a_deceased_patient_gets_no_advice_and_is_told_why(deceased: dict[str, Any]) -> None:
    with pytest.raises(InputError, match="Patient/p is recorded as deceased") as refused:
        document = bundle()
        document["entry"][0]["resource"].update(deceased)
        read(document)
    assert refused.value.field == "Patient.deceased"


def test_conditions_of_another_patients_mrn_give_no_advice(tmp_path: Path) -> None:
    """A Bundle without a Patient whose Conditions name another patient's MRN, and a weight naming nobody:
    refused as two patients, never merged into one consultation."""
    other = {"resourceType": "Condition", "id": "c1", "subject": {"identifier": {"system": "urn:mrn", "value": "9"},
                                                                   "display": "another patient"},
             "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "M33.10"}]}}
    mine = observation("29463-7", quantity(70, "kg"))
    path = tmp_path / "b.json"
    path.write_text(json.dumps({"resourceType": "Bundle", "type": "collection",
                                "entry": [{"resource": other}, {"resource": mine}]}))
    result = CliRunner().invoke(cli, ["consult", str(path)])
    assert result.exit_code == 2 and result.stdout == ""
    assert "its resources name 2 patients" in result.stderr


def _allergy(code: str | None = "112133008", text: str | None = None, manifestation: str | None = None,
             verification: str = "confirmed", clinical: str = "active", **extra: Any) -> dict[str, Any]:
    found: dict[str, Any] = {
        "resourceType": "AllergyIntolerance", "id": "a1", "patient": {"reference": "Patient/p"},
        "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                           "allergyintolerance-verification", "code": verification}]},
        "clinicalStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                                       "code": clinical}]},
        "code": {"coding": [{"system": SCT, "code": code}]} if code else {"text": text}, **extra}
    if manifestation:
        found["reaction"] = [{"manifestation": [{"coding": [{"system": SCT, "code": manifestation,
                                                             "display": "a reaction"}]}]}]
    return found


@pytest.mark.parametrize(("allergy", "expected"), [
    (_allergy(manifestation="39579001"), True),                              # anaphylaxis
    (_allergy(criticality="high"), True),                                     # high criticality
    (_allergy(reaction=[{"manifestation": [{"text": "collapse"}], "severity": "severe"}]), True),
    (_allergy(manifestation="271807003"), None),                              # a rash: shown, not a hard stop
    (_allergy(manifestation="39579001", verification="entered-in-error"), None),
    (_allergy(manifestation="39579001", verification="refuted"), None),
    (_allergy(manifestation="39579001", clinical="inactive"), None),
    (_allergy(code=None, text="IVIG - anaphylaxis 2019"), None),              # text only: shown to confirm
])
def test_an_immune_globulin_allergy_is_a_hard_stop_only_when_it_is_one(allergy: dict[str, Any], expected: Any) -> None:
    """An active, confirmed allergy to immunoglobulin with anaphylaxis is the labels' hard stop; nothing else
    about it is read as one, and nothing about it is dropped silently."""
    reading = read(bundle(allergy))
    assert reading.facts.get("prior_immunoglobulin_anaphylaxis") is expected
    told = [u.reason for u in reading.unmapped if u.resource == "AllergyIntolerance/a1"] + [
        w for w in reading.warnings if w.startswith("AllergyIntolerance/a1")]
    assert (expected is True) == (told == [])


def test_an_anaphylaxis_allergy_makes_the_consultation_contraindicated(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(condition(SCT, "396230008"), _allergy(manifestation="39579001"))))
    data = json.loads(CliRunner().invoke(cli, ["consult", str(path), "--format", "json"]).stdout)
    assert data["summary"]["verdict"] == "contraindicated" and data["dose"] is None
    [evidence] = [e for e in data["fhir"]["provenance"] if e["fact"] == "prior_immunoglobulin_anaphylaxis"]
    assert evidence["resource"] == "AllergyIntolerance/a1" and evidence["read"] == "an immunoglobulin allergy with anaphylaxis"


def test_myositis_unspecified_asks_which_myositis_rather_than_calling_it_other() -> None:
    """ICD-10-CM M60.9 says a myositis without its subtype: the diagnosis stays unknown and is asked, never
    'other' (out of scope); M60.8 is a header, not a code, and its billable children are 'other'."""
    icd = "http://hl7.org/fhir/sid/icd-10-cm"
    unspecified = read(bundle(condition(icd, "M60.9")))
    assert "diagnosis" not in unspecified.facts and unspecified.asked == ("diagnosis",)
    assert any("ICD10CM M60.9 without its type" in w for w in unspecified.warnings)
    assert read(bundle(condition(icd, "M60.9", verification="refuted"))).asked == ()
    assert read(bundle(condition(icd, "M60.89"))).facts["diagnosis"] == "other"
    assert read(bundle(condition(icd, "M33.13"))).facts["diagnosis"] == "dermatomyositis"  # without myopathy


def test_a_newer_no_does_not_cancel_an_active_anaphylaxis_allergy() -> None:
    """A past anaphylaxis does not become untrue: the active allergy stands against a later 'no', with a warning."""
    later_no = {"resourceType": "Observation", "id": "o-no", "status": "final", "subject": {"reference": "Patient/p"},
                "effectiveDateTime": "2025-06-01", "valueBoolean": False,
                "code": {"coding": [{"system": "http://example.org/myoivig/CodeSystem/assessment",
                                     "code": "immunoglobulin-anaphylaxis"}]}}
    reading = read(bundle(_allergy(manifestation="39579001", recordedDate="2019-01-01"), later_no))
    if any(u.resource == "Observation/o-no" for u in reading.unmapped):
        pytest.skip("no assessment code for this fact in the shipped bindings")
    assert reading.facts["prior_immunoglobulin_anaphylaxis"] is True
    assert any("the active AllergyIntolerance stands" in w for w in reading.warnings)


def test_another_patients_full_url_is_not_this_patient() -> None:
    """Patient p2's fullUrl in a prefetched Bundle does not make its Condition and allergy the consulted p1's."""
    other = {"resourceType": "Patient", "id": "p2"}
    condition_of_p2 = condition(SCT, "396230008") | {"subject": {"reference": "urn:uuid:other"}}
    allergy_of_p2 = _allergy(manifestation="39579001") | {"patient": {"reference": "urn:uuid:other"}}
    document = {"hook": "patient-view", "hookInstance": "d3f6a1c2-0000-4000-8000-000000000001",
                "context": {"patientId": "p"},
                "prefetch": {"patient": patient(), "conditions": {"resourceType": "Bundle", "type": "searchset", "entry": [
                    {"fullUrl": "urn:uuid:other", "resource": other}, {"resource": condition_of_p2},
                    {"resource": allergy_of_p2}]}}}
    reading = read_request(document)
    assert "diagnosis" not in reading.facts and "prior_immunoglobulin_anaphylaxis" not in reading.facts


def test_two_patients_without_ids_are_not_merged() -> None:
    document = {"resourceType": "Bundle", "type": "collection", "entry": [
        {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "gender": "female"}},
        {"fullUrl": "urn:uuid:2", "resource": {"resourceType": "Patient", "gender": "male"}}]}
    with pytest.raises(InputError, match="not all with an id"):
        read(document)


def test_a_versioned_reference_is_the_patient() -> None:
    reading = read(bundle(_allergy(manifestation="39579001") | {"patient": {"reference": "Patient/p/_history/3"}}))
    assert reading.facts["prior_immunoglobulin_anaphylaxis"] is True


@pytest.mark.parametrize("reaction", [
    {"manifestation": [{"text": "Anaphylaxis"}]},
    {"manifestation": [{"coding": [{"system": SCT, "code": "241931001", "display": "Anaphylactic shock"}]}]},
    {"manifestation": [{"text": "collapse"}], "description": "anaphylactic reaction during the infusion"},
])
def test_anaphylaxis_in_words_is_asked_never_called_no_hard_stop(reaction: dict[str, Any]) -> None:
    reading = read(bundle(_allergy(reaction=[reaction])))
    assert "prior_immunoglobulin_anaphylaxis" not in reading.facts  # unknown: asked before the first infusion
    [warning] = [w for w in reading.warnings if w.startswith("AllergyIntolerance/a1")]
    assert "reads like anaphylaxis" in warning and "not a hard stop" not in warning


# ---------------------------------------------------------------- versions, times, contained, units (#22)
def _versioned(resource: dict[str, Any], version: str | None = None, updated: str | None = None) -> dict[str, Any]:
    meta = {k: v for k, v in (("versionId", version), ("lastUpdated", updated)) if v}
    return {**resource, "meta": meta} if meta else resource


def test_a_history_bundle_reads_the_newest_version_and_entered_in_error_supersedes() -> None:
    """The entered-in-error version 2 of a Condition is read, not the active version 1 before it."""
    v1 = _versioned(condition(SCT, "396230008", rid="c1"), "1")
    v2 = _versioned(condition(SCT, "396230008", rid="c1", verification="entered-in-error"), "2")
    for order in ((v2, v1), (v1, v2)):
        document = {**bundle(*order), "type": "history"}
        reading = read(document)
        assert "diagnosis" not in reading.facts
        assert any(u.resource == "Condition/c1 (version 1)" and "older version" in u.reason for u in reading.unmapped)


def test_a_deletion_in_a_history_bundle_reads_nothing_of_that_resource() -> None:
    document = bundle(_versioned(condition(SCT, "396230008", rid="c1"), "1"))
    document["type"] = "history"
    document["entry"].insert(1, {"request": {"method": "DELETE", "url": "Condition/c1/_history/2"}})
    reading = read(document)
    assert "diagnosis" not in reading.facts
    assert any("deleted" in u.reason for u in reading.unmapped if u.resource.startswith("Condition/c1"))


def test_copies_of_one_resource_identical_versioned_or_undecidable() -> None:
    """Identical copies are read once; versions pick the newest; copies that differ with nothing to order them
    are not read, and the reading says so."""
    weight = observation("29463-7", quantity(70, "kg"), rid="w")
    twice = read(bundle(weight, dict(weight)))
    assert twice.facts["weight_kg"] == 70 and any(u.reason == "an identical copy: read once" for u in twice.unmapped)
    newer = read(bundle(_versioned(weight, "1"), _versioned(observation("29463-7", quantity(90, "kg"), rid="w"), "2")))
    assert newer.facts["weight_kg"] == 90
    later = read(bundle(_versioned(weight, updated="2026-01-06T08:00:00Z"),
                        _versioned(observation("29463-7", quantity(90, "kg"), rid="w"), updated="2026-01-05T08:00:00Z")))
    assert later.facts["weight_kg"] == 70
    opaque = read(bundle(_versioned(weight, "abc"), _versioned(observation("29463-7", quantity(90, "kg"), rid="w"), "1")))
    assert "weight_kg" not in opaque.facts  # versionId is opaque: "abc" is neither older nor newer than "1"
    superscript = read(bundle(_versioned(weight, "\u00b2"), _versioned(observation("29463-7", quantity(90, "kg"),
                                                                                     rid="w"), "1")))
    assert "weight_kg" not in superscript.facts  # a digit to str.isdigit, not to int(): no crash
    unclear = read(bundle(weight, observation("29463-7", quantity(90, "kg"), rid="w")))
    assert "weight_kg" not in unclear.facts
    assert any(w.startswith("Observation/w appears 2 times with different content") for w in unclear.warnings)


def test_two_weights_of_one_day_are_ordered_by_their_times() -> None:
    """07:00 and 19:00 on one day are not a conflict: the later one is read, the earlier marked as not read."""
    early = observation("29463-7", quantity(70, "kg"), rid="w1", date="2026-01-05T07:00:00+00:00")
    late = observation("29463-7", quantity(90, "kg"), rid="w2", date="2026-01-05T14:00:00-05:00")
    for order in ((early, late), (late, early)):
        reading = read(bundle(*order))
        assert reading.facts["weight_kg"] == 90 and not reading.conflicting
        [older] = [e for e in reading.evidence if e.resource == "Observation/w1"]
        assert older.date == "2026-01-05T07:00:00Z" and "not read: Observation/w2 is newer" in older.read


def test_an_old_or_undated_dosing_weight_is_flagged() -> None:
    """A weight more than the binding's window before the reference date is flagged; so is an undated one
    beside a dated one (the dated one is read)."""
    bindings = load_bindings(load_knowledge_base(None))
    window = next(b.stale_after_days for b in bindings.bindings if b.fact == "weight_kg")
    assert window
    old = observation("29463-7", quantity(70, "kg"), rid="w1", date="2019-03-01")
    undated = observation("29463-7", quantity(90, "kg"), rid="w2")
    del undated["effectiveDateTime"]
    reading = read(bundle(old, undated))
    assert reading.facts["weight_kg"] == 70
    assert any("Observation/w2 undated (90); the dated Observation/w1 (70, 2019-03-01) is read" in w
               for w in reading.warnings)
    assert any(f"(more than {window})" in w and "Observation/w1 is dated 2019-03-01" in w for w in reading.warnings)
    recent = read(bundle(observation("29463-7", quantity(70, "kg"), rid="w1", date="2026-01-05")))
    assert not any("weight_kg" in w for w in recent.warnings)


def test_a_quantity_is_read_only_from_ucum() -> None:
    """`kg` without a system, or in another system, is not UCUM's kilogram: listed, never read."""
    for unit in ({"value": 70, "code": "kg"}, {"value": 70, "unit": "kg"},
                 {"value": 70, "code": "kg", "system": "http://example.org/units"}):
        reading = read(bundle(observation("29463-7", {"valueQuantity": unit}, rid="w")))
        assert "weight_kg" not in reading.facts
        assert any(u.resource == "Observation/w" and "not a UCUM code" in u.reason for u in reading.unmapped)


def test_a_contained_medication_is_read_through_the_reference() -> None:
    statement = {"resourceType": "MedicationStatement", "id": "ms", "status": "active",
                 "subject": {"reference": "Patient/p"}, "medicationReference": {"reference": "#med"},
                 "contained": [{"resourceType": "Medication", "id": "med", "code": {"coding": [
                     {"system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "8640"}]}}]}
    assert read(bundle(statement)).facts["current_therapies"] == ["corticosteroids"]


def test_a_vital_signs_panel_gives_its_components() -> None:
    panel = observation("85353-1", {"component": [
        {"code": {"coding": [{"system": "http://loinc.org", "code": "29463-7"}]}, **quantity(70, "kg")},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8302-2"}]}, **quantity(165, "cm")},
        {"code": {"coding": [{"system": "http://loinc.org", "code": "8867-4"}]}, **quantity(80, "/min")}]},
        rid="vs")
    reading = read(bundle(panel))
    assert (reading.facts["weight_kg"], reading.facts["height_cm"]) == (70, 165)
    assert {e.resource for e in reading.evidence} >= {"Observation/vs.component[0]", "Observation/vs.component[1]"}


def test_a_diagnostic_report_gives_its_contained_results_and_names_those_not_sent() -> None:
    iga = {**observation("2458-8", quantity(3, "mg/dL"), rid="iga")}
    del iga["subject"]
    report = {"resourceType": "DiagnosticReport", "id": "dr", "status": "final", "subject": {"reference": "Patient/p"},
              "code": {"text": "Immunoglobulins"}, "contained": [iga],
              "result": [{"reference": "#iga"}, {"reference": "Observation/not-sent"}]}
    reading = read(bundle(report))
    assert reading.facts["iga_deficiency"] is True
    assert [e.resource for e in reading.evidence if e.fact == "iga_deficiency"] == ["DiagnosticReport/dr#iga"]
    assert any(u.resource == "DiagnosticReport/dr" and "Observation/not-sent" in u.reason for u in reading.unmapped)


@pytest.mark.parametrize("allergy", [
    _allergy(code=None, text="IVIG"),  # the substance in words only
    {**_allergy(), "reaction": [{"manifestation": [{"text": "anaphylactic shock"}]}]},  # the reaction in words
])
def test_a_reaction_in_words_only_withholds_the_dose_until_confirmed(tmp_path: Path, allergy: dict[str, Any]) -> None:
    """Never read as the hard stop, never ignored: the dose waits for a clinician to confirm it."""
    path = tmp_path / "b.json"
    path.write_text(json.dumps(bundle(condition(SCT, "396230008", severity={"coding": [
        {"system": SCT, "code": "24484000"}]}), observation("8302-2", quantity(165, "cm"), rid="h"), allergy)))
    data = json.loads(CliRunner().invoke(cli, ["consult", str(path), "--format", "json"]).stdout)
    assert data["patient"]["immunoglobulin_reaction_to_confirm"] is True
    assert "prior_immunoglobulin_anaphylaxis" not in data["patient"]
    assert data["dose"] is None and data["summary"]["verdict"] != "contraindicated"
    assert "warning.immunoglobulin_reaction_to_confirm" in data["summary"]["warnings"]
    assert "immunoglobulin_reaction_to_confirm" not in data["missing"]


def test_a_refuted_allergy_in_words_is_not_to_confirm() -> None:
    reading = read(bundle(_allergy(code=None, text="IVIG", verification="refuted")))
    assert "immunoglobulin_reaction_to_confirm" not in reading.facts
