"""`myoivig batch`: cohorts in, one record a patient out, in input order, resumable."""
from __future__ import annotations

import csv
import io
import json
import os
import pty
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner

from myoivig.cli.batch_cmd import identity_file, input_identity
from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase
from myoivig.engine.advice import advise
from myoivig.engine.cohort import CSV_COLUMNS, Row, Tally, consult_row, csv_line, read_rows
from myoivig.engine.consultation import consult
from myoivig.engine.population import generate

from .builders import cohort, write_csv, write_jsonl
from .conftest import CASES, KB_DIR

SCHEMAS = KB_DIR.parent / "engine" / "schema"
CONSULTATION = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "consultation.schema.json").read_text()))
ERROR = jsonschema.Draft202012Validator(json.loads((SCHEMAS / "batch_error.schema.json").read_text()))
MYOIVIG = [sys.executable, "-m", "myoivig"]


def consult_json(patient: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    """What `myoivig consult --format json` prints for this patient: the independent path."""
    file = tmp_path / "one.json"
    file.write_text(json.dumps({k: v for k, v in patient.items() if k != "id"}))
    result = CliRunner().invoke(cli, ["consult", str(file), "--format", "json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)  # type: ignore[no-any-return]


def test_json_lines_in_and_out_give_each_patient_its_consultation_in_order(kb: KnowledgeBase,
                                                                           tmp_path: Path) -> None:
    patients = cohort(kb, 40)
    source = write_jsonl(tmp_path / "in.jsonl", patients, extra=(
        "not json", "[1, 2]", json.dumps({"id": "BAD", "severity": "huge", "dysphagia": "maybe"})))
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "-q",
                                      "--summary", str(tmp_path / "summary.json")])
    assert result.exit_code == 1, result.output  # some rows refused
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r["row"] for r in records] == list(range(1, 44))
    assert [r.get("id") for r in records[:40]] == [p["id"] for p in patients]
    for patient, record in zip(patients[:3], records[:3], strict=True):
        assert {k: v for k, v in record.items() if k not in ("row", "id")} == consult_json(patient, tmp_path)
    for patient, record in zip(patients, records[:40], strict=True):
        facts = {k: v for k, v in patient.items() if k != "id"}
        assert record["summary"]["verdict"] == consult(kb, facts).verdict.value
        CONSULTATION.validate(record)
    bad_json, not_object, bad_values = records[40:]
    assert bad_json["error"]["problems"][0]["message"].startswith("line 41: not a JSON object")
    assert not_object["error"]["problems"][0]["message"] == "line 42: a patient is a JSON object of facts"
    assert bad_values["id"] == "BAD"
    assert [p["field"] for p in bad_values["error"]["problems"]] == ["severity", "dysphagia"]
    assert "allowed: mild, moderate, severe" in bad_values["error"]["problems"][0]["message"]
    for record in records[40:]:
        ERROR.validate(record)
    summary = json.loads((tmp_path / "summary.json").read_text())
    verdicts = [r["summary"]["verdict"] for r in records[:40]]
    assert summary["patients"] == 43 and summary["errors"] == {"input": 3}
    assert summary["verdicts"] == {v: verdicts.count(v) for v in summary["verdicts"]}
    assert sum(summary["verdicts"].values()) == 40
    assert summary["early_initiation"] == sum(r["summary"]["early_initiation"] for r in records[:40])
    assert summary["hard_stops"] == {s: sum(s in r["summary"]["hard_stops"] for r in records[:40])
                                     for s in summary["hard_stops"]}
    assert summary["resumed"] == 0 and summary["knowledge_base"]["sha256"] == kb.sha256


def test_csv_in_and_out_one_summary_line_a_patient(kb: KnowledgeBase, tmp_path: Path) -> None:
    patients = cohort(kb, 30)
    source = write_csv(kb, tmp_path / "in.csv", patients)
    with source.open("a") as stream:
        stream.write("SHORT,severe\n")
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(tmp_path / "out.csv"), "-q"])
    assert result.exit_code == 1, result.output
    lines = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    assert list(lines[0]) == list(CSV_COLUMNS)
    assert len(lines) == 31
    for patient, line in zip(patients, lines[:30], strict=True):
        facts = {k: v for k, v in patient.items() if k != "id"}
        expected = csv_line({"row": int(line["row"]), "id": patient["id"],
                             **consult_json(patient, tmp_path)}) if patient is patients[0] else None
        advice = consult(kb, facts)
        assert line["id"] == patient["id"] and line["verdict"] == advice.verdict.value
        assert line["missing"] == ";".join(m.fact for m in advise(kb, advice).missing)  # the advice's questions
        assert line["hard_stops"] == ";".join(c.id for c in advice.by_kind("contraindication"))
        if expected is not None:
            assert line == {k: str(v) for k, v in expected.items()}
    assert lines[-1]["error"] == "input: line 32: 2 cells for " + str(len(kb.facts) + 1) + " columns"
    assert lines[-1]["verdict"] == ""


def test_csv_cells_are_read_as_the_vocabulary_says(kb: KnowledgeBase, tmp_path: Path) -> None:
    source = tmp_path / "in.csv"
    source.write_text("id,diagnosis,current_therapies,dysphagia,age,severity,weight_kg\n"
                      "A,dermatomyositis,prednisone; methotrexate,yes,54,,70 kg\n"
                      "B,dermatomyositis,NONE,no,,severe,\n")
    rows = list(read_rows(kb, source))
    assert rows[0] == Row(1, "A", {"diagnosis": "dermatomyositis", "current_therapies": ["prednisone", "methotrexate"],
                                   "dysphagia": "yes", "age": "54", "weight_kg": "70 kg"})
    assert rows[1] == Row(2, "B", {"diagnosis": "dermatomyositis", "current_therapies": [], "dysphagia": "no",
                                   "severity": "severe"})
    assert not any("none" in (v.lower() for v in spec.values) for spec in kb.facts.values() if spec.type == "list")
    record = consult_row(kb, rows[0])
    assert record["patient"]["current_therapies"] == ["corticosteroids", "methotrexate"]
    assert record["patient"]["dysphagia"] is True and record["patient"]["age_years"] == 54
    assert "age -> age_years" in record["read_as"]


def test_a_folder_of_patient_files_gives_records_named_by_file(kb: KnowledgeBase, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["batch", str(KB_DIR / "cases"), "-o", "-", "-q"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [r["id"] for r in records] == [case.name for case in CASES]
    for case, record in zip(CASES, records, strict=True):
        expected = json.loads(CliRunner().invoke(cli, ["consult", str(case), "--format", "json"]).output)
        assert {k: v for k, v in record.items() if k not in ("row", "id")} == expected


@pytest.mark.parametrize("args, field, words", [
    (["nowhere.jsonl", "-o", "out.jsonl"], "INPUT", "does not exist"),
    (["in.txt", "-o", "out.jsonl"], "INPUT", "allowed: .jsonl, .ndjson, .csv or a folder"),
    (["in.jsonl", "-o", "out.xlsx"], "-o/--output", "allowed: .jsonl, .ndjson, .csv (or --output-format)"),
    (["in.jsonl", "-o", "-", "--resume"], "--resume", "needs an output file"),
])
def test_bad_arguments_are_exit_2_with_the_option_named(tmp_path: Path, args: list[str], field: str,
                                                        words: str) -> None:
    (tmp_path / "in.txt").write_text("x\n")
    (tmp_path / "in.jsonl").write_text('{"diagnosis": "dermatomyositis"}\n')
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        result = CliRunner().invoke(cli, ["batch", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output and "Traceback" not in result.output
    assert not (tmp_path / "out.xlsx").exists()


def test_every_row_advised_is_exit_0_and_the_summary_is_on_stderr(tmp_path: Path) -> None:
    source = tmp_path / "in.jsonl"
    source.write_text('{"diagnosis": "dermatomyositis", "severity": "severe"}\n{"diagnosis": "ibm"}\n')
    done = subprocess.run([*MYOIVIG, "batch", str(source), "-o", "-"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert [json.loads(line)["row"] for line in done.stdout.splitlines()] == [1, 2]
    assert done.stderr.startswith("2 patients, 2 consulted in ")
    assert "refused: none" in done.stderr


def test_a_torn_output_is_resumed_after_its_last_whole_record(kb: KnowledgeBase, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 25), extra=("oops",))
    for fmt in ("jsonl", "csv"):
        whole, part = tmp_path / f"whole.{fmt}", tmp_path / f"part.{fmt}"
        CliRunner().invoke(cli, ["batch", str(source), "-o", str(whole), "-q"])
        lines = whole.read_bytes().splitlines(keepends=True)
        part.write_bytes(b"".join(lines[:11]) + lines[11][:17])  # 10 or 11 records, then a torn line
        shutil.copy(identity_file(whole), identity_file(part))  # the same input's run
        result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(part), "--resume", "-q",
                                          "--summary", str(tmp_path / "summary.json")])
        assert result.exit_code == 1, result.output
        assert part.read_bytes() == whole.read_bytes()
        summary = json.loads((tmp_path / "summary.json").read_text())
        assert summary["resumed"] == (10 if fmt == "csv" else 11) and summary["patients"] == 26
        assert summary["errors"] == {"input": 1}


def test_resume_refuses_an_output_of_another_knowledge_base(kb: KnowledgeBase, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 2))
    output = tmp_path / "out.jsonl"
    output.write_text(json.dumps({"row": 1, "knowledge_base": {"sha256": "0" * 64}, "summary": {}}) + "\n")
    identity_file(output).write_text(json.dumps({**input_identity(source, kb, "jsonl"), "knowledge_base": "0" * 64}))
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(output), "--resume"])
    assert result.exit_code == 2
    assert "was written from another knowledge base" in result.output


@pytest.mark.parametrize("content", ["", '{"not": "a record"}\n', "a,b\n1,2\n", "\xff\xfe\n"])
def test_resume_refuses_a_file_batch_did_not_write_and_leaves_it(kb: KnowledgeBase, tmp_path: Path,
                                                                  content: str) -> None:
    """No record of its input beside it: not a batch output; refused, named, never cut."""
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 2))
    output = tmp_path / "notes.jsonl"
    output.write_bytes(content.encode("latin-1"))
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(output), "--resume"])
    assert result.exit_code == 2 and "no readable record of its input" in result.output
    assert output.read_bytes() == content.encode("latin-1")


def test_resume_refuses_the_output_of_another_input(kb: KnowledgeBase, tmp_path: Path) -> None:
    first, second = write_jsonl(tmp_path / "a.jsonl", cohort(kb, 3)), write_jsonl(tmp_path / "b.jsonl", cohort(kb, 4))
    output = tmp_path / "out.jsonl"
    assert CliRunner().invoke(cli, ["batch", str(first), "-o", str(output), "-q"]).exit_code == 0
    kept = output.read_bytes()
    result = CliRunner().invoke(cli, ["batch", str(second), "-o", str(output), "--resume", "-q"])
    assert result.exit_code == 2 and "was written from another input" in result.output
    assert output.read_bytes() == kept


def test_a_failed_run_leaves_an_existing_output_as_it_was(kb: KnowledgeBase, tmp_path: Path) -> None:
    """The input's header is refused after the run began: the earlier output is not emptied."""
    good = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 3))
    output = tmp_path / "out.csv"
    assert CliRunner().invoke(cli, ["batch", str(good), "-o", str(output), "-q"]).exit_code == 0
    kept = output.read_bytes()
    bad = tmp_path / "bad.csv"
    bad.write_text("diagnosis,diagnosis\nDM,PM\n")
    result = CliRunner().invoke(cli, ["batch", str(bad), "-o", str(output), "-q"])
    assert result.exit_code == 2
    assert output.read_bytes() == kept and not (tmp_path / "out.csv.partial").exists()


def test_a_terminated_batch_leaves_whole_records_and_resume_finishes_it(kb: KnowledgeBase, tmp_path: Path) -> None:
    # Long enough (seconds) that the signal always lands mid-run: with 250 patients a busy machine
    # let the whole batch finish between two polls of the output's size.
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 1500))
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    CliRunner().invoke(cli, ["batch", str(source), "-o", str(whole), "-q"])
    running = subprocess.Popen([*MYOIVIG, "batch", str(source), "-o", str(part)], stderr=subprocess.PIPE, text=True)
    partial = part.with_name(part.name + ".partial")  # a new run writes here, and renames when it stops
    while not partial.exists() or partial.stat().st_size < 10_000:
        time.sleep(0.02)
    running.send_signal(signal.SIGTERM)
    _, stderr = running.communicate(timeout=60)
    assert running.returncode == 130
    assert "Interrupted after" in stderr and "--resume" in stderr
    written = part.read_bytes()
    assert written.endswith(b"\n") and whole.read_bytes().startswith(written)
    assert 0 < written.count(b"\n") < 1500
    resumed = subprocess.run([*MYOIVIG, "batch", str(source), "-o", str(part), "--resume", "-q"])
    assert resumed.returncode == 0
    assert part.read_bytes() == whole.read_bytes()


def test_the_progress_bar_shows_on_a_terminal_only(kb: KnowledgeBase, tmp_path: Path) -> None:
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 30))
    leader, follower = pty.openpty()
    done = subprocess.run([*MYOIVIG, "batch", str(source), "-o", str(tmp_path / "a.jsonl")],
                          stderr=follower, stdout=subprocess.DEVNULL)
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert done.returncode == 0
    assert b"patients  [" in screen and b"30/30" in screen and b"patients/s" in screen
    quiet = subprocess.run([*MYOIVIG, "batch", str(source), "-o", str(tmp_path / "b.jsonl")],
                           capture_output=True, text=True)
    assert "[" not in quiet.stderr and quiet.stderr.startswith("30 patients")


def test_the_tally_keeps_counts_not_patients(kb: KnowledgeBase) -> None:
    tally = Tally()
    records = [consult_row(kb, Row(n, None, facts)) for n, facts in enumerate(generate(kb, 60, seed=3), 1)]
    for record in records:
        tally.add(record)
    again = Tally()
    for record in records:
        again.add_csv({k: str(v) for k, v in csv_line(record).items()})
    assert tally.as_dict() == again.as_dict()
    assert sorted(vars(tally)) == ["cautions", "early_initiation", "errors", "hard_stops", "patients", "verdicts"]


def test_memory_stays_flat_however_many_patients(kb: KnowledgeBase, tmp_path: Path) -> None:
    """The parent keeps nothing per patient: six times the rows leave no more live objects. Both runs end
    with one patient, so the last record (which a run may still hold) is the same size in both."""
    import gc

    last = {"diagnosis": "DM", "severity": "severe", "age_years": 50}  # the same last patient in both runs

    def live_after(count: int) -> int:
        source = write_jsonl(tmp_path / f"in{count}.jsonl", [*cohort(kb, count), last])
        result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(tmp_path / "out.jsonl"), "-q"])
        assert result.exit_code == 0, result.output
        gc.collect()
        return len(gc.get_objects())

    live_after(20)  # warm the caches
    small, large = live_after(50), live_after(300)
    assert large - small < 50, (small, large)


def test_an_output_that_is_the_input_is_refused_and_the_input_kept(tmp_path: Path) -> None:
    """`batch X.jsonl -o X.jsonl` once emptied X and said "0 patients"; a link to X is X too."""
    source = tmp_path / "cohort.jsonl"
    text = '{"diagnosis": "DM", "severity": "severe"}\n'
    source.write_text(text)
    link = tmp_path / "link.jsonl"
    link.symlink_to(source)
    for output in (source, link):
        result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(output)])
        assert result.exit_code == 2 and "would destroy it" in result.stderr
        assert source.read_text() == text


def test_a_closed_pipe_or_a_full_disk_is_exit_74_with_a_message(kb: KnowledgeBase, tmp_path: Path) -> None:
    """`batch -o - | head` and a full disk once exited 1 saying nothing, or with a traceback."""
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 400))
    batch = subprocess.Popen([*MYOIVIG, "batch", str(source), "-o", "-", "-q"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    assert batch.stdout is not None and batch.stdout.readline()
    batch.stdout.close()  # the reader leaves, as `head -1` does
    _, stderr = batch.communicate(timeout=120)
    assert batch.returncode == 74 and b"cannot write the output: its reader closed the pipe" in stderr
    assert b"Traceback" not in stderr
    full = subprocess.run([*MYOIVIG, "batch", str(source), "-o", "/dev/full", "--output-format", "jsonl", "-q"],
                          capture_output=True)
    assert full.returncode == 74 and b"No space left on device" in full.stderr
    assert Path("/dev/full").is_char_device()  # a device is written in place, never replaced by a file
    piped = subprocess.run([*MYOIVIG, "batch", str(source), "-o", "/dev/stdout", "--output-format", "jsonl", "-q"],
                           capture_output=True)  # /dev/stdout links to a pipe here: written in place
    assert piped.returncode == 0 and piped.stdout.count(b"\n") == 400
    with open("/dev/full", "wb") as device:
        consult = subprocess.run([*MYOIVIG, "consult", str(KB_DIR / "cases"
                                                          / "pm_severe_sparse.yaml")],
                                 stdout=device, stderr=subprocess.PIPE)
    assert consult.returncode == 74 and b"Traceback" not in consult.stderr


def test_a_named_pipe_as_input_is_read_as_a_stream(kb: KnowledgeBase, tmp_path: Path) -> None:
    """`mkfifo cohort.jsonl; producer > cohort.jsonl & batch cohort.jsonl`: read once, as it comes (it was
    "does not exist"), the same records as from a file; --resume on a pipe is refused by name."""
    patients = cohort(kb, 30)
    plain = write_jsonl(tmp_path / "plain.jsonl", patients)
    pipe = tmp_path / "cohort.jsonl"
    os.mkfifo(pipe)

    def feed() -> None:
        with pipe.open("w") as stream:
            for patient in patients:
                stream.write(json.dumps(patient) + "\n")
                stream.flush()

    batch = subprocess.Popen([*MYOIVIG, "batch", str(pipe), "-o", str(tmp_path / "piped.jsonl"), "-q"],
                             stderr=subprocess.PIPE)
    feed()
    assert batch.wait(timeout=120) in (0, 1), batch.communicate()[1]
    subprocess.run([*MYOIVIG, "batch", str(plain), "-o", str(tmp_path / "filed.jsonl"), "-q"], check=False)
    assert (tmp_path / "piped.jsonl").read_bytes() == (tmp_path / "filed.jsonl").read_bytes()
    result = CliRunner().invoke(cli, ["batch", str(pipe), "-o", str(tmp_path / "piped.jsonl"), "--resume"])
    assert result.exit_code == 2 and "is a named pipe: a stream cannot be read again to resume" in result.stderr


def test_a_named_pipe_inside_a_folder_is_an_error_record_not_a_hang(tmp_path: Path) -> None:
    """A FIFO among a folder's patient files once hung the batch for ever; it is now refused by name."""
    folder = tmp_path / "patients"
    folder.mkdir()
    (folder / "a.yaml").write_text("diagnosis: DM\nseverity: severe\n")
    os.mkfifo(folder / "b.yaml")
    (folder / "c.yaml").write_text("diagnosis: PM\n")
    batch = subprocess.run([*MYOIVIG, "batch", str(folder), "-o", str(tmp_path / "out.jsonl"), "-q"],
                           capture_output=True, timeout=120)
    assert batch.returncode == 1, batch.stderr
    records = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert [r.get("id") for r in records] == ["a.yaml", "b.yaml", "c.yaml"]
    assert "b.yaml is not a regular file (a named pipe" in json.dumps(records[1]["error"]["problems"])
    assert "error" not in records[0] and "error" not in records[2]


def _limited(max_bytes: int) -> Any:
    """A child whose files may not grow past max_bytes: a disk that fills at a known point."""
    import resource

    def limit() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return limit


def test_a_killed_batch_is_resumed_from_its_partial_output(kb: KnowledgeBase, tmp_path: Path) -> None:
    """SIGKILL leaves OUTPUT.partial and its input's identity; --resume goes on from it, and the result is
    byte-identical to an uninterrupted run (before, a killed run could only start again)."""
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 1500))
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    CliRunner().invoke(cli, ["batch", str(source), "-o", str(whole), "-q"])
    running = subprocess.Popen([*MYOIVIG, "batch", str(source), "-o", str(part), "-q"])
    partial = part.with_name(part.name + ".partial")
    while not partial.exists() or partial.stat().st_size < 10_000:
        time.sleep(0.02)
    running.kill()
    running.wait(timeout=30)
    assert not part.exists() and identity_file(partial).exists()
    resumed = subprocess.run([*MYOIVIG, "batch", str(source), "-o", str(part), "--resume", "-q"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert part.read_bytes() == whole.read_bytes()
    assert not partial.exists() and not identity_file(partial).exists() and identity_file(part).exists()


def test_a_disk_that_fills_keeps_the_whole_records_and_resume_finishes(kb: KnowledgeBase, tmp_path: Path) -> None:
    """The disk fills mid-record: exit 74 with one line naming OUTPUT.partial; --resume (with room) cuts
    the torn record and finishes byte-identical to an uninterrupted run; an earlier OUTPUT is untouched."""
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 200))
    whole, part = tmp_path / "whole.jsonl", tmp_path / "part.jsonl"
    CliRunner().invoke(cli, ["batch", str(source), "-o", str(whole), "-q"])
    part.write_text("an earlier output\n")
    full = subprocess.run([*MYOIVIG, "batch", str(source), "-o", str(part), "-q"], capture_output=True, text=True,
                          preexec_fn=_limited(whole.stat().st_size // 3))
    assert full.returncode == 74 and "Traceback" not in full.stderr
    assert "whole records written are kept in" in full.stderr and "--resume" in full.stderr
    assert part.read_text() == "an earlier output\n"
    resumed = subprocess.run([*MYOIVIG, "batch", str(source), "-o", str(part), "--resume", "-q"],
                             capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert part.read_bytes() == whole.read_bytes()


def _catches_sigterm(pid: int) -> bool:
    """Whether the process has installed its own SIGTERM handler yet (SigCgt in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def test_a_stop_while_the_program_starts_is_an_interrupt_exit_130(kb: KnowledgeBase, tmp_path: Path) -> None:
    """SIGTERM that lands while myoivig is still importing or loading the knowledge base was a death by
    signal (143) with nothing said; it is now the same interrupt as anywhere else: 130, one line."""
    source = write_jsonl(tmp_path / "in.jsonl", cohort(kb, 20))
    process = subprocess.Popen([*MYOIVIG, "batch", str(source), "-o", str(tmp_path / "out.jsonl")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not _catches_sigterm(process.pid):  # the first thing the program does: from then on, it is ours
        assert process.poll() is None
        time.sleep(0.001)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert stdout == "" and "Traceback" not in stderr and "Interrupted" in stderr
    assert not (tmp_path / "out.jsonl").exists() or (tmp_path / "out.jsonl").read_text() == ""
