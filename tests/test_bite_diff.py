"""`kb diff` to the letter (edits, gains, losses, the rules behind them) and case files as written and checked."""
from __future__ import annotations

from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, consult, load_knowledge_base, normalize
from myoivig.engine.cases import Case, case_text, check_cases, run_case
from myoivig.engine.diff import diff, resolve, rule_edits

from .builders import edit
from .conftest import KB_DIR

MODERATE = {"diagnosis": "DM", "severity": "moderate", "age_years": 50, "sex": "female", "height_cm": 165}


def test_rule_edits_name_each_rule_added_removed_and_changed(kb: KnowledgeBase, kb_copy: Path) -> None:
    """A renamed rule is one removed and one added; a new title is a change; the summary counts each kind."""
    edit(kb_copy / "rules" / "side_effects.yaml", "id: side_effects.prevention", "id: side_effects.prevention_v2")
    edit(kb_copy / "rules" / "side_effects.yaml", "title: Common side effects", "title: Common side effects (edited)")
    new = load_knowledge_base(kb_copy)
    assert rule_edits(kb, new) == {"side_effects.common": "changed", "side_effects.prevention": "removed",
                                   "side_effects.prevention_v2": "added"}
    report = diff(kb, new, [])
    assert report.summary() == ("0 of 0 patients changed: 0 conclusions gained, 0 lost, 0 doses changed; "
                                "rules 1 added, 1 removed, 1 changed")


@pytest.fixture
def widened(kb_copy: Path) -> KnowledgeBase:
    """Moderate disease now counts as severe, and the standard course goes up to 3 g/kg."""
    edit(kb_copy / "rules" / "indication.yaml", "        - severity: severe\n        - rapidly_progressive: true\n",
         "        - severity: {in: [severe, moderate]}\n        - rapidly_progressive: true\n")
    edit(kb_copy / "rules" / "dosing.yaml", "      g_per_kg: [1, 2]\n      days_per_course: 2",
         "      g_per_kg: [1, 3]\n      days_per_course: 2")
    return load_knowledge_base(kb_copy)


def test_a_patient_who_becomes_indicated_is_traced_to_every_edit_behind_it(kb: KnowledgeBase,
                                                                          widened: KnowledgeBase) -> None:
    """Gained conclusions (the dose among them) name the edited rules they rest on, through derived facts."""
    [change] = diff(kb, widened, [("p1", MODERATE)]).changes
    assert "dosing.standard_regimen" in change.gained and change.lost == ()
    assert (change.dose_before, change.dose_after) == (
        None, "56.9 kg (ideal_body_weight): give 57-171 g over 2 days (28-85 g/day)")
    assert change.behind == ("dosing.standard_regimen", "finding.severe_or_rapidly_progressive")
    [back] = diff(widened, kb, [("p1", MODERATE)]).changes
    assert back.gained == () and back.lost == change.gained


def test_a_dose_change_alone_is_put_down_to_the_dosing_rule(kb: KnowledgeBase, widened: KnowledgeBase) -> None:
    """Same conclusions, another dose: the change rests on the dosing rule's edits, its own and upstream."""
    [change] = diff(kb, widened, [("p1", {**MODERATE, "severity": "severe"})]).changes
    assert (change.gained, change.lost) == ((), ())
    assert (change.dose_before, change.dose_after) == (
        "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)",
        "56.9 kg (ideal_body_weight): give 57-171 g over 2 days (28-85 g/day)")
    assert change.behind == ("dosing.standard_regimen", "finding.severe_or_rapidly_progressive")  # upstream of it


def test_a_patient_only_one_vocabulary_accepts_is_noted_with_the_side(kb: KnowledgeBase, kb_copy: Path) -> None:
    """The note says which side's vocabulary refused the patient."""
    edit(kb_copy / "vocabulary.yaml", "overlap_myositis, other]", "overlap_myositis, other, juvenile_myositis]")
    grown = load_knowledge_base(kb_copy)
    patients = [("young", {"diagnosis": "juvenile_myositis", "severity": "severe"})]
    assert [c.note for c in diff(kb, grown, patients).changes] == ["invalid under the old vocabulary"]
    assert [c.note for c in diff(grown, kb, patients).changes] == ["invalid under the new vocabulary"]


def test_a_git_revision_is_unpacked_as_its_knowledge_base(tmp_path: Path) -> None:
    """`kb diff HEAD ...` reads the committed knowledge base from git."""
    unpacked = resolve("HEAD", tmp_path)
    assert unpacked == tmp_path / "HEAD" / "knowledge_base"
    assert (unpacked / "vocabulary.yaml").read_bytes() == (KB_DIR / "vocabulary.yaml").read_bytes()


# ---------------------------------------------------------------- case files
def test_run_case_compares_each_stated_expectation(kb: KnowledgeBase) -> None:
    """A case states only what it cares about; each wrong expectation is one failure, expected against actual."""
    case = Case("c", "c.yaml", "", MODERATE, {"verdict": "indicated", "dose": None})
    result = run_case(kb, case)
    verdict = consult(kb, normalize(kb, MODERATE)).verdict.value
    assert result.failures == [("verdict", "indicated", verdict)] and not result.passed


def test_check_cases_reports_every_broken_case_not_just_the_first(kb_copy: Path) -> None:
    """A malformed case does not hide the problems of the cases after it."""
    cases = kb_copy / "cases"
    (cases / "aaa_malformed.yaml").write_text("description: broken\npatient: [not, a, mapping]\n")
    (cases / "zzz_unknown_fact.yaml").write_text("description: x\npatient:\n  colour: blue\nexpect:\n  verdict: indicated\n")
    found = check_cases(load_knowledge_base(kb_copy))
    assert {Path(p.file).name for p in found} == {"aaa_malformed.yaml", "zzz_unknown_fact.yaml"}


DESCRIPTION = ("Dermatomyositis with dysphagia, severe weakness and a thrombotic risk, six months after diagnosis; "
               "on prednisone and methotrexate.")


def test_case_text_is_written_as_people_write_cases() -> None:
    """Lines wrap at 100 columns; keys keep their order; short lists stay on one line, long ones become blocks."""
    long_id = "x" * 90  # `absent: [...]` is then 101 characters: one too many for one line
    text = case_text(DESCRIPTION, {"diagnosis": "DM", "current_therapies": ["corticosteroids", "methotrexate"]},
                     {"verdict": "indicated", "conclusions": [f"rule.number_{i:02}" for i in range(8)],
                      "dose": {"weight_basis": "ideal_body_weight", "dosing_weight_kg": 56.9,
                               "course_total_g": [57.0, 114.0], "per_day_g": [28.0, 57.0], "days_per_course": 2,
                               "duration_months": [1, 6]},
                      "absent": [long_id]})
    assert text == (
        "description: Dermatomyositis with dysphagia, severe weakness and a thrombotic risk, six months after diagnosis;\n"
        "  on prednisone and methotrexate.\n"
        "patient:\n"
        "  diagnosis: DM\n"
        "  current_therapies: [corticosteroids, methotrexate]\n"
        "expect:\n"
        "  verdict: indicated\n"
        "  conclusions:\n"
        + "".join(f"  - rule.number_{i:02}\n" for i in range(8)) +
        "  dose:\n"
        "    weight_basis: ideal_body_weight\n"
        "    dosing_weight_kg: 56.9\n"
        "    course_total_g: [57.0, 114.0]\n"
        "    per_day_g: [28.0, 57.0]\n"
        "    days_per_course: 2\n"
        "    duration_months: [1, 6]\n"
        "  absent:\n"
        f"  - {long_id}\n")
