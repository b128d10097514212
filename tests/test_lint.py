"""engine/lint.py as a whole: each lint's exact Problem (file, line, column, message, rule,
hint, severity), each reason `never_holds` gives at the edges of its comparisons, and the order
in which the lints are reported.

`kb validate` prints these Problems verbatim, so every field is part of what a knowledge engineer
reads; the edges (a bound met exactly, strict or not) decide whether a rule is called dead.

The knowledge-base lints, each asserted by its exact message: redundancy at its edges, the
quote-subject words, and bounds read from parsed YAML.

Written from the mutation survivors of engine/lint.py: the lints were asserted by presence,
never by which rule they name or which words they list.

The "can never hold" check, at every boundary: `>` against `>=`, the tighter of two bounds,
known against unknown, values against exclusions and bounds.

Written after the mutation run left half of engine/lint.py's comparison mutants alive.
"""
from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
import yaml

from myoivig.engine import check_knowledge_base
from myoivig.engine import conditions as cond
from myoivig.engine.errors import Problem
from myoivig.engine.lint import lint_rules, never_holds, quote_off_subject
from myoivig.engine.model import ConclusionSpec, Provenance, Quote, Rule

from .builders import rule

POLICY = Provenance(local_policy="an example")
NEVER_HINT = "the rule would never fire; fix or remove the contradictory tests"
QUOTE_HINT = "quote the sentence that says this, or add local_policy saying why the quote applies"


def lit(op: str, value: Any, negated: bool = False, fact: str = "x") -> cond.Literal:
    return cond.Literal(cond.Test(fact, op, value), negated)





derived_rule = partial(rule, derive=("d",), provenance=POLICY, file="rules/r.yaml", line=7)
"""A rule deriving `d`, quoted as POLICY says, at rules/r.yaml:7 unless given."""
derived_rule_at_1 = partial(rule, derive=("d",), provenance=POLICY, file="rules.yaml")

# ---------------------------------------------------------------- never_holds, reason by reason
@pytest.mark.parametrize("conjunct, reason", [
    ([lit("known", True), lit("known", False)], "'x' cannot be both known and unknown"),
    ([lit("known", False), lit("gt", 1)], "'x' is tested for a value and for being unknown"),
    ([lit("known", False), lit("contains", "v")], "'x' is tested for a value and for being unknown"),
    ([lit("equals", "a"), lit("equals", "b")], "no value of 'x' satisfies all its tests"),
    ([lit("in", ("a", "b")), lit("in", ("c",))], "no value of 'x' satisfies all its tests"),
    ([lit("equals", "a"), lit("equals", "a", True)], "no value of 'x' satisfies all its tests"),
    ([lit("in", ("a", "b")), lit("in", ("a", "b"), True)], "no value of 'x' satisfies all its tests"),
    ([lit("contains", "v"), lit("contains", "v", True)], "'x' must both contain and not contain the same value"),
    ([lit("gt", 5), lit("lt", 5)], "no number satisfies the bounds on 'x'"),
    ([lit("gt", 5.5), lit("lte", 5.5)], "no number satisfies the bounds on 'x'"),
    ([lit("gte", 5.5), lit("lt", 5.5)], "no number satisfies the bounds on 'x'"),
    ([lit("gte", 5.01), lit("lte", 5)], "no number satisfies the bounds on 'x'"),
    ([lit("gt", 5), lit("gte", 5), lit("lte", 5)], "no number satisfies the bounds on 'x'"),  # gte does not relax gt
    ([lit("lt", 5), lit("lte", 5), lit("gte", 5)], "no number satisfies the bounds on 'x'"),  # lte does not relax lt
    ([lit("gte", 3), lit("gt", 5), lit("lte", 5)], "no number satisfies the bounds on 'x'"),  # the tighter low wins
    ([lit("lte", 9), lit("lt", 5), lit("gte", 5)], "no number satisfies the bounds on 'x'"),  # the tighter high wins
    ([lit("in", (5,)), lit("gt", 5)], "the values allowed for 'x' lie outside its bounds"),
    ([lit("in", (5,)), lit("lt", 5)], "the values allowed for 'x' lie outside its bounds"),
    ([lit("in", (4.99, 5.01)), lit("gte", 5), lit("lte", 5)], "the values allowed for 'x' lie outside its bounds"),
    ([lit("equals", 6), lit("gte", 6.01)], "the values allowed for 'x' lie outside its bounds"),
    ([lit("equals", 6), lit("lte", 5.99)], "the values allowed for 'x' lie outside its bounds"),
    ([lit("gt", 1, fact="a"), lit("equals", "p", fact="y"), lit("equals", "q", fact="y")],
     "no value of 'y' satisfies all its tests"),  # the second fact is checked too
    ([lit("gt", 9, fact="a"), lit("lt", 1, fact="a"), lit("equals", "p", fact="y"), lit("equals", "q", fact="y")],
     "no number satisfies the bounds on 'a'"),  # the first contradiction found is the one reported
], ids=lambda value: None if isinstance(value, list) else value[:30])
def test_never_holds_gives_the_exact_reason(conjunct: list[cond.Literal], reason: str) -> None:
    """The reason is shown after "the condition can never hold:"; it names the fact to look at."""
    assert never_holds(conjunct) == reason


@pytest.mark.parametrize("conjunct", [
    [],
    [lit("known", True)],
    [lit("known", False)],
    [lit("known", True), lit("known", True)],
    [lit("known", True), lit("gt", 1)],
    [lit("equals", "a")],
    [lit("in", ("a", "b")), lit("in", ("b", "c"))],
    [lit("in", ("a", "b")), lit("equals", "a", True)],
    [lit("equals", "a", True), lit("equals", "b", True)],   # only exclusions: other values remain
    [lit("contains", "v"), lit("contains", "w")],
    [lit("contains", "v", True), lit("contains", "w")],
    [lit("gte", 5), lit("lte", 5)],                          # exactly one number
    [lit("gte", 5.5), lit("lte", 5.5)],
    [lit("gt", 5), lit("lt", 5.01)],
    [lit("gt", 4.99), lit("lt", 5)],
    [lit("gte", 5), lit("gt", 3), lit("lte", 5)],            # a looser bound after a tighter one changes nothing
    [lit("lte", 5), lit("lt", 9), lit("gte", 5)],
    [lit("gt", 5), lit("lt", 5, True)],                      # a negated comparison is not a bound
    [lit("lt", 5), lit("gt", 5, True)],
    [lit("in", (5,)), lit("gte", 5), lit("lte", 5)],         # a value at both closed bounds
    [lit("in", (5, 6)), lit("gt", 5)],                       # one value of several inside is enough
    [lit("in", (4, 5)), lit("lt", 5)],
    [lit("equals", 6), lit("gte", 6)],
    [lit("equals", 6), lit("lte", 6)],
    [lit("in", (float("-inf"),)), lit("lt", 5)],             # no low bound: nothing is below it
    [lit("in", (float("inf"),)), lit("gt", 5)],              # no high bound: nothing is above it
    [lit("in", ("a", 5)), lit("gt", 9)],                     # values that are not all numbers are not bounded
    [lit("gt", 5), lit("lt", 5, fact="y")],
])
def test_a_conjunct_that_can_hold_is_never_reported(conjunct: list[cond.Literal]) -> None:
    """A false "can never hold" error would refuse a sound knowledge base."""
    assert never_holds(conjunct) is None


# ---------------------------------------------------------------- lint_rules: never holds
def test_a_rule_that_can_never_hold_is_an_error_at_its_line() -> None:
    dead = derived_rule("r.dead", "all: [{x: {gt: 5}}, {x: {lt: 5}}]", line=12)
    assert lint_rules([dead]) == [Problem("rules/r.yaml", 12, 1, "the condition can never hold: no number satisfies "
                                          "the bounds on 'x'", "r.dead", NEVER_HINT, "error")]


def test_a_dead_rule_reports_the_reason_of_its_first_alternative() -> None:
    dead = derived_rule("r.dead", "any: [{all: [{y: a}, {y: b}]}, {all: [{x: {gt: 5}}, {x: {lt: 5}}]}]")
    assert [p.message for p in lint_rules([dead])] == [
        "the condition can never hold: no value of 'y' satisfies all its tests"]


def test_one_dead_alternative_is_a_warning_naming_the_first_dead_one() -> None:
    """The rule still fires through the live alternative; the author is told which one to remove."""
    partly = derived_rule("r.partly", "any: [{z: true}, {all: [{y: a}, {y: b}]}, {all: [{x: {gt: 5}}, {x: {lt: 5}}]}]", line=3)
    assert lint_rules([partly]) == [Problem(
        "rules/r.yaml", 3, 1, "one alternative of the condition can never hold: no value of 'y' satisfies all its "
        "tests", "r.partly", "remove that alternative", "warning")]


def test_a_rule_that_can_hold_gives_no_problem() -> None:
    assert lint_rules([derived_rule("r.ok", "any: [{z: true}, {all: [{x: {gte: 5}}, {x: {lte: 5}}]}]")]) == []


def test_no_rules_no_problems() -> None:
    assert lint_rules([]) == []


# ---------------------------------------------------------------- lint_rules: redundancy
def redundant(rule_id: str, other: str, other_line: int, derived: str, line: int = 7) -> Problem:
    return Problem("rules/r.yaml", line, 1, f"redundant: '{other}' (rules/r.yaml:{other_line}) derives {derived} "
                   "whenever this rule holds", rule_id, "remove this rule or narrow the other", "warning")


def test_a_redundant_rule_is_a_warning_with_every_derived_fact_listed() -> None:
    narrow = derived_rule("r.narrow", "all: [{a: true}, {b: true}]", derive=("d", "e"), line=4)
    wide = derived_rule("r.wide", "a: true", derive=("d", "e", "f"), line=20)
    assert lint_rules([narrow, wide]) == [redundant("r.narrow", "r.wide", 20, "d, e", line=4)]


def test_a_redundant_rule_is_reported_once_naming_the_first_rule_that_covers_it() -> None:
    """Two wider rules cover it: one warning is enough to act on."""
    narrow = derived_rule("r.narrow", "all: [{a: true}, {b: true}]", line=4)
    first, second = derived_rule("r.first", "a: true", line=9), derived_rule("r.second", "b: true", line=15)
    assert lint_rules([narrow, first, second]) == [redundant("r.narrow", "r.first", 9, "d", line=4)]


@pytest.mark.parametrize("when, derive, other_when, other_derive, expected", [
    ("a: true", ("d",), "all: [{a: true}, {b: true}]", ("d",), ["r.b"]),    # the other is narrower
    ("a: true", ("d", "e"), "a: true", ("d",), ["r.b"]),                    # the other derives less
    ("a: true", ("d",), "b: true", ("d",), []),                             # unrelated conditions
    ("a: true", ("d",), "a: true", ("e",), []),                             # different derived facts
    ("any: [{a: true}, {b: true}]", ("d",), "a: true", ("d",), ["r.b"]),    # one alternative covers it
])
def test_only_the_rule_covered_by_the_other_is_redundant(when: str, derive: tuple[str, ...], other_when: str,
                                                         other_derive: tuple[str, ...], expected: list[str]) -> None:
    """The wider rule stays; only the one whose work the other always does is named."""
    found = lint_rules([derived_rule("r.a", when, derive=derive), derived_rule("r.b", other_when, derive=other_derive)])
    assert [p.rule for p in found] == expected


def test_of_two_rules_that_do_the_same_only_the_later_id_is_redundant() -> None:
    """Warning about both would invite deleting both; the one whose id sorts later is named."""
    rules = [derived_rule("r.b", "a: true", line=5), derived_rule("r.a", "a: true", line=1)]
    assert lint_rules(rules) == [redundant("r.b", "r.a", 1, "d", line=5)]


def test_every_alternative_covered_is_redundant() -> None:
    """Implication over alternatives: each alternative of the rule must imply some alternative of the other."""
    rules = [derived_rule("r.a", "any: [{a: true}, {all: [{b: true}, {c: true}]}]"), derived_rule("r.b", "any: [{b: true}, {a: true}]")]
    assert [p.rule for p in lint_rules(rules)] == ["r.a"]


def test_a_rule_with_a_conclusion_is_never_called_redundant() -> None:
    """A conclusion is advice of its own, even if its derived facts are also derived elsewhere."""
    concluding = derived_rule("r.a", "all: [{a: true}, {b: true}]", conclude=ConclusionSpec("caution", "Take care now."))
    assert lint_rules([concluding, derived_rule("r.b", "a: true")]) == []


# ---------------------------------------------------------------- the quote-subject lint
def quoted(when: str, *quotes: str, policy: str | None = None, line: int = 7) -> Rule:
    return derived_rule("r.q", when, provenance=Provenance(tuple(Quote("1", q) for q in quotes), policy), line=line)


def off(words: str, line: int = 7) -> Problem:
    return Problem("rules/r.yaml", line, 1, f"its quotes mention none of what it tests ({words}): is it the right "
                   "sentence?", "r.q", QUOTE_HINT, "warning")


def test_a_quote_about_something_else_is_a_warning_listing_the_words_looked_for() -> None:
    found = lint_rules([quoted("disease_onset: {in: [Early_Adult, old, late, '2024']}", "nothing here", line=11)],
                       ("disease_onset",))
    assert found == [off("adult, disease, early, late, onset", line=11)]


@pytest.mark.parametrize("when, facts, words", [
    ("age_band: {in: [over_90, old]}", ("age_band",), "band, over"),           # 3 letters and digits are not words
    ("long_word_list: abcd", ("long_word_list",), "abcd, list, long, word"),   # 4 letters are
    ("creatine_kinase: {gt: 0}", ("creatine_kinase",), "creatine, kinase"),
    ("all: [{x_fact: {known: true}}, {pregnancy: true}]", ("x_fact", "pregnancy"), "pregnancy"),
    ("all: [{not: {x_fact: true}}, {pregnancy: true}]", ("x_fact", "pregnancy"), "pregnancy"),
    ("all: [{x_fact: false}, {pregnancy: true}]", ("x_fact", "pregnancy"), "pregnancy"),
    ("all: [{x_fact: true}, {pregnancy: true}]", ("pregnancy",), "pregnancy"),
    ("any: [{x_fact: 3}, {pregnancy: true}]", ("x_fact", "pregnancy"), "fact, pregnancy"),
])
def test_the_words_are_the_long_words_of_positive_tests_on_input_facts(when: str, facts: tuple[str, ...],
                                                                       words: str) -> None:
    """Negated, `known`, `false` tests and derived facts name nothing the quote must mention."""
    assert lint_rules([quoted(when, "nothing relevant at all")], facts) == [off(words)]


@pytest.mark.parametrize("quotes", [("we create nothing", "other words"), ("CREAT", "other words"),
                                    ("other words", "its creatine")])
def test_five_letters_of_a_word_in_any_quote_are_enough(quotes: tuple[str, str]) -> None:
    """`creatine` is found in a quote that says "creat..." in any case, in any of the rule's quotes."""
    assert lint_rules([quoted("creatine_high: true", *quotes)], ("creatine_high",)) == []


@pytest.mark.parametrize("quote", ["crealm is not it", "creaky", "cre at ine"])
def test_four_letters_of_a_word_are_not_enough(quote: str) -> None:
    found = lint_rules([quoted("creatine: true", quote)], ("creatine",))
    assert found == [off("creatine")]


def test_a_word_shorter_than_five_letters_is_looked_for_whole() -> None:
    assert lint_rules([quoted("band: true", "the bands")], ("band",)) == []
    assert lint_rules([quoted("band: true", "the ban")], ("band",)) == [off("band")]


@pytest.mark.parametrize("provenance", [Provenance(local_policy="why it applies"),
                                        Provenance((Quote("1", "nothing relevant"),), "why it applies")])
def test_local_policy_silences_the_quote_lint(provenance: Provenance) -> None:
    """A rule that states local policy explains itself, with or without a quote."""
    assert quote_off_subject(derived_rule("r.q", "pregnancy: true", provenance=provenance),
                             cond.to_dnf(cond.Test("pregnancy", "equals", True)), ("pregnancy",)) is None


def test_a_rule_testing_only_derived_facts_has_nothing_to_look_for() -> None:
    assert lint_rules([quoted("ivig_advised: true", "nothing relevant")], ("pregnancy",)) == []


def test_the_lints_come_in_order_dead_rules_then_redundant_then_quotes() -> None:
    """`kb validate` lists them in this order; errors first within each rule list."""
    rules = [quoted("pregnancy: true", "nothing relevant", line=30),
             derived_rule("r.narrow", "all: [{a: true}, {b: true}]", line=20),
             derived_rule("r.wide", "a: true", line=25),
             derived_rule("r.dead", "all: [{y: p}, {y: q}]", line=10)]
    found = lint_rules(rules, ("pregnancy",))
    assert [(p.rule, p.severity, p.line) for p in found] == [
        ("r.dead", "error", 10), ("r.narrow", "warning", 20), ("r.q", "warning", 30)]


# ---------------------------------------------------------------- The knowledge-base lints, each asserted by its exact message
DUPLICATED = "finding.bulbar_or_respiratory_involvement"




def messages(rules: list[Rule], input_facts: tuple[str, ...] = ()) -> list[tuple[str | None, str, str]]:
    return [(p.rule, p.severity, p.message) for p in lint_rules(rules, input_facts)]


@pytest.mark.parametrize("when, reason", [
    ("all: [{x: {gt: 5}}, {x: {lte: 5}}]", "no number satisfies the bounds on 'x'"),
    ("all: [{x: {gte: 5}}, {x: {lt: 5}}]", "no number satisfies the bounds on 'x'"),
])
def test_strict_bounds_read_from_yaml_meet_at_one_number(when: str, reason: str) -> None:
    """The operators come from the parser, not from interned literals, and must still count as strict."""
    assert messages([derived_rule_at_1("r", when)]) == [("r", "error", f"the condition can never hold: {reason}")]


def test_a_list_that_contains_a_value_is_not_that_value() -> None:
    """Only a negated `contains` contradicts `contains`: `not equals v` can hold beside `contains v`."""
    x = cond.Test("x", "contains", "v")
    assert never_holds([cond.Literal(x), cond.Literal(cond.Test("x", "equals", "v"), negated=True)]) is None
    assert never_holds([cond.Literal(x), cond.Literal(cond.Test("x", "in", ("v",)), negated=True)]) is None


REDUNDANT = "redundant: '{other}' (rules.yaml:{line}) derives {derived} whenever this rule holds"


@pytest.mark.parametrize("narrow, wide, derived", [
    (("all: [{a: true}, {b: true}]", ("d",)), ("a: true", ("d",)), "d"),                   # a stronger condition
    (("a: true", ("d",)), ("a: true", ("d", "e")), "d"),                                  # fewer derived facts
    (("all: [{a: true}, {b: true}]", ("d",)), ("any: [{c: true}, {a: true}]", ("d",)), "d"),
])
def test_a_rule_whose_work_another_always_does_is_redundant(narrow: tuple[str, tuple[str, ...]],
                                                            wide: tuple[str, tuple[str, ...]], derived: str) -> None:
    """Redundancy is implication, not equality: a stronger condition or a smaller derive still counts."""
    rules = [derived_rule_at_1("r.narrow", narrow[0], derive=narrow[1], line=1), derived_rule_at_1("r.a.wide", wide[0], derive=wide[1], line=9)]
    assert messages(rules) == [("r.narrow", "warning", REDUNDANT.format(other="r.a.wide", line=9, derived=derived))]


def test_of_two_identical_rules_only_the_later_id_is_redundant() -> None:
    """Two rules that say the same thing get one warning, on the later id, so removing it leaves the other."""
    rules = [derived_rule_at_1("r.b", "a: true", line=5), derived_rule_at_1("r.a", "a: true", line=1), derived_rule_at_1("r.c", "b: true", line=9)]
    assert messages(rules) == [("r.b", "warning", REDUNDANT.format(other="r.a", line=1, derived="d"))]


def test_a_rule_that_derives_less_on_the_same_condition_is_redundant_whatever_its_id() -> None:
    """The id tie-break is for rules that do the same; one that derives less is redundant even if it sorts first."""
    rules = [derived_rule_at_1("r.a", "a: true", derive=("d",), line=1), derived_rule_at_1("r.b", "a: true", derive=("d", "e"), line=5)]
    assert messages(rules) == [("r.a", "warning", REDUNDANT.format(other="r.b", line=5, derived="d"))]


def quoted_once(when: str, quote: str = "nothing relevant here") -> Rule:
    return derived_rule_at_1("r", when, derive=("d",), provenance=Provenance((Quote("1", quote),)))


OFF = "its quotes mention none of what it tests ({}): is it the right sentence?"


@pytest.mark.parametrize("when, facts, words", [
    ("ck_level: {gt: 0}", ("ck_level",), "level"),                             # zero is a value, not `false`
    ("ck_level: {equals: 0}", ("ck_level",), "level"),
    ("all: [{not: {pregnancy: true}}, {disease_onset: early}]", ("pregnancy", "disease_onset"), "disease, early, onset"),
    ("all: [{pregnancy: {known: true}}, {disease_onset: early}]", ("pregnancy", "disease_onset"), "disease, early, onset"),
    ("all: [{skipped: true}, {disease_onset: early}]", ("disease_onset",), "disease, early, onset"),
])
def test_the_quote_subject_lint_lists_the_words_it_looked_for(when: str, facts: tuple[str, ...], words: str) -> None:
    """The warning names exactly the long words of positive tests, so the engineer knows what to quote."""
    assert messages([quoted_once(when)], facts) == [("r", "warning", OFF.format(words))]


@pytest.mark.parametrize("when, facts", [
    ("ck_level: {gt: 0}", ()),               # not an input fact
    ("pregnancy: false", ("pregnancy",)),    # a negative test names nothing the quote must say
    ("ck_level: {gt: 0}", ("ck_level",)),    # the quote mentions it (first five letters)
])
def test_the_quote_subject_lint_is_quiet_when_nothing_is_missed(when: str, facts: tuple[str, ...]) -> None:
    """No warning when the quote speaks of the tested subject or there is nothing to look for."""
    assert messages([quoted_once(when, "levels of creatine kinase")], facts) == []


def test_a_quote_and_local_policy_together_are_left_alone() -> None:
    """A rule that states local policy explains why its quote applies."""
    both = Provenance((Quote("1", "nothing relevant"),), "why it applies")
    assert messages([derived_rule_at_1("r", "ck_level: {gt: 0}", provenance=both)], ("ck_level",)) == []


def test_a_duplicated_rule_id_is_not_also_redundant_with_itself(kb_copy: Path) -> None:
    """A second rule under an existing id is one error, the duplicate, not a warning about its namesake."""
    (kb_copy / "rules" / "extra.yaml").write_text(yaml.safe_dump({"rules": [{
        "id": DUPLICATED, "title": "Dysphagia alone", "when": {"dysphagia": True},
        "derive": ["bulbar_or_respiratory_involvement"], "provenance": {"local_policy": "An example."}}]}))
    _, problems = check_knowledge_base(kb_copy)
    assert [(p.severity, p.rule, p.message.split(" (")[0]) for p in problems] == [
        ("error", DUPLICATED, "duplicate rule id")]


# ---------------------------------------------------------------- The "can never hold" check, at every boundary: `>` against `
NEVER = [
    ([lit("in", (7,)), lit("lt", 5)], "lie outside its bounds"),  # an upper bound alone also excludes values
    ([lit("gt", 5), lit("lt", 5)], "no number satisfies the bounds on 'x'"),
    ([lit("gt", 5), lit("lte", 5)], "no number satisfies"),
    ([lit("gte", 5), lit("lt", 5)], "no number satisfies"),
    ([lit("gte", 5), lit("gt", 5), lit("lte", 5)], "no number satisfies"),  # gt at the same value is stricter
    ([lit("lte", 5), lit("lt", 5), lit("gte", 5)], "no number satisfies"),
    ([lit("gt", 6), lit("gt", 3), lit("lt", 5)], "no number satisfies"),  # the higher low bound counts
    ([lit("lt", 3), lit("lt", 6), lit("gt", 4)], "no number satisfies"),  # the lower high bound counts
    ([lit("known", True), lit("known", False)], "'x' cannot be both known and unknown"),
    ([lit("known", False), lit("equals", "a")], "'x' is tested for a value and for being unknown"),
    ([lit("equals", "a"), lit("equals", "b")], "no value of 'x' satisfies all its tests"),
    ([lit("in", ("a", "b")), lit("equals", "a", True), lit("in", ("b",), True)], "no value of 'x'"),
    ([lit("contains", "v"), lit("contains", "v", True)], "'x' must both contain and not contain the same value"),
    ([lit("in", (1, 2)), lit("gt", 5)], "the values allowed for 'x' lie outside its bounds"),
    ([lit("in", (7,)), lit("gt", 5), lit("lt", 7)], "the values allowed for 'x' lie outside its bounds"),
    ([lit("in", (5,)), lit("gt", 5), lit("lte", 9)], "the values allowed for 'x' lie outside its bounds"),
]

CAN = [
    [lit("gte", 5), lit("lte", 5)],
    [lit("gt", 5), lit("gt", 3), lit("lt", 6)],
    [lit("lt", 3), lit("lt", 6), lit("gt", 2)],
    [lit("known", False)],
    [lit("known", True), lit("equals", "a")],
    [lit("in", ("a", "b")), lit("equals", "a", True)],
    [lit("contains", "v"), lit("contains", "w", True)],
    [lit("in", (1, 6)), lit("gt", 5)],
    [lit("in", (5,)), lit("gte", 5)],
    [lit("in", (7,)), lit("gt", 5), lit("lte", 7)],
    [lit("in", ("a",)), lit("gt", 5, fact="y")],
    [lit("gt", 5), lit("lt", 5, fact="y")],  # bounds on different facts never meet
]


@pytest.mark.parametrize("conjunct, words", NEVER)
def test_a_conjunct_that_can_never_hold_says_why(conjunct: list[cond.Literal], words: str) -> None:
    found = never_holds(conjunct)
    assert found is not None and words in found


@pytest.mark.parametrize("conjunct", CAN)
def test_a_conjunct_that_can_hold_is_left_alone(conjunct: list[cond.Literal]) -> None:
    assert never_holds(conjunct) is None
