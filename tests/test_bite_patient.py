"""Reading patient facts: the exact refusal messages, bounded echoes, lists from commas, units to the letter."""
from __future__ import annotations

from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, normalize
from myoivig.engine.errors import InputError

BOOL_ALLOWED = "; allowed: true, false (or yes/no, y/n, in any case)"
HEIGHT_ALLOWED = ('; allowed: a number from 50 to 250 cm, read to 2 decimal places '
                  '(written 70, 70.5, 7e1 or "70")')
ANTIBODIES = "anti_hmgcr, anti_srp, anti_jo1, anti_mda5, anti_tif1g, anti_mi2, anti_nxp2, anti_sae"


def refusal(kb: KnowledgeBase, raw: dict[str, Any]) -> str:
    with pytest.raises(InputError) as caught:
        normalize(kb, raw)
    return str(caught.value)


@pytest.mark.parametrize(("raw", "message"), [
    ({"zzzqqq": 1}, "unknown fact 'zzzqqq'; allowed: see `myoivig facts`"),
    ({"dysphagi": True}, "unknown fact 'dysphagi' (did you mean 'dysphagia'?)"),
    ({"q" * 40: 1}, f"unknown fact '{'q' * 40}'; allowed: see `myoivig facts`"),
    ({"q" * 41: 1}, f"unknown fact '{'q' * 40}...'; allowed: see `myoivig facts`"),
    ({"dysphagia": {"a": 1, "b": 2, "c": 3, "d": 4, "e": 5}},
     "fact 'dysphagia': {'a': 1, 'b': 2, 'c': 3, 'd': 4, ...} is not true or false" + BOOL_ALLOWED),
    ({"dysphagia": [[[1]]]}, "fact 'dysphagia': [[[...]]] is not true or false" + BOOL_ALLOWED),
    ({"dysphagia": ["y" * 50]},
     f"fact 'dysphagia': ['{'y' * 17}...{'y' * 18}'] is not true or false" + BOOL_ALLOWED),
    ({"autoantibodies": "anti_hmgcr, anti_srp"},
     f'fact \'autoantibodies\': "anti_hmgcr, anti_srp" is not a list; allowed: a list of: {ANTIBODIES}'),
    ({"autoantibodies": ["foo"]}, f"fact 'autoantibodies': 'foo' is not allowed; allowed: a list of: {ANTIBODIES}"),
    ({"height_cm": "165 cm!"}, 'fact \'height_cm\': "165 cm!" is not a number' + HEIGHT_ALLOWED),
    ({"height_cm": "-165 cm"}, 'fact \'height_cm\': "-165 cm" is not a number' + HEIGHT_ALLOWED),
    ({"height_cm": "x165 cm"}, 'fact \'height_cm\': "x165 cm" is not a number' + HEIGHT_ALLOWED),
])
def test_each_refusal_says_exactly_what_and_what_is_allowed(kb: KnowledgeBase, raw: dict[str, Any],
                                                            message: str) -> None:
    """A refused value is echoed bounded (40 characters, 4 items, 2 levels) with the allowed values in words."""
    assert refusal(kb, raw) == message


def test_a_comma_separated_list_is_split_only_for_a_fact_that_declares_spellings(kb: KnowledgeBase) -> None:
    """`medications: prednisone, methotrexate` reads as a list; the split is what the vocabulary allows."""
    notes: list[str] = []
    facts = normalize(kb, {"medications": "prednisone, methotrexate"}, notes)
    assert facts == {"current_therapies": ["corticosteroids", "methotrexate"]}
    assert notes == ["medications -> current_therapies", "current_therapies: prednisone -> corticosteroids"]


@pytest.mark.parametrize(("text", "read"), [("0" * 39 + "7", 7), ("0" * 40 + "7", None)])
def test_a_number_written_as_text_is_read_up_to_40_characters(kb: KnowledgeBase, text: str, read: int | None) -> None:
    """A numeric string of at most 40 characters is a number; a longer one is refused, never parsed."""
    if read is not None:
        assert normalize(kb, {"age_years": text}) == {"age_years": read}
    else:
        assert refusal(kb, {"age_years": text}).startswith(
            f"fact 'age_years': \"{'0' * 40}...\" is not a number")


@pytest.mark.parametrize(("name", "value"), [("weight_kg", 350), ("weight_kg", 2), ("age_years", 120), ("age_years", 0)])
def test_both_ends_of_a_range_are_allowed(kb: KnowledgeBase, name: str, value: float) -> None:
    """A range is closed: its first and last values are facts, not refusals."""
    assert normalize(kb, {name: value}) == {name: value}
