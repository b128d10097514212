"""Case files: a patient and the consultation a knowledge engineer expects for it.

A case states only what it cares about; each stated expectation is compared
exactly. `conclusions` is the whole set of conclusion ids; `absent` names
conclusions that must not appear; `dose` compares the keys it gives.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .consultation import consult
from .errors import InputError, KnowledgeBaseError, Problem
from .model import KnowledgeBase
from .patient import normalize
from .schema_check import schema_problems
from .serialize import consultation_to_dict
from .yamlio import YamlProblem, position, read_yaml

SUMMARY_KEYS = ("verdict", "ivig_indicated", "early_initiation", "cautions", "combination", "warnings")
"""The summary fields a case may pin, compared exactly."""


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    description: str
    patient: Mapping[str, Any]
    expect: Mapping[str, Any]


@dataclass
class CaseResult:
    case: Case
    failures: list[tuple[str, Any, Any]] = field(default_factory=list)  # (what, expected, actual)
    fired: tuple[str, ...] = ()
    report: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.failures


def case_paths(kb: KnowledgeBase) -> list[Path]:
    return sorted((kb.root / "cases").glob("*.yaml"))


def load_case(path: Path) -> Case:
    """Read one case file; a malformed one is a knowledge-base error with its position."""
    file = str(path)
    try:
        document = read_yaml(path)
    except OSError as exc:
        raise KnowledgeBaseError([Problem(file, 1, 1, f"cannot read the case: {exc.strerror or exc}")]) from None
    except YamlProblem as exc:
        raise KnowledgeBaseError([Problem(file, exc.line, exc.column, exc.message)]) from None
    problems = schema_problems(document, "case_file", file)
    if problems:
        raise KnowledgeBaseError(problems)
    return Case(path.stem, file, str(document.get("description", "")).strip(),
                dict(document["patient"]), dict(document["expect"]))


def check_cases(kb: KnowledgeBase) -> list[Problem]:
    """Every problem of the knowledge base's case files: form, and each patient fact against the vocabulary."""
    problems: list[Problem] = []
    for path in case_paths(kb):
        try:
            load_case(path)
        except KnowledgeBaseError as exc:
            problems.extend(exc.problems)
            continue
        document = read_yaml(path)
        for name, value in document["patient"].items():
            try:
                normalize(kb, {name: value})
            except InputError as exc:
                line, column = position(document, ["patient", name])
                problems.append(Problem(str(path), line, column, f"patient: {exc}", None,
                                        "cases use the facts of vocabulary.yaml"))
        unknown = [rule_id for key in ("conclusions", "absent") for rule_id in document["expect"].get(key, [])
                   if rule_id not in {rule.id for rule in kb.rules}]
        for rule_id in unknown:
            line, column = position(document, ["expect"])
            problems.append(Problem(str(path), line, column, f"expect names unknown rule '{rule_id}'"))
    return problems


def run_case(kb: KnowledgeBase, case: Case) -> CaseResult:
    """Consult on the case's patient and compare every stated expectation."""
    try:
        facts = normalize(kb, case.patient)
    except InputError as exc:
        raise InputError(f"case {case.file}: {exc}", field=exc.field) from None
    consultation = consult(kb, facts)
    report = consultation_to_dict(kb, consultation)
    result = CaseResult(case, fired=consultation.fired, report=report)
    expect = case.expect
    actual_ids = sorted(c["id"] for c in report["conclusions"])
    for key in SUMMARY_KEYS:
        if key in expect and expect[key] != report["summary"][key]:
            result.failures.append((key, expect[key], report["summary"][key]))
    if "conclusions" in expect and sorted(expect["conclusions"]) != actual_ids:
        result.failures.append(("conclusions", sorted(expect["conclusions"]), actual_ids))
    for conclusion in expect.get("absent", []):
        if conclusion in actual_ids:
            result.failures.append((f"absent {conclusion}", "absent", "present"))
    if "missing" in expect:  # asked in this order; facts declared later may come between
        actual_missing = [m["fact"] for m in report["missing"]]
        remaining = iter(actual_missing)
        if not all(fact in remaining for fact in expect["missing"]):
            result.failures.append(("missing", list(expect["missing"]), actual_missing))
    if "dose" in expect:
        dose = report["dose"]
        if expect["dose"] is None or dose is None:
            if expect["dose"] != dose:
                result.failures.append(("dose", expect["dose"], dose))
        else:
            for key, value in expect["dose"].items():
                if _plain(_pinned(dose.get(key), value)) != _plain(value):
                    result.failures.append((f"dose.{key}", value, _pinned(dose.get(key), value)))
    return result


def _pinned(actual: Any, expected: Any) -> Any:
    """The part of `actual` a case pins: a regimen is pinned by the fields the case names."""
    if isinstance(actual, Mapping) and isinstance(expected, Mapping):
        return {key: actual.get(key) for key in expected}
    return actual


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return value


REGIMEN_KEYS = ("name", "course_total_g", "per_day_g", "days_per_course", "duration_months")
"""What a case pins of the regimen to give and of the standard one."""


def expectations(kb: KnowledgeBase, consultation: Any) -> dict[str, Any]:
    """What a case pins of a consultation: the summary, the conclusions, the dose, what is missing."""
    report = consultation_to_dict(kb, consultation)
    dose = report["dose"]
    expect: dict[str, Any] = {key: report["summary"][key] for key in SUMMARY_KEYS}
    expect["conclusions"] = sorted(c["id"] for c in report["conclusions"])
    expect["dose"] = None if dose is None else {
        "weight_basis": dose["weight_basis"], "dosing_weight_kg": dose["dosing_weight_kg"],
        **{side: {key: dose[side][key] for key in REGIMEN_KEYS} for side in ("give", "standard")}}
    expect["missing"] = [m["fact"] for m in report["missing"]]
    return expect


def case_from_consultation(kb: KnowledgeBase, consultation: Any, description: str) -> str:
    """Case-file YAML that pins this consultation's advice, for `consult --save-case`."""
    return case_text(description, dict(consultation.patient), expectations(kb, consultation))


def updated_case(kb: KnowledgeBase, path: Path) -> str:
    """The case file with its expectations rewritten from today's advice (description and patient kept)."""
    case = load_case(path)
    consultation = consult(kb, normalize(kb, case.patient))
    return case_text(case.description, case.patient, expectations(kb, consultation))


def case_text(description: str, patient: Mapping[str, Any], expect: Mapping[str, Any]) -> str:
    """Case YAML as people write it: blocks, with short lists on one line."""
    def block(key: str, value: Any) -> str:
        if not isinstance(value, Mapping):
            return yaml.safe_dump({key: value}, sort_keys=False, default_flow_style=False, width=100)
        lines = []
        for name, item in value.items():
            dumped = yaml.safe_dump({name: item}, sort_keys=False, width=100,
                                    default_flow_style=None if isinstance(item, (list, dict)) else False)
            if isinstance(item, list) and len(dumped) > 100:
                dumped = yaml.safe_dump({name: item}, sort_keys=False, default_flow_style=False, width=100)
            lines.append("".join(f"  {line}\n" for line in dumped.splitlines()))
        return f"{key}:\n" + "".join(lines)

    patient, expect = json.loads(json.dumps(patient)), json.loads(json.dumps(expect))  # plain lists and dicts
    return block("description", description) + block("patient", patient) + block("expect", expect)
