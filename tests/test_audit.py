"""The audit trail: whole lines under concurrency and kills, and replay against today's rules."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import load_knowledge_base
from myoivig.engine.audit import check_chain, log_lines, read_log

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


def test_an_unwritable_audit_log_is_exit_2_and_no_advice(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["consult", EARLY, "--audit-log", str(tmp_path / "missing" / "a.jsonl")])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "cannot open the audit log" in result.stderr


def test_concurrent_writers_never_interleave(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, "40", "70000", str(log)], stdout=subprocess.DEVNULL)
               for _ in range(4)]
    assert [writer.wait(timeout=120) for writer in writers] == [0, 0, 0, 0]
    lines = log.read_text().splitlines()
    assert len(lines) == 160
    assert sorted(json.loads(line)["index"] for line in lines) == sorted(list(range(40)) * 4)
    assert check_chain(log_lines(log)).intact  # each writer chained to the line before its own, under the lock


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


def test_replay_of_a_clean_log_exits_0(tmp_path: Path) -> None:
    log = tmp_path / "audit.jsonl"
    CliRunner().invoke(cli, ["consult", EARLY, "--audit-log", str(log)])
    result = CliRunner().invoke(cli, ["replay", str(log)])
    assert result.exit_code == 0 and "line 1: unchanged" in result.output


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
