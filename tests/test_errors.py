"""The error that gathers several input problems: the CLI names its field, so it must be the first's.
"""
from __future__ import annotations

import pytest

from myoivig.engine import KnowledgeBase
from myoivig.engine.errors import InputError
from myoivig.engine.patient import normalize


def test_several_problems_are_one_error_named_by_the_first_problems_field(kb: KnowledgeBase) -> None:
    with pytest.raises(InputError) as caught:
        normalize(kb, {"age_years": "abc", "sex": "x"})
    assert caught.value.field == "age_years"
    assert [p.field for p in caught.value.problems] == ["age_years", "sex"]
    assert str(caught.value).startswith("2 problems:\n  fact 'age_years': ")


def test_one_problem_is_itself() -> None:
    only = InputError("bad", field="f")
    assert InputError.of([only]) is only
