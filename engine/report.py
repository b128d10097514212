"""Everything `--format json` prints, as plain data, built here and nowhere else.

The consultation's shape is published in engine/schema/consultation.schema.json; a field
renamed in a dataclass changes the JSON only through this module, where the tests look.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, is_dataclass
from typing import Any

from .model import Consultation, KnowledgeBase, Regimen


def _regimen(regimen: Regimen | None) -> dict[str, Any] | None:
    if regimen is None:
        return None
    data = asdict(regimen)
    for key, value in data.items():
        if isinstance(value, tuple):
            data[key] = list(value)
    return data


def caution_facts(kb: KnowledgeBase, consultation: Consultation) -> list[str]:
    """Sorted names of the given input facts behind caution conclusions (not those asked for)."""
    return sorted({fact for c in consultation.by_kind("caution") for fact in c.rests_on_facts
                   if fact in consultation.patient})


def combination_classes(consultation: Consultation) -> list[str]:
    return sorted({c.therapy_class for c in consultation.by_kind("combination") if c.therapy_class})


def summary(kb: KnowledgeBase, consultation: Consultation) -> dict[str, Any]:
    verdict = consultation.verdict
    return {
        "verdict": verdict.value,
        "ivig_indicated": consultation.ivig_indicated,
        "strength": verdict.strength,
        "verdict_rules": list(verdict.rules),
        "undetermined_by": list(verdict.open_facts),
        "hard_stops": [c.id for c in consultation.by_kind("contraindication")],
        "early_initiation": bool(consultation.by_kind("early_initiation")),
        "cautions": caution_facts(kb, consultation),
        "caution_rules": [{"rule": c.id, "from": "document" if c.sources else "product labels (local policy)"}
                          for c in consultation.by_kind("caution")],
        "combination": combination_classes(consultation),
        "out_of_scope": [c.id for c in consultation.by_kind("scope") if c.outside_scope],
        "warnings": [wid for wid, _ in consultation.warnings],
        "cross_checked": True,  # consult() raises EngineError when the two evaluators disagree
    }


def source_entries(kb: KnowledgeBase, quotes: Any) -> list[dict[str, Any]]:
    return [{"ref": q.ref, "label": kb.references[q.ref].label, "evidence": kb.references[q.ref].evidence,
             "confidence": kb.references[q.ref].confidence, "quote": q.quote} for q in quotes]


def consultation_to_dict(kb: KnowledgeBase, consultation: Consultation) -> dict[str, Any]:
    dose = consultation.dose
    dose_data = None
    if dose is not None:
        standard = dose.standard
        dose_data = {
            "weight_basis": dose.weight_basis,
            "dosing_weight_kg": dose.dosing_weight_kg,
            "ideal_body_weight_kg": dose.ideal_body_weight_kg,
            "g_per_kg": list(standard.g_per_kg),
            "course_total_g": list(standard.course_total_g),
            "days_per_course": standard.days_per_course[0],
            "per_day_g": list(standard.per_day_g),
            "interval": standard.interval,
            "duration_months": list(standard.duration_months) if standard.duration_months else None,
            "alternative": _regimen(dose.alternative),
            "rounding": dose.rounding,
            "arithmetic": list(dose.arithmetic),
            "rules": list(dose.rules),
            "preferred": {"regimen": dose.preferred.regimen, "because": dose.preferred.because,
                          "rule": dose.preferred.rule, "lower_end": _regimen(dose.preferred.lower_end),
                          "spread": _regimen(dose.preferred.spread)},
            "bmi": dose.bmi,
            "next_course": dose.next_course,
            "warnings": [{"id": wid, "text": text} for wid, text in dose.warnings],
        }
    return {
        "knowledge_base": {"name": kb.name, "version": kb.version, "sha256": kb.sha256},
        "patient": dict(sorted(consultation.patient.items())),
        "summary": summary(kb, consultation),
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
        "dose": dose_data,
        "dose_note": consultation.dose_note,
        "missing": [{"fact": m.fact, "question": m.question, "concern": m.concern,
                     "could_change_verdict": m.could_change_verdict, "could_change": list(m.could_change),
                     "could_change_dose": m.could_change_dose, "most_decisive": m.decisive_kind}
                    for m in consultation.missing],
        "trace": [{"order": f.order, "rule": f.rule, "file": kb.rule(f.rule).file,
                   "line": kb.rule(f.rule).line,
                   "matched": [{"fact": m.name, "value": m.value, "origin": m.origin} for m in f.matched],
                   "asserted": list(f.asserted)} for f in consultation.trace],
    }


def plain(value: Any) -> Any:
    """A dataclass (or a tree of them) as JSON-ready data: tuples become lists."""
    if is_dataclass(value) and not isinstance(value, type):
        return {key: plain(item) for key, item in asdict(value).items()}
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    return value


def what_if_to_dict(kb: KnowledgeBase, comparison: Any) -> dict[str, Any]:
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
