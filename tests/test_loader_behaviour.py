"""engine/loader.py as a whole: every field of the model built from a tiny knowledge base written
here (facts, derived facts, references, rules with priority, exclusions, conclusions, dose), the
order of rules, the checksum, every way a folder fails with file:line:column, and the cache.

A tiny knowledge base keeps each test quick and every line number in view; the shipped one is
used only where its size matters (the session `kb`, `kb_copy`).
"""
from __future__ import annotations

import shutil
import typing
from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, KnowledgeBaseError, load_knowledge_base
from myoivig.engine import conditions as cond
from myoivig.engine.errors import Problem
from myoivig.engine.loader import DEFAULT_KB, check_knowledge_base, default_kb_path, kb_files, normalize_space
from myoivig.engine.model import ConclusionSpec, DerivedSpec, Exclusion, FactSpec, Provenance, Quote, Reference

from .conftest import KB_DIR

VOCABULARY = """\
facts:
  sev:
    type: enum
    values: [mild, severe]
    aliases: {bad: severe}
    synonyms: [severity]
    meaning: How severe.
    question: How severe is it?
  ck_level:
    type: number
    unit: U/L
    units: {U/L: 1, kU/L: 1000}
    range: [0, 100000]
    meaning: Creatine kinase.
    question: What is the CK level?
  flag:
    type: bool
    meaning: A flag.
    question: Is the flag set?
derived:
  severe_disease:
    meaning: Severe disease.
"""
SOURCES = """\
name: tiny
version: 2.0.1
document:
  file: document.txt
  title: A tiny document
  background: >-
    Background   text
    over two lines.
references:
  "1":
    label: Tiny guideline
    citation: Someone 2020.
    evidence: a guideline
    confidence: sure
"""
DOCUMENT = "Severe disease calls for care.\nA high creatine kinase level needs a second look.\n"
RULES_A = """\
rules:
  - id: a.advice
    title: Advice when severe
    when:
      severe_disease: true
    conclude:
      kind: indication
      statement: >-
        IVIG   is
        recommended.
      strength: recommended
    priority: 5
    provenance:
      sources:
        - ref: "1"
          quote: Severe   disease calls
            for care.
  - id: a.combination
    title: Combine therapies
    when:
      flag: true
    conclude:
      kind: combination
      statement: Combine with steroids.
      therapy_class: corticosteroids
    excludes:
      rules: [a.scope]
      resolution: The combination   comes first.
    provenance:
      local_policy: Local   policy,
        two lines.
  - id: a.scope
    title: Out of scope
    when:
      flag: false
    conclude:
      kind: scope
      statement: Outside the scope.
      outside_scope: true
    provenance:
      local_policy: Local policy here.
"""
RULES_B = """\
rules:
  - id: b.severe
    title: Severe disease
    when:
      any:
        - sev: severe
        - ck_level: {gt: 5000}
    derive: [severe_disease]
    provenance:
      local_policy: A local policy that says why.
  - id: b.dose
    title: The dose
    when:
      severe_disease: true
    conclude:
      kind: dosing
      statement: Two grams per kilogram.
    dose:
      regimen: standard
      g_per_kg: [2, 2]
    provenance:
      local_policy: A local policy that says why.
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "rules").mkdir(parents=True)
    (root / "vocabulary.yaml").write_text(VOCABULARY)
    (root / "sources.yaml").write_text(SOURCES)
    (root / "document.txt").write_text(DOCUMENT)
    (root / "rules" / "a.yaml").write_text(RULES_A)
    (root / "rules" / "b.yaml").write_text(RULES_B)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def shown(root: Path, problems: list[Problem]) -> list[str]:
    return [str(p).replace(f"{root.resolve()}/", "") for p in problems]


# ---------------------------------------------------------------- the model, field by field
def test_the_facts_are_read_field_by_field_with_their_lines(tiny: Path) -> None:
    kb = load_knowledge_base(tiny)
    assert kb.facts == {
        "sev": FactSpec("sev", "enum", "How severe.", "How severe is it?", values=("mild", "severe"),
                        aliases={"bad": "severe"}, synonyms=("severity",), line=2),
        "ck_level": FactSpec("ck_level", "number", "Creatine kinase.", "What is the CK level?", unit="U/L",
                             units={"U/L": 1, "kU/L": 1000}, range=(0, 100000), line=9),
        "flag": FactSpec("flag", "bool", "A flag.", "Is the flag set?", line=16),
    }
    assert [spec.line for spec in kb.facts.values()] == [2, 9, 16]   # the line, not the column (3)
    assert isinstance(kb.facts["sev"].values, tuple) and isinstance(kb.facts["ck_level"].range, tuple)
    assert kb.derived == {"severe_disease": DerivedSpec("severe_disease", "Severe disease.", 21)}


def test_the_sources_give_name_version_references_document_and_background(tiny: Path) -> None:
    kb = load_knowledge_base(tiny)
    assert (kb.name, kb.version, kb.root) == ("tiny", "2.0.1", tiny)
    assert kb.references == {"1": Reference("1", "Tiny guideline", "Someone 2020.", "a guideline", "sure")}
    assert kb.document == DOCUMENT
    assert kb.background == "Background text over two lines."


def test_a_missing_background_is_empty(tiny: Path) -> None:
    edit(tiny / "sources.yaml", "  background: >-\n    Background   text\n    over two lines.\n", "")
    assert load_knowledge_base(tiny).background == ""


def test_every_rule_field_is_read_with_its_file_and_line(tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Text is read with its white space folded, so quotes compare word for word."""
    monkeypatch.chdir(tiny)
    rules = {rule.id: rule for rule in load_knowledge_base(tiny).rules}
    advice, combination, scope = rules["a.advice"], rules["a.combination"], rules["a.scope"]
    severe, dose = rules["b.severe"], rules["b.dose"]
    assert [(r.file, r.line) for r in (advice, combination, scope, severe, dose)] == [
        ("rules/a.yaml", 2), ("rules/a.yaml", 18), ("rules/a.yaml", 32), ("rules/b.yaml", 2), ("rules/b.yaml", 11)]
    assert advice.title == "Advice when severe"
    assert advice.when == cond.Test("severe_disease", "equals", True)
    assert advice.conclude == ConclusionSpec("indication", "IVIG is recommended.", None, False, "recommended")
    assert advice.provenance == Provenance((Quote("1", "Severe disease calls for care."),), None)
    assert (advice.derive, advice.dose, advice.excludes, advice.priority) == ((), None, None, 5)
    assert combination.conclude == ConclusionSpec("combination", "Combine with steroids.", "corticosteroids", False,
                                                  None)
    assert combination.excludes == Exclusion(("a.scope",), "The combination comes first.")
    assert combination.provenance == Provenance((), "Local policy, two lines.")
    assert combination.priority == 0
    assert scope.conclude == ConclusionSpec("scope", "Outside the scope.", None, True, None)
    assert severe.when == cond.Any_((cond.Test("sev", "equals", "severe"), cond.Test("ck_level", "gt", 5000)), 5)
    assert (severe.derive, severe.conclude, severe.priority) == (("severe_disease",), None, 0)
    assert dose.dose == {"regimen": "standard", "g_per_kg": [2, 2]} and type(dose.dose) is dict


def test_a_priority_other_than_the_default_is_kept(kb_copy: Path) -> None:
    """The engine gives salience to a rule with a priority; every other rule has priority 0."""
    edit(kb_copy / "rules" / "cautions.yaml", "  - id: caution.renal_insufficiency\n",
         "  - id: caution.renal_insufficiency\n    priority: -3\n")
    kb = load_knowledge_base(kb_copy)
    assert {rule.id: rule.priority for rule in kb.rules if rule.priority} == {"caution.renal_insufficiency": -3}


def test_the_shipped_rules_have_the_default_priority(kb: KnowledgeBase) -> None:
    assert {rule.priority for rule in kb.rules} == {0}


def test_rules_are_ordered_producers_first_then_files_in_name_order(tiny: Path) -> None:
    """b.severe derives what a.advice reads, so it comes first although b.yaml sorts after a.yaml."""
    assert [rule.id for rule in load_knowledge_base(tiny).rules] == [
        "b.severe", "a.advice", "a.combination", "a.scope", "b.dose"]


def test_the_knowledge_base_files_are_vocabulary_sources_then_sorted_rules(tiny: Path) -> None:
    (tiny / "rules" / "0.yaml").write_text("rules: []\n")
    (tiny / "rules" / "notes.txt").write_text("not a rule file\n")
    assert kb_files(tiny) == [tiny / "vocabulary.yaml", tiny / "sources.yaml", tiny / "rules" / "0.yaml",
                              tiny / "rules" / "a.yaml", tiny / "rules" / "b.yaml"]


def test_the_checksum_covers_every_file_and_the_document_but_not_where_they_are(tiny: Path, tmp_path: Path) -> None:
    """The same knowledge base in another folder has the same checksum; any edit changes it."""
    first = load_knowledge_base(tiny).sha256
    assert len(first) == 64
    moved = shutil.copytree(tiny, tmp_path / "elsewhere")
    assert load_knowledge_base(moved).sha256 == first
    (moved / "cases").mkdir()
    (moved / "cases" / "one.yaml").write_text("patient: {}\n")   # test cases are not the knowledge base
    assert load_knowledge_base(moved).sha256 == first
    (moved / "document.txt").write_text(DOCUMENT + "More.\n")
    edited_document = load_knowledge_base(moved).sha256
    (moved / "rules" / "b.yaml").write_text(RULES_B + "# a comment\n")
    assert len({first, edited_document, load_knowledge_base(moved).sha256}) == 3


def test_the_default_knowledge_base_is_the_shipped_one(kb: KnowledgeBase) -> None:
    assert default_kb_path() == DEFAULT_KB == KB_DIR
    assert load_knowledge_base().sha256 == kb.sha256
    model, problems = check_knowledge_base()
    assert model is not None and model.sha256 == kb.sha256 and problems == []


@pytest.mark.parametrize("text, expected", [("  a \n\t b  ", "a b"), ("", ""), ("one", "one"),
                                            ("x\u00a0\u00a0y", "x y")])
def test_white_space_is_folded_to_single_spaces(text: str, expected: str) -> None:
    assert normalize_space(text) == expected


# ---------------------------------------------------------------- warnings, errors and what is returned
def test_without_warnings_asked_for_the_model_alone_is_returned(tiny: Path) -> None:
    assert isinstance(load_knowledge_base(tiny), KnowledgeBase)
    assert isinstance(load_knowledge_base(str(tiny)), KnowledgeBase)


def test_with_warnings_the_model_comes_with_every_warning(tiny: Path) -> None:
    edit(tiny / "vocabulary.yaml", "derived:\n", "derived:\n  idle:\n    meaning: Nothing.\n")
    kb, warnings = load_knowledge_base(tiny, with_warnings=True)
    assert isinstance(kb, KnowledgeBase)
    assert shown(tiny, warnings) == ["vocabulary.yaml:21:3: warning: derived fact 'idle' is declared but neither "
                                     "derived nor used - remove it from vocabulary.yaml"]
    assert load_knowledge_base(tiny, with_warnings=True)[1] == warnings


def test_the_error_lists_only_the_errors_not_the_warnings(tiny: Path) -> None:
    """A warning beside an error would bury what must be fixed."""
    edit(tiny / "vocabulary.yaml", "derived:\n", "derived:\n  idle:\n    meaning: Nothing.\n")
    edit(tiny / "rules" / "b.yaml", "        - sev: severe\n", "        - sev: sever\n")
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(tiny)
    assert shown(tiny, caught.value.problems) == [
        "rules/b.yaml:6:11: error [b.severe]: 'sever' is not a value of 'sev' - did you mean 'severe'?"]
    model, problems = check_knowledge_base(tiny)
    assert model is None and [p.severity for p in problems] == ["error", "warning"]


def test_a_meaning_error_and_a_lint_error_are_both_reported(tiny: Path) -> None:
    edit(tiny / "rules" / "b.yaml", "        - ck_level: {gt: 5000}\n",
         "        - all: [{ck_level: {gt: 5000}}, {ck_level: {lt: 10}}]\n        - flag: maybe\n")
    model, problems = check_knowledge_base(tiny)
    assert model is None
    assert shown(tiny, problems) == [  # in line order, as an editor walks the file
        "rules/b.yaml:2:1: warning [b.severe]: one alternative of the condition can never hold: no number "
        "satisfies the bounds on 'ck_level' - remove that alternative",
        "rules/b.yaml:8:11: error [b.severe]: 'flag' is true or false, not 'maybe'"]


# ---------------------------------------------------------------- a folder that cannot be read
def test_a_file_instead_of_a_folder_is_not_a_knowledge_base(tmp_path: Path) -> None:
    (tmp_path / "kb.yaml").write_text("facts: {}\n")
    model, problems = check_knowledge_base(tmp_path / "kb.yaml")
    assert model is None
    assert [str(p) for p in problems] == [f"{tmp_path / 'kb.yaml'}:1:1: error: not a knowledge-base folder - "
                                          "expected vocabulary.yaml, sources.yaml and rules/*.yaml"]


def test_every_unreadable_file_is_reported_in_one_run(tiny: Path) -> None:
    """Missing, malformed and mis-shaped files are all listed, each at its place, and no model is built."""
    (tiny / "vocabulary.yaml").unlink()
    (tiny / "sources.yaml").write_text("name: tiny\nversion:   [2]\ndocument:\n  file: document.txt\n"
                                       "  title: t\nreferences: {}\n")
    (tiny / "rules" / "a.yaml").write_text("rules:\n  - id: [oops\n")
    (tiny / "rules" / "b.yaml").write_text("rules:\n  - id: b.x\n    when: {flag: true}\n    derive: [severe_disease]\n"
                                           "    provenance: {local_policy: Some local policy.}\n")
    model, problems = check_knowledge_base(tiny)
    assert model is None
    found = {Path(p.file).name: p for p in problems}  # sorted by file, then line
    assert [(Path(p.file).name, p.line, p.column, p.severity) for p in problems] == sorted(
        [("vocabulary.yaml", 1, 1, "error"), ("sources.yaml", 2, 1, "error"), ("a.yaml", 3, 1, "error"),
         ("b.yaml", 2, 5, "error")], key=lambda p: (str(next(x.file for x in problems if x.file.endswith(p[0]))),))
    assert found["vocabulary.yaml"].message == "cannot read the file: No such file or directory"
    assert found["sources.yaml"].message == "version: [2] is not text"
    assert found["a.yaml"].message.startswith("malformed YAML: ")
    assert (found["b.yaml"].rule, found["b.yaml"].message) == (
        "b.x", "'title' is missing (needed here: id, title, when, provenance)")


def test_a_folder_in_place_of_a_file_cannot_be_read(tiny: Path) -> None:
    (tiny / "sources.yaml").unlink()
    (tiny / "sources.yaml").mkdir()
    model, problems = check_knowledge_base(tiny)
    assert model is None
    assert shown(tiny, problems) == ["sources.yaml:1:1: error: cannot read the file: Is a directory"]


def test_a_knowledge_base_without_rule_files_is_refused(tiny: Path) -> None:
    for path in (tiny / "rules").glob("*.yaml"):
        path.unlink()
    model, problems = check_knowledge_base(tiny)
    assert model is None
    assert shown(tiny, problems)[0] == "rules:1:1: error: no rule files (rules/*.yaml)"


def test_an_unreadable_source_document_is_reported_at_its_file_key(tiny: Path) -> None:
    (tiny / "document.txt").unlink()
    model, problems = check_knowledge_base(tiny)
    assert model is None
    assert shown(tiny, problems)[0] == ("sources.yaml:4:3: error: cannot read the source document document.txt: "
                                        "No such file or directory")


def test_files_are_named_relative_to_the_current_folder_or_else_absolute(tiny: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """As a terminal opens them: a path inside the current folder is short, one outside is whole."""
    (tiny / "vocabulary.yaml").unlink()
    monkeypatch.chdir(tiny.parent)
    assert check_knowledge_base(tiny)[1][0].file == "tiny/vocabulary.yaml"
    monkeypatch.chdir(tiny / "rules")
    assert check_knowledge_base(tiny)[1][0].file == str((tiny / "vocabulary.yaml").resolve())


# ---------------------------------------------------------------- the cache
def test_a_loaded_knowledge_base_is_cached_unless_warnings_are_asked_for(tiny: Path, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Asking for warnings always checks again, and stores nothing."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(folder))
    monkeypatch.delenv("MYOIVIG_CACHE", raising=False)
    load_knowledge_base(tiny, with_warnings=True)
    assert not folder.exists() or list(folder.iterdir()) == []
    first = load_knowledge_base(tiny)
    assert len(list(folder.glob("kb-*.pickle"))) == 1
    assert load_knowledge_base(tiny) == first


def test_a_broken_knowledge_base_is_never_cached(tiny: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "cache"
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(folder))
    (tiny / "document.txt").unlink()
    with pytest.raises(KnowledgeBaseError):
        load_knowledge_base(tiny)
    assert list(folder.glob("kb-*.pickle")) == []


def test_the_typed_signature_promises_a_pair_only_with_warnings() -> None:
    """Type checkers rely on the two overloads: `with_warnings=True` gives (model, warnings), else the model.
    (This reads typing metadata: the overloads are the typed contract callers are checked against.)"""
    overloads = typing.get_overloads(load_knowledge_base)
    assert [typing.get_type_hints(o)["return"] for o in overloads] == [KnowledgeBase, tuple[KnowledgeBase,
                                                                                             list[Problem]]]


def test_a_tag_in_a_rule_file_is_a_located_error(tiny: Path) -> None:
    """`title: !!int x` raised a bare ValueError through kb validate; now it is an error at its place."""
    edit(tiny / "rules" / "b.yaml", "    title: Severe disease\n", "    title: !!int x\n")
    with pytest.raises(KnowledgeBaseError) as caught:
        load_knowledge_base(tiny)
    assert [(p.line, p.column, p.message) for p in caught.value.problems] == [
        (3, 12, "a tag (!!int) is not accepted; write the value plainly, or quote it")]


def test_a_condition_the_parser_refuses_is_a_located_error_even_past_the_schema(
        tiny: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The schema normally catches a malformed condition first; should it let one through (a schema edit),
    the loader still reports it at its place and leaves the rule out, instead of crashing."""
    from myoivig.engine import loader
    monkeypatch.setattr(loader, "schema_findings", lambda *_: [])
    edit(tiny / "rules" / "b.yaml", "      any:\n        - sev: severe\n        - ck_level: {gt: 5000}\n",
         "      any:   []\n")
    edit(tiny / "rules" / "b.yaml", "    when:\n      severe_disease: true\n", "    when:\n      sev: sever\n")
    model, problems = check_knowledge_base(tiny)
    assert model is None
    assert shown(tiny, problems)[:2] == [
        "rules/b.yaml:5:7: error [b.severe]: 'any' takes a non-empty list of conditions",
        "rules/b.yaml:12:7: error [b.dose]: 'sever' is not a value of 'sev' - did you mean 'severe'?"]  # read on
