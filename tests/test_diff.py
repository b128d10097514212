"""`kb diff` to the letter (edits, gains, losses, the rules behind them) and case files as written and checked.

`kb diff` exactly: what counts as an edit of a rule, and which edits a patient's changed advice rests on.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, consult, load_knowledge_base, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.cases import Case, case_text, check_cases, run_case
from myoivig.engine.diff import DiffReport, PatientChange, diff, resolve, rule_edits

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


# ---------------------------------------------------------------- `kb diff` exactly: what counts as an edit of a rule, and whi
IBM = {"diagnosis": "IBM", "age_years": 50}
SEVERE = {"diagnosis": "DM", "severity": "severe", "age_years": 50, "sex": "female", "height_cm": 165}
MILD = {"diagnosis": "DM", "severity": "mild", "age_years": 50}


def _rules(*rules: Any) -> Any:
    return SimpleNamespace(rules=list(rules))


@pytest.fixture
def rule(kb: KnowledgeBase) -> Any:
    return next(r for r in kb.rules if isinstance(r.when, cond.All) and len(r.when.items) == 2
                and all(isinstance(item, cond.Test) for item in r.when.items))


def test_the_same_rules_are_no_edit_and_moving_a_rule_is_none(kb: KnowledgeBase, rule: Any) -> None:
    """Where a rule stands (file, line, a test's column) is not what it says."""
    assert rule_edits(kb, kb) == {}
    moved = dataclasses.replace(rule, file="elsewhere.yaml", line=999,
                                when=cond.All(tuple(dataclasses.replace(t, line=1, column=2) for t in rule.when.items),
                                              line=5))
    assert rule_edits(_rules(rule), _rules(moved)) == {}


@pytest.mark.parametrize("change", ["title", "fact", "op", "value", "any", "not", "derive", "conclude", "dose",
                                    "excludes", "priority", "provenance"])
def test_each_part_of_what_a_rule_says_is_an_edit(kb: KnowledgeBase, rule: Any, change: str) -> None:
    """Title, each test's fact, operator and value, the shape of the condition, and every other field."""
    first, second = rule.when.items
    when = {
        "fact": cond.All((dataclasses.replace(first, fact="flare"), second)),
        "op": cond.All((dataclasses.replace(first, op="in", value=[True]), second)),
        "value": cond.All((dataclasses.replace(first, value=False), second)),
        "any": cond.Any_((first, second)),
        "not": cond.All((cond.Not(first), second)),
    }
    fields: dict[str, Any] = {
        "title": {"title": rule.title + "!"}, "derive": {"derive": ("x",)},
        "conclude": {"conclude": kb.rule("caution.iga_deficiency").conclude},
        "dose": {"dose": {"g_per_kg": [1, 2]}}, "excludes": {"excludes": kb.rule("combination.without_corticosteroids").excludes},
        "priority": {"priority": 1}, "provenance": {"provenance": kb.rule("caution.iga_deficiency").provenance},
    }
    edited = dataclasses.replace(rule, **({"when": when[change]} if change in when else fields[change]))
    assert rule_edits(_rules(rule), _rules(edited)) == {rule.id: "changed"}


def test_a_negated_test_differs_from_another_negated_test(rule: Any) -> None:
    """`not A` edited to `not B` is an edit: what is negated counts, not only that something is."""
    first, second = rule.when.items
    old = dataclasses.replace(rule, when=cond.All((cond.Not(first), second)))
    new = dataclasses.replace(rule, when=cond.All((cond.Not(dataclasses.replace(first, value=False)), second)))
    assert rule_edits(_rules(old), _rules(new)) == {rule.id: "changed"}


def test_edits_are_listed_by_rule_id_and_unchanged_rules_are_left_out(kb: KnowledgeBase, rule: Any) -> None:
    """Added, removed and changed together, sorted by id; a rule the same on both sides is not listed."""
    child, iga = kb.rule("scope.child"), kb.rule("caution.iga_deficiency")
    old = _rules(iga, rule, child)
    new = _rules(dataclasses.replace(rule, priority=3), child, dataclasses.replace(iga, id="a.first"))
    assert list(rule_edits(old, new).items()) == sorted([("a.first", "added"), (rule.id, "changed"),
                                                        ("caution.iga_deficiency", "removed")])


@pytest.fixture
def renamed(kb_copy: Path) -> KnowledgeBase:
    """The IBM report rule renamed, and the standard course raised to 3 g/kg."""
    edit(kb_copy / "rules" / "indication.yaml", "- id: evidence.inclusion_body_myositis", "- id: evidence.ibm")
    edit(kb_copy / "rules" / "dosing.yaml", "      g_per_kg: [1, 2]\n      days_per_course: 2",
         "      g_per_kg: [1, 3]\n      days_per_course: 2")
    return load_knowledge_base(kb_copy)


def test_a_change_of_conclusions_alone_is_not_put_down_to_the_dosing_rule(kb: KnowledgeBase,
                                                                          renamed: KnowledgeBase) -> None:
    """No dose on either side: the dosing edit is not behind this patient's change; the rename is."""
    report = diff(kb, renamed, [("ibm", IBM), ("severe", SEVERE), ("mild", MILD)])
    assert report.edits == {"dosing.standard_regimen": "changed", "evidence.ibm": "added",
                            "evidence.inclusion_body_myositis": "removed"}
    assert report.changes[0] == PatientChange("ibm", ("evidence.ibm",), ("evidence.inclusion_body_myositis",),
                                              None, None, ("evidence.ibm", "evidence.inclusion_body_myositis"))
    dose = report.changes[1]
    assert (dose.patient, dose.gained, dose.lost, dose.behind, dose.note) == (
        "severe", (), (), ("dosing.standard_regimen",), None)
    assert (dose.dose_before, dose.dose_after) == (
        "56.9 kg (ideal_body_weight): give 57-114 g over 2 days (28-57 g/day)",
        "56.9 kg (ideal_body_weight): give 57-171 g over 2 days (28-85 g/day)")
    assert len(report.changes) == 2  # the mild patient's advice did not change
    assert report.summary() == ("2 of 3 patients changed: 1 conclusions gained, 1 lost, 1 doses changed; "
                                "rules 1 added, 1 removed, 1 changed")


def test_the_summary_counts_conclusions_and_doses_across_patients() -> None:
    """Several patients: gains and losses summed, a dose counted once per patient whose dose differs."""
    changes = (PatientChange("a", ("x", "y"), ("z",), None, None, ()),
               PatientChange("b", ("x",), (), 1, 2, ()),
               PatientChange("c", (), ("w", "v"), 3, 3, ()))
    report = DiffReport({"r1": "changed", "r2": "changed", "r3": "added"}, 7, changes)
    assert report.summary() == ("3 of 7 patients changed: 3 conclusions gained, 3 lost, 1 doses changed; "
                                "rules 1 added, 0 removed, 2 changed")


def test_a_patient_both_sides_refuse_is_noted_against_the_old_side(kb: KnowledgeBase) -> None:
    """Refused by the old vocabulary is said first; such a patient counts as changed, with nothing gained or lost."""
    report = diff(kb, kb, [("bad", {"sex": "x"}), ("fine", {"diagnosis": "DM"})])
    assert report.changes == (PatientChange("bad", (), (), None, None, (), "invalid under the old vocabulary"),)
    assert report.summary() == ("1 of 2 patients changed: 0 conclusions gained, 0 lost, 0 doses changed; "
                                "rules 0 added, 0 removed, 0 changed")


def test_an_invalid_patient_does_not_hide_the_changes_of_those_after_it(kb: KnowledgeBase,
                                                                        renamed: KnowledgeBase) -> None:
    """One patient refused by a vocabulary is one note; the cohort after it is still compared."""
    report = diff(kb, renamed, [("bad", {"sex": "x"}), ("ibm", IBM)])
    assert [(c.patient, c.note) for c in report.changes] == [("bad", "invalid under the old vocabulary"),
                                                            ("ibm", None)]


def test_facts_a_side_does_not_declare_are_left_unknown_not_refused(kb: KnowledgeBase) -> None:
    """A vocabulary that grew is not a reason to call every patient invalid under the old one."""
    assert diff(kb, kb, [("p", {"diagnosis": "DM", "colour": "blue"})]).changes == ()


def test_a_patient_written_with_synonyms_is_read_on_both_sides(kb: KnowledgeBase, renamed: KnowledgeBase) -> None:
    """`dx: IBM` is the diagnosis under either vocabulary, so the renamed IBM rule shows in this patient's diff."""
    [change] = diff(kb, renamed, [("ibm", {"dx": "IBM", "age": 50})]).changes
    assert (change.gained, change.lost) == (("evidence.ibm",), ("evidence.inclusion_body_myositis",))
