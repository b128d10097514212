"""The audit trail: whole lines under concurrency and kills, and replay against today's rules.

The audit log exactly: the record's fields, whole-line appends and torn-tail repair, and replay's judgements.

The audit log's exact layout, its torn-line repair at every size, and replay's exact verdicts.
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase, audit, consult, load_knowledge_base, normalize
from myoivig.engine.audit import (
    Replayed,
    append_record,
    audit_record,
    check_chain,
    cut_unfinished_line,
    log_lines,
    read_log,
    replay,
)
from myoivig.engine.errors import InputError

from .builders import edit
from .conftest import KB_DIR

EARLY = str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml")
ELDERLY = str(KB_DIR / "cases" / "pm_elderly_renal_thrombotic_iga.yaml")
WRITER = """
import sys
from myoivig.engine import load_knowledge_base, consult, normalize
from myoivig.engine.audit import append_record, audit_record
kb = load_knowledge_base()
facts = normalize(kb, {"diagnosis": "PM", "severity": "severe", "age_years": 50, "current_therapies": ["rituximab"] * 1})
record = audit_record(kb, consult(kb, facts), "test", "consult")
record["padding"] = "x" * int(sys.argv[2])  # long lines make a torn write likelier, were writes not whole
print("ready", flush=True)
for index in range(int(sys.argv[1])):
    record["index"] = index
    append_record(__import__("pathlib").Path(sys.argv[3]), record)
"""


@pytest.mark.slow
def test_consult_appends_one_line_per_consultation(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for patient in (EARLY, ELDERLY):
        assert CliRunner().invoke(cli, ["consult", patient, "--audit-log", str(log)]).exit_code == 0
    assert CliRunner().invoke(cli, ["explain", EARLY, "indication_met", "--audit-log", str(log)]).exit_code == 0
    records = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["program"]["command"] for r in records] == ["consult", "consult", "explain"]
    first = records[0]
    assert set(first) == {"format", "time", "program", "knowledge_base", "patient", "verdict", "conclusions",
                          "dose", "cross_checked", "prev"}
    assert first["time"].endswith("+00:00") and len(first["knowledge_base"]["sha256"]) == 64
    assert first["verdict"] == "indicated" and first["patient"]["diagnosis"] == "necrotizing_myopathy"
    assert first["dose"] == {"dosing_weight_kg": 56.9, "course_total_g": [57.0, 114.0], "per_day_g": [28.0, 57.0],
                             "preferred": "cautious", "give": "57 g over 2 days (28 g/day)"}
    assert records[1]["dose"]["preferred"] == "cautious" and records[1]["cross_checked"] is True


@pytest.mark.slow
def test_an_unwritable_audit_log_is_exit_2_and_no_advice(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["consult", EARLY, "--audit-log", str(tmp_path / "missing" / "a.jsonl")])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "cannot open the audit log" in result.stderr


@pytest.mark.slow
def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, "40", "70000", str(log)], stdout=subprocess.DEVNULL)
               for _ in range(4)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    lines = log.read_text().splitlines()
    assert len(lines) == 160
    assert sorted(json.loads(line)["index"] for line in lines) == sorted(list(range(40)) * 4)
    assert check_chain(log_lines(log)).intact  # each writer chained to the line before its own, under the lock


@pytest.mark.slow
def test_killed_writers_leave_only_whole_lines(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for delay in (0.02, 0.05, 0.08):  # killed mid-stream, a few MB into it
        writer = subprocess.Popen([sys.executable, "-c", WRITER, "100000", "20000", str(log)],
                                  stdout=subprocess.PIPE, text=True)
        assert writer.stdout is not None and writer.stdout.readline() == "ready\n"
        time.sleep(delay)
        os.kill(writer.pid, signal.SIGKILL)
        writer.wait()
    lines = list(read_log(log))  # what replay reads: whole lines only
    assert 0 < len(lines) < 3 * 100000  # the writers were killed mid-stream
    assert all(json.loads(line)["verdict"] == "indicated" for line in lines)
    subprocess.run([sys.executable, "-c", WRITER, "1", "10", str(log)], check=True, capture_output=True)  # the next
    text = log.read_text()
    assert text.endswith("\n") and all(json.loads(line)["verdict"] == "indicated" for line in text.splitlines())
    assert json.loads(text.splitlines()[-1])["padding"] == "x" * 10
    assert check_chain(log_lines(log)).intact  # the cut tail was never a link; the next writer chained to what stayed


@pytest.mark.slow
def test_replay_reports_unchanged_changed_and_unreadable(tmp_path: Path, kb_copy: Path) -> None:
    log = tmp_path / "audit.jsonl"
    for patient in (EARLY, ELDERLY):
        CliRunner().invoke(cli, ["consult", patient, "--audit-log", str(log)])
    with log.open("a") as stream:
        stream.write("not json\n")
        stream.write(json.dumps({"knowledge_base": {"name": "k", "version": "0", "sha256": "0" * 64},
                                 "patient": {"diagnosis": "sarcoid"}, "verdict": "indicated", "conclusions": []}) + "\n")
    same = CliRunner().invoke(cli, ["replay", str(log)])
    assert same.exit_code == 1  # two records cannot be read
    shipped = load_knowledge_base(None)
    summary = next(line for line in same.output.splitlines() if " records against " in line)
    assert summary.endswith(f"4 records against {shipped.name} {shipped.version} "
                                                 f"({shipped.sha256[:12]}): "
                                                 "2 unchanged, 0 changed, 2 unreadable")
    assert "line 4: unreadable" in same.output and "the patient no longer fits the vocabulary" in same.output
    edit(kb_copy / "rules" / "cautions.yaml", "age_years: {gt: 65}", "age_years: {gt: 80}")
    changed = CliRunner().invoke(cli, ["replay", str(log), "--kb", str(kb_copy), "--format", "json"])
    assert changed.exit_code == 1
    data = json.loads(changed.stdout)
    assert data["counts"] == {"unchanged": 1, "changed": 1, "unreadable": 2}
    elderly = data["records"][1]
    assert elderly["status"] == "changed" and elderly["lost"] == ["caution.renal_risk_age"]
    assert elderly["gained"] == [] and elderly["verdict"] is None


@pytest.mark.slow
def test_replay_of_a_clean_log_exits_0(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    CliRunner().invoke(cli, ["consult", EARLY, "--audit-log", str(log)])
    result = CliRunner().invoke(cli, ["replay", str(log)])
    assert result.exit_code == 0 and "line 1: unchanged" in result.output


@pytest.mark.slow
def test_an_unfinished_last_line_is_ignored_then_cut(tmp_path: Path) -> None:
    """What a writer killed inside a long write() leaves (seen with 200 KB lines): part of a line."""
    log = tmp_path / "audit.jsonl"
    CliRunner().invoke(cli, ["consult", EARLY, "--audit-log", str(log)])
    whole = log.read_text()
    log.write_text(whole + whole[: len(whole) // 2])  # a torn second record, no newline
    assert list(read_log(log)) == [whole.rstrip("\n")]
    assert CliRunner().invoke(cli, ["replay", str(log)]).output.startswith("line 1: unchanged")
    CliRunner().invoke(cli, ["consult", ELDERLY, "--audit-log", str(log)])
    lines = log.read_text().splitlines()
    assert len(lines) == 2 and lines[0] == whole.rstrip("\n")
    assert json.loads(lines[1])["patient"]["age_years"] == 74


# ---------------------------------------------------------------- the hash chain (#23)
def _log_of_three(tmp_path: Path) -> Path:
    log = tmp_path / "audit.jsonl"
    for patient in (EARLY, ELDERLY, EARLY):
        assert CliRunner().invoke(cli, ["consult", patient, "--audit-log", str(log)]).exit_code == 0
    return log


def _tamper(log: Path, how: str) -> None:
    lines = log.read_text().splitlines(keepends=True)
    if how == "delete":
        del lines[1]
    elif how == "swap":
        lines[0], lines[1] = lines[1], lines[0]
    elif how == "edit":
        lines[1] = lines[1].replace('"cross_checked":true', '"cross_checked":false')
    elif how == "edit-kb":
        record = json.loads(lines[0])
        record["knowledge_base"]["version"] = "9.9.9"
        lines[0] = json.dumps(record, ensure_ascii=False, separators=(",", ":")) + "\n"
    elif how == "insert":
        lines.insert(1, lines[1])
    log.write_text("".join(lines))


@pytest.mark.slow
@pytest.mark.parametrize("how", ["delete", "swap", "edit", "edit-kb", "insert"])
def test_a_removed_moved_edited_or_inserted_line_breaks_the_chain(tmp_path: Path, how: str) -> None:
    """`audit verify` and `replay` both fail (exit 1) and name the line where the chain broke."""
    log = _log_of_three(tmp_path)
    assert CliRunner().invoke(cli, ["audit", "verify", str(log)]).exit_code == 0
    _tamper(log, how)
    verify = CliRunner().invoke(cli, ["audit", "verify", str(log), "--format", "json"])
    assert verify.exit_code == 1
    found = json.loads(verify.stdout)
    assert found["intact"] is False and found["breaks"]
    replayed = CliRunner().invoke(cli, ["replay", str(log)])
    assert replayed.exit_code == 1 and "chain: BROKEN" in replayed.output


@pytest.mark.slow
def test_with_a_key_the_last_line_is_protected_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without a key an edit of the last line only changes the head; with MYOIVIG_AUDIT_KEY its MAC fails."""
    monkeypatch.setenv("MYOIVIG_AUDIT_KEY", "site secret")
    log = _log_of_three(tmp_path)
    assert all("mac" in json.loads(line) for line in log.read_text().splitlines())
    assert CliRunner().invoke(cli, ["audit", "verify", str(log)]).exit_code == 0
    lines = log.read_text().splitlines(keepends=True)
    lines[-1] = lines[-1].replace('"verdict":"indicated"', '"verdict":"not_indicated"')
    log.write_text("".join(lines))
    result = CliRunner().invoke(cli, ["audit", "verify", str(log)])
    assert result.exit_code == 1 and "line 3: its MAC does not match" in result.output
    monkeypatch.setenv("MYOIVIG_AUDIT_KEY", "another key")
    assert CliRunner().invoke(cli, ["audit", "verify", str(log)]).exit_code == 1


@pytest.mark.slow
def test_a_head_kept_elsewhere_catches_a_cut_end(tmp_path: Path) -> None:
    """The head printed by verify, kept outside the log, must still be a line of it later."""
    log = _log_of_three(tmp_path)
    head = json.loads(CliRunner().invoke(cli, ["audit", "verify", str(log), "--format", "json"]).stdout)["head"]
    CliRunner().invoke(cli, ["consult", EARLY, "--audit-log", str(log)])
    assert CliRunner().invoke(cli, ["audit", "verify", str(log), "--head", head]).exit_code == 0
    log.write_text("".join(log.read_text().splitlines(keepends=True)[:2]))  # the last two records cut away
    result = CliRunner().invoke(cli, ["audit", "verify", str(log), "--head", head])
    assert result.exit_code == 1 and "is no longer a line of the log" in result.output
    garbage = CliRunner().invoke(cli, ["audit", "verify", str(log), "--head", "garbage"])
    assert garbage.exit_code == 2 and "Invalid value for --head" in garbage.output  # a usage error, not tampering


@pytest.mark.slow
def test_records_written_before_the_chain_are_counted_not_broken(tmp_path: Path) -> None:
    """A log begun by an older myoivig (format 1, no `prev`) keeps working: its old records are named
    unprotected; a record without `prev` after the chain began breaks it."""
    log = tmp_path / "audit.jsonl"
    old = {"format": 1, "knowledge_base": {"name": "k", "version": "1", "sha256": "0" * 64}}
    log.write_text(json.dumps(old) + "\n")
    CliRunner().invoke(cli, ["consult", EARLY, "--audit-log", str(log)])
    found = json.loads(CliRunner().invoke(cli, ["audit", "verify", str(log), "--format", "json"]).stdout)
    assert (found["intact"], found["unchained"], found["records"]) == (True, 1, 2)
    with log.open("a") as stream:
        stream.write(json.dumps(old) + "\n")
    assert CliRunner().invoke(cli, ["audit", "verify", str(log)]).exit_code == 1


# ---------------------------------------------------------------- The audit log exactly: the record's fields, whole-line appen
EARLY_FACTS = {"diagnosis": "IMNM", "autoantibodies": ["anti_hmgcr"], "severity": "moderate", "dysphagia": True,
         "months_since_diagnosis": 3, "sex": "female", "height_cm": 165, "weight_kg": 72, "age_years": 52}
WHEN = datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=timezone.utc)


@pytest.fixture
def record(kb: KnowledgeBase) -> dict[str, Any]:
    return audit_record(kb, consult(kb, normalize(kb, EARLY_FACTS)), "1.2.3", "consult x.yaml", WHEN)


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
    advised = consult(kb, normalize(kb, EARLY_FACTS))
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


# ---------------------------------------------------------------- The audit log's exact layout, its torn-line repair at every
EARLY_PATIENT = {"diagnosis": "IMNM", "autoantibodies": ["anti_hmgcr"], "severity": "moderate", "dysphagia": True,
         "months_since_diagnosis": 3, "sex": "female", "height_cm": 165, "weight_kg": 72, "age_years": 52}


@pytest.fixture
def early_record(kb: KnowledgeBase) -> dict:
    return audit_record(kb, consult(kb, normalize(kb, EARLY_PATIENT)), "test", "consult")


def test_a_record_says_it_is_format_2(early_record: dict) -> None:
    """README: audit log documents `format` (2: chained); a reader keys its parsing on it."""
    assert early_record["format"] == 2


@pytest.mark.parametrize(("before", "kept"), [
    ("\n", "\n"),                                  # an empty first line is whole: kept
    ("torn", ""),                                  # no newline at all: all of it is torn
    ('{"a":1}\n' + "x" * 100_000, '{"a":1}\n'),   # a torn line longer than one 64 KiB read
    ('{"a":1}\n' + "x" * 70_000, '{"a":1}\n'),    # a torn line just over one read
])
def test_the_next_writer_cuts_exactly_the_torn_tail(tmp_path: Path, early_record: dict, deadline: None,
                                                     before: str, kept: str) -> None:
    """Whatever size a killed writer's fragment, the whole lines before it stay and only it goes."""
    log = tmp_path / "audit.jsonl"
    log.write_text(before)
    append_record(log, early_record)
    text = log.read_text()
    written = json.loads(text[len(kept):])
    assert text.startswith(kept) and {k: v for k, v in written.items() if k != "prev"} == early_record


def test_a_full_disk_is_an_input_error_naming_the_log(early_record: dict) -> None:
    """A write that fails says so (exit 2), rather than crashing or losing the record silently."""
    with pytest.raises(InputError) as caught:
        append_record(Path("/dev/full"), early_record)
    assert str(caught.value) == "cannot write the audit log /dev/full: No space left on device"


def test_an_unreadable_log_names_the_reason_in_words(tmp_path: Path) -> None:
    """The OS's words (strerror), not Python's repr of the exception."""
    missing = tmp_path / "none.jsonl"
    with pytest.raises(InputError) as caught:
        list(read_log(missing))
    assert str(caught.value) == f"cannot read the audit log {missing}: No such file or directory"


def test_replay_reports_the_verdict_then_and_now_and_the_conclusions_gained(kb: KnowledgeBase, early_record: dict) -> None:
    """A changed verdict is reported as (then, now) whichever way it went; gained is not also lost."""
    early_record["verdict"], early_record["conclusions"] = "contraindicated", ["dosing.standard_regimen", "no.such_rule"]
    [result] = replay(kb, iter([json.dumps(early_record)]))
    assert result.status == "changed"
    assert result.recorded_with == f"{kb.name} {kb.version} ({kb.sha256[:12]})"
    assert result.verdict == ("contraindicated", "indicated")
    assert result.lost == ("no.such_rule",)
    assert "dosing.standard_regimen" not in result.gained and "dosing.ideal_body_weight" in result.gained


def test_replay_clips_a_long_vocabulary_complaint_to_300_characters(kb: KnowledgeBase, early_record: dict) -> None:
    """A patient with many refused facts gets a bounded reason, exactly 300 characters."""
    early_record["patient"] = {f"unknown_fact_{i}": i for i in range(12)}
    [result] = replay(kb, iter([json.dumps(early_record)]))
    assert result.status == "unreadable" and result.reason is not None
    assert len(result.reason) == 300
    assert result.reason.startswith("the patient no longer fits the vocabulary: 12 problems:")
