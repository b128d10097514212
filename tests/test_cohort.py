"""Cohort input counted and read exactly, errors kept per row, and the Dask driver's bounds, on a fake Dask.

Cohort rows read exactly (JSON lines, CSV, folders), each row's record, the CSV summary line and the tally.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, cohort
from myoivig.engine.cohort import (
    Row,
    Tally,
    consult_partition,
    consult_row,
    count_rows,
    csv_line,
    input_format,
    read_rows,
)
from myoivig.engine.errors import EngineError, InputError, KnowledgeBaseMismatch
from myoivig.engine.model import VERDICTS


@pytest.mark.parametrize(("name", "text", "rows"), [
    ("in.csv", "diagnosis,severity\nDM,mild\nPM,severe\nIBM,mild\n", 3),
    ("in.csv", "diagnosis,severity\n", 0),
    ("in.csv", "diagnosis\nDM\n", 1),
    ("in.jsonl", '{"diagnosis": "DM"}\n\n{"diagnosis": "PM"}\n{"diagnosis": "IBM"}\n', 3),
    ("in.ndjson", '{"diagnosis": "DM"}\n{"diagnosis": "PM"}\n', 2),
])
def test_count_rows_counts_patients_not_lines(tmp_path: Path, name: str, text: str, rows: int) -> None:
    """The progress bar's total: a CSV's header and a JSON file's blank lines are not patients."""
    (tmp_path / name).write_text(text)
    assert count_rows(tmp_path / name) == rows


def test_a_folder_counts_and_reads_its_patient_files_and_keeps_a_bad_one_as_a_row(kb: KnowledgeBase,
                                                                                  tmp_path: Path) -> None:
    """One unreadable file is one error row in its place, not the end of the batch."""
    (tmp_path / "a.yaml").write_text("diagnosis: DM\n")
    (tmp_path / "b.json").write_text("")
    (tmp_path / "c.yml").write_text("diagnosis: PM\n")
    (tmp_path / "notes.txt").write_text("not a patient\n")
    assert count_rows(tmp_path) == 3
    rows = list(read_rows(kb, tmp_path))
    assert [(r.number, r.id, r.raw) for r in rows] == [(1, "a.yaml", {"diagnosis": "DM"}), (2, "b.json", None),
                                                      (3, "c.yml", {"diagnosis": "PM"})]
    assert rows[1].problem == f"{tmp_path / 'b.json'} holds no facts: give at least one (see `myoivig facts`)"


def test_a_wide_csv_row_with_as_many_cells_as_columns_is_read(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Cell count is compared by value: 300 cells for 300 columns is a row, not a malformed line."""
    columns = ["diagnosis"] + [f"extra_{i}" for i in range(299)]
    (tmp_path / "wide.csv").write_text(",".join(columns) + "\n" + ",".join(["DM"] + [""] * 299) + "\n")
    [row] = read_rows(kb, tmp_path / "wide.csv")
    assert (row.raw, row.problem) == ({"diagnosis": "DM"}, None)


@pytest.mark.parametrize("operator", ["<<", "-"])
def test_an_engine_failure_on_a_row_is_that_row_s_engine_error(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch,
                                                               operator: str) -> None:
    """A row the engine cannot advise on becomes an `engine` error record, and the batch goes on."""
    def fail(*_: Any) -> None:
        raise EngineError(f"the evaluators disagree ({operator})")
    monkeypatch.setattr(cohort, "consult", fail)
    record = consult_row(kb, Row(4, "p4", {"diagnosis": "DM"}))
    assert record == {"row": 4, "id": "p4", "error": {"kind": "engine", "problems": [
        {"field": None, "message": f"the evaluators disagree ({operator})"}]}}


@pytest.mark.parametrize("sha256", ["0" * 64, "f" * 64])
def test_a_worker_with_other_rules_refuses_whichever_checksum_differs(kb: KnowledgeBase, sha256: str) -> None:
    """Any mismatch of checksums refuses, whether the client's sorts before or after the worker's."""
    with pytest.raises(KnowledgeBaseMismatch, match=f"the client sha256 {sha256[:12]}..."):
        consult_partition(None, sha256, [])


def test_a_resumed_csv_tally_counts_errors_by_kind() -> None:
    """`input: ...` and `engine: ...` error cells count under `input` and `engine`, whatever the message."""
    tally = Tally()
    for error in ("input: fact 'sex': 'x' is not allowed", "input: no known fact", "engine: the evaluators disagree"):
        tally.add_csv({"error": error})
    tally.add_csv({"error": "", "verdict": "indicated", "early_initiation": "true", "cautions": "a;b",
                   "hard_stops": ""})
    assert tally.as_dict()["errors"] == {"engine": 1, "input": 2}
    assert tally.as_dict()["early_initiation"] == 1 and tally.as_dict()["cautions"] == {"a": 1, "b": 1}


# ---------------------------------------------------------------- Cohort rows read exactly (JSON lines, CSV, folders), each ro
def _rows(kb: KnowledgeBase, path: Path, text: str | bytes, skip: int = 0) -> list[tuple[Any, ...]]:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return [(r.number, r.id, r.raw, r.problem) for r in read_rows(kb, path, skip)]


# ---------------------------------------------------------------- formats
@pytest.mark.parametrize(("name", "kind"), [("a.jsonl", "jsonl"), ("a.NDJSON", "jsonl"), ("a.Csv", "csv")])
def test_the_format_is_told_by_the_extension_in_any_case(tmp_path: Path, name: str, kind: str) -> None:
    (tmp_path / name).write_text("")
    assert input_format(tmp_path / name) == kind
    assert input_format(tmp_path) == "folder"


def test_an_unknown_extension_or_a_missing_file_is_an_input_error(tmp_path: Path) -> None:
    """The message names the file and lists the formats understood."""
    with pytest.raises(InputError) as unknown:
        input_format(tmp_path / "a.xlsx")
    assert str(unknown.value) == (f"cannot tell the format of {tmp_path / 'a.xlsx'} from its extension; "
                                  "allowed: .jsonl, .ndjson, .csv or a folder of patient files")
    assert unknown.value.field == "INPUT"
    with pytest.raises(InputError) as missing:
        input_format(tmp_path / "a.csv")
    assert str(missing.value) == f"{tmp_path / 'a.csv'} does not exist"
    assert missing.value.field == "INPUT"


def test_a_folder_counts_patient_files_of_any_case_only(tmp_path: Path) -> None:
    for name in ("a.YAML", "b.yml", "c.Json", "d.txt", "e.csv"):
        (tmp_path / name).write_text("diagnosis: DM\n")
    assert count_rows(tmp_path) == 3


@pytest.mark.parametrize(("text", "count"), [
    ("diagnosis\n", 0), ("diagnosis\nDM\n", 1), ("diagnosis\nDM\nPM\n", 2),
    ('diagnosis,note\nDM,"two\nlines"\n', 2),     # one patient a line: a cell cannot span lines
    ('diagnosis\n\nDM\n\n', 1),                   # blank lines are no patients
])
def test_a_csv_counts_records_after_the_header(tmp_path: Path, text: str, count: int) -> None:
    (tmp_path / "in.csv").write_text(text)
    assert count_rows(tmp_path / "in.csv") == count


def test_json_lines_count_non_blank_lines(tmp_path: Path) -> None:
    (tmp_path / "in.jsonl").write_text('{"a": 1}\n\n \n{"a": 2}\n{"a": 3}')
    assert count_rows(tmp_path / "in.jsonl") == 3


def test_a_csv_with_nothing_at_all_counts_zero(tmp_path: Path) -> None:
    """An empty CSV has no header and no patients: 0, not -1."""
    (tmp_path / "e.csv").write_text("")
    assert count_rows(tmp_path / "e.csv") == 0
    (tmp_path / "e.jsonl").write_text("\n  \n")
    assert count_rows(tmp_path / "e.jsonl") == 0


# ---------------------------------------------------------------- JSON lines
def test_json_lines_number_patients_not_lines_and_keep_bad_lines_as_rows(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Blank lines are skipped; a problem names the line of the file; the id is taken out of the facts."""
    rows = _rows(kb, tmp_path / "in.jsonl",
                 '{"id": 7, "diagnosis": "DM"}\n\n[1, 2]\n{"diagnosis": \n{"id": null, "age_years": 50}\n'
                 '{"id": "p5"}\n')
    assert rows == [
        (1, "7", {"diagnosis": "DM"}, None),
        (2, None, None, "line 3: a patient is a JSON object of facts"),
        (3, None, None, "line 4: not a JSON object (Expecting value: line 2 column 1 (char 15))"),
        (4, None, {"age_years": 50}, None),
        (5, "p5", {}, None),
    ]


def test_bytes_that_are_not_utf8_are_one_bad_row(kb: KnowledgeBase, tmp_path: Path) -> None:
    [row] = _rows(kb, tmp_path / "in.jsonl", b'{"diagnosis": "\xff"}\n')
    assert row[:3] == (1, None, None) and row[3].startswith("line 1: not a JSON object (")


@pytest.mark.parametrize(("skip", "numbers"), [(0, [1, 2, 3]), (1, [2, 3]), (2, [3]), (3, []), (5, [])])
def test_resume_skips_exactly_the_rows_already_written(kb: KnowledgeBase, tmp_path: Path, skip: int,
                                                       numbers: list[int]) -> None:
    """--resume after N records starts at row N+1."""
    rows = _rows(kb, tmp_path / "in.jsonl", '{"a": 1}\n{"a": 2}\n{"a": 3}\n', skip)
    assert [r[0] for r in rows] == numbers


# ---------------------------------------------------------------- CSV
def test_csv_cells_become_facts_lists_and_ids(kb: KnowledgeBase, tmp_path: Path) -> None:
    """Lists split on `;` (spaces and empty parts dropped), `none` is a known empty list, an empty cell unknown;
    a list fact is recognised under a synonym in any case; header cells are stripped."""
    rows = _rows(kb, tmp_path / "in.csv",
                 " id , diagnosis ,Medications,autoantibodies\n"
                 "p1, DM ,MTX,None\n"
                 ",PM, prednisone ; ;AZA ,\n"
                 "p3,,NONE,anti_jo1\n")
    assert rows == [
        (1, "p1", {"diagnosis": "DM", "Medications": ["MTX"], "autoantibodies": []}, None),
        (2, None, {"diagnosis": "PM", "Medications": ["prednisone", "AZA"]}, None),
        (3, "p3", {"Medications": [], "autoantibodies": ["anti_jo1"]}, None),
    ]


def test_a_cell_that_is_not_a_list_fact_is_kept_whole(kb: KnowledgeBase, tmp_path: Path) -> None:
    """`;` in a non-list fact is not a separator: the normalizer sees the text as written."""
    rows = _rows(kb, tmp_path / "in.csv", "diagnosis,colour\nDM;PM,none\n")
    assert rows == [(1, None, {"diagnosis": "DM;PM", "colour": "none"}, None)]


def test_a_row_with_too_few_or_too_many_cells_is_a_problem_row(kb: KnowledgeBase, tmp_path: Path) -> None:
    """The line number is the file's, the header being line 1."""
    rows = _rows(kb, tmp_path / "in.csv", "id,diagnosis\np1\np2,DM,extra\np3,PM\n")
    assert rows == [(1, None, None, "line 2: 1 cells for 2 columns"),
                    (2, None, None, "line 3: 3 cells for 2 columns"),
                    (3, "p3", {"diagnosis": "PM"}, None)]


def test_an_unreadable_csv_header_refuses_the_input(kb: KnowledgeBase, tmp_path: Path) -> None:
    path = tmp_path / "in.csv"
    path.write_bytes(b"diag\xffnosis\nDM\n")
    with pytest.raises(InputError) as caught:
        list(read_rows(kb, path))
    assert str(caught.value) == f"{path}: the header (line 1) is not readable: byte 0xff at column 5 is not UTF-8 text"
    assert caught.value.field == "INPUT"


def test_an_empty_csv_has_no_rows(kb: KnowledgeBase, tmp_path: Path) -> None:
    assert _rows(kb, tmp_path / "in.csv", "") == []
    assert _rows(kb, tmp_path / "in.csv", "diagnosis\n") == []


# ---------------------------------------------------------------- records
def test_a_record_is_the_consultation_with_the_row_its_id_and_how_it_was_read(kb: KnowledgeBase) -> None:
    """Synonyms and aliases applied are listed in read_as; no id, no id key."""
    record = consult_row(kb, Row(1, "x", {"dx": "DM", "weakness": "severe", "age": 50}))
    assert list(record)[:2] == ["row", "id"] and (record["row"], record["id"]) == (1, "x")
    assert record["read_as"] == ["dx -> diagnosis", "diagnosis: DM -> dermatomyositis", "weakness -> severity",
                                 "age -> age_years"]
    assert record["summary"]["verdict"] == "indicated" and "fhir" not in record
    assert "id" not in consult_row(kb, Row(2, None, {"diagnosis": "DM"}))


def test_a_fhir_bundle_row_carries_how_it_was_read(kb: KnowledgeBase) -> None:
    record = consult_row(kb, Row(2, None, {"resourceType": "Bundle", "type": "collection", "entry": []}))
    assert "error" not in record and record["fhir"]["provenance"] == [] and record["read_as"] == []


def test_refused_rows_are_input_error_records_with_every_problem(kb: KnowledgeBase) -> None:
    assert consult_row(kb, Row(3, None, {"sex": "x", "colour": 1})) == {"row": 3, "error": {"kind": "input", "problems": [
        {"field": "sex", "message": "fact 'sex': 'x' is not allowed; allowed: female, male"},
        {"field": "colour", "message": "unknown fact 'colour'; allowed: see `myoivig facts`"}]}}
    assert consult_row(kb, Row(4, "p", {"sex": None})) == {"row": 4, "id": "p", "error": {"kind": "input", "problems": [
        {"field": "patient", "message": "the row gives no known fact: every fact is empty or null (see `myoivig facts --template`)"}]}}
    assert consult_row(kb, Row(5, "f.yaml", None, "f.yaml holds no facts")) == {
        "row": 5, "id": "f.yaml", "error": {"kind": "input", "problems": [{"field": None,
                                                                          "message": "f.yaml holds no facts"}]}}


def test_an_engine_failure_is_that_row_s_engine_error(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """The evaluators disagreeing on one patient stops that row only, as an `engine` error."""
    from myoivig.engine.errors import EngineError

    def disagree(*_: Any) -> None:
        raise EngineError("the evaluators disagree")
    monkeypatch.setattr(cohort, "consult", disagree)
    assert consult_row(kb, Row(6, None, {"diagnosis": "DM"})) == {"row": 6, "error": {"kind": "engine", "problems": [
        {"field": None, "message": "the evaluators disagree"}]}}


def test_a_worker_loads_the_knowledge_base_once(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """Partitions after the first reuse the rules loaded; the records are in row order."""
    monkeypatch.setattr(cohort, "_LOADED", {})
    loads: list[Any] = []
    from myoivig.engine import loader

    def counting(root: Any = None) -> KnowledgeBase:
        loads.append(root)
        return kb
    monkeypatch.setattr(loader, "load_knowledge_base", counting)
    rows = [Row(1, "a", {"diagnosis": "DM"}), Row(2, "b", None, "bad")]
    first = consult_partition("somewhere", kb.sha256, rows)
    assert [r["row"] for r in first] == [1, 2] and first[1]["error"]["kind"] == "input"
    assert consult_partition("somewhere", kb.sha256, []) == []
    assert loads == [Path("somewhere")]
    consult_partition(None, kb.sha256, [])
    assert loads == [Path("somewhere"), None]


def test_a_worker_with_other_rules_says_which_and_what_to_do(kb: KnowledgeBase) -> None:
    with pytest.raises(cohort.KnowledgeBaseMismatch) as caught:
        consult_partition(None, "ab" * 32, [])
    assert str(caught.value) == (
        f"a worker holds knowledge base {kb.name} {kb.version} (sha256 {kb.sha256[:12]}...), the client "
        "sha256 abababababab...: install the same knowledge base on every worker")
    assert caught.value.exit_code == 3


# ---------------------------------------------------------------- the CSV summary and the tally
RECORD = {"row": 4, "id": "p4", "summary": {"verdict": "indicated", "early_initiation": True,
                                            "hard_stops": [], "hard_stops_not_given": ["anti_iga_antibodies"],
                                            "cautions": ["renal_insufficiency", "thrombotic_risk"],
                                            "combination": ["corticosteroids"], "warnings": ["warning.a"]},
          "dose": {"give": {"name": "lower_end", "course_total_g": [57.0, 57.0], "days_per_course": [2, 2]}},
          "missing": [{"fact": "weight_kg"}, {"fact": "sex"}]}


def test_a_csv_summary_line_joins_lists_and_writes_the_regimen_to_give() -> None:
    assert csv_line(RECORD) == {"row": 4, "id": "p4", "verdict": "indicated", "early_initiation": "true",
                                "hard_stops": "", "hard_stops_not_given": "anti_iga_antibodies",
                                "cautions": "renal_insufficiency;thrombotic_risk", "give_g": "57", "give_days": "2",
                                "regimen": "lower_end", "combination": "corticosteroids",
                                "missing": "weight_kg;sex", "warnings": "warning.a", "error": ""}
    no_dose = csv_line({**RECORD, "id": None, "dose": None, "missing": []} | {"row": 5})
    assert (no_dose["give_g"], no_dose["regimen"], no_dose["missing"], no_dose["id"]) == ("", "", "", None)
    assert csv_line({k: v for k, v in RECORD.items() if k != "id"})["id"] == ""


def test_an_error_line_holds_the_kind_and_every_message_on_one_line() -> None:
    record = {"row": 2, "error": {"kind": "input", "problems": [{"message": "first\nsecond"}, {"message": "third"}]}}
    assert csv_line(record) == {"row": 2, "id": "", "error": "input: first second | third"}


def test_the_tally_counts_every_verdict_from_zero() -> None:
    """Every verdict is listed, seen or not; cautions and hard stops counted by name; errors by kind."""
    tally = Tally()
    assert tally.as_dict() == {"patients": 0, "verdicts": {name: 0 for name in VERDICTS}, "early_initiation": 0,
                               "cautions": {}, "hard_stops": {}, "errors": {}}
    tally.add({"summary": {"verdict": "contraindicated", "early_initiation": False, "hard_stops": ["c.y", "c.x"],
                           "cautions": ["thrombotic_risk"]}})
    tally.add_csv({"error": "input: x: y"})
    tally.add(RECORD)
    tally.add({"error": {"kind": "engine"}})
    tally.add_csv({"error": "", "verdict": "indicated", "early_initiation": "false", "cautions": "",
                   "hard_stops": "c.x"})
    found = tally.as_dict()
    assert found["patients"] == 5
    assert found["verdicts"] == {name: 0 for name in VERDICTS} | {"indicated": 2, "contraindicated": 1}
    assert found["early_initiation"] == 1
    assert list(found["cautions"].items()) == [("renal_insufficiency", 1), ("thrombotic_risk", 2)]
    assert list(found["hard_stops"].items()) == [("c.x", 2), ("c.y", 1)]
    assert list(found["errors"].items()) == [("engine", 1), ("input", 1)]


def test_a_deeply_nested_json_line_is_one_bad_row(kb: KnowledgeBase, tmp_path: Path) -> None:
    """json.loads raises RecursionError on [[[[...; one such line stopped the whole batch."""
    rows = _rows(kb, tmp_path / "in.jsonl", "[" * 100_000 + '\n{"diagnosis": "DM"}\n')
    assert [r[0] for r in rows] == [1, 2] and rows[0][2] is None and rows[1][2] == {"diagnosis": "DM"}
    assert rows[0][3].startswith("line 1: not a JSON object (maximum recursion depth exceeded")
