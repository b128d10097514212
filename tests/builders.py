"""What the tests build and read, in one place: knowledge-base edits, masked outputs, cohorts, FHIR
resources, the browser. Test modules import from here, never from each other."""
from __future__ import annotations

import csv
import hashlib
import json
import re
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from myoivig.engine import conditions as cond
from myoivig.engine.bindings import load_bindings
from myoivig.engine.fhir import read_fhir
from myoivig.engine.model import ConclusionSpec, DerivedSpec, Exclusion, FactSpec, Provenance, Reference, Rule
from myoivig.engine.population import generate
from myoivig.engine.yamlio import parse_yaml

# ---------------------------------------------------------------- hand-made knowledge bases
POLICY = Provenance(local_policy="t")


def rule(rule_id: str, when: str | cond.Condition, *, derive: tuple[str, ...] = (), kind: str | None = None,
         strength: str | None = None, dose: Mapping[str, Any] | None = None, statement: str | None = None,
         title: str | None = None, line: int = 1, file: str = "t.yaml", provenance: Provenance = POLICY,
         excludes: Exclusion | None = None, priority: int = 0, conclude: ConclusionSpec | None = None) -> Rule:
    """A rule as a rule file would give it: `when` in the files' YAML (or a parsed condition); a `kind`
    makes it conclude (its statement is its id unless given)."""
    condition = cond.parse(parse_yaml(when)) if isinstance(when, str) else when
    if conclude is None and kind is not None:
        conclude = ConclusionSpec(kind, statement or rule_id, strength=strength)
    return Rule(rule_id, title or rule_id, condition, file, line, provenance, derive=derive, conclude=conclude,
                dose=dict(dose) if dose is not None else None, excludes=excludes, priority=priority)


def knowledge_base(*rules: Rule, facts: Iterable[FactSpec], derived: Iterable[str] = (), name: str = "tiny",
                   references: Mapping[str, Reference] | None = None, document: str = "",
                   sha256: str | None = None) -> KnowledgeBase:
    """A knowledge base of these rules, in memory. Unless given, its sha256 is made from what it holds, so two
    different hand-made bases never share a compiled engine (engines are kept by checksum)."""
    fact_specs = {fact.name: fact for fact in facts}
    derived = tuple(derived)
    sha256 = sha256 or hashlib.sha256(repr((name, fact_specs, derived, rules, document)).encode()).hexdigest()
    return KnowledgeBase(name=name, version="1", sha256=sha256, root=Path("."), facts=fact_specs,
                         derived={d: DerivedSpec(d, d) for d in derived}, rules=rules,
                         references=dict(references or {}), document=document, background="")


# ---------------------------------------------------------------- knowledge-base edits
def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def problems_of(kb_dir: Path) -> list[str]:
    """The problems, with the temporary folder that holds the copy cut from each path."""
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(kb_dir)
    return [str(p).replace(f"{kb_dir.resolve().parent}/", "") for p in caught.value.problems]


def line_of(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


# ---------------------------------------------------------------- outputs
def mask(text: str) -> str:
    """Snapshots compare the advice, keyed by rule id: the knowledge base's checksum and the lines
    where rules stand change with any edit (a comment, a longer title), so both are masked.

    The reviewed outputs are syrupy snapshots (tests/__snapshots__/); after a change that alters
    advice on purpose, `pytest --snapshot-update` rewrites them: review `git diff` before committing.
    """
    text = re.sub(r"(sha256\W+)[0-9a-f]{12,64}", r"\1<sha256>", text)
    text = re.sub(r"((?:knowledge_base/)?rules/[a-z_]+\.yaml):\d+", r"\1:<line>", text)
    return re.sub(r'("line": )\d+', r'\1"<line>"', text)


def structure(source: str) -> tuple[set[str], set[tuple[str, str]]]:
    """The nodes and edges of DOT source, without labels, tooltips or the lines rules stand on."""
    nodes = set(re.findall(r'^\t+"?([\w.]+)"? \[', source, re.M))
    edges = set(re.findall(r'^\t+"?([\w.]+)"? -> "?([\w.]+)"?', source, re.M))
    return nodes, edges


# ---------------------------------------------------------------- cohorts
def cohort(kb: KnowledgeBase, count: int, seed: int = 11) -> list[dict[str, Any]]:
    return [{"id": f"P{n:05d}", **facts} for n, facts in enumerate(generate(kb, count, seed=seed), 1)]


def write_jsonl(path: Path, patients: list[dict[str, Any]], extra: tuple[str, ...] = ()) -> Path:
    path.write_text("".join(json.dumps(p) + "\n" for p in patients) + "".join(line + "\n" for line in extra))
    return path


def write_csv(kb: KnowledgeBase, path: Path, patients: list[dict[str, Any]]) -> Path:
    def cell(value: Any) -> str:
        if isinstance(value, list):
            return ";".join(value) or "none"
        return "" if value is None else str(value).lower() if isinstance(value, bool) else str(value)

    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", *kb.facts])
        for patient in patients:
            writer.writerow([patient["id"], *(cell(patient.get(name)) for name in kb.facts)])
    return path


# ---------------------------------------------------------------- FHIR resources
SCT, LOINC, UCUM = "http://snomed.info/sct", "http://loinc.org", "http://unitsofmeasure.org"


def bundle(*resources: dict[str, Any], timestamp: str = "2026-01-15T09:00:00Z") -> dict[str, Any]:
    patient = {"resourceType": "Patient", "id": "p", "gender": "female", "birthDate": "1970-03-01"}
    return {"resourceType": "Bundle", "type": "collection", "timestamp": timestamp,
            "entry": [{"resource": r} for r in (patient, *resources)]}


def observation(code: str, value: dict[str, Any], rid: str = "o", date: str = "2026-01-05",
                status: str = "final", system: str = LOINC) -> dict[str, Any]:
    return {"resourceType": "Observation", "id": rid, "status": status, "subject": {"reference": "Patient/p"},
            "code": {"coding": [{"system": system, "code": code}]}, "effectiveDateTime": date, **value}


def condition(system: str, code: str, rid: str = "c", verification: str = "confirmed", clinical: str = "active",
              **extra: Any) -> dict[str, Any]:
    found = {"resourceType": "Condition", "id": rid, "subject": {"reference": "Patient/p"},
             "code": {"coding": [{"system": system, "code": code}]},
             "verificationStatus": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-ver-status",
                                                "code": verification}]}, **extra}
    if clinical:
        found["clinicalStatus"] = {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                                               "code": clinical}]}
    return found


def quantity(value: float, code: str) -> dict[str, Any]:
    return {"valueQuantity": {"value": value, "unit": code, "system": UCUM, "code": code}}


def read(document: dict[str, Any]) -> Any:
    kb = load_knowledge_base(None)
    return read_fhir(load_bindings(kb), document)


def _antibody_codes() -> dict[str, tuple[str, str]]:
    """Each antibody's first bound code, from the shipped bindings (never copied here)."""
    codes: dict[str, tuple[str, str]] = {}
    for binding in load_bindings(load_knowledge_base(None)).bindings:
        if binding.fact == "autoantibodies":
            for (system, code), value in binding.values.items():
                codes.setdefault(str(value), (code, system))
    return codes


ANTIBODIES = _antibody_codes()
POS = {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "10828004"}]}}
NEG = {"valueCodeableConcept": {"coding": [{"system": SCT, "code": "260385009"}]}}


def antibody(name: str, value: dict[str, Any], date: str = "2026-01-05") -> dict[str, Any]:
    code, system = ANTIBODIES[name]
    return observation(code, value, f"{name}-{date}".replace("_", "-"), date, system=system)


# ---------------------------------------------------------------- the browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOTS = Path(__file__).resolve().parent.parent / "build" / "screenshots"
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
"""Without the background-networking flags chromium keeps dialling out of this closed network."""

browser_test = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (`make test` "
                                                           "installs it with apt)")
