"""Every check of meaning (engine/meaning.py), each broken once on purpose: exit 3's message, with
the rule it is about. A check deleted from the loader fails its row here.

engine/meaning.py as a whole: each check of meaning fires on one crafted input with its exact
Problem (file, line, column, message, rule, hint, severity) and is silent on the same input fixed;
the order of rules puts every producer of a derived fact before its users.

Called in-process with a collector and hand-built facts: a knowledge engineer reads exactly these
messages from `kb validate`, and the position is where the editor jumps.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from myoivig.engine import conditions as cond
from myoivig.engine.errors import Problem
from myoivig.engine.meaning import check_rules, check_test, check_vocabulary, check_weight_facts, order
from myoivig.engine.model import (
    ConclusionSpec,
    DerivedSpec,
    Exclusion,
    FactSpec,
    Provenance,
    Quote,
    Reference,
    Rule,
)
from myoivig.engine.yamlio import parse_yaml

from .builders import edit, problems_of, rule

CASES = [
    ("indication.yaml", "    derive: [covered_diagnosis]", "    derive: [covered_diagnosiz]",
     "[finding.covered_diagnosis]: derives 'covered_diagnosiz', which vocabulary.yaml does not declare"),
    ("early_initiation.yaml", '        - ref: "5"', '        - ref: "7"',
     "[finding.anti_hmgcr_myopathy]: cites reference [7], which sources.yaml does not list"),
    ("monitoring.yaml", "    provenance:\n", "    dose: {actual_weight_if_lower: true}\n    provenance:\n",
     "[monitoring.treatment_response]: only a rule concluding kind 'dosing' may carry a 'dose' block"),
    ("monitoring.yaml", "      kind: monitoring\n", "      kind: monitoring\n      therapy_class: corticosteroids\n",
     "[monitoring.treatment_response]: 'therapy_class' belongs to conclusions of kind 'combination'"),
    ("monitoring.yaml", "      kind: monitoring\n", "      kind: monitoring\n      outside_scope: true\n",
     "[monitoring.treatment_response]: 'outside_scope' belongs to conclusions of kind 'scope'"),
    ("monitoring.yaml", "      kind: monitoring\n", "      kind: monitoring\n      strength: recommended\n",
     "[monitoring.treatment_response]: 'strength' belongs to conclusions of kind 'indication'"),
    ("combination.yaml", "      rules: [combination.corticosteroids]", "      rules: [combination.corticosteroidz]",
     "[combination.without_corticosteroids]: excludes unknown rule 'combination.corticosteroidz' - did you mean"),
    ("indication.yaml", "      indication_met: true", "      indication_met: false",
     "[indication.individual_assessment]: a derived fact is tested only as `indication_met: true`"),
    ("cautions.yaml", "      age_years: {gt: 65}", "      dysphagia: {gt: 65}",
     "[caution.renal_risk_age]: 'gt' compares numbers, but 'dysphagia' is of type bool"),
    ("early_initiation.yaml", "        - autoantibodies: {contains: anti_hmgcr}", "        - diagnosis: {contains: anti_hmgcr}",
     "[finding.anti_hmgcr_myopathy]: 'contains' applies to list facts, but 'diagnosis' is of type enum"),
    ("early_initiation.yaml", "        - autoantibodies: {contains: anti_hmgcr}", "        - autoantibodies: {contains: anti_hmgcz}",
     "[finding.anti_hmgcr_myopathy]: 'anti_hmgcz' is not a value of 'autoantibodies' - did you mean 'anti_hmgcr'?"),
    ("combination.yaml", "            - current_therapies: {contains: methotrexate}", "            - current_therapies: methotrexate",
     "[combination.continue_current_therapy]: 'current_therapies' is a list: test it with 'contains'"),
    ("cautions.yaml", "      renal_insufficiency: true\n", "      renal_insufficiency: maybe\n",
     "[caution.renal_insufficiency]: 'renal_insufficiency' is true or false, not 'maybe'"),
    ("early_initiation.yaml", "        - months_since_diagnosis: {lte: 6}", "        - months_since_diagnosis: six",
     "[early_initiation.within_early_window]: 'months_since_diagnosis' is a number, not 'six'"),
    ("early_initiation.yaml", "        - months_since_diagnosis: {lte: 6}", "        - months_since_diagnosis: 6.001",
     "[early_initiation.within_early_window]: 6.001 on 'months_since_diagnosis' has more than 2 decimal places"),
    ("early_initiation.yaml", "        - not: {diagnosis: inclusion_body_myositis}", "        - not: {diagnosis: inclusion_body_myositiz}",
     "[finding.anti_hmgcr_myopathy]: 'inclusion_body_myositiz' is not a value of 'diagnosis' - did you mean"),
]


@pytest.mark.parametrize("file,old,new,message", CASES, ids=[case[3].split("]: ")[1][:40] for case in CASES])
def test_each_check_of_meaning(kb_copy: Path, file: str, old: str, new: str, message: str) -> None:
    edit(kb_copy / "rules" / file, old, new)
    found = problems_of(kb_copy)
    assert any(message in problem for problem in found), found
    assert all(f"knowledge_base/rules/{file}:" in problem or "vocabulary.yaml" in problem for problem in found)


def test_a_quote_that_names_none_of_what_its_rule_tests_is_a_warning(kb_copy: Path) -> None:
    """A pregnancy caution quoting the renal sentence validated once and was shown as [1]."""
    from myoivig.engine import load_knowledge_base
    edit(kb_copy / "vocabulary.yaml", "  months_since_diagnosis:", "  pregnancy:\n    type: bool\n    meaning: Pregnant.\n"
         "    question: Is the patient pregnant?\n  months_since_diagnosis:")
    rules = kb_copy / "rules" / "cautions.yaml"
    rules.write_text(rules.read_text() + """
  - id: caution.pregnancy
    title: Pregnancy
    when:
      pregnancy: true
    conclude:
      kind: caution
      statement: Use IVIG cautiously in pregnancy.
    provenance:
      sources:
        - ref: "1"
          quote: Using IVIG cautiously in patients with renal insufficiency, thrombotic risk factors, or IgA deficiency
""")
    _, warnings = load_knowledge_base(kb_copy, with_warnings=True)
    assert [str(w).split(": ", 1)[1] for w in warnings] == [
        "warning [caution.pregnancy]: its quotes mention none of what it tests (pregnancy): is it the right sentence? "
        "- quote the sentence that says this, or add local_policy saying why the quote applies"]


# ---------------------------------------------------------------- engine/meaning.py as a whole: each check of meaning fires on
FILE = "rules/r.yaml"
VOCABULARY = "vocabulary.yaml"
POLICY = Provenance(local_policy="an example")
DOCUMENT = "IVIG is recommended in severe dermatomyositis. Monitor renal function."


class Found:
    """The loader's collector, as the Findings protocol describes it."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, file: str, line: int, column: int, message: str,
                rule: str | None = None, hint: str | None = None, severity: str = "error") -> None:
        self.problems.append(Problem(file, line, column, message, rule, hint, severity))

    def shown(self, kb_file: str) -> str:
        return kb_file


FACTS = {
    "sev": FactSpec("sev", "enum", "m", "q", values=("mild", "severe")),
    "flag": FactSpec("flag", "bool", "m", "q"),
    "n": FactSpec("n", "number", "m", "q", unit="u", range=(0, 10)),
    "abs": FactSpec("abs", "list", "m", "q", values=("anti_a", "anti_b")),
    "sex": FactSpec("sex", "enum", "m", "q", values=("female", "male")),
    "height_cm": FactSpec("height_cm", "number", "m", "q", unit="cm", range=(50, 250)),
    "weight_kg": FactSpec("weight_kg", "number", "m", "q", unit="kg", range=(2, 350)),
}
DERIVED = {"good": DerivedSpec("good", "m", 40), "better": DerivedSpec("better", "m", 42)}
REFERENCES = {"1": Reference("1", "l", "c", "e", "k"), "2": Reference("2", "l", "c", "e", "k")}
CAUTION = ConclusionSpec("caution", "Take care here.")
DOSE = {"regimen": "standard", "g_per_kg": [2, 2], "base_kg": {"female": 45.5, "male": 50}}


def make(rule_id: str = "r.one", when: str = "flag: true", line: int = 5, derive: tuple[str, ...] = (),
         conclude: ConclusionSpec | None = CAUTION,
         provenance: Provenance = POLICY, dose: dict[str, Any] | None = None,
         excludes: tuple[str, ...] = ()) -> Rule:
    """A rule of FILE that, unless told otherwise, concludes a caution on `flag`."""
    return rule(rule_id, when, line=line, derive=derive, conclude=conclude, provenance=provenance, dose=dose,
                file=FILE, excludes=Exclusion(excludes, "the resolution") if excludes else None)


def rules_problems(*rules: Rule, facts: dict[str, FactSpec] = FACTS,
                   derived: dict[str, DerivedSpec] = DERIVED) -> list[Problem]:
    found = Found()
    check_rules(found, list(rules), facts, derived, REFERENCES, DOCUMENT, VOCABULARY)
    return found.problems


def error(message: str, line: int = 5, column: int = 1, hint: str | None = None, rule: str = "r.one") -> Problem:
    return Problem(FILE, line, column, message, rule, hint, "error")


# The derived facts used and produced by the rules below, so that only the check under test speaks.
USERS = (make("r.uses", "all: [{good: true}, {better: true}]", 90, derive=()),
         make("r.makes", "flag: true", 91, derive=("good", "better"), conclude=None))


# ---------------------------------------------------------------- check_test, one test at a time
@pytest.mark.parametrize("when, message, hint", [
    ("   good: false", "a derived fact is tested only as `good: true`", None),
    ("   good: 1", "a derived fact is tested only as `good: true`", None),
    ("   good: {in: [true]}", "a derived fact is tested only as `good: true`", None),
    ("   good: {known: true}", "a derived fact is tested only as `good: true`", None),
    ("   sevv: mild", "unknown fact 'sevv'", "did you mean 'sev'?"),
    ("   goood: true", "unknown fact 'goood'", "did you mean 'good'?"),   # derived names are suggested too
    ("   zzzzzz: true", "unknown fact 'zzzzzz'", "facts are declared in vocabulary.yaml"),
    ("   sev: {gt: 1}", "'gt' compares numbers, but 'sev' is of type enum", None),
    ("   flag: {lte: 1}", "'lte' compares numbers, but 'flag' is of type bool", None),
    ("   n: {lt: true}", "'lt' compares 'n' with a number, not True", None),
    ("   n: {gte: five}", "'gte' compares 'n' with a number, not 'five'", None),
    ("   n: {gt: 5.001}", "threshold 5.001 on 'n' has more than 2 decimal places or an exponent; patient numbers "
                         "are read to that precision", "write it as 5.0 or a plain decimal"),
    ("   n: {gt: 2.345}", "threshold 2.345 on 'n' has more than 2 decimal places or an exponent; patient numbers "
                         "are read to that precision", "write it as 2.35 or a plain decimal"),
    ("   n: {contains: anti_a}", "'contains' applies to list facts, but 'n' is of type number", None),
    ("   abs: {contains: anti_bx}", "'anti_bx' is not a value of 'abs'", "did you mean 'anti_b'?"),
    ("   abs: {contains: zzzz}", "'zzzz' is not a value of 'abs'", "allowed: anti_a, anti_b"),
    ("   abs: anti_a", "'abs' is a list: test it with 'contains'", None),
    ("   flag: yes", "'flag' is true or false, not 'yes'", None),
    ("   flag: 1", "'flag' is true or false, not 1", None),
    ("   n: true", "'n' is a number, not True", None),
    ("   n: '5'", "'n' is a number, not '5'", None),
    ("   n: 5.001", "5.001 on 'n' has more than 2 decimal places or an exponent; patient numbers are read to that "
                   "precision", None),
    ("   sev: severre", "'severre' is not a value of 'sev'", "did you mean 'severe'?"),
    ("   sev: qqqq", "'qqqq' is not a value of 'sev'", "allowed: mild, severe"),
])
def test_each_bad_test_is_reported_at_the_test_itself(when: str, message: str, hint: str | None) -> None:
    """Line 1, column 4: where the fact's name stands in the condition."""
    assert rules_problems(make(when=when), *USERS) == [error(message, 1, 4, hint)]


@pytest.mark.parametrize("when", [
    "good: true", "good: {equals: true}", "sev: severe", "sev: {in: [mild, severe]}", "sev: {known: false}",
    "abs: {known: true}", "flag: true", "flag: {equals: false}", "n: {gt: 5}", "n: {lte: 5.25}", "n: 7",
    "n: {in: [1, 2.5]}", "abs: {contains: anti_b}", "not: {abs: {contains: anti_a}}", "n: {gte: 0}",
])
def test_a_sound_test_gives_no_problem(when: str) -> None:
    assert rules_problems(make(when=when), *USERS) == []


def test_every_bad_value_of_an_in_test_is_reported() -> None:
    """Each wrong value is named, in the order written."""
    found = rules_problems(make(when="sev: {in: [mild, bad, worse]}"), *USERS)
    assert [p.message for p in found] == ["'bad' is not a value of 'sev'", "'worse' is not a value of 'sev'"]


def test_a_list_tested_with_in_is_reported_once() -> None:
    found = rules_problems(make(when="abs: {in: [anti_a, anti_b, zzz]}"), *USERS)
    assert [p.message for p in found] == ["'abs' is a list: test it with 'contains'"]


def test_check_test_reports_through_the_callback_with_the_test_position() -> None:
    """check_test is also used on its own (kb tooling): problem(message, line, column, hint)."""
    calls: list[tuple[Any, ...]] = []
    test = cond.Test("sev", "equals", "bad", 7, 9)
    check_test(test, FACTS, DERIVED, list(FACTS) + list(DERIVED), lambda *args: calls.append(args))
    assert calls == [("'bad' is not a value of 'sev'", 7, 9, "allowed: mild, severe")]


# ---------------------------------------------------------------- check_rules, rule-level checks
def test_a_duplicate_rule_id_points_at_the_first_definition() -> None:
    """Every later copy points at the first, so the author knows which one to keep."""
    found = rules_problems(make(line=3), make(line=8), make(line=12), *USERS)
    assert found == [error(f"duplicate rule id (first defined at {FILE}:3)", 8, hint="give every rule its own id"),
                     error(f"duplicate rule id (first defined at {FILE}:3)", 12, hint="give every rule its own id")]


def test_negation_over_a_derived_fact_is_refused_at_the_test() -> None:
    found = rules_problems(make(when="all:\n  - flag: true\n  - not:\n      good: true"), *USERS)
    assert found == [error("negation over the derived fact 'good' cannot be evaluated soundly by the "
                           "forward-chaining engine", 4, 7, "negate the input facts it is derived from instead")]


def test_a_double_negation_over_a_derived_fact_is_allowed() -> None:
    assert rules_problems(make(when="not: {not: {good: true}}"), *USERS) == []


@pytest.mark.parametrize("name, hint", [("goood", "did you mean 'good'?"),
                                        ("zzzzzz", "declare it under 'derived' in vocabulary.yaml")])
def test_deriving_an_undeclared_fact_is_an_error(name: str, hint: str) -> None:
    found = rules_problems(make(derive=("good", name), conclude=None), *USERS)
    assert found == [error(f"derives '{name}', which vocabulary.yaml does not declare under 'derived'", hint=hint)]


@pytest.mark.parametrize("quote, problem", [
    (Quote("3", "IVIG is recommended in severe dermatomyositis."),
     error("cites reference [3], which sources.yaml does not list", hint="known references: 1, 2")),
    (Quote("1", "IVIG is recommended in mild dermatomyositis."),
     error('the quote for [1] is not in the source document word for word: "IVIG is recommended in mild '
           'dermatomyositis...."', hint="copy the sentence from source_document.txt")),
    (Quote("2", "Monitor renal function and everything else that a long quote may name, quite a lot"),
     error('the quote for [2] is not in the source document word for word: "Monitor renal function and '
           'everything else that a long quote..."', hint="copy the sentence from source_document.txt")),
    (Quote("1", "IVIG is recommended in severe dermatomyositis."), None),
    (Quote("2", "Monitor renal function."), None),
])
def test_each_quote_must_cite_a_listed_reference_and_stand_in_the_document(quote: Quote,
                                                                           problem: Problem | None) -> None:
    """The first 60 characters of a wrong quote are shown, enough to find it."""
    found = rules_problems(make(provenance=Provenance((quote,))), *USERS)
    assert found == ([problem] if problem else [])


def test_every_quote_of_a_rule_is_checked() -> None:
    quotes = (Quote("7", "a sentence that is nowhere"), Quote("1", "Monitor renal function."),
              Quote("8", "another one nowhere at all"))
    found = rules_problems(make(provenance=Provenance(quotes)), *USERS)
    assert [p.message for p in found] == ["cites reference [7], which sources.yaml does not list",
                                          "cites reference [8], which sources.yaml does not list"]


DOSING = ConclusionSpec("dosing", "Give the dose.")


@pytest.mark.parametrize("conclude, dose, messages", [
    (ConclusionSpec("caution", "Take care here."), {"regimen": "standard"},
     ["only a rule concluding kind 'dosing' may carry a 'dose' block"]),
    (None, {"regimen": "standard"}, ["only a rule concluding kind 'dosing' may carry a 'dose' block"]),
    (DOSING, {"regimen": "standard"}, []),
    (DOSING, DOSE, []),
    (ConclusionSpec("combination", "Combine these.", therapy_class="corticosteroids"), None, []),
    (ConclusionSpec("caution", "Combine these.", therapy_class="corticosteroids"), None,
     ["'therapy_class' belongs to conclusions of kind 'combination'"]),
    (ConclusionSpec("scope", "Out of scope.", outside_scope=True), None, []),
    (ConclusionSpec("caution", "Out of scope.", outside_scope=True), None,
     ["'outside_scope' belongs to conclusions of kind 'scope'"]),
    (ConclusionSpec("warning", "Out of scope.", outside_scope=True), None,  # a kind sorting after 'scope'
     ["'outside_scope' belongs to conclusions of kind 'scope'"]),
    (ConclusionSpec("indication", "IVIG indicated.", strength="recommended"), None, []),
    (ConclusionSpec("evidence", "IVIG indicated.", strength="recommended"), None,
     ["'strength' belongs to conclusions of kind 'indication' (a route to IVIG)"]),
    (ConclusionSpec("scope", "All wrong.", "biologic_dmard", True, "reported"), None,
     ["'therapy_class' belongs to conclusions of kind 'combination'",
      "'strength' belongs to conclusions of kind 'indication' (a route to IVIG)"]),
])
def test_conclusion_fields_belong_to_their_kinds(conclude: ConclusionSpec | None, dose: dict[str, Any] | None,
                                                 messages: list[str]) -> None:
    found = rules_problems(make(conclude=conclude, dose=dose, derive=("good",) if conclude is None else ()),
                           *USERS)
    assert [(p.message, p.line, p.column, p.rule) for p in found] == [(m, 5, 1, "r.one") for m in messages]


@pytest.mark.parametrize("excluded, hint", [("r.tw", "did you mean 'r.two'?"), ("zzz.qqq", None)])
def test_excluding_an_unknown_rule_is_an_error(excluded: str, hint: str | None) -> None:
    found = rules_problems(make(excludes=("r.two", excluded)), make("r.two", line=9), *USERS)
    assert found == [error(f"excludes unknown rule '{excluded}'", hint=hint)]


def test_a_rule_may_exclude_one_defined_after_it() -> None:
    assert rules_problems(make(excludes=("r.two",)), make("r.two", line=9), *USERS) == []


@pytest.mark.parametrize("rules, problems", [
    ((USERS[0],), [Problem(VOCABULARY, 40, 3, "derived fact 'good' is used but no rule derives it", None,
                           "add a rule with `derive: [good]` or stop using it"),
                   Problem(VOCABULARY, 42, 3, "derived fact 'better' is used but no rule derives it", None,
                           "add a rule with `derive: [better]` or stop using it")]),
    ((USERS[1],), []),
    ((make(when="flag: true"),),
     [Problem(VOCABULARY, 40, 3, "derived fact 'good' is declared but neither derived nor used", None,
              "remove it from vocabulary.yaml", "warning"),
      Problem(VOCABULARY, 42, 3, "derived fact 'better' is declared but neither derived nor used", None,
              "remove it from vocabulary.yaml", "warning")]),
    (USERS, []),
])
def test_every_derived_fact_must_be_both_derived_and_used(rules: tuple[Rule, ...], problems: list[Problem]) -> None:
    """Used but never derived is an error (the rule can never fire); declared and idle is a warning.
    Derived but never used is left alone: a finding may be shown for its own sake."""
    assert rules_problems(*rules) == problems


# ---------------------------------------------------------------- check_weight_facts
def weight_problems(facts: dict[str, FactSpec]) -> list[str]:
    messages: list[str] = []
    check_weight_facts(make(conclude=DOSING, dose=DOSE), facts,
                       lambda message, hint=None: messages.append(f"{message} | {hint}"))
    return messages


NEEDS = "the ideal-body-weight dose block needs"


@pytest.mark.parametrize("change, messages", [
    ({}, []),
    ({"sex": None}, [f"{NEEDS} an enum fact 'sex' in vocabulary.yaml | None"]),
    ({"sex": FactSpec("sex", "list", "m", "q", values=("female", "male"))},
     [f"{NEEDS} an enum fact 'sex' in vocabulary.yaml | None"]),
    ({"sex": FactSpec("sex", "enum", "m", "q", values=("female", "male", "other"))},
     ["base_kg gives weights for female, male, but 'sex' takes female, male, other | give one base weight per value "
      "of sex"]),
    ({"sex": FactSpec("sex", "enum", "m", "q", values=("male", "female"))}, []),   # the order does not matter
    ({"height_cm": None}, [f"{NEEDS} a number fact 'height_cm' in vocabulary.yaml | None"]),
    ({"weight_kg": FactSpec("weight_kg", "enum", "m", "q", values=("low",))},
     [f"{NEEDS} a number fact 'weight_kg' in vocabulary.yaml | None"]),
    ({"sex": None, "height_cm": None, "weight_kg": None},
     [f"{NEEDS} an enum fact 'sex' in vocabulary.yaml | None",
      f"{NEEDS} a number fact 'height_cm' in vocabulary.yaml | None",
      f"{NEEDS} a number fact 'weight_kg' in vocabulary.yaml | None"]),
])
def test_the_weight_formula_needs_sex_height_and_weight(change: dict[str, FactSpec | None],
                                                        messages: list[str]) -> None:
    """The dose arithmetic reads these three facts; a knowledge base without them must not load."""
    facts = {name: spec for name, spec in {**FACTS, **change}.items() if spec is not None}
    assert weight_problems(facts) == messages


def test_the_weight_check_runs_from_check_rules_only_for_a_base_weight() -> None:
    facts = {name: spec for name, spec in FACTS.items() if name != "height_cm"}
    with_base = rules_problems(make(conclude=DOSING, dose=DOSE), *USERS, facts=facts)
    without = rules_problems(make(conclude=DOSING, dose={"regimen": "standard"}), *USERS, facts=facts)
    assert with_base == [error(f"{NEEDS} a number fact 'height_cm' in vocabulary.yaml")]
    assert without == []


# ---------------------------------------------------------------- check_vocabulary
VOCABULARY_TEXT = """facts:
  a:
    type: enum
    synonyms: [s, t]
  b:
    type: bool
    synonyms:  [s, a, u]
    units: {x: 1}
  n:
    type: number
    unit: cm
    units:   {cm: 2, m: 100}
    range:    [350, 2.5]
  m:
    type: number
    units: {m: 1}
    range: [5, 5]
  ok:
    type: number
    unit: kg
    units: {kg: 1, g: 0.001}
    range: [0.5, 7.25]
"""


def test_every_vocabulary_problem_is_reported_at_its_key() -> None:
    """Synonyms taken twice, units that cannot convert, an inverted range: each at the key that is wrong."""
    facts = {
        "a": FactSpec("a", "enum", "m", "q", values=("v",), synonyms=("s", "t")),
        "b": FactSpec("b", "bool", "m", "q", synonyms=("s", "a", "u"), units={"x": 1}),
        "n": FactSpec("n", "number", "m", "q", unit="cm", units={"cm": 2, "m": 100}, range=(350, 2.5)),
        "m": FactSpec("m", "number", "m", "q", units={"m": 1}, range=(5, 5)),
        "ok": FactSpec("ok", "number", "m", "q", unit="kg", units={"kg": 1, "g": 0.001}, range=(0.5, 7.25)),
    }
    found = Found()
    check_vocabulary(found, facts, parse_yaml(VOCABULARY_TEXT), VOCABULARY)
    assert found.problems == [
        Problem(VOCABULARY, 7, 5, "synonym 's' of 'b' is already a synonym of 'a'"),
        Problem(VOCABULARY, 7, 5, "synonym 'a' of 'b' is already a fact"),
        Problem(VOCABULARY, 8, 5, "units of 'b' need a number fact and its own unit 'None' at 1"),
        Problem(VOCABULARY, 12, 5, "units of 'n' need a number fact and its own unit 'cm' at 1"),
        Problem(VOCABULARY, 13, 5, "the range of 'n' is inverted: 350 is above 2.5", hint="write [lowest, highest]"),
        Problem(VOCABULARY, 16, 5, "units of 'm' need a number fact and its own unit 'None' at 1"),
    ]


def test_a_synonym_that_is_a_fact_declared_later_is_still_a_fact() -> None:
    facts = {"a": FactSpec("a", "bool", "m", "q", synonyms=("b",)), "b": FactSpec("b", "bool", "m", "q")}
    found = Found()
    check_vocabulary(found, facts, parse_yaml("facts:\n  a:\n    synonyms: [b]\n  b: {}\n"), VOCABULARY)
    assert found.problems == [Problem(VOCABULARY, 3, 5, "synonym 'b' of 'a' is already a fact")]


def test_a_sound_vocabulary_gives_no_problem() -> None:
    facts = {"a": FactSpec("a", "enum", "m", "q", values=("v",), synonyms=("s",)),
             "n": FactSpec("n", "number", "m", "q", unit="cm", units={"cm": 1, "m": 100}, range=(-1.5, -1.5))}
    found = Found()
    check_vocabulary(found, facts, parse_yaml("facts: {}\n"), VOCABULARY)
    assert found.problems == []


# ---------------------------------------------------------------- order
def ordered_ids(*rules: Rule) -> tuple[list[str], list[Problem]]:
    found = Found()
    return [rule.id for rule in order(found, list(rules), DERIVED)], found.problems


def test_producers_come_before_their_users_and_the_rest_keep_their_order() -> None:
    """The engine asserts derived facts before any rule reads them."""
    user = make("r.user", "all: [{good: true}, {better: true}]", 1)
    plain = make("r.plain", "flag: true", 2)
    makes_better = make("r.better", "good: true", 3, derive=("better",), conclude=None)
    makes_good = make("r.good", "flag: true", 4, derive=("good",), conclude=None)
    also_good = make("r.good2", "sev: severe", 5, derive=("good",), conclude=None)
    assert ordered_ids(user, plain, makes_better, makes_good, also_good) == (
        ["r.good", "r.good2", "r.better", "r.user", "r.plain"], [])


def test_rules_without_derived_facts_keep_the_order_given() -> None:
    rules = [make(f"r.n{i}", "flag: true", i) for i in (3, 1, 2)]
    assert ordered_ids(*rules) == (["r.n3", "r.n1", "r.n2"], [])
    assert ordered_ids() == ([], [])


def test_a_cycle_of_derived_facts_is_an_error_naming_the_whole_chain() -> None:
    first = make("r.first", "better: true", 11, derive=("good",), conclude=None)
    second = make("r.second", "good: true", 22, derive=("better",), conclude=None)
    ids, problems = ordered_ids(first, second)
    assert ids == ["r.second", "r.first"]
    assert problems == [Problem(FILE, 11, 1, "derived facts form a cycle: r.first -> r.second -> r.first", "r.first",
                                "a derived fact may not depend on itself")]


def test_a_cycle_entered_from_outside_names_only_the_rules_in_it() -> None:
    entry = make("r.entry", "good: true", 1)
    first = make("r.first", "better: true", 11, derive=("good",), conclude=None)
    second = make("r.second", "good: true", 22, derive=("better",), conclude=None)
    ids, problems = ordered_ids(entry, first, second)
    assert ids == ["r.second", "r.first", "r.entry"]
    assert [p.message for p in problems] == ["derived facts form a cycle: r.first -> r.second -> r.first"]


def test_a_rule_deriving_what_it_reads_is_a_cycle_of_one() -> None:
    selfish = make("r.self", "all: [{flag: true}, {good: true}]", 8, derive=("good",), conclude=None)
    ids, problems = ordered_ids(selfish)
    assert ids == ["r.self"]
    assert [(p.line, p.message) for p in problems] == [(8, "derived facts form a cycle: r.self -> r.self")]
