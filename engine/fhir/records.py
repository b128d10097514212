"""What a FHIR reading is: the facts, the evidence behind each, what was not read and why."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

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
