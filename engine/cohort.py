"""Cohorts: many patients in, one record each out, in input order.

Rows stream in from JSON lines, CSV or a folder of patient files; each becomes
one record, a full consultation or an error, and nothing else about a patient
is kept. The same `consult_partition` runs here or on a Dask worker
(see cluster.py), so where the work ran never changes a byte of the output.
"""
from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .advice import span
from .bindings import load_bindings
from .consultation import consult
from .errors import EngineError, InputError, MyoivigError
from .fhir import is_fhir, read_fhir, reading_to_dict
from .model import VERDICTS, KnowledgeBase
from .patient import normalize, read_patient
from .report import consultation_to_dict

ID_COLUMN = "id"
"""The optional column (or JSON key) that names a patient in the records; never a fact."""

LIST_SEPARATOR = ";"
"""How a CSV cell holds a list fact: `prednisone;methotrexate`."""

EMPTY_LIST = "none"
"""A CSV cell saying a list fact is known to be empty (an empty cell is an unknown fact)."""

INPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
OUTPUT_FORMATS = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}
PATIENT_FILES = (".yaml", ".yml", ".json")

CSV_COLUMNS = ("row", "id", "verdict", "early_initiation", "hard_stops", "hard_stops_not_given", "cautions",
               "give_g", "give_days", "regimen", "combination", "missing", "warnings", "error")
"""The CSV summary of a record, one line a patient."""


class KnowledgeBaseMismatch(MyoivigError):
    """A worker holds other rules than the client: its advice would not be the client's."""

    exit_code = 3


@dataclass(frozen=True)
class Row:
    """One patient as read, before any check: `problem` when it could not even be read."""

    number: int  # 1-based position in the input
    id: str | None
    raw: Mapping[str, Any] | None
    problem: str | None = None


def input_format(source: Path) -> str:
    if source.is_dir():
        return "folder"
    found = INPUT_FORMATS.get(source.suffix.lower())
    if found is None:
        raise InputError(f"cannot tell the format of {source} from its extension", field="INPUT",
                         allowed=f"{', '.join(INPUT_FORMATS)} or a folder of patient files")
    if not source.is_file():
        raise InputError(f"{source} does not exist", field="INPUT")
    return found


def read_rows(kb: KnowledgeBase, source: Path, skip: int = 0) -> Iterator[Row]:
    """The input's rows in order, lazily: a file of millions never sits in memory."""
    kind = input_format(source)
    rows = {"folder": _folder_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}[kind](kb, source)
    for row in rows:
        if row.number > skip:
            yield row


def count_rows(source: Path) -> int:
    """How many rows the input holds (for the progress bar's ETA)."""
    kind = input_format(source)
    if kind == "folder":
        return sum(1 for p in source.iterdir() if p.suffix.lower() in PATIENT_FILES)
    with source.open("r", encoding="utf-8", errors="replace", newline="") as stream:
        if kind == "csv":
            return max(sum(1 for _ in csv.reader(stream)) - 1, 0)
        return sum(1 for line in stream if line.strip())


def _folder_rows(_kb: KnowledgeBase, source: Path) -> Iterator[Row]:
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in PATIENT_FILES)
    for number, path in enumerate(files, 1):
        try:
            yield Row(number, path.name, read_patient(path))
        except InputError as exc:
            yield Row(number, path.name, None, str(exc))


def _jsonl_rows(_kb: KnowledgeBase, source: Path) -> Iterator[Row]:
    with source.open("rb") as stream:
        number = 0
        for line_number, line in enumerate(stream, 1):
            if not line.strip():
                continue
            number += 1
            try:
                data = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:  # RecursionError: [[[[...
                yield Row(number, None, None, f"line {line_number}: not a JSON object ({exc})")
                continue
            if not isinstance(data, dict):
                yield Row(number, None, None, f"line {line_number}: a patient is a JSON object of facts")
                continue
            patient_id = data.pop(ID_COLUMN, None)
            yield Row(number, None if patient_id is None else str(patient_id), data)


def _csv_rows(kb: KnowledgeBase, source: Path) -> Iterator[Row]:
    with source.open("r", encoding="utf-8", errors="strict", newline="") as stream:
        reader = csv.reader(stream)
        try:
            header = [name.strip() for name in next(reader, [])]
        except (UnicodeDecodeError, csv.Error) as exc:
            raise InputError(f"{source}: the header is not readable CSV ({exc})", field="INPUT") from None
        lists = {column for column in header
                 if kb.facts.get(kb.synonyms.get(column.lower(), column)) is not None
                 and kb.facts[kb.synonyms.get(column.lower(), column)].type == "list"}
        number = 0
        while True:
            number += 1
            try:
                cells = next(reader)
            except StopIteration:
                return
            except (UnicodeDecodeError, csv.Error) as exc:
                yield Row(number, None, None, f"line {reader.line_num}: not readable CSV ({exc})")
                continue
            if len(cells) != len(header):
                yield Row(number, None, None, f"line {reader.line_num}: {len(cells)} cells for {len(header)} columns")
                continue
            raw: dict[str, Any] = {}
            patient_id = None
            for column, cell in zip(header, cells, strict=True):
                cell = cell.strip()
                if column == ID_COLUMN:
                    patient_id = cell or None
                elif cell and column in lists:
                    raw[column] = [] if cell.lower() == EMPTY_LIST else \
                        [v.strip() for v in cell.split(LIST_SEPARATOR) if v.strip()]
                elif cell:  # an empty cell is an unknown fact
                    raw[column] = cell
            yield Row(number, patient_id, raw)


def consult_row(kb: KnowledgeBase, row: Row) -> dict[str, Any]:
    """The record of one row: what `consult --format json` prints for it, or the problems that refused it."""
    record: dict[str, Any] = {"row": row.number}
    if row.id is not None:
        record["id"] = row.id
    if row.raw is None:
        return record | {"error": {"kind": "input", "problems": [{"field": None, "message": row.problem}]}}
    try:
        notes: list[str] = []
        reading = read_fhir(load_bindings(kb), row.raw) if is_fhir(row.raw) else None
        facts = normalize(kb, reading.facts if reading else row.raw, notes)
        if not facts and reading is None:
            raise InputError("no known fact: every fact is empty or null", field="patient")
        found = record | consultation_to_dict(kb, consult(kb, facts)) | {"read_as": notes}
        return found | {"fhir": reading_to_dict(reading)} if reading else found
    except InputError as exc:
        return record | {"error": {"kind": "input", "problems": [
            {"field": p.field, "message": str(p)} for p in exc.problems]}}
    except EngineError as exc:
        return record | {"error": {"kind": "engine", "problems": [{"field": None, "message": str(exc)}]}}


_LOADED: dict[str | None, KnowledgeBase] = {}


def consult_partition(kb_dir: str | None, sha256: str, rows: Sequence[Row]) -> list[dict[str, Any]]:
    """A worker's job: the records of some rows, with the knowledge base loaded once per process.

    A worker whose rules differ from the client's (another version installed, an edited
    copy) refuses to advise rather than mix two knowledge bases in one cohort.
    """
    kb = _LOADED.get(kb_dir)
    if kb is None:
        from .loader import load_knowledge_base
        kb = _LOADED[kb_dir] = load_knowledge_base(None if kb_dir is None else Path(kb_dir))
    if kb.sha256 != sha256:
        raise KnowledgeBaseMismatch(
            f"a worker holds knowledge base {kb.name} {kb.version} (sha256 {kb.sha256[:12]}...), the client "
            f"sha256 {sha256[:12]}...: install the same knowledge base on every worker")
    return [consult_row(kb, row) for row in rows]


def csv_line(record: Mapping[str, Any]) -> dict[str, Any]:
    """The CSV summary of one record; lists are joined with `;`."""
    def join(values: Any) -> str:
        return LIST_SEPARATOR.join(str(v) for v in values)

    line: dict[str, Any] = {"row": record["row"], "id": record.get("id", "")}
    error = record.get("error")
    if error is not None:
        messages = " | ".join(p["message"].replace("\n", " ") for p in error["problems"])
        return line | {"error": f"{error['kind']}: {messages}"}
    summary, dose = record["summary"], record["dose"]
    return line | {
        "verdict": summary["verdict"],
        "early_initiation": str(summary["early_initiation"]).lower(),
        "hard_stops": join(summary["hard_stops"]),
        "cautions": join(summary["cautions"]),
        "hard_stops_not_given": join(summary["hard_stops_not_given"]),
        "give_g": "" if dose is None else span(dose["give"]["course_total_g"]),
        "give_days": "" if dose is None else span(dose["give"]["days_per_course"]),
        "regimen": "" if dose is None else dose["give"]["name"],
        "combination": join(summary["combination"]),
        "missing": join(m["fact"] for m in record["missing"]),
        "warnings": join(summary["warnings"]),
        "error": "",
    }


class Tally:
    """The end summary of a cohort: counts only, so it stays small however many patients."""

    def __init__(self) -> None:
        self.patients = 0
        self.verdicts: Counter[str] = Counter({name: 0 for name in VERDICTS})
        self.early_initiation = 0
        self.cautions: Counter[str] = Counter()
        self.hard_stops: Counter[str] = Counter()
        self.errors: Counter[str] = Counter()

    def add(self, record: Mapping[str, Any]) -> None:
        self.patients += 1
        error = record.get("error")
        if error is not None:
            self.errors[error["kind"]] += 1
            return
        summary = record["summary"]
        self.verdicts[summary["verdict"]] += 1
        self.early_initiation += bool(summary["early_initiation"])
        self.cautions.update(summary["cautions"])
        self.hard_stops.update(summary["hard_stops"])

    def add_csv(self, line: Mapping[str, str]) -> None:
        """The same count from a CSV summary line (a resumed CSV output)."""
        def split(cell: str) -> list[str]:
            return [v for v in cell.split(LIST_SEPARATOR) if v]

        if line.get("error"):
            record: dict[str, Any] = {"error": {"kind": line["error"].split(":", 1)[0]}}
        else:
            record = {"summary": {"verdict": line["verdict"], "early_initiation": line["early_initiation"] == "true",
                                  "cautions": split(line["cautions"]), "hard_stops": split(line["hard_stops"])}}
        self.add(record)

    def as_dict(self) -> dict[str, Any]:
        return {"patients": self.patients, "verdicts": dict(self.verdicts),
                "early_initiation": self.early_initiation, "cautions": dict(sorted(self.cautions.items())),
                "hard_stops": dict(sorted(self.hard_stops.items())), "errors": dict(sorted(self.errors.items()))}
