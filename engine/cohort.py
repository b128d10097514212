"""Cohorts: many patients in, one record each out, in input order.

Rows stream in from JSON lines, CSV or a folder of patient files; each becomes
one record, a full consultation or an error, and nothing else about a patient
is kept. The same `consult_partition` runs here or on a Dask worker
(see cluster.py), so where the work ran never changes a byte of the output.
"""
from __future__ import annotations

import csv
import io
import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .advice import span
from .consultation import consult
from .errors import EngineError, InputError, KnowledgeBaseMismatch
from .model import VERDICTS, KnowledgeBase
from .patient import MAX_DIGITS, fact_name, read_input, read_patient
from .serialize import consultation_record

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
    if not source.exists():
        raise InputError(f"{source} does not exist", field="INPUT")
    if not (source.is_file() or source.is_fifo()):
        raise InputError(f"{source} is not a file, a folder or a named pipe", field="INPUT")
    return found


def is_stream(source: Path) -> bool:
    """A named pipe is read once, as it comes: it is not counted beforehand, hashed or resumed."""
    return source.is_fifo()


def read_rows(kb: KnowledgeBase, source: Path, skip: int = 0) -> Iterator[Row]:
    """The input's rows in order, lazily: a file of millions never sits in memory."""
    kind = input_format(source)
    rows = {"folder": _folder_rows, "jsonl": _jsonl_rows, "csv": _csv_rows}[kind](kb, source)
    for row in rows:
        if row.number > skip:
            yield row


def count_rows(source: Path) -> int | None:
    """How many rows the input holds (for the progress bar's ETA); None for a stream."""
    kind = input_format(source)
    if is_stream(source):
        return None
    if kind == "folder":
        return sum(1 for p in source.iterdir() if p.suffix.lower() in PATIENT_FILES)
    with source.open("rb") as stream:  # one patient a line in both formats (see _csv_rows)
        count = sum(1 for line in stream if line.strip())
    return max(count - 1, 0) if kind == "csv" else count


def _folder_rows(_kb: KnowledgeBase, source: Path) -> Iterator[Row]:
    files = sorted(p for p in source.iterdir() if p.suffix.lower() in PATIENT_FILES)
    for number, path in enumerate(files, 1):
        if not path.is_file():  # a named pipe or a device would be waited on for ever
            yield Row(number, path.name, None, f"{path.name} is not a regular file (a named pipe, a device or a "
                                               "folder): not read")
            continue
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
                data = json.loads(line, parse_int=_json_int, object_pairs_hook=_json_object)
            except (UnicodeDecodeError, ValueError, RecursionError) as exc:  # RecursionError: [[[[...
                yield Row(number, None, None, f"line {line_number}: not a JSON object ({_clip(str(exc))})")
                continue
            if not isinstance(data, dict):
                yield Row(number, None, None, f"line {line_number}: a patient is a JSON object of facts")
                continue
            patient_id = data.pop(ID_COLUMN, None)
            yield Row(number, None if patient_id is None else _clip(str(patient_id)), data)


def _json_int(text: str) -> int | str:
    """An integer as JSON writes it; one too long to be a measurement stays text, refused by its fact's name."""
    return text if len(text.lstrip("-")) > MAX_DIGITS else int(text)


def _json_object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object whose keys are each given once (the last of two would silently win)."""
    found: dict[str, Any] = {}
    for key, value in pairs:
        if key in found:
            raise ValueError(f"the key '{_clip(key)}' is given twice")
        found[key] = value
    return found


MAX_LINE = 65_536
"""The longest CSV line read, in bytes: a patient's row is a few hundred; a longer one is an error record."""


def _csv_rows(kb: KnowledgeBase, source: Path) -> Iterator[Row]:
    """One patient a line, each line decoded and parsed on its own: a bad byte or a stray quote costs that
    row alone, at its own line and row number, never the rows after it (a cell cannot span lines)."""
    with source.open("rb") as stream:
        lines = (line.rstrip(b"\r\n") for line in stream)
        header_line = next((line for line in lines if line.strip()), None)
        if header_line is None:
            return  # an empty file: no patients
        header = _csv_header(kb, source, header_line.removeprefix(b"\xef\xbb\xbf"))
        lists = {column for column in header if (spec := kb.facts.get(fact_name(kb, column))) and spec.type == "list"}
        number, line_number = 0, 1
        for line in lines:
            line_number += 1
            if not line.strip():
                continue
            number += 1
            try:
                cells = _csv_cells(line)
            except ValueError as exc:
                yield Row(number, None, None, f"line {line_number}: {exc}")
                continue
            if len(cells) != len(header):
                yield Row(number, None, None, f"line {line_number}: {len(cells)} cells for {len(header)} columns")
                continue
            raw: dict[str, Any] = {}
            patient_id = None
            for column, cell in zip(header, cells, strict=True):
                cell = cell.strip()
                if column == ID_COLUMN:
                    patient_id = _clip(cell) or None
                elif cell and column in lists:
                    raw[column] = [] if cell.lower() == EMPTY_LIST else \
                        [v.strip() for v in cell.split(LIST_SEPARATOR) if v.strip()]
                elif cell:  # an empty cell is an unknown fact
                    raw[column] = cell
            yield Row(number, patient_id, raw)


def _csv_cells(line: bytes) -> list[str]:
    """The cells of one CSV line, or ValueError saying what is wrong with it and where."""
    if len(line) > MAX_LINE:
        raise ValueError(f"longer than {MAX_LINE:,} bytes")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"byte 0x{line[exc.start]:02x} at column {exc.start + 1} is not UTF-8 text") from None
    try:
        return next(csv.reader([text], strict=True))
    except csv.Error as exc:
        quote = text.find('"')
        where = f" (a quote at column {quote + 1} is not closed on this line)" if quote >= 0 else ""
        raise ValueError(f"not readable CSV: {exc}{where}") from None
    except StopIteration:
        return []


def _csv_header(kb: KnowledgeBase, source: Path, line: bytes) -> list[str]:
    """The header's column names, or InputError: a header that cannot be read leaves no row readable."""
    try:
        header = [name.strip() for name in _csv_cells(line)]
    except ValueError as exc:
        raise InputError(f"{source}: the header (line 1) is not readable: {exc}", field="INPUT") from None
    if not header:
        raise InputError(f"{source}: no header line of fact names", field="INPUT")
    seen: dict[str, str] = {}
    for column in header:
        name = column if column == ID_COLUMN else fact_name(kb, column)
        if name in seen:
            raise InputError(f"{source}: the columns '{seen[name]}' and '{column}' both give '{name}'; "
                             "give each fact once", field=column)
        seen[name] = column
    return header


def _clip(text: str, limit: int = 200) -> str:
    text = text.encode("utf-8", "backslashreplace").decode("utf-8")  # no lone surrogate reaches an output
    return text if len(text) <= limit else text[:limit] + "..."


def consult_row(kb: KnowledgeBase, row: Row) -> dict[str, Any]:
    """The record of one row: what `consult --format json` prints for it, or the problems that refused it."""
    record: dict[str, Any] = {"row": row.number}
    if row.id is not None:
        record["id"] = row.id
    if row.raw is None:
        return record | {"error": {"kind": "input", "problems": [{"field": None, "message": row.problem}]}}
    try:
        given = read_input(kb, row.raw, name="the row")
        return record | consultation_record(kb, consult(kb, given.facts), read_as=given.read_as, fhir=given.fhir)
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


@dataclass(frozen=True)
class Finished:
    """A record as the output holds it, with what the end summary counts of it: what a worker sends back
    (a few hundred bytes, where the record as Python objects is tens of kilobytes to pickle)."""

    line: bytes
    counted: Mapping[str, Any]


def finish(record: Mapping[str, Any], fmt: str) -> Finished:
    """The record's output line (a JSON line, or a CSV summary line) and its part of the Tally."""
    error = record.get("error")
    counted = {"error": {"kind": error["kind"]}} if error is not None else {"summary": {
        key: record["summary"][key] for key in ("verdict", "early_initiation", "cautions", "hard_stops")}}
    return Finished(encode_record(record, fmt), counted)


def finished_partition(kb_dir: str | None, sha256: str, rows: Sequence[Row], fmt: str) -> list[Finished]:
    """consult_partition's records, finished on the worker: the client only writes them."""
    return [finish(record, fmt) for record in consult_partition(kb_dir, sha256, rows)]


def encode_record(record: Mapping[str, Any], fmt: str) -> bytes:
    if fmt == "csv":
        return encode_csv(csv_line(record))
    return (json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def encode_csv(line: Mapping[str, Any]) -> bytes:
    text = io.StringIO()
    csv.DictWriter(text, CSV_COLUMNS, lineterminator="\n").writerow(line)
    return text.getvalue().encode("utf-8")


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
