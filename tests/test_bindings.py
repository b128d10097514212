"""The FHIR bindings (engine/bindings.py): what a knowledge engineer's bindings.yaml becomes, and every
problem `kb validate` reports in it, with its file:line:column, its message and its severity.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase
from myoivig.engine.bindings import Binding, Bindings, Code, bindings_path, check_bindings, load_bindings
from myoivig.engine.errors import KnowledgeBaseError, Problem

SCT, LOINC = "http://snomed.info/sct", "http://loinc.org"
FILE = "fhir/bindings.yaml"
HEAD = """version: 1
systems:
  SNOMED: http://snomed.info/sct
  LOINC: http://loinc.org
patient:
  age_years: {from: birth_date, local_policy: Whole years.}
  sex: {from: sex, local_policy: US Core sex first.}
  months_since_diagnosis: {from: onset, local_policy: Whole months.}
  reference_date: {local_policy: The as-of date.}
facts:
"""
"""Ten lines: the first fact of a test's bindings is on line 11."""


def at(kb: KnowledgeBase, root: Path, facts: str) -> KnowledgeBase:
    """The shipped knowledge base with these bindings in place of its own."""
    (root / "fhir").mkdir(exist_ok=True)
    (root / "fhir" / "bindings.yaml").write_text(HEAD + facts)
    return dataclasses.replace(kb, root=root)


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    return tmp_path


def check(kb: KnowledgeBase, root: Path, facts: str, unverified: bool = False) -> tuple[Bindings | None, list[Problem]]:
    return check_bindings(at(kb, root, facts), unverified)


GOOD = """  dysphagia:
    from: condition
    codes:
      - {code: SNOMED 40739000, display: Dysphagia, verified: secondary, source: a list}
  diagnosis:
    from: condition
    local_policy: Two diagnoses leave it unknown.
    values:
      polymyositis:
        - {code: SNOMED 31384009, display: Polymyositis, verified: authoritative, source: HL7}
      other:
        - {code: SNOMED 1, display: Other, verified: unverified, source: memory}
  weight_kg:
    from: quantity
    units: {kg: 1, "[lb_av]": 0.45359237}
    codes:
      - {code: LOINC 29463-7, display: Body weight, verified: authoritative, source: HL7}
  egfr:
    fact: renal_insufficiency
    from: threshold
    true_below: 60
    units: {"mL/min/{1.73_m2}": 1}
    codes:
      - {code: LOINC 98979-8, display: eGFR, verified: authoritative, source: HL7}
  current_therapies:
    from: medication
    empty_list:
      - {code: LOINC 10160-0, display: Medication list, verified: local, source: site}
    values:
      methotrexate:
        - {code: SNOMED 2, display: MTX, verified: authoritative, source: HL7}
  ivig_order:
    from: order
    codes:
      - {code: SNOMED 3, display: IVIG, verified: authoritative, source: site}
"""


def test_good_bindings_become_exactly_these_bindings(kb: KnowledgeBase, here: Path) -> None:
    """Every binding in file order, each code with its provenance, the value each code gives (true for a
    yes/no fact), the unit factors and threshold as numbers, the fact's own unit (a threshold's unit of
    factor 1 for a yes/no fact), and the patient policies."""
    found, problems = check(kb, here, GOOD)
    assert problems == []
    assert found is not None
    assert found.file == FILE
    assert found.sha256 == hashlib.sha256((here / FILE).read_bytes()).hexdigest()
    assert found.systems == {"SNOMED": SCT, "LOINC": LOINC}
    assert found.patient_policies == {"age_years": "Whole years.", "sex": "US Core sex first.",
                                      "months_since_diagnosis": "Whole months.", "reference_date": "The as-of date."}

    def code(system: str, short: str, display: str, verified: str, source: str) -> Code:
        return Code(system, short, short.split(" ", 1)[1], display, verified, source)

    dysphagia = code(SCT, "SNOMED 40739000", "Dysphagia", "secondary", "a list")
    pm = code(SCT, "SNOMED 31384009", "Polymyositis", "authoritative", "HL7")
    other = code(SCT, "SNOMED 1", "Other", "unverified", "memory")
    weight = code(LOINC, "LOINC 29463-7", "Body weight", "authoritative", "HL7")
    egfr = code(LOINC, "LOINC 98979-8", "eGFR", "authoritative", "HL7")
    nil = code(LOINC, "LOINC 10160-0", "Medication list", "local", "site")
    mtx = code(SCT, "SNOMED 2", "MTX", "authoritative", "HL7")
    ivig = code(SCT, "SNOMED 3", "IVIG", "authoritative", "site")
    assert found.bindings == (
        Binding("dysphagia", "dysphagia", "condition", {(SCT, "40739000"): dysphagia}, {(SCT, "40739000"): True},
                {}, None, {}, None, None),
        Binding("diagnosis", "diagnosis", "condition", {(SCT, "31384009"): pm, (SCT, "1"): other},
                {(SCT, "31384009"): "polymyositis", (SCT, "1"): "other"}, {}, None, {},
                "Two diagnoses leave it unknown.", None),
        Binding("weight_kg", "weight_kg", "quantity", {(LOINC, "29463-7"): weight}, {(LOINC, "29463-7"): True},
                {"kg": 1.0, "[lb_av]": 0.45359237}, None, {}, None, "kg"),
        Binding("egfr", "renal_insufficiency", "threshold", {(LOINC, "98979-8"): egfr}, {(LOINC, "98979-8"): True},
                {"mL/min/{1.73_m2}": 1.0}, 60.0, {}, None, "mL/min/{1.73_m2}"),
        Binding("current_therapies", "current_therapies", "medication", {(SCT, "2"): mtx},
                {(SCT, "2"): "methotrexate"}, {}, None, {(LOINC, "10160-0"): nil}, None, None),
        Binding("ivig_order", "ivig_order", "order", {(SCT, "3"): ivig}, {(SCT, "3"): True}, {}, None, {}, None, None))
    assert type(found.bindings[3].true_below) is float and type(found.bindings[2].units["kg"]) is float
    assert [b.name for b in found.of("condition", "order")] == ["dysphagia", "diagnosis", "ivig_order"]
    assert found.of("result") == ()
    assert found.code_display(LOINC, "29463-7") == "LOINC 29463-7"
    assert found.code_display("http://other.example", "x") == "http://other.example|x"


def test_codes_not_verified_authoritatively_are_warned_of_on_request(kb: KnowledgeBase, here: Path) -> None:
    """`kb validate --codes`: each secondary, unverified or local code, at its entry, with what to do;
    warnings do not stop the bindings from loading."""
    found, problems = check(kb, here, GOOD, unverified=True)
    assert found is not None and len(found.bindings) == 6
    assert problems == [
        Problem(FILE, 14, 9, "SNOMED 40739000 (Dysphagia) is secondary, found only in: a list; check it against a "
                             "terminology server before clinical use", severity="warning"),
        Problem(FILE, 22, 11, "SNOMED 1 (Other) is unverified, found only in: memory; check it against a "
                              "terminology server before clinical use", severity="warning"),
        Problem(FILE, 38, 9, "LOINC 10160-0 (Medication list) is a local placeholder (site): bind the site's own "
                             "code before clinical use", severity="warning")]


def test_an_unknown_code_system_is_an_error_at_the_code(kb: KnowledgeBase, here: Path) -> None:
    """The editor is sent to the very code, told the systems it may use; the bindings are refused."""
    found, problems = check(kb, here, """  dysphagia:
    from: condition
    codes:
      - {code: SNOMEDCT 40739000, display: Dysphagia, verified: secondary, source: a list}
      - {code: SNOMED 40739000, display: Dysphagia, verified: secondary, source: a list}
  current_therapies:
    from: medication
    empty_list:
      - {code: LNC 10160-0, display: Medication list, verified: local, source: site}
    values:
      methotrexate:
        - {code: SNOMED 2, display: MTX, verified: authoritative, source: HL7}
""", unverified=True)
    assert found is None
    assert problems == [
        Problem(FILE, 14, 10, "code system 'SNOMEDCT' is not one of `systems`", hint="known: SNOMED, LOINC"),
        Problem(FILE, 15, 9, "SNOMED 40739000 (Dysphagia) is secondary, found only in: a list; check it against a "
                             "terminology server before clinical use", severity="warning"),
        Problem(FILE, 19, 10, "code system 'LNC' is not one of `systems`", hint="known: SNOMED, LOINC")]


def test_a_fact_outside_the_vocabulary_is_an_error_except_for_orders(kb: KnowledgeBase, here: Path) -> None:
    """A misspelt fact would bind codes to nothing; an order binding names no fact."""
    found, problems = check(kb, here, """  dysphagea:
    from: condition
    codes:
      - {code: SNOMEDCT 40739000, display: Dysphagia, verified: secondary, source: a list}
  drug_order:
    from: order
    codes:
      - {code: SNOMED 3, display: IVIG, verified: authoritative, source: site}
  flair:
    from: assessment
    codes:
      - {code: SNOMED 4, display: Flare, verified: authoritative, source: site}
""")
    assert found is None
    assert problems == [Problem(FILE, 11, 3, "'dysphagea' is not a fact of the vocabulary"),
                        Problem(FILE, 19, 3, "'flair' is not a fact of the vocabulary")]


def test_a_value_outside_the_fact_is_an_error_naming_the_allowed(kb: KnowledgeBase, here: Path) -> None:
    """Codes bound to 'slight' would give a severity the rules never test."""
    found, problems = check(kb, here, """  severity:
    from: condition_severity
    values:
      slight:
        - {code: SNOMED 255604002, display: Mild, verified: authoritative, source: HL7}
      mild:
        - {code: SNOMED 255604003, display: Mild, verified: authoritative, source: HL7}
""")
    assert found is None
    assert problems == [Problem(FILE, 14, 7, "'slight' is not a value of 'severity'", hint="allowed: mild, moderate, severe")]


@pytest.mark.parametrize(("fact", "source", "ok"), [
    ("severity", "condition_severity", False), ("current_therapies", "medication", False),
    ("severity", "assessment", True), ("dysphagia", "condition", True), ("weight_kg", "quantity", True)])
def test_a_single_list_of_codes_suits_only_yes_no_numbers_and_assessments(kb: KnowledgeBase, here: Path, fact: str,
                                                                          source: str, ok: bool) -> None:
    """A choice fact needs a code per value; an assessment question is answered with the value's code."""
    units = "    units: {kg: 1}\n" if source == "quantity" else ""
    found, problems = check(kb, here, f"""  {fact}:
    from: {source}
{units}    codes:
      - {{code: SNOMED 1, display: X, verified: authoritative, source: HL7}}
""")
    if ok:
        assert problems == [] and found is not None and found.bindings[0].values == {(SCT, "1"): True}
    else:
        kind = kb.facts[fact].type
        assert found is None and problems == [Problem(FILE, 11, 3, f"'{fact}' is a {kind}: bind each value under "
                                                                   "`values`, not one list of `codes`")]


@pytest.mark.parametrize(("first", "second"), [("mild", "severe"), ("severe", "mild")])
def test_a_code_bound_to_two_values_of_a_fact_is_an_error_at_the_second(kb: KnowledgeBase, here: Path, first: str,
                                                                        second: str) -> None:
    """One code, one meaning per fact: the second binding is pointed at, naming both (in either order);
    the same code twice under one value is no contradiction."""
    found, problems = check(kb, here, f"""  severity:
    from: condition_severity
    values:
      {first}:
        - {{code: SNOMED 1, display: A, verified: authoritative, source: HL7}}
        - {{code: SNOMED 1, display: A, verified: authoritative, source: HL7}}
      {second}:
        - {{code: SNOMED 2, display: B, verified: authoritative, source: HL7}}
        - {{code: SNOMED 1, display: A, verified: authoritative, source: HL7}}
""")
    assert found is None
    assert problems == [Problem(FILE, 19, 11, f"SNOMED 1 is bound twice: to severity={first} and to severity={second}")]


def test_bindings_are_immutable_records(kb: KnowledgeBase, here: Path) -> None:
    """Loaded bindings are shared by every reading (and cached): nothing may alter them."""
    found, _ = check(kb, here, GOOD)
    assert found is not None
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.file = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        found.bindings[0].fact = "flare"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        next(iter(found.bindings[0].codes.values())).verified = "authoritative"  # type: ignore[misc]


def test_one_code_may_name_several_facts(kb: KnowledgeBase, here: Path) -> None:
    """A combination code (dermatomyositis with respiratory involvement) binds to two facts."""
    found, problems = check(kb, here, """  diagnosis:
    from: condition
    values:
      dermatomyositis:
        - {code: SNOMED 1, display: DM lung, verified: authoritative, source: HL7}
  respiratory_involvement:
    from: condition
    codes:
      - {code: SNOMED 1, display: DM lung, verified: authoritative, source: HL7}
""")
    assert problems == [] and found is not None
    assert [b.values for b in found.bindings] == [{(SCT, "1"): "dermatomyositis"}, {(SCT, "1"): True}]


@pytest.mark.parametrize(("source", "extra", "message"), [
    ("quantity", "", "a binding from quantity needs `units`"),
    ("threshold", "    true_below: 60\n", "a binding from threshold needs `units`"),
    ("condition", "    units: {x: 1}\n", "a binding from condition takes no `units`"),
    ("assessment", "    true_below: 1\n", "`true_below` goes with `from: threshold`, and only there"),
    ("threshold", "    units: {x: 1}\n", "`true_below` goes with `from: threshold`, and only there"),
])
def test_units_and_thresholds_go_with_their_sources(kb: KnowledgeBase, here: Path, source: str, extra: str,
                                                   message: str) -> None:
    """A quantity without units could not be converted; units on a condition mean a mistake."""
    found, problems = check(kb, here, f"""  renal_insufficiency:
    from: {source}
{extra}    codes:
      - {{code: SNOMED 1, display: X, verified: authoritative, source: HL7}}
""")
    assert found is None and problems == [Problem(FILE, 11, 3, message)]


@pytest.mark.parametrize("units", ["{mg/dL: 10, g/L: 100}", "{mg/dL: 1, mg/L: 1}"])
def test_a_threshold_is_in_one_unit_of_factor_1(kb: KnowledgeBase, here: Path, units: str) -> None:
    """true_below is a number in some unit: exactly one unit must convert by 1, or the threshold (and the
    unit the provenance shows) is ambiguous."""
    found, problems = check(kb, here, f"""  renal_insufficiency:
    from: threshold
    true_below: 60
    units: {units}
    codes:
      - {{code: SNOMED 1, display: X, verified: authoritative, source: HL7}}
""")
    assert found is None and problems == [Problem(FILE, 14, 5, "a threshold needs exactly one unit of factor 1: "
                                                                "the unit `true_below` is in")]


def test_schema_problems_come_first_and_alone(kb: KnowledgeBase, here: Path) -> None:
    """A code not verified in a known way fails the form; nothing more is checked."""
    found, problems = check(kb, here, """  dysphagea:
    from: condition
    codes:
      - {code: SNOMED 1, display: X, verified: maybe, source: HL7}
""")
    assert found is None and len(problems) == 1
    assert (problems[0].file, problems[0].line, problems[0].severity) == (FILE, 14, "error")
    assert "is not allowed here; allowed: authoritative, secondary, unverified, local" in problems[0].message


def test_a_missing_file_is_a_warning_and_fhir_is_then_refused(kb: KnowledgeBase, here: Path) -> None:
    """Without bindings the rules stand, but no FHIR resource can be mapped (exit 3)."""
    bare = dataclasses.replace(kb, root=here)
    expected = Problem(FILE, 1, 1, "no FHIR bindings file", severity="warning", hint="FHIR input is refused without it")
    assert check_bindings(bare) == (None, [expected])
    assert bindings_path(bare) == here / "fhir" / "bindings.yaml"
    with pytest.raises(KnowledgeBaseError) as refused:
        load_bindings(bare)
    assert refused.value.problems == [expected]


def test_an_unreadable_or_broken_file_is_an_error_where_it_breaks(kb: KnowledgeBase, here: Path) -> None:
    """A folder in its place is an error at 1:1; bad YAML is an error at the YAML's own position."""
    (here / "fhir" / "bindings.yaml").mkdir(parents=True)
    assert check_bindings(dataclasses.replace(kb, root=here)) == (
        None, [Problem(FILE, 1, 1, "cannot read the file: Is a directory")])
    (here / "fhir" / "bindings.yaml").rmdir()
    found, problems = check(kb, here, "  dysphagia: [\n")
    assert found is None and len(problems) == 1 and problems[0].line >= 11 and problems[0].severity == "error"


def test_broken_bindings_are_refused_with_their_errors_only(kb: KnowledgeBase, here: Path) -> None:
    """load_bindings raises with the errors, never a half-read mapping."""
    with pytest.raises(KnowledgeBaseError) as refused:
        load_bindings(at(kb, here, """  dysphagea:
    from: condition
    codes:
      - {code: SNOMED 1, display: X, verified: local, source: HL7}
"""))
    assert refused.value.problems == [Problem(FILE, 11, 3, "'dysphagea' is not a fact of the vocabulary")]


def test_loaded_bindings_are_kept_until_the_file_changes(kb: KnowledgeBase, here: Path) -> None:
    """One knowledge base reads its bindings once; an edit is seen."""
    edited = at(kb, here, GOOD)
    first = load_bindings(edited)
    assert load_bindings(edited) is first
    assert first.bindings[0].name == "dysphagia"
    path = here / FILE
    path.write_text(HEAD + GOOD.replace("dysphagia:\n", "flare:\n", 1).replace("from: condition\n", "from: assessment\n", 1))
    os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
    assert load_bindings(edited).bindings[0].name == "flare"


def test_a_file_outside_the_working_folder_is_named_by_its_full_path(kb: KnowledgeBase, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Messages name a path the user can open from where they are; the loaded bindings name their file
    within the knowledge base, as advice cites it wherever a process runs."""
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    found, _ = check(kb, tmp_path, GOOD)
    assert found is not None and found.file == FILE
    _, problems = check(kb, tmp_path, GOOD.replace("dysphagia:", "dysphagea:", 1))
    assert [p.file for p in problems] == [str((tmp_path / FILE).resolve())]


def test_the_shipped_bindings_load_with_all_their_facts(kb: KnowledgeBase) -> None:
    """The shipped file: every source present, the thresholds as the research note gives them."""
    shipped = load_bindings(kb)
    by_name = {b.name: b for b in shipped.bindings}
    assert (by_name["egfr"].true_below, by_name["iga_level"].true_below) == (60.0, 7.0)
    assert by_name["iga_level"].units == {"mg/dL": 1.0, "g/L": 100.0}
    assert by_name["height_cm"].unit == "cm" and by_name["weight_kg"].unit == "kg"
    assert list(by_name["current_therapies"].empty_list) == [(LOINC, "10160-0")]
