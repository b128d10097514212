"""Reading patient facts: the exact refusal messages, bounded echoes, lists from commas, units to the letter.

Patient facts, whole: reading a file or standard input, `--set name=value`, and every check of
`normalize` (synonyms, duplicates, derived facts, booleans, numbers with ranges and units, enums with
aliases, lists) with the exact message a clinician reads and the notes of what was reinterpreted.
"""
from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, normalize
from myoivig.engine.errors import InputError
from myoivig.engine.model import FactSpec
from myoivig.engine.patient import normalize_value, parse_assignment, read_patient

BOOL_ALLOWED = "; allowed: true, false (or yes/no, y/n, in any case)"
HEIGHT_ALLOWED = ('; allowed: a number from 50 to 250 cm, read to 2 decimal places '
                  '(written 70, 70.5, 7e1 or "70")')
ANTIBODIES = "anti_hmgcr, anti_srp, anti_jo1, anti_mda5, anti_tif1g, anti_mi2, anti_nxp2, anti_sae"


def refusal_text(kb: KnowledgeBase, raw: dict[str, Any]) -> str:
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
    assert refusal_text(kb, raw) == message


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
        assert refusal_text(kb, {"age_years": text}).startswith(
            f"fact 'age_years': \"{'0' * 40}...\" is not a number")


@pytest.mark.parametrize(("name", "value"), [("weight_kg", 350), ("weight_kg", 2), ("age_years", 120), ("age_years", 0)])
def test_both_ends_of_a_range_are_allowed(kb: KnowledgeBase, name: str, value: float) -> None:
    """A range is closed: its first and last values are facts, not refusals."""
    assert normalize(kb, {name: value}) == {name: value}


# ---------------------------------------------------------------- Patient facts, whole: reading a file or standard input, `--s
HEIGHT = '; allowed: a number from 50 to 250 cm, read to 2 decimal places (written 70, 70.5, 7e1 or "70")'
WEIGHT = '; allowed: a number from 2 to 350 kg, read to 2 decimal places (written 70, 70.5, 7e1 or "70")'
AGE = '; allowed: a number from 0 to 120 years, read to 2 decimal places (written 70, 70.5, 7e1 or "70")'
BOOL = "; allowed: true, false (or yes/no, y/n, in any case)"
DIAGNOSES = "dermatomyositis, polymyositis, inclusion_body_myositis, necrotizing_myopathy, antisynthetase_syndrome"


def refusal(kb: KnowledgeBase, raw: dict[str, Any]) -> InputError:
    with pytest.raises(InputError) as caught:
        normalize(kb, raw)
    return caught.value


# ---------------------------------------------------------------- reading a file
def test_a_patient_file_is_read_as_a_plain_mapping(tmp_path: Path) -> None:
    """YAML and JSON are both read; the result is a plain dict of what was written."""
    path = tmp_path / "p.yaml"
    path.write_text("diagnosis: DM\nage: 50\n")
    patient = read_patient(path)
    assert patient == {"diagnosis": "DM", "age": 50} and type(patient) is dict
    path.write_text('{"dysphagia": true}')
    assert read_patient(str(path)) == {"dysphagia": True}


def test_a_case_file_is_read_as_its_patient_only_when_it_has_expectations(tmp_path: Path) -> None:
    """`kb test` cases can be consulted directly; a fact that happens to be called `patient` is not unwrapped."""
    path = tmp_path / "case.yaml"
    path.write_text("patient:\n  dysphagia: true\nexpect:\n  verdict: indicated\n")
    assert read_patient(path) == {"dysphagia": True}
    path.write_text("patient:\n  dysphagia: true\n")
    assert read_patient(path) == {"patient": {"dysphagia": True}}
    path.write_text("patient: x\nexpect: {}\n")
    assert read_patient(path) == {"patient": "x", "expect": {}}


@pytest.mark.parametrize("text", ["", "{}\n", "# nothing\n", "null\n"])
def test_an_empty_patient_is_refused(tmp_path: Path, text: str) -> None:
    """Advice with every fact unknown is not what anyone asked for."""
    path = tmp_path / "empty.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_patient(path)
    assert str(caught.value) == f"{path} holds no facts: give at least one (see `myoivig facts`)"
    assert caught.value.field == "patient file"


@pytest.mark.parametrize("text", ["- a\n- b\n", "42\n", "just text\n"])
def test_a_patient_that_is_not_a_mapping_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "list.yaml"
    path.write_text(text)
    with pytest.raises(InputError) as caught:
        read_patient(path)
    assert str(caught.value) == f"{path}: a patient is a mapping of fact names to values"
    assert caught.value.field == "patient file"


def test_malformed_yaml_is_refused_at_its_line_and_column(tmp_path: Path) -> None:
    """The clinician is sent to the exact place in the file."""
    path = tmp_path / "bad.yaml"
    path.write_text("age: 50\nage: 51\n")
    with pytest.raises(InputError) as caught:
        read_patient(path)
    assert str(caught.value) == f"{path}:2:1: duplicate key 'age' (first given at line 1)"
    assert caught.value.field == "patient file"


def test_a_missing_file_is_named_with_the_reason() -> None:
    """A name that sorts before '-' is still a file name, never 'standard input'."""
    with pytest.raises(InputError) as caught:
        read_patient("+no-such-patient.yaml")
    assert str(caught.value) == "cannot read the patient file +no-such-patient.yaml: No such file or directory"
    assert caught.value.field == "patient file"


def test_standard_input_is_read_for_a_dash() -> None:
    """`consult -` reads the patient from a pipe, and says 'standard input' when it is empty."""
    assert read_patient("-", io.BytesIO(b"dysphagia: yes\n")) == {"dysphagia": "yes"}
    with pytest.raises(InputError) as caught:
        read_patient("-", io.BytesIO(b""))
    assert str(caught.value) == "standard input holds no facts: give at least one (see `myoivig facts`)"
    with pytest.raises(InputError) as caught:
        read_patient("-", io.BytesIO(b"a: [\n"))
    assert str(caught.value).startswith("standard input:")


def test_standard_input_defaults_to_the_process_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    class Stdin:
        buffer = io.BytesIO(b"flare: true\n")
    monkeypatch.setattr(sys, "stdin", Stdin)
    assert read_patient("-") == {"flare": True}


# ---------------------------------------------------------------- --set name=value
@pytest.mark.parametrize("text, parsed", [
    ("age=50", ("age", 50)),
    (" age = 50 ", ("age", 50)),
    ("dysphagia=true", ("dysphagia", True)),
    ("therapies=[MTX, AZA]", ("therapies", ["MTX", "AZA"])),
    ("height=165 cm", ("height", "165 cm")),
    ("flare=", ("flare", None)),
    ("flare=   ", ("flare", None)),
    ("note=a=b", ("note", "a=b")),
    ("x=[unclosed", ("x", "[unclosed")),   # not YAML: kept as the text typed
])
def test_an_assignment_reads_its_value_as_yaml(text: str, parsed: tuple[str, Any]) -> None:
    """`--set` values are typed like a file's; an empty value means unknown."""
    assert parse_assignment(text) == parsed


@pytest.mark.parametrize("text", ["age", "=50", "  =50", ""])
def test_an_assignment_without_a_name_or_equals_sign_is_refused(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_assignment(text)
    assert str(caught.value) == f"'{text}' is not of the form name=value"
    assert caught.value.field == "assignment"


# ---------------------------------------------------------------- names
def test_synonyms_are_read_in_any_case_and_told_in_the_notes(kb: KnowledgeBase) -> None:
    """`Age` and `weight` are the vocabulary's own other names; the notes say what was read as what."""
    notes: list[str] = []
    facts = normalize(kb, {" Age ": 50, "weight": 70, "dysphagia": True}, notes)
    assert facts == {"age_years": 50, "weight_kg": 70, "dysphagia": True}
    assert notes == [" Age  -> age_years", "weight -> weight_kg"]
    assert normalize(kb, {"age": 50}) == {"age_years": 50}  # notes are optional


def test_a_fact_given_twice_under_two_names_is_refused(kb: KnowledgeBase) -> None:
    error = refusal(kb, {"age_years": 50, "age": 51})
    assert str(error) == "'age' and 'age_years' both give 'age_years'"
    assert error.field == "age_years"


def test_a_derived_fact_cannot_be_given(kb: KnowledgeBase) -> None:
    """Derived facts are conclusions of the rules: a clinician who types one is told so, not 'unknown fact'."""
    error = refusal(kb, {"covered_diagnosis": True})
    assert str(error) == "'covered_diagnosis' is concluded by the rules and cannot be given"
    assert error.field == "covered_diagnosis"


def test_an_explicit_null_is_unknown(kb: KnowledgeBase) -> None:
    """`flare: null` (or `--set flare=`) leaves the fact unknown, never false."""
    assert normalize(kb, {"flare": None, "dysphagia": False}) == {"dysphagia": False}
    assert normalize(kb, {"age": None}) == {}


def test_every_problem_is_reported_at_once(kb: KnowledgeBase) -> None:
    """A file with several mistakes gets all of them, one per line, in the file's order."""
    error = refusal(kb, {"dysphagia": "perhaps", "zzzqqq": 1, "age_years": 500})
    assert str(error) == ("3 problems:\n"
                          "  fact 'dysphagia': \"perhaps\" is not true or false" + BOOL + "\n"
                          "  unknown fact 'zzzqqq'; allowed: see `myoivig facts`\n"
                          "  fact 'age_years': 500 years is implausible" + AGE)
    assert [p.field for p in error.problems] == ["dysphagia", "zzzqqq", "age_years"]


# ---------------------------------------------------------------- booleans
@pytest.mark.parametrize("value, read", [
    (True, True), (False, False), ("yes", True), ("Y", True), (" TRUE ", True), ("no", False),
    ("N", False), ("False", False),
])
def test_a_yes_no_fact_accepts_its_spellings(kb: KnowledgeBase, value: Any, read: bool) -> None:
    assert normalize(kb, {"dysphagia": value}) == {"dysphagia": read}


@pytest.mark.parametrize("value, shown", [
    (1, "1"), (0, "0"), ("maybe", '"maybe"'), ([1, 2, 3, 4, 5], "[1, 2, 3, 4, ...]"), ([1, 2, 3, 4], "[1, 2, 3, 4]"),
    ("x" * 41, '"' + "x" * 40 + '..."'), ("x" * 40, '"' + "x" * 40 + '"'),
])
def test_anything_else_is_not_true_or_false(kb: KnowledgeBase, value: Any, shown: str) -> None:
    """1 and 0 are numbers, not yes and no; the echo is bounded to 4 items and 40 characters."""
    error = refusal(kb, {"dysphagia": value})
    assert str(error) == f"fact 'dysphagia': {shown} is not true or false" + BOOL
    assert error.field == "dysphagia"
    assert error.allowed == "true, false (or yes/no, y/n, in any case)"


# ---------------------------------------------------------------- numbers
@pytest.mark.parametrize("value, read", [
    (50, 50), (50.0, 50), ("50", 50), (" 50.5 ", 50.5), ("5e1", 50), (50.555, 50.56), (50.554, 50.55),
    (120, 120), (0, 0), ("120", 120), ("0" * 38 + "50", 50), (49.999, 50), ("50.004", 50),
])
def test_a_number_is_read_exactly_to_two_places(kb: KnowledgeBase, value: Any, read: float) -> None:
    """A whole number is an int however it is written, so that every form gives the same JSON (70, not 70.0)."""
    result = normalize(kb, {"age_years": value})["age_years"]
    assert result == read and type(result) is type(read)


@pytest.mark.parametrize("value, shown", [
    (True, "True"), ("fifty", '"fifty"'), ("nan", '"nan"'), (float("nan"), "nan"), (float("inf"), "inf"),
    (float("-inf"), "-inf"), ("inf", '"inf"'), ("-inf", '"-inf"'), ([50], "[50]"), ("30 years", '"30 years"'),
])
def test_what_is_not_a_number_is_refused(kb: KnowledgeBase, value: Any, shown: str) -> None:
    """Booleans, NaN and infinities are never numbers; a fact without units takes no unit."""
    assert str(refusal(kb, {"age_years": value})) == f"fact 'age_years': {shown} is not a number" + AGE


@pytest.mark.parametrize("value, shown", [(-0.01, "-0.01"), (120.01, "120.01"), (121, "121"), (-1, "-1")])
def test_a_number_outside_its_range_is_implausible(kb: KnowledgeBase, value: float, shown: str) -> None:
    """The range is closed: one hundredth beyond either end is refused."""
    assert str(refusal(kb, {"age_years": value})) == f"fact 'age_years': {shown} years is implausible" + AGE


def test_a_number_without_a_unit_or_range_is_read_as_is() -> None:
    """A fact declared with no range takes any finite number; without a unit the message has no double space."""
    spec = FactSpec("score", "number", "a score", "?")
    assert normalize_value(spec, -1e6) == -1e6
    ranged = FactSpec("score", "number", "a score", "?", range=(0, 10))
    with pytest.raises(InputError) as caught:
        normalize_value(ranged, 11)
    assert str(caught.value) == ("fact 'score': 11 is implausible; allowed: a number from 0 to 10, "
                                 'read to 2 decimal places (written 70, 70.5, 7e1 or "70")')


@pytest.mark.parametrize("text, cm, note", [
    ("165 cm", 165.0, "height_cm: 165 cm -> 165 cm"),
    ("1.65 m", 165.0, "height_cm: 1.65 m -> 165 cm"),
    ("1.655 M", 165.5, "height_cm: 1.655 M -> 165.5 cm"),
    ("65 in", 165.1, "height_cm: 65 in -> 165.1 cm"),
    ("5 ft 5 in", 165.1, "height_cm: 5 ft 5 in -> 165.1 cm"),
    ("5ft5in", 165.1, "height_cm: 5ft5in -> 165.1 cm"),
    (" 6 FT ", 182.88, "height_cm: 6 FT -> 182.88 cm"),
])
def test_a_height_in_other_units_is_converted_and_noted(kb: KnowledgeBase, text: str, cm: float, note: str) -> None:
    """Each amount is multiplied by its unit's factor and summed; the note shows the conversion."""
    notes: list[str] = []
    assert normalize(kb, {"height_cm": text}, notes) == {"height_cm": cm}
    assert notes == [note]
    assert normalize(kb, {"height_cm": text}) == {"height_cm": cm}


def test_a_weight_in_pounds_is_converted(kb: KnowledgeBase) -> None:
    notes: list[str] = []
    assert normalize(kb, {"weight": "154 lb"}, notes) == {"weight_kg": 69.85}
    assert notes == ["weight -> weight_kg", "weight_kg: 154 lb -> 69.85 kg"]


def test_an_unknown_unit_is_named_with_the_units_allowed(kb: KnowledgeBase) -> None:
    error = refusal(kb, {"height_cm": "165 furlongs"})
    assert str(error) == "fact 'height_cm': unknown unit 'furlongs' in \"165 furlongs\"; allowed: a number in cm, m, in, ft"
    assert error.field == "height_cm"


def test_a_converted_value_outside_the_range_is_implausible(kb: KnowledgeBase) -> None:
    """Units do not bypass the plausibility check."""
    assert str(refusal(kb, {"height_cm": "3 m"})) == "fact 'height_cm': 300 cm is implausible" + HEIGHT
    assert str(refusal(kb, {"weight_kg": "1 lb"})) == "fact 'weight_kg': 0.453592 kg is implausible" + WEIGHT


def test_a_text_with_units_and_junk_is_not_a_number(kb: KnowledgeBase) -> None:
    assert str(refusal(kb, {"height_cm": "cm"})) == 'fact \'height_cm\': "cm" is not a number' + HEIGHT
    assert str(refusal(kb, {"height_cm": "165 cm tall"})) == 'fact \'height_cm\': "165 cm tall" is not a number' + HEIGHT
    assert str(refusal(kb, {"height_cm": "5 ft 5"})) == 'fact \'height_cm\': "5 ft 5" is not a number' + HEIGHT


# ---------------------------------------------------------------- enums and lists
@pytest.mark.parametrize("value, read, notes", [
    ("dermatomyositis", "dermatomyositis", []),
    (" Polymyositis ", "polymyositis", []),
    ("DM", "dermatomyositis", ["diagnosis: DM -> dermatomyositis"]),
    ("imnm", "necrotizing_myopathy", ["diagnosis: imnm -> necrotizing_myopathy"]),
])
def test_an_enum_is_read_in_any_case_or_by_its_aliases(kb: KnowledgeBase, value: str, read: str,
                                                        notes: list[str]) -> None:
    told: list[str] = []
    assert normalize(kb, {"diagnosis": value}, told) == {"diagnosis": read}
    assert told == notes


def test_an_enum_refuses_other_values_with_a_suggestion(kb: KnowledgeBase) -> None:
    error = refusal(kb, {"diagnosis": "dermatomyosits"})
    assert str(error) == f"fact 'diagnosis': 'dermatomyosits' is not allowed (did you mean 'dermatomyositis'?); " \
                         f"allowed: {', '.join(kb.facts['diagnosis'].values)}"
    assert error.suggestion == "dermatomyositis"
    error = refusal(kb, {"diagnosis": 3})
    assert str(error) == f"fact 'diagnosis': 3 is not one of the allowed values; allowed: " \
                         f"{', '.join(kb.facts['diagnosis'].values)}"


def test_a_list_is_deduplicated_sorted_and_read_by_aliases(kb: KnowledgeBase) -> None:
    """The order a clinician typed does not matter; prednisone and steroids are one therapy."""
    notes: list[str] = []
    facts = normalize(kb, {"current_therapies": ["MTX", "prednisone", "steroids", "Methotrexate"]}, notes)
    assert facts == {"current_therapies": ["corticosteroids", "methotrexate"]}
    assert notes == ["current_therapies: MTX -> methotrexate", "current_therapies: prednisone -> corticosteroids",
                     "current_therapies: steroids -> corticosteroids"]
    assert normalize(kb, {"autoantibodies": []}) == {"autoantibodies": []}
    assert normalize(kb, {"drugs": "MTX,, AZA"}) == {"current_therapies": ["azathioprine", "methotrexate"]}


def test_a_single_text_is_not_a_list(kb: KnowledgeBase) -> None:
    """Without a comma, or for a list without spellings, a text is refused rather than guessed at."""
    assert str(refusal(kb, {"current_therapies": "MTX"})).startswith("fact 'current_therapies': \"MTX\" is not a list")
    assert str(refusal(kb, {"autoantibodies": "anti_srp"})).startswith(
        "fact 'autoantibodies': \"anti_srp\" is not a list; allowed: a list of: anti_hmgcr")
