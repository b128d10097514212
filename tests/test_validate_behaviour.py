"""engine/lint.py as a whole: each lint's exact Problem (file, line, column, message, rule,
hint, severity), each reason `never_holds` gives at the edges of its comparisons, and the order
in which the lints are reported.

`kb validate` prints these Problems verbatim, so every field is part of what a knowledge engineer
reads; the edges (a bound met exactly, strict or not) decide whether a rule is called dead.
"""
from __future__ import annotations

from typing import Any

import pytest

from myoivig.engine import conditions as cond
from myoivig.engine.errors import Problem
from myoivig.engine.lint import lint_rules, never_holds, quote_off_subject
from myoivig.engine.model import ConclusionSpec, Provenance, Quote, Rule
from myoivig.engine.yamlio import parse_yaml

POLICY = Provenance(local_policy="an example")
NEVER_HINT = "the rule would never fire; fix or remove the contradictory tests"
QUOTE_HINT = "quote the sentence that says this, or add local_policy saying why the quote applies"


def lit(op: str, value: Any, negated: bool = False, fact: str = "x") -> cond.Literal:
    return cond.Literal(cond.Test(fact, op, value), negated)


def rule(rule_id: str, when: str, derive: tuple[str, ...] = ("d",), provenance: Provenance = POLICY,
         line: int = 7, conclude: ConclusionSpec | None = None) -> Rule:
    return Rule(rule_id, rule_id, cond.parse(parse_yaml(when)), "rules/r.yaml", line, provenance, derive, conclude)


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
    dead = rule("r.dead", "all: [{x: {gt: 5}}, {x: {lt: 5}}]", line=12)
    assert lint_rules([dead]) == [Problem("rules/r.yaml", 12, 1, "the condition can never hold: no number satisfies "
                                          "the bounds on 'x'", "r.dead", NEVER_HINT, "error")]


def test_a_dead_rule_reports_the_reason_of_its_first_alternative() -> None:
    dead = rule("r.dead", "any: [{all: [{y: a}, {y: b}]}, {all: [{x: {gt: 5}}, {x: {lt: 5}}]}]")
    assert [p.message for p in lint_rules([dead])] == [
        "the condition can never hold: no value of 'y' satisfies all its tests"]


def test_one_dead_alternative_is_a_warning_naming_the_first_dead_one() -> None:
    """The rule still fires through the live alternative; the author is told which one to remove."""
    partly = rule("r.partly", "any: [{z: true}, {all: [{y: a}, {y: b}]}, {all: [{x: {gt: 5}}, {x: {lt: 5}}]}]",
                  line=3)
    assert lint_rules([partly]) == [Problem(
        "rules/r.yaml", 3, 1, "one alternative of the condition can never hold: no value of 'y' satisfies all its "
        "tests", "r.partly", "remove that alternative", "warning")]


def test_a_rule_that_can_hold_gives_no_problem() -> None:
    assert lint_rules([rule("r.ok", "any: [{z: true}, {all: [{x: {gte: 5}}, {x: {lte: 5}}]}]")]) == []


def test_no_rules_no_problems() -> None:
    assert lint_rules([]) == []


# ---------------------------------------------------------------- lint_rules: redundancy
def redundant(rule_id: str, other: str, other_line: int, derived: str, line: int = 7) -> Problem:
    return Problem("rules/r.yaml", line, 1, f"redundant: '{other}' (rules/r.yaml:{other_line}) derives {derived} "
                   "whenever this rule holds", rule_id, "remove this rule or narrow the other", "warning")


def test_a_redundant_rule_is_a_warning_with_every_derived_fact_listed() -> None:
    narrow = rule("r.narrow", "all: [{a: true}, {b: true}]", ("d", "e"), line=4)
    wide = rule("r.wide", "a: true", ("d", "e", "f"), line=20)
    assert lint_rules([narrow, wide]) == [redundant("r.narrow", "r.wide", 20, "d, e", line=4)]


def test_a_redundant_rule_is_reported_once_naming_the_first_rule_that_covers_it() -> None:
    """Two wider rules cover it: one warning is enough to act on."""
    narrow = rule("r.narrow", "all: [{a: true}, {b: true}]", line=4)
    first, second = rule("r.first", "a: true", line=9), rule("r.second", "b: true", line=15)
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
    found = lint_rules([rule("r.a", when, derive), rule("r.b", other_when, other_derive)])
    assert [p.rule for p in found] == expected


def test_of_two_rules_that_do_the_same_only_the_later_id_is_redundant() -> None:
    """Warning about both would invite deleting both; the one whose id sorts later is named."""
    rules = [rule("r.b", "a: true", line=5), rule("r.a", "a: true", line=1)]
    assert lint_rules(rules) == [redundant("r.b", "r.a", 1, "d", line=5)]


def test_every_alternative_covered_is_redundant() -> None:
    """Implication over alternatives: each alternative of the rule must imply some alternative of the other."""
    rules = [rule("r.a", "any: [{a: true}, {all: [{b: true}, {c: true}]}]"), rule("r.b", "any: [{b: true}, {a: true}]")]
    assert [p.rule for p in lint_rules(rules)] == ["r.a"]


def test_a_rule_with_a_conclusion_is_never_called_redundant() -> None:
    """A conclusion is advice of its own, even if its derived facts are also derived elsewhere."""
    concluding = rule("r.a", "all: [{a: true}, {b: true}]", conclude=ConclusionSpec("caution", "Take care now."))
    assert lint_rules([concluding, rule("r.b", "a: true")]) == []


# ---------------------------------------------------------------- the quote-subject lint
def quoted(when: str, *quotes: str, policy: str | None = None, line: int = 7) -> Rule:
    return rule("r.q", when, provenance=Provenance(tuple(Quote("1", q) for q in quotes), policy), line=line)


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
    assert quote_off_subject(rule("r.q", "pregnancy: true", provenance=provenance),
                             cond.to_dnf(cond.Test("pregnancy", "equals", True)), ("pregnancy",)) is None


def test_a_rule_testing_only_derived_facts_has_nothing_to_look_for() -> None:
    assert lint_rules([quoted("ivig_advised: true", "nothing relevant")], ("pregnancy",)) == []


def test_the_lints_come_in_order_dead_rules_then_redundant_then_quotes() -> None:
    """`kb validate` lists them in this order; errors first within each rule list."""
    rules = [quoted("pregnancy: true", "nothing relevant", line=30),
             rule("r.narrow", "all: [{a: true}, {b: true}]", line=20),
             rule("r.wide", "a: true", line=25),
             rule("r.dead", "all: [{y: p}, {y: q}]", line=10)]
    found = lint_rules(rules, ("pregnancy",))
    assert [(p.rule, p.severity, p.line) for p in found] == [
        ("r.dead", "error", 10), ("r.narrow", "warning", 20), ("r.q", "warning", 30)]
