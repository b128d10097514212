"""What a knowledge-base change does to past advice: rule edits and the patients they touch."""
from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import conditions as cond
from .consultation import consult
from .errors import InputError
from .evaluator import upstream_rules
from .loader import load_knowledge_base
from .model import KnowledgeBase, Rule
from .patient import normalize
from .serialize import consultation_to_dict


def resolve(spec: str, workdir: Path) -> Path:
    """A knowledge-base folder, or the `knowledge_base/` tree of a git revision unpacked into `workdir`."""
    path = Path(spec)
    if path.is_dir():
        return path
    try:
        top = subprocess.run(["git", "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                             check=True).stdout.strip()
        archive = subprocess.run(["git", "-C", top, "archive", spec, "knowledge_base"],
                                 capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        raise InputError(f"'{spec}' is neither a knowledge-base folder nor a git revision with a "
                         "knowledge_base/ folder", field="revision") from None
    target = workdir / spec.replace("/", "_")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "knowledge_base"


def _canonical(condition: cond.Condition) -> Any:
    if isinstance(condition, cond.Test):
        return (condition.fact, condition.op, condition.value)
    if isinstance(condition, cond.Not):
        return ("not", _canonical(condition.item))
    return (type(condition).__name__, tuple(_canonical(item) for item in condition.items))


def _definition(rule: Rule) -> Any:
    """What a rule says, without where it stands (moving a rule is not editing it)."""
    return (rule.title, _canonical(rule.when), rule.derive, rule.conclude,
            tuple(sorted((rule.dose or {}).items(), key=str)), rule.excludes, rule.priority, rule.provenance)


def rule_edits(old: KnowledgeBase, new: KnowledgeBase) -> dict[str, str]:
    old_rules = {rule.id: rule for rule in old.rules}
    new_rules = {rule.id: rule for rule in new.rules}
    edits = {rid: "added" for rid in new_rules.keys() - old_rules.keys()}
    edits.update({rid: "removed" for rid in old_rules.keys() - new_rules.keys()})
    edits.update({rid: "changed" for rid in old_rules.keys() & new_rules.keys()
                  if _definition(old_rules[rid]) != _definition(new_rules[rid])})
    return dict(sorted(edits.items()))


@dataclass(frozen=True)
class PatientChange:
    patient: str
    gained: tuple[str, ...]
    lost: tuple[str, ...]
    dose_before: Any
    dose_after: Any
    behind: tuple[str, ...]  # the rule edits these changes rest on
    note: str | None = None  # e.g. the patient is invalid under one side


@dataclass(frozen=True)
class DiffReport:
    edits: Mapping[str, str]
    patients: int
    changes: tuple[PatientChange, ...]

    def summary(self) -> str:
        gained = sum(len(c.gained) for c in self.changes)
        lost = sum(len(c.lost) for c in self.changes)
        doses = sum(1 for c in self.changes if c.dose_before != c.dose_after)
        kinds = {kind: sum(1 for k in self.edits.values() if k == kind) for kind in ("added", "removed", "changed")}
        return (f"{len(self.changes)} of {self.patients} patients changed: {gained} conclusions gained, "
                f"{lost} lost, {doses} doses changed; rules {kinds['added']} added, {kinds['removed']} removed, "
                f"{kinds['changed']} changed")


def _outcome(kb: KnowledgeBase, raw: Mapping[str, Any]) -> tuple[set[str], Any] | None:
    """A patient's conclusions and dose under `kb`; facts `kb` does not declare are left unknown
    (a vocabulary that grew is not a reason to call every patient invalid under the old one)."""
    known = {name: value for name, value in raw.items() if str(name) in kb.facts or str(name) in kb.synonyms}
    try:
        facts = normalize(kb, known)
    except InputError:
        return None
    data = consultation_to_dict(kb, consult(kb, facts, ask=False))  # conclusions and dose: no questions needed
    dose = data["dose"]
    # the regimen to give, as every surface says it: a change of the cautious regimen alone is a dose change
    return {c["id"] for c in data["conclusions"]}, (
        f"{dose['dosing_weight_kg']:g} kg ({dose['weight_basis']}): give {dose['give']['text']}" if dose else None)


def diff(old: KnowledgeBase, new: KnowledgeBase, patients: Sequence[tuple[str, Mapping[str, Any]]]) -> DiffReport:
    edits = rule_edits(old, new)
    upstream = {**upstream_rules(old), **upstream_rules(new)}
    changes = []
    for name, raw in patients:
        before, after = _outcome(old, raw), _outcome(new, raw)
        if before is None or after is None:
            side = "the old" if before is None else "the new"
            changes.append(PatientChange(name, (), (), None, None, (), f"invalid under {side} vocabulary"))
            continue
        gained, lost = tuple(sorted(after[0] - before[0])), tuple(sorted(before[0] - after[0]))
        if not gained and not lost and before[1] == after[1]:
            continue
        touched = set(gained) | set(lost) | ({"dosing.standard_regimen"} if before[1] != after[1] else set())
        behind = sorted({rid for conclusion in touched for rid in upstream.get(conclusion, {conclusion})
                         if rid in edits} | {rid for rid in touched if rid in edits})
        changes.append(PatientChange(name, gained, lost, before[1], after[1], tuple(behind)))
    return DiffReport(edits, len(patients), tuple(changes))


def temporary_workdir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="myoivig-diff-")


def load_side(spec: str, workdir: Path) -> KnowledgeBase:
    return load_knowledge_base(resolve(spec, workdir))
