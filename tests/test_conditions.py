"""The condition language's edges: malformed `all`/`any` and operator mappings, `not` and `any` as
parsed from YAML, the normal form's literals, and `evaluate`'s closed world by default.

Written from the mutation survivors of engine/conditions.py.

The condition language, whole: how each test reads, how numbers are made exact, how YAML is parsed
(with the positions a knowledge engineer is sent to), every operator judged at, below and above its
threshold and on an unknown fact, Kleene logic over all/any/not, and the normal form the backend compiles.
"""
from __future__ import annotations

from typing import Any

import pytest

from myoivig.engine import conditions as cond
from myoivig.engine.conditions import All, Any_, Literal, Not
from myoivig.engine.conditions import Test as Check
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


# ---------------------------------------------------------------- The condition language, whole: how each test reads, how numb
def when(text: str) -> cond.Condition:
    return cond.parse(parse_yaml(text))


# ---------------------------------------------------------------- reading
@pytest.mark.parametrize("test, text", [
    (Check("age_years", "equals", 18), "age_years = 18"),
    (Check("dysphagia", "equals", True), "dysphagia = true"),
    (Check("dysphagia", "equals", False), "dysphagia = false"),
    (Check("diagnosis", "in", ("dm", "pm")), "diagnosis in {dm, pm}"),
    (Check("diagnosis", "in", ("dm",)), "diagnosis in {dm}"),
    (Check("autoantibodies", "contains", "anti_hmgcr"), "autoantibodies contains anti_hmgcr"),
    (Check("weight_kg", "known", True), "weight_kg is known"),
    (Check("weight_kg", "known", False), "weight_kg is unknown"),
    (Check("age_years", "lt", 18), "age_years < 18"),
    (Check("age_years", "lte", 18), "age_years <= 18"),
    (Check("age_years", "gt", 65), "age_years > 65"),
    (Check("age_years", "gte", 65.5), "age_years >= 65.5"),
])
def test_each_operator_reads_as_a_clinician_writes_it(test: Check, text: str) -> None:
    """Why-not and graphs show these words; a wrong symbol would misstate the rule."""
    assert test.describe() == text


def test_a_literal_reads_with_not_only_when_negated() -> None:
    """A negated literal must say so, or the clinician reads the opposite condition."""
    test = Check("dysphagia", "equals", True)
    assert Literal(test).describe() == "dysphagia = true"
    assert Literal(test, negated=True).describe() == "not dysphagia = true"
    assert Literal(test).negated is False


@pytest.mark.parametrize("value, shown", [
    (None, "unknown"), (True, "true"), (False, "false"), (0, "0"), (1, "1"), (2.5, "2.5"),
    ("dm", "dm"), (["a", "b"], "[a, b]"), (("a",), "[a]"), ([], "[]"),
])
def test_values_are_shown_as_a_clinician_reads_them(value: Any, shown: str) -> None:
    """0 and 1 are numbers, not false and true; a list is bracketed; None is unknown."""
    assert cond.show_value(value) == shown


def test_a_test_without_position_stands_at_line_and_column_zero() -> None:
    """Conditions built in code (not from YAML) carry no position, and position is not identity."""
    test = Check("a", "equals", 1)
    assert (test.line, test.column) == (0, 0)
    assert Not(test).line == 0 and All((test,)).line == 0 and Any_((test,)).line == 0
    assert Check("a", "equals", 1, 5, 7) == test


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("raw, exact", [
    (1.234, 1.23), (1.235, 1.24), (1.005, 1.01), (-1.005, -1.01), (2.675, 2.68), (0.004, 0.0),
    (0.005, 0.01), (70.0, 70.0), (1e-07, 0.0), (99.999, 100.0),
])
def test_numbers_are_read_to_two_places_halves_away_from_zero(raw: float, exact: float) -> None:
    """A threshold and a patient value are both rounded the same way, so a comparison is not off by a hair."""
    assert cond.NUMBER_PLACES == 2
    result = cond.exact_number(raw)
    assert result == exact and type(result) is float


def test_integers_stay_integers() -> None:
    """An age of 18 stays 18 (not 18.0): JSON output and durable see the integer the clinician typed."""
    assert cond.exact_number(18) == 18 and type(cond.exact_number(18)) is int
    assert cond.exact_number(-3) == -3 and type(cond.exact_number(-3)) is int


@pytest.mark.parametrize("value, exact", [
    (1.23, True), (70.0, True), (0.5, True), (5, True), (1.234, False), (1e-07, False),
    (1e16, False),   # needs no rounding but is written in exponent form, which durable misreads
    (1e-05, False),
])
def test_an_exact_number_needs_no_rounding_and_no_exponent(value: float, exact: bool) -> None:
    """Only numbers written in plain decimals with at most two places are safe to give durable."""
    assert cond.is_exact_number(value) is exact


# ---------------------------------------------------------------- parsing
@pytest.mark.parametrize("text, expected", [
    ("age: 3", Check("age", "equals", 3)),
    ("age: {gt: 3}", Check("age", "gt", 3)),
    ("d: {in: [a, b]}", Check("d", "in", ("a", "b"))),
    ("d: {in: a}", Check("d", "in", "a")),
    ("l: {contains: x}", Check("l", "contains", "x")),
    ("w: {known: false}", Check("w", "known", False)),
    ("not: {a: true}", Not(Check("a", "equals", True), 1)),
    ("all: [{a: true}]", All((Check("a", "equals", True),), 1)),
    ("any: [{a: true}, {b: 2}]", Any_((Check("a", "equals", True), Check("b", "equals", 2)), 1)),
    ("1: true", Check("1", "equals", True)),
])
def test_every_form_of_the_yaml_parses_to_its_tree(text: str, expected: cond.Condition) -> None:
    """A fact name maps to a value (equality) or to one operator; all/any take lists; `in` lists become tuples."""
    parsed = when(text)
    assert parsed == expected
    if isinstance(parsed, Check) and parsed.op == "in" and isinstance(parsed.value, tuple):
        assert type(parsed.value) is tuple


def test_positions_are_those_of_each_key() -> None:
    """An error or why-not line points the engineer at the exact key in the rule file."""
    parsed = cond.parse(parse_yaml("when:\n  all:\n    - age: {gt: 3}\n    - not: {x: true}\n")["when"])
    assert isinstance(parsed, All) and parsed.line == 2
    first, second = parsed.items
    assert isinstance(first, Check) and (first.line, first.column) == (3, 7)
    assert isinstance(second, Not) and second.line == 4
    assert isinstance(second.item, Check) and (second.item.line, second.item.column) == (4, 13)
    anyof = cond.parse(parse_yaml("x:\n  any:\n    - a: 1\n")["x"])
    assert isinstance(anyof, Any_) and anyof.line == 2


@pytest.mark.parametrize("node, line, column", [
    (parse_yaml("a: 1\nb: 2\n"), 1, 1),
    (parse_yaml("w:\n  {}\n")["w"], 2, 3),
    (["a"], 0, 0),
    ("a", 0, 0),
    ({}, 0, 0),
    ({"a": 1, "b": 2}, 0, 0),
])
def test_a_condition_that_is_not_a_one_key_mapping_is_refused_where_it_stands(node: Any, line: int,
                                                                            column: int) -> None:
    """Zero keys, two keys, or no mapping at all: one message, at the node's own position."""
    with pytest.raises(cond.ConditionSyntaxError) as caught:
        cond.parse(node)
    assert str(caught.value) == "a condition is a mapping with exactly one key (all, any, not, or a fact name)"
    assert (caught.value.line, caught.value.column) == (line, column)
    assert isinstance(caught.value, ValueError)


def test_an_unknown_operator_names_the_allowed_ones_at_its_key() -> None:
    """A typo in an operator is reported with the whole list, at the fact's key."""
    with pytest.raises(cond.ConditionSyntaxError) as caught:
        cond.parse(parse_yaml("when:\n  age: {greater: 3}\n")["when"])
    assert str(caught.value) == ("unknown operator 'greater' on 'age'; allowed: "
                                 "equals, in, lt, lte, gt, gte, contains, known")
    assert (caught.value.line, caught.value.column) == (2, 3)


def test_an_error_deep_inside_is_reported_at_the_inner_key() -> None:
    """Nested errors keep their own position, not the outer `all`."""
    with pytest.raises(cond.ConditionSyntaxError) as caught:
        cond.parse(parse_yaml("when:\n  all:\n    - not:\n        any: []\n")["when"])
    assert str(caught.value) == "'any' takes a non-empty list of conditions"
    assert (caught.value.line, caught.value.column) == (4, 9)


def test_a_plain_dict_condition_has_no_position() -> None:
    """Conditions given as plain dicts (not from a file) parse with line and column zero."""
    parsed = cond.parse({"all": [{"a": {"gte": 2}}]})
    assert parsed == All((Check("a", "gte", 2),))
    assert parsed.line == 0 and parsed.items[0].line == 0 and parsed.items[0].column == 0  # type: ignore[union-attr]
    with pytest.raises(cond.ConditionSyntaxError) as caught:
        cond.parse({"any": []})
    assert (caught.value.line, caught.value.column) == (0, 0)
    for operators in ({}, {"gt": 1, "lt": 2}):   # no operator, or two
        with pytest.raises(cond.ConditionSyntaxError) as caught:
            cond.parse({"age": operators})
        assert str(caught.value) == ("the test on 'age' takes exactly one operator "
                                     "(equals, in, lt, lte, gt, gte, contains, known)")


# ---------------------------------------------------------------- walking
def test_tests_are_walked_in_reading_order_and_negations_counted() -> None:
    """why-not lists tests in the order written; the validator finds every test under an odd number of nots."""
    a, b, c, d = (Check(n, "equals", True) for n in "abcd")
    tree = All((a, Not(Any_((b, Not(c)))), Not(Not(d))))
    assert list(cond.tests(tree)) == [a, b, c, d]
    assert list(cond.negated_tests(tree)) == [b]
    assert list(cond.negated_tests(Not(a))) == [a]
    assert list(cond.negated_tests(a)) == []
    assert list(cond.negated_tests(a, negated=True)) == [a]


# ---------------------------------------------------------------- evaluation
@pytest.mark.parametrize("op, threshold, below, at, above", [
    ("lt", 18, True, False, False),
    ("lte", 18, True, True, False),
    ("gt", 65, False, False, True),
    ("gte", 65, False, True, True),
    ("equals", 3, False, True, False),
])
def test_each_comparison_at_below_and_above_its_threshold(op: str, threshold: int, below: bool,
                                                          at: bool, above: bool) -> None:
    """The threshold itself decides: 65 is not over 65 but is at least 65."""
    test = Check("x", op, threshold)
    for value, truth in ((threshold - 1, below), (threshold, at), (threshold + 1, above),
                         (threshold - 0.01, below), (threshold + 0.01, above)):
        assert cond.evaluate_test(test, {"x": value}) is truth, (op, value)
        assert cond.evaluate(test, {"x": value}) is truth
        assert cond.evaluate(Not(test), {"x": value}) is (not truth)
    assert cond.evaluate_test(test, {}) is None
    assert cond.evaluate_test(test, {"y": threshold}) is None
    assert cond.evaluate(Not(test), {}) is None


@pytest.mark.parametrize("test, facts, truth", [
    (Check("d", "in", ("dm", "pm")), {"d": "dm"}, True),
    (Check("d", "in", ("dm", "pm")), {"d": "pm"}, True),
    (Check("d", "in", ("dm", "pm")), {"d": "ibm"}, False),
    (Check("d", "in", ("dm", "pm")), {}, None),
    (Check("l", "contains", "x"), {"l": ["x", "y"]}, True),
    (Check("l", "contains", "x"), {"l": ["y"]}, False),
    (Check("l", "contains", "x"), {"l": []}, False),
    (Check("l", "contains", "x"), {}, None),
    (Check("b", "equals", True), {"b": False}, False),
    (Check("b", "equals", False), {"b": False}, True),
    (Check("s", "equals", "dm"), {"s": "pm"}, False),
])
def test_in_contains_and_equals_on_known_and_unknown_facts(test: Check, facts: dict[str, Any],
                                                           truth: bool | None) -> None:
    """Unknown is not false: an absent fact leaves every test undecided."""
    assert cond.evaluate_test(test, facts) is truth


@pytest.mark.parametrize("value, facts, closed, open_", [
    (True, {"w": 70}, True, True),
    (True, {}, False, None),
    (False, {"w": 70}, False, False),
    (False, {}, True, None),
])
def test_known_is_decided_in_the_closed_world_and_open_in_the_open_one(value: bool, facts: dict[str, Any],
                                                                       closed: bool, open_: bool | None) -> None:
    """Today a fact is known or not; whether it will be known once asked is unknown."""
    test = Check("w", "known", value)
    assert cond.evaluate_test(test, facts) is closed
    assert cond.evaluate_test(test, facts, open_world=True) is open_
    assert cond.evaluate(test, facts, open_world=True) is open_


def test_the_open_world_leaves_other_operators_alone() -> None:
    """Only `known` changes meaning in the open world; other tests on an unknown fact are unknown anyway."""
    assert cond.evaluate(Check("x", "gt", 1), {"x": 2}, open_world=True) is True
    assert cond.evaluate(Check("x", "gt", 1), {}, open_world=True) is None
    assert cond.evaluate(All((Check("x", "gt", 1), Check("w", "known", True))), {"x": 2}, open_world=True) is None


T, F, U = Check("t", "equals", True), Check("f", "equals", True), Check("u", "equals", True)
FACTS = {"t": True, "f": False}


@pytest.mark.parametrize("condition, truth", [
    (All((T,)), True), (All((F,)), False), (All((U,)), None),
    (All((T, T)), True), (All((T, F)), False), (All((F, U)), False), (All((U, F)), False),
    (All((T, U)), None), (All((U, T)), None), (All((U, U)), None),
    (Any_((T,)), True), (Any_((F,)), False), (Any_((U,)), None),
    (Any_((F, F)), False), (Any_((F, T)), True), (Any_((U, T)), True), (Any_((T, U)), True),
    (Any_((F, U)), None), (Any_((U, F)), None),
    (Not(T), False), (Not(F), True), (Not(U), None), (Not(Not(T)), True),
    (Not(All((T, U))), None), (Not(Any_((F, F))), True),
])
def test_kleene_logic_over_all_any_and_not(condition: cond.Condition, truth: bool | None) -> None:
    """A false part settles `all`, a true part settles `any`, otherwise an unknown part leaves it unknown."""
    assert cond.evaluate(condition, FACTS) is truth
    assert cond.compile_condition(condition)(FACTS) is truth


# ---------------------------------------------------------------- normal form
def lit(fact: str, op: str, value: Any, negated: bool = False) -> Literal:
    return Literal(Check(fact, op, value), negated)


@pytest.mark.parametrize("text, dnf", [
    ("a: 1", [[lit("a", "equals", 1)]]),
    ("not: {a: 1}", [[lit("a", "equals", 1, True)]]),
    ("not: {a: {lt: 18}}", [[lit("a", "gte", 18)]]),
    ("not: {a: {lte: 18}}", [[lit("a", "gt", 18)]]),
    ("not: {a: {gt: 18}}", [[lit("a", "lte", 18)]]),
    ("not: {a: {gte: 18}}", [[lit("a", "lt", 18)]]),
    ("not: {a: {known: true}}", [[lit("a", "known", False)]]),
    ("not: {a: {known: false}}", [[lit("a", "known", True)]]),
    ("not: {a: {in: [x, y]}}", [[lit("a", "in", ("x", "y"), True)]]),
    ("not: {a: {contains: x}}", [[lit("a", "contains", "x", True)]]),
    ("not: {not: {a: 1}}", [[lit("a", "equals", 1)]]),
    ("all: [{a: 1}, {b: 2}]", [[lit("a", "equals", 1), lit("b", "equals", 2)]]),
    ("any: [{a: 1}, {b: 2}]", [[lit("a", "equals", 1)], [lit("b", "equals", 2)]]),
    ("all: [{any: [{a: 1}, {b: 2}]}, {any: [{c: 3}, {d: 4}]}]",
     [[lit("a", "equals", 1), lit("c", "equals", 3)], [lit("a", "equals", 1), lit("d", "equals", 4)],
      [lit("b", "equals", 2), lit("c", "equals", 3)], [lit("b", "equals", 2), lit("d", "equals", 4)]]),
    ("not: {all: [{a: 1}, {b: {lt: 2}}]}", [[lit("a", "equals", 1, True)], [lit("b", "gte", 2)]]),
    ("not: {any: [{a: 1}, {b: {gt: 2}}]}", [[lit("a", "equals", 1, True), lit("b", "lte", 2)]]),
])
def test_the_normal_form_of_each_shape(text: str, dnf: list[list[Literal]]) -> None:
    """The backend compiles exactly these conjuncts: negated comparisons flip, other negations stay literal."""
    assert cond.to_dnf(when(text)) == dnf


def test_a_flipped_literal_keeps_the_position_of_its_test() -> None:
    """A negated comparison rewritten in the normal form still points at its key in the rule file."""
    (literal,), = cond.to_dnf(Not(Check("a", "lt", 18, 4, 9)))
    assert (literal.test.line, literal.test.column) == (4, 9)
    (known,), = cond.to_dnf(Not(Check("a", "known", True, 6, 2)))
    assert (known.test.line, known.test.column) == (6, 2)


@pytest.mark.parametrize("literal, facts, holds", [
    (lit("a", "equals", 1), {"a": 1}, True),
    (lit("a", "equals", 1), {"a": 2}, False),
    (lit("a", "equals", 1), {}, False),
    (lit("a", "equals", 1, True), {"a": 2}, True),
    (lit("a", "equals", 1, True), {"a": 1}, False),
    (lit("a", "equals", 1, True), {}, False),        # a negated literal never holds on an unknown fact
    (lit("a", "gte", 18), {"a": 18}, True),
    (lit("a", "gte", 18), {"a": 17}, False),
    (lit("a", "equals", 1), {"a": 1.0}, True),
    (lit("a", "in", (1,)), {"a": True}, True),      # Python's 1 == True: the evaluator follows equality
])
def test_a_literal_holds_two_valued(literal: Literal, facts: dict[str, Any], holds: bool) -> None:
    """The normal form is two-valued: unknown counts as not holding, for negated literals too."""
    assert cond.evaluate_literal(literal, facts) is holds
