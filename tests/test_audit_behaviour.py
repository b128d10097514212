"""The audit log exactly: the record's fields, whole-line appends and torn-tail repair, and replay's judgements."""
from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from myoivig.engine import KnowledgeBase, audit, consult, normalize
from myoivig.engine.audit import Replayed, append_record, audit_record, cut_unfinished_line, read_log, replay
from myoivig.engine.errors import InputError

EARLY = {"diagnosis": "IMNM", "autoantibodies": ["anti_hmgcr"], "severity": "moderate", "dysphagia": True,
         "months_since_diagnosis": 3, "sex": "female", "height_cm": 165, "weight_kg": 72, "age_years": 52}
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=timezone.utc)


@pytest.fixture
def record(kb: KnowledgeBase) -> dict[str, Any]:
    return audit_record(kb, consult(kb, normalize(kb, EARLY)), "1.2.3", "consult x.yaml", WHEN)


def test_a_record_holds_who_advised_what_on_which_facts_with_which_rules(kb: KnowledgeBase,
                                                                        record: dict[str, Any]) -> None:
    """README: audit log. Time to the second, the program and command, the rules' checksum, the advice."""
    assert {key: value for key, value in record.items() if key != "conclusions"} == {
        "format": 2, "time": "2026-01-02T03:04:05+00:00",
        "program": {"name": "myoivig", "version": "1.2.3", "command": "consult x.yaml"},
        "knowledge_base": {"name": kb.name, "version": kb.version, "sha256": kb.sha256},
        "patient": {"age_years": 52, "autoantibodies": ["anti_hmgcr"], "diagnosis": "necrotizing_myopathy",
                    "dysphagia": True, "height_cm": 165, "months_since_diagnosis": 3, "severity": "moderate",
                    "sex": "female", "weight_kg": 72},
        "verdict": "indicated",
        "dose": {"dosing_weight_kg": 56.9, "course_total_g": [57.0, 114.0], "per_day_g": [28.0, 57.0],
                 "preferred": "standard", "give": "57-114 g over 2 days (28-57 g/day)"},
        "cross_checked": True}
    advised = consult(kb, normalize(kb, EARLY))
    assert record["conclusions"] == sorted(c.id for c in advised.conclusions)
    assert list(record["patient"]) == sorted(record["patient"])


def test_a_record_without_a_dose_and_the_time_now(kb: KnowledgeBase) -> None:
    child = audit_record(kb, consult(kb, normalize(kb, {"diagnosis": "DM", "age_years": 12})), "v", "c")
    assert child["dose"] is None and child["verdict"] == "out_of_scope"
    stamp = datetime.fromisoformat(child["time"])
    assert stamp.tzinfo is not None and stamp.microsecond == 0
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60


# ---------------------------------------------------------------- appending
def test_a_record_is_one_compact_utf8_line(tmp_path: Path, record: dict[str, Any]) -> None:
    """One line each, no spaces, non-ASCII written as itself; appended after what is there."""
    log = tmp_path / "audit.jsonl"
    append_record(log, {"a": "é", "b": [1, 2]})
    append_record(log, {"c": None})
    first = '{"a":"é","b":[1,2],"prev":"' + "0" * 64 + '"}'
    second = '{"c":null,"prev":"' + hashlib.sha256(first.encode()).hexdigest() + '"}'
    assert log.read_bytes() == f"{first}\n{second}\n".encode()


def test_a_new_log_is_readable_by_all_and_writable_by_its_owner(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        append_record(tmp_path / "audit.jsonl", {})
    finally:
        os.umask(previous)
    assert (tmp_path / "audit.jsonl").stat().st_mode & 0o777 == 0o644


def test_a_log_in_a_missing_folder_cannot_be_opened(tmp_path: Path) -> None:
    path = tmp_path / "no" / "audit.jsonl"
    with pytest.raises(InputError) as caught:
        append_record(path, {})
    assert str(caught.value) == f"cannot open the audit log {path}: No such file or directory"
    assert caught.value.field == "audit log"


def test_a_short_write_is_an_error_saying_how_much_was_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A write the kernel stopped part-way must not pass for a whole record."""
    real = os.write
    monkeypatch.setattr(audit.os, "write", lambda handle, data: real(handle, data[:3]))
    path = tmp_path / "audit.jsonl"
    with pytest.raises(InputError) as caught:
        append_record(path, {"key": "value"})
    whole = len('{"key":"value","prev":""}\n') + 64  # the record, chained to no line before it
    assert str(caught.value) == f"cannot write the audit log {path}: only 3 of {whole} bytes written"


def test_a_whole_write_of_a_long_record_passes(tmp_path: Path, record: dict[str, Any]) -> None:
    """A record of several hundred bytes written whole is not an error (compares the count by value)."""
    path = tmp_path / "audit.jsonl"
    append_record(path, record)
    assert json.loads(path.read_text()) == {**record, "prev": "0" * 64} and len(path.read_bytes()) > 300


@pytest.mark.parametrize(("before", "after"), [
    (b"", b""),
    (b"a\n", b"a\n"),
    (b"a\nb", b"a\n"),
    (b"torn", b""),
    (b"x\n" + b"y" * 65536, b"x\n"),      # the fragment fills one read exactly; the newline is in the next
    (b"x\n" + b"y" * 65534, b"x\n"),      # the newline is the last byte of the first read
    (b"\n" + b"y" * 65535, b"\n"),        # the newline is the first byte of the first read
    (b"y" * 65536 * 2, b""),
    (b"\n" + b"y" * 65536, b"\n"),        # the only newline is the file's first byte, in the second read
    (b"a\n" * 40000, b"a\n" * 40000),     # a whole log longer than one read is kept whole
])
def test_cut_unfinished_line_keeps_exactly_the_whole_lines(tmp_path: Path, deadline: None, before: bytes,
                                                            after: bytes) -> None:
    path = tmp_path / "log"
    path.write_bytes(before)
    handle = os.open(path, os.O_RDWR)
    try:
        cut_unfinished_line(handle)
    finally:
        os.close(handle)
    assert path.read_bytes() == after


# ---------------------------------------------------------------- reading back and replaying
@pytest.mark.parametrize(("text", "lines"), [
    ("", []), ("a\n", ["a"]), ("a\nb\n", ["a", "b"]), ("a\nb", ["a"]), ("a", []),
])
def test_read_log_leaves_out_an_unfinished_last_line(tmp_path: Path, text: str, lines: list[str]) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_text(text)
    assert list(read_log(path)) == lines


def test_read_log_replaces_bytes_that_are_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "audit.jsonl"
    path.write_bytes(b"\xffa\n")
    assert list(read_log(path)) == ["\ufffda"]


def _replay(kb: KnowledgeBase, *lines: str) -> list[Replayed]:
    return list(replay(kb, iter(lines)))


def test_unreadable_lines_say_why_and_keep_their_line_numbers(kb: KnowledgeBase) -> None:
    """Blank lines are skipped but counted, so line numbers are the file's."""
    found = _replay(kb, "nope", "", "[]", "{}", '{"knowledge_base": {"name": "k", "version": "1", "sha256": 5}}',
                    '{"knowledge_base": {"name": "k", "version": "1", "sha256": "abcdef0123456789"}}')
    assert found == [
        Replayed(1, "unreadable", reason="not an audit record (JSONDecodeError: Expecting value: line 1 column 1 "
                                         "(char 0))"),
        Replayed(3, "unreadable", reason="not an audit record (TypeError: list indices must be integers or slices, "
                                         "not str)"),
        Replayed(4, "unreadable", reason="not an audit record (KeyError: 'knowledge_base')"),
        Replayed(5, "unreadable", reason="not an audit record (TypeError: 'int' object is not subscriptable)"),
        Replayed(6, "unreadable", reason="not an audit record (KeyError: 'patient')"),
    ]


def test_an_unreadable_reason_is_clipped_to_200_characters(kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch) -> None:
    """However long the parser's complaint, the reason stays one short line (exactly 200 characters)."""
    def loads(_: str) -> Any:
        raise ValueError("x" * 500)
    # json is replaced only as audit.py sees it: no real line makes a complaint this long
    monkeypatch.setattr(audit, "json", type("J", (), {"loads": staticmethod(loads)}))
    [found] = _replay(kb, "anything")
    assert found.reason == ("not an audit record (ValueError: " + "x" * 500)[:200]
    assert len(found.reason) == 200


def test_a_patient_the_vocabulary_no_longer_fits_is_unreadable_with_the_reason(kb: KnowledgeBase,
                                                                              record: dict[str, Any]) -> None:
    """The knowledge base it was recorded with is still named; the complaint is clipped to 300 characters."""
    [short] = _replay(kb, json.dumps({**record, "patient": {"sex": "x"}}))
    assert short == Replayed(1, "unreadable", f"{kb.name} {kb.version} ({kb.sha256[:12]})",
                             reason="the patient no longer fits the vocabulary: fact 'sex': 'x' is not allowed; "
                                    "allowed: female, male")
    [long] = _replay(kb, json.dumps({**record, "patient": {f"unknown_fact_{i}": i for i in range(12)}}))
    assert long.reason is not None and len(long.reason) == 300


def test_a_record_replayed_against_its_own_rules_is_unchanged(kb: KnowledgeBase, record: dict[str, Any]) -> None:
    [found] = _replay(kb, json.dumps(record))
    assert found == Replayed(1, "unchanged", f"{kb.name} {kb.version} ({kb.sha256[:12]})")


def test_a_changed_dose_is_reported_then_and_now(kb: KnowledgeBase, record: dict[str, Any]) -> None:
    then = dict(record["dose"], dosing_weight_kg=60.0)
    [found] = _replay(kb, json.dumps({**record, "dose": then}))
    assert (found.status, found.verdict, found.gained, found.lost) == ("changed", None, (), ())
    assert found.dose == (then, record["dose"])
    [none_then] = _replay(kb, json.dumps({**record, "dose": None}))
    assert none_then.dose == (None, record["dose"])


def test_gained_and_lost_conclusions_are_sorted(kb: KnowledgeBase, record: dict[str, Any]) -> None:
    conclusions = [c for c in record["conclusions"] if c not in ("side_effects.common", "monitoring.core_set_measures")]
    [found] = _replay(kb, json.dumps({**record, "conclusions": [*conclusions, "z.old", "a.old"]}))
    assert found.gained == ("monitoring.core_set_measures", "side_effects.common")
    assert found.lost == ("a.old", "z.old")
    assert (found.verdict, found.dose) == (None, None)


def test_a_deeply_nested_line_is_unreadable_not_a_crash(kb: KnowledgeBase) -> None:
    """json.loads raises RecursionError on [[[[...; it stopped the whole replay with a traceback."""
    [found] = _replay(kb, "[" * 100_000)
    assert found.status == "unreadable"
    assert found.reason is not None and found.reason.startswith(
        "not an audit record (RecursionError: maximum recursion depth exceeded")


def _lines(*items: str) -> Iterator[str]:
    yield from items


def test_replay_reads_lines_lazily_from_any_iterator(kb: KnowledgeBase, record: dict[str, Any]) -> None:
    assert [r.status for r in replay(kb, _lines(json.dumps(record), "x"))] == ["unchanged", "unreadable"]


@pytest.mark.parametrize("then", ["not_indicated", "contraindicated", "may_be_considered", "undetermined"])
def test_a_changed_verdict_is_reported_whichever_way_it_sorts(kb: KnowledgeBase, record: dict[str, Any],
                                                              then: str) -> None:
    """A verdict recorded as 'not_indicated' (which sorts after today's 'indicated') changed all the same."""
    [found] = _replay(kb, json.dumps({**record, "verdict": then}))
    assert (found.status, found.verdict) == ("changed", (then, "indicated"))
