"""Everything `--format json` prints, as plain data, built here and nowhere else.

The consultation's shape is published in engine/schema/consultation.schema.json; a field
renamed in a dataclass changes the JSON only through this module, where the tests look.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import TYPE_CHECKING, Any

from .advice import Advice, DoseAdvice, RegimenOption, advise, amount
from .model import Consultation, KnowledgeBase

if TYPE_CHECKING:  # annotations only: a consultation does not import what it does not use
    from .explain import Derivation, WhatIf
    from .fhir import FhirReading


def _regimen(option: RegimenOption) -> dict[str, Any]:
    regimen = option.regimen
    return {"role": option.role, "label": option.label, "name": regimen.name, "rule": regimen.rule,
            "g_per_kg": list(regimen.g_per_kg), "course_total_g": list(regimen.course_total_g),
            "per_day_g": list(regimen.per_day_g), "days_per_course": list(regimen.days_per_course),
            "interval": regimen.interval,
            "duration_months": list(regimen.duration_months) if regimen.duration_months else None,
            "text": amount(regimen)}


def summary(kb: KnowledgeBase, consultation: Consultation, advice: Advice | None = None) -> dict[str, Any]:
    advice = advice or advise(kb, consultation)
    verdict = consultation.verdict
    return {
        "verdict": verdict.value,
        "ivig_indicated": consultation.ivig_indicated,
        "strength": verdict.strength,
        "verdict_rules": list(verdict.rules),
        "undetermined_by": list(verdict.open_facts),
        "hard_stops": [c.id for c in advice.hard_stops],
        "hard_stops_not_given": [m.fact for m in advice.hard_stops_not_given],
        "early_initiation": advice.early_initiation,
        "cautions": list(advice.caution_facts),
        "cautions_not_given": [m.fact for m in advice.cautions_not_given],
        "caution_rules": [{"rule": c.id, "from": "document" if c.sources else "product labels (local policy)"}
                          for c in advice.cautions],
        "combination": list(advice.combination_classes),
        "out_of_scope": [c.id for c in advice.routes if c.kind == "scope" and c.outside_scope],
        "warnings": [wid for wid, _ in advice.warnings],
        "cross_checked": True,  # consult() raises EngineError when the two evaluators disagree
    }


def dose_to_dict(given: DoseAdvice | None) -> dict[str, Any] | None:
    """The dose: `give` is the regimen to give first; `standard` and `alternatives` stand beside it."""
    if given is None:
        return None
    dose = given.dose
    return {
        "give": _regimen(given.options[0]),
        "standard": _regimen(next(o for o in given.options if o.regimen is dose.standard)),
        "alternatives": [_regimen(option) for option in given.options[1:] if option.regimen is not dose.standard],
        "preferred": {"regimen": dose.preferred.regimen, "because": dose.preferred.because,
                      "rule": dose.preferred.rule},
        "weight_basis": dose.weight_basis,
        "dosing_weight_kg": dose.dosing_weight_kg,
        "ideal_body_weight_kg": dose.ideal_body_weight_kg,
        "bmi": dose.bmi,
        "next_course": dose.next_course,
        "beyond_duration": given.beyond_duration,
        "warnings": [{"id": wid, "text": text} for wid, text in dose.warnings],
        "rounding": dose.rounding,
        "arithmetic": list(dose.arithmetic),
        "rules": list(dose.rules),
    }


def advice_to_dict(advice: Advice) -> dict[str, Any]:
    """Where each conclusion is shown, in reading order: the layout every surface follows."""
    return {
        "headline": advice.headline,
        "reason": advice.reason.id if advice.reason else None,
        "routes": [c.id for c in advice.routes],
        "routes_held_back": advice.routes_held_back,
        "sections": [{"kind": s.kind, "title": s.title, "first_screen": s.first_screen,
                      "classes": list(s.classes), "conclusions": [c.id for c in s.conclusions]}
                     for s in advice.sections],
        "missing_first": [m.fact for m in advice.missing_first],
    }


def source_entries(kb: KnowledgeBase, quotes: Any) -> list[dict[str, Any]]:
    return [{"ref": q.ref, "label": kb.references[q.ref].label, "evidence": kb.references[q.ref].evidence,
             "confidence": kb.references[q.ref].confidence, "quote": q.quote} for q in quotes]


def consultation_to_dict(kb: KnowledgeBase, consultation: Consultation) -> dict[str, Any]:
    advice = advise(kb, consultation)
    return {
        "knowledge_base": {"name": kb.name, "version": kb.version, "sha256": kb.sha256},
        "patient": dict(sorted(consultation.patient.items())),
        "summary": summary(kb, consultation, advice),
        "advice": advice_to_dict(advice),
        "conclusions": [
            {"id": c.id, "kind": c.kind, "statement": c.statement,
             "sources": source_entries(kb, c.sources),
             "local_policy": c.local_policy,
             "therapy_class": c.therapy_class,
             "strength": c.strength,
             "rests_on": {"rules": list(c.rests_on_rules), "facts": list(c.rests_on_facts)}}
            for c in consultation.conclusions],
        "resolutions": [{"rule": winner, "overrides": loser, "resolution": why}
                        for winner, loser, why in consultation.resolutions],
        "warnings": [{"id": wid, "text": text} for wid, text in consultation.warnings],
        "dose": dose_to_dict(advice.dose),
        "dose_note": consultation.dose_note,
        "missing": [{"fact": m.fact, "question": m.question, "concern": m.concern,
                     "could_change_verdict": m.could_change_verdict, "could_change": list(m.could_change),
                     "could_change_dose": m.could_change_dose, "most_decisive": m.decisive_kind}
                    for m in advice.missing],
        "trace": [{"order": f.order, "rule": f.rule, "file": kb.rule(f.rule).file,
                   "line": kb.rule(f.rule).line,
                   "matched": [{"fact": m.name, "value": m.value, "origin": m.origin} for m in f.matched],
                   "asserted": list(f.asserted)} for f in consultation.trace],
    }


def consultation_record(kb: KnowledgeBase, consultation: Consultation, *, read_as: list[str],
                        fhir: FhirReading | None = None, how: Derivation | None = None,
                        what_if: WhatIf | None = None) -> dict[str, Any]:
    """What `consult --format json` prints and each batch record holds (after its row and id): the
    consultation, how its patient was read (and from which FHIR resources), and what was asked of it."""
    data = consultation_to_dict(kb, consultation) | {"read_as": read_as}
    if fhir is not None:
        data["fhir"] = reading_to_dict(fhir)
    if how is not None:
        data["how"] = plain(how)
    if what_if is not None:
        data["what_if"] = what_if_to_dict(kb, what_if)
    return data


def reading_to_dict(reading: FhirReading) -> dict[str, Any]:
    """The `fhir` part of a consultation's JSON."""
    return {"as_of": reading.as_of, "as_of_from": reading.as_of_from, "patient": reading.patient,
            "bindings": {"file": reading.bindings_file, "sha256": reading.bindings_sha256},
            "provenance": [{"fact": e.fact, "value": e.value, "resource": e.resource, "code": e.code,
                            "date": e.date, "read": e.read, "local_policy": e.local_policy}
                           for e in reading.evidence],
            "unmapped": [{"resource": u.resource, "reason": u.reason} for u in reading.unmapped],
            "warnings": list(reading.warnings)}


def plain(value: Any) -> Any:
    """A dataclass (or a tree of them) as JSON-ready data: tuples become lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {key: plain(item) for key, item in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def what_if_to_dict(kb: KnowledgeBase, comparison: WhatIf) -> dict[str, Any]:
    """consult --what-if: the changes, the verdict and ivig_indicated before and after, the differences."""
    return {"changes": dict(comparison.changes),
            "verdict": [comparison.before.verdict.value, comparison.after.verdict.value],
            "ivig_indicated": [comparison.before.ivig_indicated, comparison.after.ivig_indicated],
            "differences": [plain(d) for d in comparison.differences],
            "after": consultation_to_dict(kb, comparison.after)}


def explanation_to_dict(target: str, verdict: str, *, how: Any = None, why_not: Any = None) -> dict[str, Any]:
    """explain: the derivation of a conclusion reached, or why it was not."""
    data: dict[str, Any] = {"target": target, "verdict": verdict}
    if how is not None:
        data["how"] = plain(how)
    if why_not is not None:
        data["why_not"] = plain(why_not)
    return data


def patient_schema(kb: KnowledgeBase) -> dict[str, Any]:
    """A JSON Schema for patient files, made from the vocabulary, for editors (yaml-language-server).

    It describes what a file may hold, spellings included (synonyms, aliases, units, yes/no);
    myoivig's own reading (engine/patient.py) stays the judge and says what it applied.
    """
    from .model import BOOLEANS
    properties: dict[str, Any] = {}
    for name, spec in kb.facts.items():
        if spec.type == "bool":
            value: dict[str, Any] = {"anyOf": [{"type": "boolean"}, {"enum": sorted(BOOLEANS)}]}
        elif spec.type == "number":
            low, high = spec.range or (None, None)
            with_units = "^\\s*[0-9.]+\\s*[a-zA-Z]*(\\s+[0-9.]+\\s*[a-zA-Z]+)*\\s*$"  # "165 cm", "5 ft 5 in"
            value = {"anyOf": [{"type": "number", "minimum": low, "maximum": high},
                               {"type": "string", "pattern": with_units}]}
        else:
            words = sorted(set(spec.values) | set(spec.aliases))
            value = {"enum": words} if spec.type == "enum" else {"type": "array", "items": {"enum": words}}
        entry = {"description": f"{spec.question} {spec.meaning}".strip(), **value}
        if spec.unit:
            others = [unit for unit in spec.units if unit != spec.unit]
            entry["description"] += f" Unit: {spec.unit}" + (f" (also {', '.join(others)})" if others else "") + "."
        properties[name] = {"anyOf": [entry, {"type": "null"}], "description": entry["description"]}
        for synonym in spec.synonyms:
            properties[synonym] = {"$ref": f"#/properties/{name}", "description": f"Another name for {name}."}
    return {"$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://myoivig.example/schema/patient.schema.json",
            "title": f"A myoivig patient ({kb.name} {kb.version})",
            "description": "Fact names to values; a fact left out or null is unknown. Generated from vocabulary.yaml "
                           "by `myoivig facts --schema`.",
            "type": "object", "additionalProperties": False, "properties": properties}
