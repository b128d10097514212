"""The knowledge-base lints, each asserted by its exact message: redundancy at its edges, the
quote-subject words, and bounds read from parsed YAML.

Written from the mutation survivors of engine/lint.py: the lints were asserted by presence,
never by which rule they name or which words they list.
"""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from myoivig.engine import check_knowledge_base
from myoivig.engine import conditions as cond
from myoivig.engine.lint import lint_rules, never_holds
from myoivig.engine.model import Provenance, Quote, Rule
from myoivig.engine.yamlio import parse_yaml

POLICY = Provenance(local_policy="an example")
DUPLICATED = "finding.bulbar_or_respiratory_involvement"


def rule(rule_id: str, when: str, derive: tuple[str, ...] = ("d",), provenance: Provenance = POLICY,
         line: int = 1) -> Rule:
    return Rule(rule_id, rule_id, cond.parse(parse_yaml(when)), "rules.yaml", line, provenance, derive)


def messages(rules: list[Rule], input_facts: tuple[str, ...] = ()) -> list[tuple[str | None, str, str]]:
    return [(p.rule, p.severity, p.message) for p in lint_rules(rules, input_facts)]


@pytest.mark.parametrize("when, reason", [
    ("all: [{x: {gt: 5}}, {x: {lte: 5}}]", "no number satisfies the bounds on 'x'"),
    ("all: [{x: {gte: 5}}, {x: {lt: 5}}]", "no number satisfies the bounds on 'x'"),
])
def test_strict_bounds_read_from_yaml_meet_at_one_number(when: str, reason: str) -> None:
    """The operators come from the parser, not from interned literals, and must still count as strict."""
    assert messages([rule("r", when)]) == [("r", "error", f"the condition can never hold: {reason}")]


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
    rules = [rule("r.narrow", narrow[0], narrow[1], line=1), rule("r.a.wide", wide[0], wide[1], line=9)]
    assert messages(rules) == [("r.narrow", "warning", REDUNDANT.format(other="r.a.wide", line=9, derived=derived))]


def test_of_two_identical_rules_only_the_later_id_is_redundant() -> None:
    """Two rules that say the same thing get one warning, on the later id, so removing it leaves the other."""
    rules = [rule("r.b", "a: true", line=5), rule("r.a", "a: true", line=1), rule("r.c", "b: true", line=9)]
    assert messages(rules) == [("r.b", "warning", REDUNDANT.format(other="r.a", line=1, derived="d"))]


def test_a_rule_that_derives_less_on_the_same_condition_is_redundant_whatever_its_id() -> None:
    """The id tie-break is for rules that do the same; one that derives less is redundant even if it sorts first."""
    rules = [rule("r.a", "a: true", ("d",), line=1), rule("r.b", "a: true", ("d", "e"), line=5)]
    assert messages(rules) == [("r.a", "warning", REDUNDANT.format(other="r.b", line=5, derived="d"))]


def quoted(when: str, quote: str = "nothing relevant here") -> Rule:
    return rule("r", when, ("d",), Provenance((Quote("1", quote),)))


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
    assert messages([quoted(when)], facts) == [("r", "warning", OFF.format(words))]


@pytest.mark.parametrize("when, facts", [
    ("ck_level: {gt: 0}", ()),               # not an input fact
    ("pregnancy: false", ("pregnancy",)),    # a negative test names nothing the quote must say
    ("ck_level: {gt: 0}", ("ck_level",)),    # the quote mentions it (first five letters)
])
def test_the_quote_subject_lint_is_quiet_when_nothing_is_missed(when: str, facts: tuple[str, ...]) -> None:
    """No warning when the quote speaks of the tested subject or there is nothing to look for."""
    assert messages([quoted(when, "levels of creatine kinase")], facts) == []


def test_a_quote_and_local_policy_together_are_left_alone() -> None:
    """A rule that states local policy explains why its quote applies."""
    both = Provenance((Quote("1", "nothing relevant"),), "why it applies")
    assert messages([rule("r", "ck_level: {gt: 0}", provenance=both)], ("ck_level",)) == []


def test_a_duplicated_rule_id_is_not_also_redundant_with_itself(kb_copy: Path) -> None:
    """A second rule under an existing id is one error, the duplicate, not a warning about its namesake."""
    (kb_copy / "rules" / "extra.yaml").write_text(yaml.safe_dump({"rules": [{
        "id": DUPLICATED, "title": "Dysphagia alone", "when": {"dysphagia": True},
        "derive": ["bulbar_or_respiratory_involvement"], "provenance": {"local_policy": "An example."}}]}))
    _, problems = check_knowledge_base(kb_copy)
    assert [(p.severity, p.rule, p.message.split(" (")[0]) for p in problems] == [
        ("error", DUPLICATED, "duplicate rule id")]
