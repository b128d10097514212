"""The "can never hold" check, at every boundary: `>` against `>=`, the tighter of two bounds,
known against unknown, values against exclusions and bounds.

Written after the mutation run left half of engine/lint.py's comparison mutants alive.
"""
from __future__ import annotations

from typing import Any

import pytest

from myoivig.engine import conditions as cond
from myoivig.engine.lint import never_holds


def lit(op: str, value: Any, negated: bool = False, fact: str = "x") -> cond.Literal:
    return cond.Literal(cond.Test(fact, op, value), negated)


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
