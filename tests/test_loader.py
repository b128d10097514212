"""A broken knowledge base never gives advice: it fails with file, line and what to fix.

engine/loader.py as a whole: every field of the model built from a tiny knowledge base written
here (facts, derived facts, references, rules with priority, exclusions, conclusions, dose), the
order of rules, the checksum, every way a folder fails with file:line:column, and the cache.

A tiny knowledge base keeps each test quick and every line number in view; the shipped one is
used only where its size matters (the session `kb`, `kb_copy`).

Loading a knowledge base: each meaning check at its exact position, the cache's key, and the durable backend.
"""
from __future__ import annotations

import shutil
import typing
from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, KnowledgeBaseError, consult, kbcache, load_knowledge_base, normalize
from myoivig.engine import conditions as cond
from myoivig.engine.durable_engine import DurableEngine, engine_for, flag_field, patient_fact
from myoivig.engine.errors import Problem
from myoivig.engine.evaluator import evaluate_rules
from myoivig.engine.loader import DEFAULT_KB, check_knowledge_base, default_kb_path, kb_files, normalize_space
from myoivig.engine.model import ConclusionSpec, DerivedSpec, Exclusion, FactSpec, Provenance, Quote, Reference

from .builders import edit, knowledge_base, line_of, problems_of, rule
from .conftest import KB_DIR


def test_unknown_fact_with_did_you_mean(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "cautions.yaml"
    edit(rules, "      thrombotic_risk: true\n    conclude:\n      kind: caution\n      statement: Use",
         "      thrombotic_rsik: true\n    conclude:\n      kind: caution\n      statement: Use")
    line = line_of(rules, "      thrombotic_rsik: true")
    assert problems_of(kb_copy) == [
        f"knowledge_base/rules/cautions.yaml:{line}:7: error [caution.thrombotic_risk]: unknown fact "
        "'thrombotic_rsik' - did you mean 'thrombotic_risk'?"]


def test_duplicate_yaml_key_is_an_error(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "side_effects.yaml"
    edit(rules, "\n    when:\n      ivig_advised: true\n    conclude:\n      kind: side_effects\n      statement: Watch",
         "\n    title: Again\n    when:\n      ivig_advised: true\n    conclude:\n      kind: side_effects\n      statement: Watch")
    line = line_of(rules, "    title: Again")
    assert problems_of(kb_copy) == [
        f"knowledge_base/rules/side_effects.yaml:{line}:5: error: duplicate key 'title' (first given at line {line - 1})"]


def test_quote_must_be_verbatim(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "side_effects.yaml", "including headache, fever", "including headaches, fever")
    [problem] = problems_of(kb_copy)
    line = line_of(kb_copy / "rules" / "side_effects.yaml", "  - id: side_effects.common")
    assert problem.startswith(f"knowledge_base/rules/side_effects.yaml:{line}:1: error [side_effects.common]: "
                              "the quote for [1] is not in the source document word for word")


def test_negation_over_a_derived_fact_is_refused(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "side_effects.yaml", "    when:\n      ivig_advised: true\n",
         "    when:\n      not: {ivig_advised: true}\n")
    [problem] = problems_of(kb_copy)
    assert "negation over the derived fact 'ivig_advised' cannot be evaluated soundly" in problem


def test_cycle_between_derived_facts(kb_copy: Path) -> None:
    edit(kb_copy / "rules" / "indication.yaml", "        - severity: severe\n",
         "        - severity: severe\n        - indication_met: true\n")
    found = problems_of(kb_copy)
    assert any("derived facts form a cycle" in p for p in found)


def test_schema_violation_is_located(kb_copy: Path) -> None:
    rules = kb_copy / "rules" / "monitoring.yaml"
    edit(rules, "      kind: monitoring\n      statement: >-\n        Monitor the response",
         "      kind: monitor\n      statement: >-\n        Monitor the response")
    [problem] = problems_of(kb_copy)
    line = line_of(rules, "      kind: monitor")
    assert problem.startswith(f"knowledge_base/rules/monitoring.yaml:{line}:")
    assert "[monitoring.treatment_response]" in problem and "'monitor' is not allowed here" in problem
    assert problem.endswith("did you mean 'monitoring'?")


def test_malformed_yaml(kb_copy: Path) -> None:
    (kb_copy / "rules" / "scope.yaml").write_text("rules:\n  - id: [oops\n")
    [problem] = problems_of(kb_copy)
    assert problem.startswith("knowledge_base/rules/scope.yaml:3:1: error: malformed YAML")


def test_duplicate_rule_id(kb_copy: Path) -> None:
    line = line_of(kb_copy / "rules" / "side_effects.yaml", "  - id: side_effects.common")
    edit(kb_copy / "rules" / "side_effects.yaml", "  - id: side_effects.prevention", "  - id: side_effects.common")
    assert any(f"duplicate rule id (first defined at rules/side_effects.yaml:{line})" in p
               for p in problems_of(kb_copy))


def test_not_a_folder(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "absent") == [
        "absent:1:1: error: not a knowledge-base folder - expected vocabulary.yaml, "
        "sources.yaml and rules/*.yaml"]


@pytest.mark.parametrize("threshold", ["1.0e-7", "6.001", "0.0000001"])
def test_a_threshold_finer_than_patient_numbers_is_refused(kb_copy: Path, threshold: str) -> None:
    rules = kb_copy / "rules" / "early_initiation.yaml"
    edit(rules, "        - months_since_diagnosis: {lte: 6}", f"        - months_since_diagnosis: {{lte: {threshold}}}")
    line = line_of(rules, f"        - months_since_diagnosis: {{lte: {threshold}}}")
    [problem] = problems_of(kb_copy)
    assert problem.startswith(f"knowledge_base/rules/early_initiation.yaml:{line}:11: error "
                              "[early_initiation.within_early_window]: threshold ")
    assert "more than 2 decimal places or an exponent" in problem


def test_an_inverted_range_is_refused(kb_copy: Path) -> None:
    vocabulary = kb_copy / "vocabulary.yaml"
    edit(vocabulary, "    range: [2, 350]", "    range: [350, 2]")
    line = line_of(vocabulary, "    range: [350, 2]")
    assert problems_of(kb_copy) == [
        f"knowledge_base/vocabulary.yaml:{line}:5: error: the range of 'weight_kg' is inverted: "
        "350 is above 2 - write [lowest, highest]"]


def test_the_weight_formula_must_cover_every_sex(kb_copy: Path) -> None:
    """Found by the loader fuzz: a misspelt value of sex made the dose arithmetic crash."""
    edit(kb_copy / "vocabulary.yaml", "values: [female, male]", "values: [emale, male]")
    [problem] = problems_of(kb_copy)
    assert "error [dosing.ideal_body_weight]: base_kg gives weights for female, male, but 'sex' takes emale, male" in problem


def test_a_reference_that_is_not_a_number_is_refused(kb_copy: Path) -> None:
    sources = kb_copy / "sources.yaml"
    edit(sources, '  "6":\n', '  "x1":\n')
    line = line_of(sources, '  "x1":')
    found = problems_of(kb_copy)
    assert f"knowledge_base/sources.yaml:{line}:3: error: references: 'x1' does not match '^[1-9][0-9]*$'" in found[0]


# ---------------------------------------------------------------- engine/loader.py as a whole: every field of the model built
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


def test_the_default_knowledge_base_is_the_shipped_one_unless_myoivig_kb_dir_names_another(
        kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    assert default_kb_path() == KB_DIR  # conftest: MYOIVIG_KB_DIR (the walk-through's copy) or the shipped one
    assert load_knowledge_base().sha256 == kb.sha256
    model, problems = check_knowledge_base()
    assert model is not None and model.sha256 == kb.sha256 and problems == []
    monkeypatch.delenv("MYOIVIG_KB_DIR", raising=False)
    assert default_kb_path() == DEFAULT_KB and (DEFAULT_KB / "vocabulary.yaml").is_file()


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
    from myoivig.engine import schema_check
    monkeypatch.setattr(schema_check, "schema_findings", lambda *_: [])
    edit(tiny / "rules" / "b.yaml", "      any:\n        - sev: severe\n        - ck_level: {gt: 5000}\n",
         "      any:   []\n")
    edit(tiny / "rules" / "b.yaml", "    when:\n      severe_disease: true\n", "    when:\n      sev: sever\n")
    model, problems = check_knowledge_base(tiny)
    assert model is None
    assert shown(tiny, problems)[:2] == [
        "rules/b.yaml:5:7: error [b.severe]: 'any' takes a non-empty list of conditions",
        "rules/b.yaml:12:7: error [b.dose]: 'sever' is not a value of 'sev' - did you mean 'severe'?"]  # read on


# ---------------------------------------------------------------- Loading a knowledge base: each meaning check at its exact po
V = "vocabulary.yaml"
ADVISED = {"diagnosis": "DM", "severity": "severe", "age_years": 50}


def problems(root: Path) -> tuple[KnowledgeBase | None, list[str]]:
    kb, found = check_knowledge_base(root)
    return kb, [str(p).replace(f"{root}/", "") for p in found]


@pytest.mark.parametrize(("file", "old", "new", "at", "problem"), [
    (V, "  rapidly_progressive:\n    type: bool\n", "  rapidly_progressive:\n    type: bool\n    unit: x\n    units: {x: 1}\n",
     (V, "    units: {x: 1}", 5), "error: units of 'rapidly_progressive' need a number fact and its own unit 'x' at 1"),
    (V, "units: {cm: 1, m: 100", "units: {cm: 2, m: 100",
     (V, "units: {cm: 2", 5), "error: units of 'height_cm' need a number fact and its own unit 'cm' at 1"),
    ("rules/dosing.yaml", "    derive: [dose_weight_available]\n", "",
     (V, "  dose_weight_available:", 3),
     "error: derived fact 'dose_weight_available' is used but no rule derives it - "
     "add a rule with `derive: [dose_weight_available]` or stop using it"),
    ("rules/dosing.yaml", "        - dose_weight_available: true\n", "        - dose_weight_available: false\n",
     ("rules/dosing.yaml", "dose_weight_available: false", 11),
     "error [dosing.actual_weight_if_lower]: a derived fact is tested only as `dose_weight_available: true`"),
    ("rules/dosing.yaml", "        - dose_weight_available: true\n", "        - dose_weight_available: 1\n",
     ("rules/dosing.yaml", "dose_weight_available: 1", 11),
     "error [dosing.actual_weight_if_lower]: a derived fact is tested only as `dose_weight_available: true`"),
    ("rules/cautions.yaml", "    when:\n      renal_insufficiency: true\n", "    when:\n      current_therapies: methotrexate\n",
     ("rules/cautions.yaml", "current_therapies: methotrexate", 7),
     "error [caution.renal_insufficiency]: 'current_therapies' is a list: test it with 'contains'"),
    ("rules/dosing.yaml", "        - ivig_advised: true\n        - sex: {known: true}\n",
     "        - ivig_advised: true\n        - dose_weight_available: true\n        - sex: {known: true}\n",
     ("rules/dosing.yaml", "- id: dosing.ideal_body_weight", 1),
     "error [dosing.ideal_body_weight]: derived facts form a cycle: "
     "dosing.ideal_body_weight -> dosing.ideal_body_weight - a derived fact may not depend on itself"),
    ("rules/cautions.yaml", "      statement: Use IVIG cautiously - renal insufficiency.\n",
     "      statement: Use IVIG cautiously - renal insufficiency.\n"
     "    dose:\n      regimen: standard\n      g_per_kg: [1, 2]\n      days_per_course: 2\n",
     ("rules/cautions.yaml", "- id: caution.renal_insufficiency", 1),
     "error [caution.renal_insufficiency]: only a rule concluding kind 'dosing' may carry a 'dose' block"),
    (V, "  sex:\n    type: enum", "  sex:\n    type: list", ("rules/dosing.yaml", "- id: dosing.ideal_body_weight", 1),
     "error [dosing.ideal_body_weight]: the ideal-body-weight dose block needs an enum fact 'sex' in vocabulary.yaml"),
    ("sources.yaml", "file: source_document.txt", "file: missing_document.txt", ("sources.yaml", "file: missing", 3),
     "error: cannot read the source document missing_document.txt: No such file or directory"),
    ("rules/cautions.yaml", "quote: Using IVIG cautiously in patients", "quote: Using IVIG carelessly in patients",
     ("rules/cautions.yaml", "- id: caution.renal_insufficiency", 1),
     'error [caution.renal_insufficiency]: the quote for [1] is not in the source document '
     'word for word: "Using IVIG carelessly in patients with renal insufficiency, ..." - copy the sentence from '
     'source_document.txt'),
], ids=["units-on-a-bool", "own-unit-not-1", "derived-never-derived", "derived-tested-false", "derived-tested-1",
        "list-tested-with-equals", "derivation-cycle", "dose-on-a-caution", "sex-not-an-enum", "document-missing",
        "quote-not-in-document"])
def test_each_meaning_error_is_reported_at_its_place_and_gives_no_model(
        kb_copy: Path, file: str, old: str, new: str, at: tuple[str, str, int], problem: str) -> None:
    """An author is sent to the exact line and column, and a knowledge base with an error never loads.

    The place is found in the edited files (the first line holding a text), never a line number copied
    here: a comment added to a shipped rule file moves the error and the expectation alike."""
    edit(kb_copy / file, old, new)
    model, found = problems(kb_copy)
    assert f"{place(kb_copy, *at)}: {problem}" in found
    assert model is None


def place(root: Path, file: str, text: str, column: int) -> str:
    """`file:line:column` of the first line of `file` that holds `text`."""
    lines = (root / file).read_text().splitlines()
    return f"{file}:{next(n for n, line in enumerate(lines, 1) if text in line)}:{column}"


def test_a_derived_fact_nobody_uses_is_a_warning_at_its_declaration(kb_copy: Path) -> None:
    """Unused declarations are warnings (the model still loads), pointing at the name's line, column 3."""
    edit(kb_copy / V, "derived:\n", "derived:\n  never_used:\n    meaning: Nothing.\n")
    model, found = problems(kb_copy)
    at = place(kb_copy, V, "  never_used:", 3)
    assert found == [f"{at}: warning: derived fact 'never_used' is declared but neither derived "
                     "nor used - remove it from vocabulary.yaml"]
    assert model is not None and model.derived["never_used"].line == int(at.split(":")[1])


def test_rules_that_exclude_each_other_yet_both_hold_are_a_knowledge_base_error(kb_copy: Path) -> None:
    """A self-contradicting knowledge base refuses to advise, pointing at the excluding rule."""
    edit(kb_copy / "rules" / "combination.yaml",
         "            - corticosteroid_contraindicated: false\n            - corticosteroid_contraindicated: {known: false}\n",
         "            - corticosteroid_contraindicated: true\n            - corticosteroid_contraindicated: {known: false}\n")
    kb = load_knowledge_base(kb_copy)
    with pytest.raises(KnowledgeBaseError) as caught:
        consult(kb, normalize(kb, {**ADVISED, "corticosteroid_contraindicated": True}))
    [problem] = caught.value.problems
    excluding = kb.rule("combination.without_corticosteroids")  # where the loaded knowledge base says it stands
    assert (Path(problem.file).name, problem.line, problem.column) == (Path(excluding.file).name, excluding.line, 1)
    assert problem.message.startswith("'combination.without_corticosteroids' and 'combination.corticosteroids' both hold")


def test_the_cache_entry_is_a_file_in_the_cache_folder_unless_turned_off(monkeypatch: pytest.MonkeyPatch,
                                                                        tmp_path: Path) -> None:
    """MYOIVIG_CACHE_DIR moves the cache; MYOIVIG_CACHE=off means no entry at all."""
    monkeypatch.setenv("MYOIVIG_CACHE", "on")
    monkeypatch.setenv("MYOIVIG_CACHE_DIR", str(tmp_path))
    found = kbcache.entry(KB_DIR)
    assert found is not None and found.parent == tmp_path
    assert found.name.startswith("kb-") and found.name.endswith(".pickle")
    monkeypatch.setenv("MYOIVIG_CACHE", "off")
    assert kbcache.entry(tmp_path) is None


# ---------------------------------------------------------------- the durable backend
def test_the_patient_fact_holds_a_list_fact_as_one_flag_per_value(kb: KnowledgeBase) -> None:
    """A list fact is known-or-not itself; its values are flags (durable cannot match inside a list)."""
    fact = patient_fact(kb, {"current_therapies": ["methotrexate"], "age_years": 50})
    assert fact["k_current_therapies"] is True and "v_current_therapies" not in fact
    flags = {value: fact[flag_field(kb, "current_therapies", value)] for value in kb.facts["current_therapies"].values}
    assert flags["methotrexate"] is True and flags["rituximab"] is False
    assert sum(flags.values()) == 1
    assert fact["v_age_years"] == 50


def test_an_explicit_equals_operator_runs_like_the_short_form(kb_copy: Path) -> None:
    """`dysphagia: {equals: true}` is the same test as `dysphagia: true`, in the engine as in the evaluator."""
    edit(kb_copy / "rules" / "indication.yaml", "dysphagia: true", "dysphagia: {equals: true}")
    edited, shipped = load_knowledge_base(kb_copy), load_knowledge_base()
    patient = {"diagnosis": "DM", "severity": "moderate", "age_years": 50, "dysphagia": True}
    after = consult(edited, normalize(edited, patient))
    assert after.fired == consult(shipped, normalize(shipped, patient)).fired
    assert "indication.dysphagia_or_respiratory_involvement" in after.fired


def tiny_kb(when: cond.Condition, name: str = "tiny") -> KnowledgeBase:
    facts = {"l": FactSpec("l", "list", "a set", "?", values=("p", "q", "r")),
             "n": FactSpec("n", "number", "a number", "?", unit="u", range=(0, 10))}
    return knowledge_base(rule("t.rule", when, kind="monitoring", statement="s"), facts=facts.values(), name=name)


BOTH = cond.All((cond.Test("l", "contains", "p"), cond.Test("l", "contains", "q")))
NEITHER = cond.All((cond.Test("l", "contains", "p"), cond.Not(cond.Test("l", "contains", "p"))))


@pytest.mark.parametrize("facts", [{"l": ["q"]}, {"l": ["p"]}, {"l": ["p", "q"]}, {"l": []}, {}])
@pytest.mark.parametrize(("when", "holds_for"), [(BOTH, ["p", "q"]), (NEITHER, None)])
def test_every_contains_test_on_one_list_counts_in_the_engine(facts: dict, when: cond.Condition,
                                                              holds_for: list[str] | None) -> None:
    """Several tests on one list value all count: the engine agrees with the direct evaluator."""
    kb = tiny_kb(when)
    engine = DurableEngine(kb)
    try:
        fired = [firing.rule for firing in engine.run(facts)]
    finally:
        engine.close()
    assert fired == evaluate_rules(kb, facts).fired == (["t.rule"] if holds_for and facts.get("l") == holds_for else [])


def test_four_knowledge_bases_keep_their_compiled_engines() -> None:
    """`kb diff` and tests alternate a few knowledge bases: up to four compiled engines are kept, not rebuilt."""
    kbs = [tiny_kb(cond.Test("n", "gt", 5), name=f"cache{i}") for i in range(4)]
    first = [engine_for(kb) for kb in kbs]
    assert [engine_for(kb) for kb in kbs] == first
    assert first[0].run({"n": 7})[0].rule == "t.rule"


def test_a_name_both_an_input_fact_and_a_derived_fact_is_an_error(kb_copy: Path) -> None:
    """A rule would read the answer before the producers run and their result after: the knowledge base would
    mean two things, and the incremental missing-fact search and the exhaustive one would differ."""
    from myoivig.engine.yamlio import read_yaml

    vocabulary = kb_copy / "vocabulary.yaml"
    derived = next(iter(read_yaml(vocabulary)["derived"]))
    edit(vocabulary, "facts:\n", f"facts:\n  {derived}:\n    type: bool\n    meaning: Twice.\n    question: Twice?\n")
    lines = vocabulary.read_text().splitlines()
    at = lines.index(f"  {derived}:", lines.index("derived:")) + 1
    problems = [p for p in problems_of(kb_copy) if "both an input fact and a derived fact" in p]
    assert problems == [f"knowledge_base/vocabulary.yaml:{at}:3: "
                        f"error: '{derived}' is both an input fact and a derived fact - rename one of them"]
