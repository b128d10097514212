"""The condition language's edges: malformed `all`/`any` and operator mappings, `not` and `any` as
parsed from YAML, the normal form's literals, and `evaluate`'s closed world by default.

Written from the mutation survivors of engine/conditions.py.
"""
from __future__ import annotations

import pytest

from myoivig.engine import conditions as cond
from myoivig.engine.yamlio import parse_yaml

OPERATORS = "(equals, in, lt, lte, gt, gte, contains, known)"


@pytest.mark.parametrize("text, message", [
    ("when:\n  all: []", "'all' takes a non-empty list of conditions"),
    ("when:\n  any: x", "'any' takes a non-empty list of conditions"),
    ("when:\n  all: null", "'all' takes a non-empty list of conditions"),
    ("when:\n  x: {}", f"the test on 'x' takes exactly one operator {OPERATORS}"),
    ("when:\n  x: {gt: 1, lt: 2}", f"the test on 'x' takes exactly one operator {OPERATORS}"),
])
def test_a_malformed_condition_is_refused_at_its_key(text: str, message: str) -> None:
    """An empty or scalar `all`/`any`, or a test with no operator, is a syntax error the engineer can locate."""
    with pytest.raises(cond.ConditionSyntaxError) as caught:
        cond.parse(parse_yaml(text)["when"])
    assert (str(caught.value), caught.value.line, caught.value.column) == (message, 2, 3)


@pytest.mark.parametrize("text, facts, truth", [
    ("any: [{a: true}, {b: true}]", {"b": True}, True),
    ("any: [{a: true}, {b: true}]", {"a": False}, None),
    ("not: {a: true}", {"a": False}, True),
    ("not: {a: true}", {}, None),
    ("a: {known: false}", {}, True),                       # closed world unless asked otherwise
    ("not: {a: {known: true}}", {}, True),
])
def test_parsed_conditions_evaluate_in_three_valued_logic(text: str, facts: dict[str, bool], truth: bool | None) -> None:
    """`any` and `not` read from YAML judge True, False and unknown; an absent fact is not known."""
    assert cond.evaluate(cond.parse(parse_yaml(text)), facts) is truth


def test_a_known_test_is_open_only_when_asked() -> None:
    """Whether a fact will be known is unknown only in the open world the missing-fact search asks about."""
    unknown = cond.parse(parse_yaml("a: {known: false}"))
    assert (cond.evaluate(unknown, {}), cond.evaluate(unknown, {}, open_world=True)) == (True, None)


def test_the_normal_form_is_made_of_comparable_literals() -> None:
    """Literals compare and hash by value: the redundancy lint takes sets of them."""
    form = cond.to_dnf(cond.parse(parse_yaml("not: {any: [{age: {lt: 18}}, {sex: female}]}")))
    assert form == [[cond.Literal(cond.Test("age", "gte", 18)), cond.Literal(cond.Test("sex", "equals", "female"), True)]]
    assert len({literal for conjunct in form for literal in conjunct} | set(form[0])) == 2
    assert [literal.describe() for literal in form[0]] == ["age >= 18", "not sex = female"]
