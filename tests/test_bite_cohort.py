"""Cohort input counted and read exactly, errors kept per row, and the Dask driver's bounds, on a fake Dask."""
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
    read_rows,
)
from myoivig.engine.errors import EngineError, KnowledgeBaseMismatch


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
