"""The audit trail: one JSON line per consultation, and replaying past lines against today's rules.

A clinic keeps what it was advised, with the knowledge base that advised it, and
can show what an update of the knowledge base would have changed for its past
patients (`myoivig replay`).
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .advice import advise, amount
from .consultation import consult
from .errors import InputError
from .model import Consultation, KnowledgeBase
from .patient import normalize

FORMAT = 2
"""The version of the record's layout (README: audit log). 2: each record carries `prev`, the SHA-256 of
the line before it (a hash chain), and with a key `mac`, an HMAC-SHA256 of the line."""
GENESIS = "0" * 64
"""`prev` of a log's first record."""
KEY_VARIABLE = "MYOIVIG_AUDIT_KEY"
"""The environment variable holding the audit key: with it, each record is signed and checked."""


def audit_record(kb: KnowledgeBase, consultation: Consultation, program_version: str, command: str,
                 now: datetime | None = None) -> dict[str, Any]:
    """What one consultation is remembered by: who advised what, on which facts, with which rules."""
    given = advise(kb, consultation).dose
    dose = given.dose if given else None
    return {
        "format": FORMAT,
        "time": (now or datetime.now(timezone.utc)).isoformat(timespec="seconds"),
        "program": {"name": "myoivig", "version": program_version, "command": command},
        "knowledge_base": {"name": kb.name, "version": kb.version, "sha256": kb.sha256},
        "patient": dict(sorted(consultation.patient.items())),
        "verdict": consultation.verdict.value,
        "conclusions": sorted(c.id for c in consultation.conclusions),
        "dose": None if dose is None else {"dosing_weight_kg": dose.dosing_weight_kg,
                                           "course_total_g": list(dose.standard.course_total_g),
                                           "per_day_g": list(dose.standard.per_day_g),
                                           "preferred": dose.preferred.regimen,
                                           "give": amount(given.give) if given else None},
        "cross_checked": True,  # consult() refuses to advise when the evaluators disagree
    }


def cut_unfinished_line(handle: int) -> None:
    """Drop a last line without its newline: a writer killed mid-write left it (callers hold the lock)."""
    end = os.lseek(handle, 0, os.SEEK_END)
    position = end
    while position > 0:
        start = max(0, position - 65536)
        chunk = os.pread(handle, position - start, start)
        if position == end and chunk.endswith(b"\n"):
            return
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            os.ftruncate(handle, start + newline + 1)
            return
        position = start
    if end:
        os.ftruncate(handle, 0)


def append_record(path: Path, record: Mapping[str, Any]) -> None:
    """Append one whole line under an exclusive lock, so concurrent writers never interleave.

    A process killed in the middle of a long write can leave part of a line (the kernel may
    stop a write between pages); the next writer, holding the lock, cuts it off before
    appending, and `replay` ignores an unfinished last line.
    """
    try:
        handle = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as exc:
        raise InputError(f"cannot open the audit log {path}: {exc.strerror or exc}", field="audit log") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        cut_unfinished_line(handle)
        line = chained_line(record, _last_line(handle), audit_key()) + b"\n"
        written = os.write(handle, line)
        if written != len(line):
            raise OSError(0, f"only {written} of {len(line)} bytes written")
    except OSError as exc:
        raise InputError(f"cannot write the audit log {path}: {exc.strerror or exc}", field="audit log") from None
    finally:
        os.close(handle)  # closing releases the lock


def audit_key() -> bytes | None:
    """The audit key from the environment, if the site set one."""
    key = os.environ.get(KEY_VARIABLE)
    return key.encode("utf-8") if key else None


def chained_line(record: Mapping[str, Any], previous: bytes | None, key: bytes | None) -> bytes:
    """The record as one line, chained to the line before it (`prev`) and, with a key, signed (`mac`)."""
    body = {key_: value for key_, value in record.items() if key_ not in ("prev", "mac")}
    body["prev"] = hashlib.sha256(previous).hexdigest() if previous is not None else GENESIS
    line = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if key is None:
        return line
    mac = hmac.new(key, line, hashlib.sha256).hexdigest()
    return line[:-1] + f',"mac":"{mac}"}}'.encode()


def _last_line(handle: int) -> bytes | None:
    """The last whole line of the file (callers hold the lock, and cut an unfinished line first)."""
    end = os.lseek(handle, 0, os.SEEK_END)
    if end == 0:
        return None
    position, tail = end, b""
    while position > 0:
        start = max(0, position - 65536)
        tail = os.pread(handle, position - start, start) + tail
        newline = tail.rfind(b"\n", 0, len(tail) - 1)
        if newline >= 0:
            return tail[newline + 1:-1]
        position = start
    return tail[:-1]


@dataclass(frozen=True)
class ChainCheck:
    """What `audit verify` found: the records, where the chain broke, and the last line's hash."""

    records: int
    unchained: int  # records written before the chain began (format 1): not protected
    breaks: tuple[tuple[int, str], ...]  # (line, why)
    head: str  # SHA-256 of the last line: kept elsewhere, it protects the last record too
    signed: bool  # a key was given, and every chained record's MAC was checked
    unsigned: int = 0  # chained records written before the first signed one (before the site set its key)

    @property
    def intact(self) -> bool:
        return not self.breaks


def check_chain(lines: Iterable[tuple[int, bytes]], key: bytes | None = None) -> ChainCheck:
    """Walk the log: each chained record must name the line before it; with a key, each must carry its MAC.
    A line removed, inserted, reordered or edited breaks the chain at the next record (or at its MAC)."""
    previous: bytes | None = None
    records = unchained = unsigned = 0
    breaks: list[tuple[int, str]] = []
    chained = signing = False
    for number, raw in lines:
        records += 1
        try:
            record = json.loads(raw)
            if not isinstance(record, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):
            breaks.append((number, "not an audit record"))
            previous = raw
            continue
        if "prev" not in record:
            if chained:
                breaks.append((number, "a record without `prev` after the chain began (inserted?)"))
            else:
                unchained += 1
            previous = raw
            continue
        chained = True
        expected = hashlib.sha256(previous).hexdigest() if previous is not None else GENESIS
        if record["prev"] != expected:
            breaks.append((number, "`prev` does not match the line before it (a line removed, inserted, "
                                   "moved or edited)"))
        mac = record.get("mac")
        if key is not None and mac is None and not signing:
            unsigned += 1  # written before the site set its key
        elif key is not None:
            signing = True
            bare = raw.replace(f',"mac":"{mac}"'.encode(), b"") if isinstance(mac, str) else raw
            expected_mac = hmac.new(key, bare, hashlib.sha256).hexdigest()
            if not isinstance(mac, str) or not hmac.compare_digest(mac, expected_mac):
                breaks.append((number, "its MAC does not match (edited, unsigned after signing began, or written "
                                       "with another key)"))
        previous = raw
    head = hashlib.sha256(previous).hexdigest() if previous is not None else GENESIS
    return ChainCheck(records, unchained, tuple(breaks), head, key is not None, unsigned)


def log_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """The log's whole lines, numbered from 1, one at a time (a log of any size); an unfinished last line
    (its writer was killed) is not a record."""
    try:
        with path.open("rb") as handle:
            for number, raw in enumerate(handle, 1):
                if raw.endswith(b"\n"):
                    yield number, raw[:-1]
    except OSError as exc:
        raise InputError(f"cannot read the audit log {path}: {exc.strerror or exc}", field="audit log") from None


@dataclass(frozen=True)
class Replayed:
    """One past record judged against today's knowledge base."""

    line: int
    status: str  # unchanged | changed | unreadable
    recorded_with: str | None = None  # "name version (sha256 prefix)"
    verdict: tuple[str, str] | None = None  # (then, now) when it changed
    gained: tuple[str, ...] = ()  # conclusion (rule) ids
    lost: tuple[str, ...] = ()
    dose: tuple[Any, Any] | None = None  # (then, now) when it changed
    reason: str | None = None  # why a record is unreadable


def replay(kb: KnowledgeBase, lines: Iterator[str]) -> Iterator[Replayed]:
    """Each record of an audit log, consulted again with `kb` and compared with what was advised."""
    for number, text in enumerate(lines, 1):
        if not text.strip():
            continue
        try:
            record = json.loads(text)
            then_kb = record["knowledge_base"]
            recorded_with = f"{then_kb['name']} {then_kb['version']} ({then_kb['sha256'][:12]})"
            patient, verdict, conclusions = record["patient"], record["verdict"], record["conclusions"]
        except (ValueError, KeyError, TypeError, RecursionError) as exc:  # RecursionError: [[[[... nested too deep
            yield Replayed(number, "unreadable", reason=f"not an audit record ({type(exc).__name__}: {exc})"[:200])
            continue
        try:
            now = consult(kb, normalize(kb, patient))
        except InputError as exc:
            yield Replayed(number, "unreadable", recorded_with,
                           reason=f"the patient no longer fits the vocabulary: {exc}"[:300])
            continue
        now_ids = {c.id for c in now.conclusions}
        now_dose, then_dose = audit_record(kb, now, "", "")["dose"], record.get("dose")
        changes = {
            "verdict": (verdict, now.verdict.value) if verdict != now.verdict.value else None,
            "gained": tuple(sorted(now_ids - set(conclusions))),
            "lost": tuple(sorted(set(conclusions) - now_ids)),
            "dose": (then_dose, now_dose) if then_dose != _as_recorded(now_dose, then_dose) else None,
        }
        changed = any(changes.values())
        yield Replayed(number, "changed" if changed else "unchanged", recorded_with, **changes)  # type: ignore[arg-type]


def _as_recorded(now: Any, then: Any) -> Any:
    """Today's dose with only the fields the record kept: a record written before `give` existed
    is compared on what it has, not called changed for a field it never had."""
    if isinstance(now, dict) and isinstance(then, dict):
        return {key: value for key, value in now.items() if key in then}
    return now


def read_log(path: Path) -> Iterator[str]:
    """The log's whole lines as text, one at a time; bytes that are not UTF-8 are replaced."""
    return (raw.decode("utf-8", errors="replace") for _, raw in log_lines(path))
