"""The one condition language: parsed once, evaluated two ways.

The durable_rules backend compiles the normal form (`to_dnf`) into patterns;
`evaluate` judges the same tree directly in three-valued logic, which is what
answers why-not and what-if questions and serves as the oracle in tests.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping
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
def evaluate_test(test: Test, facts: Mapping[str, Any], open_world: bool = False) -> Truth:
    """Judge one test; a fact absent from `facts` is unknown (None), never false.

    With `open_world`, whether an unknown fact *will be* known is unknown too:
    that asks "could this still hold once the clinician answers?".
    """
    if test.op == "known":
        if open_world and test.fact not in facts:
            return None
        return (test.fact in facts) == bool(test.value)
    if test.fact not in facts:
        return None
    value = facts[test.fact]
    if test.op == "equals":
        return value == test.value
    if test.op == "in":
        return value in test.value
    if test.op == "contains":
        return test.value in value
    if test.op == "lt":
        return value < test.value
    if test.op == "lte":
        return value <= test.value
    if test.op == "gt":
        return value > test.value
    return value >= test.value


def evaluate(condition: Condition, facts: Mapping[str, Any], open_world: bool = False) -> Truth:
    """Kleene three-valued evaluation: all/any/not over True, False and unknown."""
    if isinstance(condition, Test):
        return evaluate_test(condition, facts, open_world)
    if isinstance(condition, Not):
        inner = evaluate(condition.item, facts, open_world)
        return None if inner is None else not inner
    results = [evaluate(item, facts, open_world) for item in condition.items]
    if isinstance(condition, All):
        if any(r is False for r in results):
            return False
        return None if any(r is None for r in results) else True
    if any(r is True for r in results):
        return True
    return None if any(r is None for r in results) else False


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
