"""`myoivig batch`: a cohort in, one record a patient out, in input order, resumable.

A new run writes OUTPUT.partial and renames it to OUTPUT when it ends (or is interrupted), so an
existing OUTPUT is never emptied by a run that then fails on its input; beside it it writes the
input's identity (OUTPUT.partial.batch.json, then OUTPUT.batch.json), which `--resume` checks before
appending. A run killed outright (SIGKILL, a power cut) or stopped by a full disk leaves
OUTPUT.partial with its identity, and `--resume` goes on from there. Each record is written with a
single `write` to a file opened for appending, so the records are whole (a torn last line, possible
only if the disk fills or the kernel stops a write between pages, is cut on `--resume`).
Nothing per patient is kept after its record is written: memory stays flat however long the input.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from ..engine import InputError, KnowledgeBase
from ..engine.audit import cut_unfinished_line
from ..engine.cohort import (
    CSV_COLUMNS,
    OUTPUT_FORMATS,
    Finished,
    Row,
    Tally,
    consult_row,
    count_rows,
    encode_csv,
    finish,
    is_stream,
    read_rows,
)
from ..engine.errors import FINDINGS, INTERRUPTED, EngineError, OutputError
from .options import kb_option, load_kb
from .output import STDOUT


class RecordWriter:
    """Whole records appended to OUTPUT (or standard output), as JSON lines or CSV summary lines."""

    def __init__(self, path: Path, fmt: str, resume: Path | None, identity: dict[str, Any]) -> None:
        """resume: the file a run goes on from (OUTPUT, or the OUTPUT.partial a killed run left)."""
        self.fmt = fmt
        self.path = real_output(path)
        self.handle: int | None = None  # None: standard output
        # a new run writes beside OUTPUT and renames at the end: OUTPUT is never emptied by a failed run;
        # a device or a FIFO (-o /dev/stdout, a named pipe) is written in place, never replaced
        regular = self.path != STDOUT and (not self.path.exists() or self.path.is_file())
        self.target = resume if resume is not None else partial_of(self.path) if regular else self.path
        if path != STDOUT:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | (0 if resume else os.O_TRUNC)
            try:
                self.handle = os.open(self.target, flags, 0o644)
            except OSError as exc:
                raise InputError(f"cannot write {path}: {exc.strerror or exc}", field="-o/--output") from None
            if self.target != self.path:  # what --resume checks if this run is killed before it ends
                _write_identity(self.target, identity)
        if fmt == "csv" and (self.handle is None or os.fstat(self.handle).st_size == 0):
            self._write(encode_csv(dict(zip(CSV_COLUMNS, CSV_COLUMNS, strict=True))))

    def write(self, line: bytes) -> None:
        """One finished record's line (cohort.finish), whole."""
        self._write(line)

    def _write(self, data: bytes) -> None:
        if self.handle is None:
            try:
                sys.stdout.buffer.write(data)
                sys.stdout.flush()
            except OSError as exc:  # a full disk, or a reader that left (| head)
                raise OutputError(f"cannot write the output: {_said(exc)}") from None
            return
        view = memoryview(data)
        while view:
            try:
                written = os.write(self.handle, view)
            except OSError as exc:
                raise OutputError(f"cannot write the output: {_said(exc)}") from None
            view = view[written:]

    def close(self) -> None:
        if self.handle is not None:
            os.close(self.handle)
            self.handle = None

    def keep(self, identity: dict[str, Any]) -> None:
        """The records written become OUTPUT, with the input's identity beside them (for --resume)."""
        self.close()
        if self.path == STDOUT or not (self.target != self.path or self.path.is_file()):
            return  # standard output, a device or a FIFO: nothing to rename, no run to resume
        _write_identity(self.path, identity)
        if self.target != self.path:
            os.replace(self.target, self.path)
            identity_file(self.target).unlink(missing_ok=True)

    def discard(self) -> None:
        """A run that failed on its input leaves OUTPUT as it was, and no OUTPUT.partial."""
        self.close()
        if self.target != self.path and self.path != STDOUT:
            self.target.unlink(missing_ok=True)
            identity_file(self.target).unlink(missing_ok=True)


def _said(exc: OSError) -> str:
    return "its reader closed the pipe" if isinstance(exc, BrokenPipeError) else str(exc.strerror or exc)


def identity_file(output: Path) -> Path:
    return output.with_name(output.name + ".batch.json")


def partial_of(output: Path) -> Path:
    return output.with_name(output.name + ".partial")


def real_output(path: Path) -> Path:
    """A link to a file is that file (never replace the link); /dev/stdout and other links to pipes stay."""
    return path.resolve() if path != STDOUT and path.is_symlink() and path.resolve().is_file() else path


def _write_identity(output: Path, identity: dict[str, Any]) -> None:
    temporary = identity_file(output).with_name(identity_file(output).name + ".tmp")
    temporary.write_text(json.dumps(identity, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, identity_file(output))


def input_identity(source: Path, kb: KnowledgeBase, fmt: str) -> dict[str, Any]:
    """What `--resume` must find again: the input's content (a file's bytes, or a folder's files), the
    knowledge base and the output format."""
    if is_stream(source):  # read once as it comes: nothing to hash beforehand, so never resumable
        return {"input": str(source), "input_sha256": None, "knowledge_base": kb.sha256, "format": fmt}
    digest = hashlib.sha256()
    files = [source] if not source.is_dir() else sorted(p for p in source.iterdir() if p.is_file())
    for path in files:
        if source.is_dir():
            digest.update(path.name.encode() + b"\0")
        try:
            with path.open("rb") as stream:
                for chunk in iter(lambda: stream.read(1 << 20), b""):
                    digest.update(chunk)
        except OSError:
            continue  # reading the input reports it
    return {"input": str(source), "input_sha256": digest.hexdigest(), "knowledge_base": kb.sha256, "format": fmt}


def resume_from(path: Path, fmt: str, kb: KnowledgeBase, tally: Tally, identity: dict[str, Any]) -> int:
    """Check that OUTPUT came from this input, cut a torn last line, count the whole records already
    written, and tally them."""
    if path == STDOUT:
        raise InputError("--resume needs an output file, not standard output", field="--resume")
    if identity["input_sha256"] is None:
        raise InputError(f"{identity['input']} is a named pipe: a stream cannot be read again to resume; save it "
                         "to a file and run on that", field="--resume")
    if not path.exists():
        return 0
    try:
        kept = json.loads(identity_file(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise InputError(f"{path} has no readable record of its input ({identity_file(path).name}): it was not "
                         "written by myoivig batch, or by an older version; start a new output", field="--resume") \
            from None
    for key, what in (("input_sha256", "another input (or the input changed since)"),
                      ("knowledge_base", "another knowledge base"), ("format", "another output format")):
        if kept.get(key) != identity[key]:
            raise InputError(f"{path} was written from {what}: resuming would mix two runs; start a new output",
                             field="--resume")
    handle = os.open(path, os.O_RDWR)
    try:
        cut_unfinished_line(handle)
    finally:
        os.close(handle)
    done = 0
    try:
        with path.open(encoding="utf-8", newline="") as stream:
            lines: Iterator[Any] = csv.DictReader(stream) if fmt == "csv" else (json.loads(line) for line in stream)
            for record in lines:
                if fmt == "csv":
                    tally.add_csv(record)
                else:
                    sha = record.get("knowledge_base", {}).get("sha256")
                    if sha not in (None, kb.sha256):
                        raise InputError(f"{path} was written with another knowledge base (sha256 {sha[:12]}...); "
                                         "resume with the same one, or start a new output", field="--resume")
                    tally.add(record)
                done += 1
    except (ValueError, KeyError, TypeError, AttributeError) as exc:  # not a batch output, whatever it says
        raise InputError(f"{path} record {done + 1} is not a batch record ({type(exc).__name__}): start a new "
                         "output", field="--resume") from None
    return done


def _never_the_input(source: Path, *outputs: Path | None) -> None:
    """An output that is the input (by name, a link or a folder's file) would be emptied before it is read."""
    for output in outputs:
        if output is None or output == STDOUT or not output.exists():
            continue
        inputs = [source] if not source.is_dir() else [p for p in source.iterdir() if p.is_file()]
        for path in inputs:
            if path.exists() and output.samefile(path):
                raise InputError(f"{output} is the input {path}: writing there would destroy it; name another "
                                 "file", field="-o/--output")


def _format_of(path: Path, given: str | None) -> str:
    if given is not None:
        return given
    if path == STDOUT:
        return "jsonl"
    found = OUTPUT_FORMATS.get(path.suffix.lower())
    if found is None:
        raise InputError(f"cannot tell the output format of {path} from its extension", field="-o/--output",
                         allowed=", ".join(OUTPUT_FORMATS) + " (or --output-format)")
    return found


def _records(kb: KnowledgeBase, kb_dir: Path | None, rows: Iterator[Row], jobs: int, scheduler: str | None,
             partition_size: int, fmt: str) -> Iterator[list[Finished]]:
    """Each row's record finished (its output line, what the summary counts): here, or on the workers,
    which then send back a few hundred bytes a patient instead of the record's objects."""
    if jobs == 1 and scheduler is None:
        for row in rows:
            yield [finish(consult_row(kb, row), fmt)]
        return
    from ..engine.cluster import run_on_dask
    folder = None if kb_dir is None else str(kb_dir.resolve())
    yield from run_on_dask(folder, kb.sha256, rows, partition_size, jobs=jobs, scheduler=scheduler, fmt=fmt)


def _progress(total: int | None, enabled: bool) -> Any:
    started = time.monotonic()

    def rate(_item: Any) -> str:
        elapsed = time.monotonic() - started
        return f"{bar.pos / elapsed:,.0f} patients/s" if elapsed > 0 and bar.pos else ""

    bar = click.progressbar(length=total or 0, label="patients", file=sys.stderr, show_eta=total is not None,
                            show_pos=True, item_show_func=rate, hidden=not enabled or total is None)
    return bar


def render_summary(summary: dict[str, Any]) -> str:
    seconds, consulted = summary["seconds"], summary["patients"] - summary["resumed"]
    lines = [f"{summary['patients']:,} patients, {consulted:,} consulted in {seconds:.1f} s "
             f"({consulted / seconds if seconds else 0:,.0f} patients/s)"
             + (f", {summary['resumed']:,} of them from the earlier run" if summary["resumed"] else "")]
    lines.append("  verdicts: " + "; ".join(f"{verdict.replace('_', ' ')} {n:,}"
                                            for verdict, n in summary["verdicts"].items()))
    lines.append(f"  early initiation: {summary['early_initiation']:,}")
    for key, title in (("cautions", "cautions"), ("hard_stops", "hard stops"), ("errors", "refused")):
        counts = summary[key]
        lines.append(f"  {title}: " + ("; ".join(f"{name} {n:,}" for name, n in counts.items()) or "none"))
    return "\n".join(lines)


@click.command("batch", short_help="Advice for a cohort: one record a patient, in input order.")
@click.argument("source", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", "output", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Records to FILE: .jsonl (full consultations) or .csv (one summary line each); - for stdout.")
@click.option("--output-format", type=click.Choice(sorted(set(OUTPUT_FORMATS.values()))), default=None,
              help="Override the format the output's extension gives (standard output: jsonl).")
@click.option("--resume", is_flag=True, help="Keep OUTPUT's whole records and go on after the last one.")
@click.option("--jobs", type=click.IntRange(1, 1024), default=1, show_default=True,
              help="Worker processes on this machine (Dask; 1 runs in this process).")
@click.option("--scheduler", metavar="ADDRESS", default=None,
              help="Run on the Dask cluster at ADDRESS (tcp://host:8786) instead of this machine.")
@click.option("--partition-size", type=click.IntRange(1, 1_000_000), default=500, show_default=True,
              help="Rows sent to a worker at a time (with --jobs or --scheduler).")
@click.option("--summary", "summary_file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Also write the end summary as JSON to FILE.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar and no summary on stderr.")
@kb_option
def batch_cmd(source: Path, output: Path, output_format: str | None, resume: bool, jobs: int,
              scheduler: str | None, partition_size: int, summary_file: Path | None, quiet: bool,
              kb_dir: Path | None) -> None:
    """Consult every patient of INPUT (JSON lines, CSV with one column per fact and lists separated
    by `;`, or a folder of patient files) and write one record each, in input order. A row that
    cannot be read or is refused gets an error record and the batch goes on.

    Exit 0 when every row was advised, 1 when some were refused, 4 when the rule engine failed
    on some (their records say so), 130 when interrupted (--resume continues)."""
    kb = load_kb(kb_dir)
    fmt = _format_of(output, output_format)
    _never_the_input(source, output, summary_file)
    total = count_rows(source)
    tally = Tally()
    identity = input_identity(source, kb, fmt)
    # a run killed outright (or stopped by a full disk) left OUTPUT.partial: that is the run to go on with
    going_on = None if not resume or output == STDOUT else (
        partial_of(real_output(output)) if partial_of(real_output(output)).is_file() else real_output(output))
    done = resume_from(going_on or output, fmt, kb, tally, identity) if resume else 0
    resumed = done
    writer = RecordWriter(output, fmt, going_on, identity)
    started = time.monotonic()
    previous_term = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with _progress(None if total is None else max(total - done, 0), not quiet and sys.stderr.isatty()) as bar:
            for records in _records(kb, kb_dir, read_rows(kb, source, skip=done), jobs, scheduler, partition_size,
                                    fmt):
                for record in records:
                    writer.write(record.line)
                    tally.add(record.counted)
                done += len(records)
                bar.update(len(records))
    except OutputError as exc:
        writer.close()  # OUTPUT.partial keeps its whole records: --resume goes on once there is room
        if writer.path != STDOUT and writer.target.is_file():
            raise OutputError(f"{exc}; the {done:,} whole records written are kept in {writer.target}: make room "
                              "and run again with --resume") from None
        raise
    except KeyboardInterrupt:
        writer.keep(identity)
        click.echo(f"\nInterrupted after {done:,}" + ("" if total is None else f" of {total:,}") + " rows; the output "
                   "holds whole records only" + (": run again with --resume to go on." if total is not None else
                                                 " (a named pipe cannot be resumed)."), err=True)
        sys.exit(INTERRUPTED)
    except BaseException:
        writer.discard()
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_term)
    writer.keep(identity)
    summary = tally.as_dict() | {"seconds": round(time.monotonic() - started, 3), "resumed": resumed,
                                 "knowledge_base": {"name": kb.name, "version": kb.version, "sha256": kb.sha256}}
    if summary_file is not None:
        summary_file.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    if not quiet:
        click.echo(render_summary(summary), err=True)
    errors = tally.errors
    sys.exit(EngineError.exit_code if errors.get("engine") else FINDINGS if errors else 0)


COMMANDS = (batch_cmd,)
