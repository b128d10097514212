"""A case's FHIR twin, made from its YAML patient and the bindings: what `kb twins` (make kb-update) writes.

Each fact becomes the resource the bindings read it from (a Condition, an Observation, a
MedicationStatement, an AllergyIntolerance, the Patient), and every candidate is read back with the
same reader every FHIR input goes through: the first that gives the fact is kept. The whole twin is
read back once more and must give its case's facts, or it is not written and the fact that failed is
named. A twin made by hand (a variation: ICD codes, a DiagnosticReport, a history Bundle) carries no
`generated` tag and is never overwritten: it is its own case of the FHIR path.
"""
from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from .bindings import Binding, Bindings
from .errors import InputError
from .fhir import read_fhir
from .model import KnowledgeBase
from .patient import normalize

GENERATED_TAG = {"system": "http://example.org/myoivig/CodeSystem/twin", "code": "generated",
                 "display": "Made by myoivig kb twins from the case's YAML and the bindings"}
AS_OF = dt.date(2026, 1, 15)
"""The twins' reference date (their Bundle.timestamp): what the cases' ages and months are counted to."""
MEASURED = (AS_OF - dt.timedelta(days=10)).isoformat()
"""When the twins' observations were made: recent, so no dosing weight is stale."""
LIST_EMPTY = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
ALLERGY_CLINICAL = "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical"
ALLERGY_VERIFICATION = "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification"


class TwinError(InputError):
    """A case whose facts the bindings cannot write as FHIR: its twin must be made by hand."""


def is_generated(bundle: Mapping[str, Any]) -> bool:
    return any(tag.get("code") == GENERATED_TAG["code"] and tag.get("system") == GENERATED_TAG["system"]
               for tag in (bundle.get("meta") or {}).get("tag") or [])


def make_twin(kb: KnowledgeBase, bindings: Bindings, name: str, patient: Mapping[str, Any]) -> dict[str, Any]:
    """The FHIR Bundle that reads back as exactly this case's facts (TwinError naming a fact if none can)."""
    wanted = normalize(kb, dict(patient))
    maker = _Maker(kb, bindings, name.replace("_", "-"))
    on_diagnosis = ("diagnosis", "severity", "months_since_diagnosis") if "diagnosis" in wanted else ()
    for fact, value in wanted.items():
        if fact in ("age_years", "sex", *on_diagnosis):
            continue  # the Patient and the diagnosis Condition, made below
        maker.add_fact(fact, value, wanted)
    bundle = maker.bundle(wanted)
    got = read_fhir(bindings, bundle).facts
    if got != wanted:
        differ = sorted(f for f in set(got) | set(wanted) if got.get(f) != wanted.get(f))
        raise TwinError(f"case {name}: its twin reads {', '.join(f'{f}={got.get(f)!r}' for f in differ)} where the "
                        f"case says {', '.join(f'{f}={wanted.get(f)!r}' for f in differ)}; write this twin by hand",
                        field=differ[0])
    return bundle


class _Maker:
    def __init__(self, kb: KnowledgeBase, bindings: Bindings, patient_id: str) -> None:
        self.kb, self.bindings, self.patient_id = kb, bindings, patient_id
        self.resources: list[dict[str, Any]] = []
        self.counts: dict[str, int] = {}

    def _id(self, prefix: str) -> str:
        self.counts[prefix] = self.counts.get(prefix, 0) + 1
        return f"{prefix}-{self.counts[prefix]}"

    @property
    def subject(self) -> dict[str, str]:
        return {"reference": f"Patient/{self.patient_id}"}

    def patient(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        resource: dict[str, Any] = {"resourceType": "Patient", "id": self.patient_id}
        if "sex" in facts:
            resource["gender"] = facts["sex"]
        if "age_years" in facts:
            age = facts["age_years"]
            if age != int(age):
                raise TwinError(f"age_years {age} is not whole years: a birth date gives whole years",
                                field="age_years")
            resource["birthDate"] = AS_OF.replace(year=AS_OF.year - int(age), day=1).isoformat()
        return resource

    def diagnosis(self, facts: Mapping[str, Any]) -> list[dict[str, Any]]:
        """The diagnosis Condition, carrying the severity and the onset (months since diagnosis)."""
        if "diagnosis" not in facts:
            return []  # a severity is then an assessment (add_fact); months need a diagnosis to date
        binding, key = self._coded("diagnosis", facts["diagnosis"], ("condition",))
        condition = self._condition(binding, key, confirmed=True)
        if "severity" in facts:
            severity, severity_key = self._coded("severity", facts["severity"], ("condition_severity",))
            condition["severity"] = {"coding": [self._coding(severity, severity_key)]}
        if "months_since_diagnosis" in facts:
            months = facts["months_since_diagnosis"]
            if months != int(months):
                raise TwinError(f"months_since_diagnosis {months} is not whole months: an onset date gives whole "
                                "months", field="months_since_diagnosis")
            total = AS_OF.year * 12 + AS_OF.month - 1 - int(months)
            condition["onsetDateTime"] = dt.date(total // 12, total % 12 + 1, AS_OF.day).isoformat()
        return [condition]

    def add_fact(self, fact: str, value: Any, facts: Mapping[str, Any]) -> None:
        """The first way of writing the fact that reads back as it (a case can say what FHIR cannot)."""
        for resources in self._candidates(fact, value, facts):
            trial = self._bundle([self.patient(facts), *resources])
            try:
                if read_fhir(self.bindings, trial).facts.get(fact) == value:
                    self.resources += resources
                    return
            except InputError:
                continue
        raise TwinError(f"no binding writes {fact} = {value!r} so that it reads back: write this twin by hand",
                        field=fact)

    def bundle(self, facts: Mapping[str, Any]) -> dict[str, Any]:
        return self._bundle([self.patient(facts), *self.diagnosis(facts), *self.resources], tagged=True)

    def _bundle(self, resources: list[dict[str, Any]], tagged: bool = False) -> dict[str, Any]:
        bundle: dict[str, Any] = {"resourceType": "Bundle", "id": f"twin-{self.patient_id}"}
        if tagged:
            bundle["meta"] = {"tag": [GENERATED_TAG]}
        bundle |= {"type": "collection", "timestamp": f"{AS_OF.isoformat()}T09:00:00Z",
                   "entry": [{"fullUrl": f"http://example.org/fhir/{r['resourceType']}/{r['id']}", "resource": r}
                             for r in resources]}
        return bundle

    # ---------------------------------------------------------------- codes
    def _coding(self, binding: Binding, key: tuple[str, str]) -> dict[str, str]:
        return {"system": key[0], "code": key[1], "display": binding.codes[key].display}

    def _coded(self, fact: str, value: Any, sources: tuple[str, ...]) -> tuple[Binding, tuple[str, str]]:
        for binding in self.bindings.of(*sources):
            if binding.fact == fact:
                key = next((k for k, v in binding.values.items() if v == value), None)
                if key is not None:
                    return binding, key
        raise TwinError(f"no code is bound to {fact} = {value!r}", field=fact)

    def _keys(self, binding: Binding, value: Any) -> list[tuple[str, str]]:
        return [key for key, bound in binding.values.items() if bound == value]

    # ---------------------------------------------------------------- resources
    def _condition(self, binding: Binding, key: tuple[str, str], confirmed: bool) -> dict[str, Any]:
        condition: dict[str, Any] = {"resourceType": "Condition", "id": self._id("cond")}
        if confirmed:
            condition["clinicalStatus"] = {"coding": [{
                "system": "http://terminology.hl7.org/CodeSystem/condition-clinical", "code": "active"}]}
        condition["verificationStatus"] = {"coding": [{
            "system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
            "code": "confirmed" if confirmed else "refuted"}]}
        condition |= {"code": {"coding": [self._coding(binding, key)]}, "subject": self.subject}
        return condition

    def _observation(self, binding: Binding, key: tuple[str, str], value: dict[str, Any]) -> dict[str, Any]:
        return {"resourceType": "Observation", "id": self._id("obs"), "status": "final",
                "code": {"coding": [self._coding(binding, key)]}, "subject": self.subject,
                "effectiveDateTime": MEASURED, **value}

    def _quantity(self, binding: Binding, number: float) -> dict[str, Any]:
        unit = next(u for u, factor in binding.units.items() if factor == 1)
        return {"valueQuantity": {"value": number, "unit": unit, "system": self.bindings.systems["UCUM"],
                                  "code": unit}}

    def _answer(self, positive: bool) -> dict[str, Any]:
        key = sorted(self.bindings.positive if positive else self.bindings.negative)[0]
        return {"valueCodeableConcept": {"coding": [{"system": key[0], "code": key[1]}],
                                         "text": "Positive" if positive else "Negative"}}

    def _candidates(self, fact: str, value: Any, facts: Mapping[str, Any]) -> list[list[dict[str, Any]]]:
        """Every way the bindings could write fact = value (each a list of resources), in the bindings' order."""
        found: list[list[dict[str, Any]]] = []
        for binding in self.bindings.bindings:
            if binding.fact == fact or binding.confirm_fact == fact:
                found += self._ways(binding, fact, value)
        return found

    def _ways(self, binding: Binding, fact: str, value: Any) -> list[list[dict[str, Any]]]:
        source = binding.source
        if binding.confirm_fact == fact:  # an allergy named in words only: to confirm
            return [[{"resourceType": "AllergyIntolerance", "id": self._id("allergy"),
                      "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
                      "code": {"text": binding.text[0]}, "patient": self.subject}]] if value is True else []
        first = next(iter(binding.codes), None)
        if first is None and source != "medication":
            return []
        if source == "condition" and isinstance(value, bool):
            keys = self._keys(binding, True)  # true: a current, confirmed Condition; false: a refuted one
            return [[self._condition(binding, keys[0], confirmed=value)]] if keys else []
        if source == "condition":
            return [[self._condition(binding, key, confirmed=True)] for key in self._keys(binding, value)[:1]]
        if first is not None and source == "quantity" and isinstance(value, (int, float)) \
                and not isinstance(value, bool):
            return [[self._observation(binding, first, self._quantity(binding, value))]]
        if first is not None and source == "threshold" and isinstance(value, bool) and binding.true_below is not None:
            number = binding.true_below / 2 if value else binding.true_below * 2
            return [[self._observation(binding, first, self._quantity(binding, number))]]
        if first is not None and source == "result" and isinstance(value, bool):
            return [[self._observation(binding, first, self._answer(value))]]
        if source == "result" and isinstance(value, list):
            return self._results(binding, value)
        if first is not None and source == "assessment" and isinstance(value, bool):
            return [[self._observation(binding, first, {"valueBoolean": value})]]
        if first is not None and source == "assessment":
            answers = [(b, k) for b in self.bindings.bindings if b.fact == fact and b.source != "assessment"
                       for k, v in b.values.items() if v == value]
            return [[self._observation(binding, first,
                                       {"valueCodeableConcept": {"coding": [self._coding(other, key)]}})]
                    for other, key in answers[:1]]
        if source == "medication" and isinstance(value, list):
            return self._medications(binding, value)
        if first is not None and source == "allergy" and value is True:
            return [[self._allergy(binding, first)]]
        return []

    def _results(self, binding: Binding, value: list[Any]) -> list[list[dict[str, Any]]]:
        """Positive results for a list's items; for an empty list, a negative result for each kind tested."""
        keys = {item: self._keys(binding, item) for item in value}
        if value and all(keys.values()):
            return [[self._observation(binding, keys[item][0], self._answer(True)) for item in value]]
        if value:
            return []
        tested = [found[0] for item in dict.fromkeys(binding.values.values()) if (found := self._keys(binding, item))]
        return [[self._observation(binding, key, self._answer(False)) for key in tested]]

    def _medications(self, binding: Binding, value: list[Any]) -> list[list[dict[str, Any]]]:
        """A MedicationStatement for each current therapy; for none, an empty list that says nil known."""
        keys = {item: self._keys(binding, item) for item in value}
        if value and all(keys.values()):
            return [[{"resourceType": "MedicationStatement", "id": self._id("med"), "status": "active",
                      "medicationCodeableConcept": {"coding": [self._coding(binding, keys[item][0])]},
                      "subject": self.subject, "dateAsserted": MEASURED} for item in value]]
        if value or not binding.empty_list:
            return []
        key = next(iter(binding.empty_list))
        return [[{"resourceType": "List", "id": self._id("list"), "status": "current", "mode": "snapshot",
                  "code": {"coding": [{"system": key[0], "code": key[1], "display": binding.empty_list[key].display}]},
                  "subject": self.subject, "date": MEASURED,
                  "emptyReason": {"coding": [{"system": LIST_EMPTY, "code": "nilknown"}]}}]]

    def _allergy(self, binding: Binding, key: tuple[str, str]) -> dict[str, Any]:
        """An active, confirmed allergy to the bound substance with anaphylaxis (the labels' hard stop)."""
        reaction = next((k for b in self.bindings.of("allergy_reaction") for k in b.codes), None)
        allergy: dict[str, Any] = {
            "resourceType": "AllergyIntolerance", "id": self._id("allergy"),
            "clinicalStatus": {"coding": [{"system": ALLERGY_CLINICAL, "code": "active"}]},
            "verificationStatus": {"coding": [{"system": ALLERGY_VERIFICATION, "code": "confirmed"}]},
            "criticality": "high", "code": {"coding": [self._coding(binding, key)]}, "patient": self.subject}
        if reaction is not None:
            allergy["reaction"] = [{"manifestation": [{"coding": [{"system": reaction[0], "code": reaction[1]}]}]}]
        return allergy
