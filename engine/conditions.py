"""The one condition language: parsed once, evaluated two ways.

The durable_rules backend compiles the normal form (`to_dnf`) into patterns;
`evaluate` judges the same tree directly in three-valued logic, which is what
answers why-not and what-if questions and serves as the oracle in tests.
"""
from __future__ import annotations

import operator
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

# Three truth values: True, False and None for "cannot be judged: a fact is unknown".
Truth = bool | None

OPERATORS = ("equals", "in", "lt", "lte", "gt", "gte", "contains", "known")

NUMBER_PLACES = 2
"""Numbers are read to 2 decimal places, in patient facts and rule thresholds alike.

durable_rules' JSON reader loses a number written in exponent form (`1e-07`, which
is how Python writes 0.0000001) together with every fact after it. Rounded to two
places, every allowed value is written in plain decimals, and both evaluators see
the same number.
"""
COMPARISONS = {"lt": "<", "lte": "<=", "gt": ">", "gte": ">="}
_NEGATED_COMPARISON = {"lt": "gte", "lte": "gt", "gt": "lte", "gte": "lt"}


@dataclass(frozen=True)
class Test:
    """One test on one fact, e.g. `age_years >= 18` or `autoantibodies contains anti_hmgcr`."""

    fact: str
    op: str
    value: Any
    line: int = field(default=0, compare=False)  # where it stands is not what it tests
    column: int = field(default=0, compare=False)

    def describe(self) -> str:
        if self.op == "equals":
            return f"{self.fact} = {show_value(self.value)}"
        if self.op == "in":
            return f"{self.fact} in {{{', '.join(map(show_value, self.value))}}}"
        if self.op == "contains":
            return f"{self.fact} contains {show_value(self.value)}"
        if self.op == "known":
            return f"{self.fact} is {'known' if self.value else 'unknown'}"
        return f"{self.fact} {COMPARISONS[self.op]} {show_value(self.value)}"


@dataclass(frozen=True)
class All:
    items: tuple[Condition, ...]
    line: int = 0


@dataclass(frozen=True)
class Any_:
    items: tuple[Condition, ...]
    line: int = 0


@dataclass(frozen=True)
class Not:
    item: Condition
    line: int = 0


Condition = Test | All | Any_ | Not


@dataclass(frozen=True)
class Literal:
    """A test in negation normal form: `negated` tests are about known facts only."""

    test: Test
    negated: bool = False

    def describe(self) -> str:
        return ("not " if self.negated else "") + self.test.describe()


def show_value(value: Any) -> str:
    """A fact's value as a clinician reads it: true/false, [a, b], unknown."""
    if value is None:
        return "unknown"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(map(str, value)) + "]"
    return str(value)



def exact_number(value: float) -> float:
    """`value` rounded to NUMBER_PLACES, halves away from zero; integers stay integers."""
    if isinstance(value, int):
        return value
    rounded = Decimal(repr(value)).quantize(Decimal(1).scaleb(-NUMBER_PLACES), rounding=ROUND_HALF_UP)
    return float(rounded)


def is_exact_number(value: float) -> bool:
    """True when `value` needs no rounding and durable_rules reads it as written."""
    return exact_number(value) == value and "e" not in repr(value).lower()


# ---------------------------------------------------------------- parsing
class ConditionSyntaxError(ValueError):
    """A condition that is not of the language's form (the schema normally catches these)."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line, self.column = line, column


def parse(node: Any) -> Condition:
    """Build the AST from the YAML form (a one-key mapping at every level)."""
    line, column = getattr(node, "line", 0), getattr(node, "column", 0)
    if not isinstance(node, Mapping) or len(node) != 1:
        raise ConditionSyntaxError("a condition is a mapping with exactly one key "
                                   "(all, any, not, or a fact name)", line, column)
    (key, value), = node.items()
    key_line, key_column = getattr(node, "key_positions", {}).get(key, (line, column))
    if key in ("all", "any"):
        if not isinstance(value, list) or not value:
            raise ConditionSyntaxError(f"'{key}' takes a non-empty list of conditions", key_line, key_column)
        items = tuple(parse(item) for item in value)
        return All(items, key_line) if key == "all" else Any_(items, key_line)
    if key == "not":
        return Not(parse(value), key_line)
    if isinstance(value, Mapping):
        if len(value) != 1:
            raise ConditionSyntaxError(f"the test on '{key}' takes exactly one operator "
                                       f"({', '.join(OPERATORS)})", key_line, key_column)
        (op, operand), = value.items()
        if op not in OPERATORS:
            raise ConditionSyntaxError(f"unknown operator '{op}' on '{key}'; allowed: "
                                       f"{', '.join(OPERATORS)}", key_line, key_column)
        if op == "in":
            operand = tuple(operand) if isinstance(operand, list) else operand
        return Test(str(key), op, operand, key_line, key_column)
    return Test(str(key), "equals", value, key_line, key_column)


# ---------------------------------------------------------------- walking
def tests(condition: Condition) -> Iterator[Test]:
    """Every test in a condition, in reading order."""
    if isinstance(condition, Test):
        yield condition
    elif isinstance(condition, Not):
        yield from tests(condition.item)
    else:
        for item in condition.items:
            yield from tests(item)


def negated_tests(condition: Condition, negated: bool = False) -> Iterator[Test]:
    """Tests that stand under an odd number of `not`s."""
    if isinstance(condition, Test):
        if negated:
            yield condition
    elif isinstance(condition, Not):
        yield from negated_tests(condition.item, not negated)
    else:
        for item in condition.items:
            yield from negated_tests(item, negated)


# ---------------------------------------------------------------- evaluation
Evaluator = Callable[[Mapping[str, Any]], Truth]
"""A condition compiled to a closure: built once per rule, called for every patient and every trial."""

_JUDGES: dict[str, Callable[[Any, Any], bool]] = {
    "equals": operator.eq,
    "in": lambda actual, expected: actual in expected,
    "contains": lambda actual, expected: expected in actual,
    "lt": operator.lt, "lte": operator.le, "gt": operator.gt, "gte": operator.ge,
}


def compile_test(test: Test, open_world: bool = False) -> Evaluator:
    """One test; a fact absent from the facts is unknown (None), never false.

    With `open_world`, whether an unknown fact *will be* known is unknown too:
    that asks "could this still hold once the clinician answers?".
    """
    fact, expected = test.fact, test.value
    if test.op == "known":
        wanted = bool(expected)
        if open_world:
            return lambda facts: wanted if fact in facts else None
        return lambda facts: (fact in facts) == wanted
    judge = _JUDGES[test.op]
    return lambda facts: judge(facts[fact], expected) if fact in facts else None


def compile_condition(condition: Condition, open_world: bool = False) -> Evaluator:
    """Kleene three-valued logic: all/any/not over True, False and unknown, as nested closures.

    The missing-fact search judges every rule some forty times a patient; closures built
    once cost a third of walking the tree each time.
    """
    if isinstance(condition, Test):
        return compile_test(condition, open_world)
    if isinstance(condition, Not):
        inner = compile_condition(condition.item, open_world)

        def negation(facts: Mapping[str, Any]) -> Truth:
            truth = inner(facts)
            return None if truth is None else not truth
        return negation
    parts = tuple(compile_condition(item, open_world) for item in condition.items)
    decisive = isinstance(condition, Any_)  # the value that settles it: True for any, False for all

    def junction(facts: Mapping[str, Any]) -> Truth:
        unknown = False
        for part in parts:
            truth = part(facts)
            if truth is decisive:
                return decisive
            unknown = unknown or truth is None
        return None if unknown else not decisive
    return junction


def evaluate_test(test: Test, facts: Mapping[str, Any], open_world: bool = False) -> Truth:
    return compile_test(test, open_world)(facts)


def evaluate(condition: Condition, facts: Mapping[str, Any], open_world: bool = False) -> Truth:
    """One judgement of a condition (rules keep theirs compiled: `KnowledgeBase.evaluators`)."""
    return compile_condition(condition, open_world)(facts)


# ---------------------------------------------------------------- normal forms
def to_dnf(condition: Condition) -> list[list[Literal]]:
    """Disjunctive normal form of the negation normal form.

    A negated test only holds on a known fact (`not age < 18` needs a known age),
    so the DNF is true exactly when the three-valued evaluation is True.
    """
    return _dnf(condition, negated=False)


def _dnf(condition: Condition, negated: bool) -> list[list[Literal]]:
    if isinstance(condition, Test):
        return [[_literal(condition, negated)]]
    if isinstance(condition, Not):
        return _dnf(condition.item, not negated)
    conjunctive = isinstance(condition, All) != negated  # De Morgan
    parts = [_dnf(item, negated) for item in condition.items]
    if not conjunctive:
        return [conj for part in parts for conj in part]
    result: list[list[Literal]] = [[]]
    for part in parts:
        result = [left + right for left in result for right in part]
    return result


def _literal(test: Test, negated: bool) -> Literal:
    if not negated:
        return Literal(test)
    if test.op == "known":
        return Literal(Test(test.fact, "known", not test.value, test.line, test.column))
    if test.op in _NEGATED_COMPARISON:
        return Literal(Test(test.fact, _NEGATED_COMPARISON[test.op], test.value, test.line, test.column))
    return Literal(test, negated=True)


def evaluate_literal(literal: Literal, facts: Mapping[str, Any]) -> bool:
    """Two-valued truth of a normal-form literal (unknown counts as not holding)."""
    result = evaluate_test(literal.test, facts)
    if literal.negated:
        return result is False
    return result is True
