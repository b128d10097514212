"""The order-select hook's question: is the selected draft order IVIG (by a bound code, or in words)?"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..bindings import Bindings
from .values import _codings, _type


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
