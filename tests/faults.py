"""Fault injection: kill -9, SIGTERM/SIGINT, full disks, closed pipes, tampering and slow clients,
against batch, the audit log and the CDS Hooks service. Each fault is checked for what must hold:
every record whole, every resume byte-identical to an uninterrupted run, every audit chain verifying
or naming its break, every answered request answered right, every stop clean.

Not part of `make test` (`make faults` runs it, about ten minutes on two cores):

    python tests/faults.py                 # every class, at least 200 faults
    python tests/faults.py --only batch-kill --scale 0.2

It prints one line per class (faults, held, where they landed) and exits 1 if anything did not hold.
docs/reliability.md records a run.
"""
from __future__ import annotations

import argparse
import collections
import concurrent.futures
import contextlib
import json
import random
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from myoivig.engine import load_knowledge_base
from myoivig.engine.errors import INTERRUPTED
from myoivig.engine.population import generate

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.hooks import free_port, request, wait_until_serving  # the twins as CDS Hooks requests

MYOIVIG = [sys.executable, "-m", "myoivig"]
KB = load_knowledge_base(None)
COHORT = 400  # patients: about 1.5 s of batch work, so a random kill lands before, during or after the run
CASES = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "knowledge_base" / "cases").glob("*.yaml"))


@dataclass
class Tally:
    """The faults of one class: how many, how many held, and where they landed."""

    name: str
    faults: int = 0
    held: int = 0
    landed: collections.Counter[str] = field(default_factory=collections.Counter)
    failures: list[str] = field(default_factory=list)

    def record(self, ok: bool, where: str, detail: str = "") -> None:
        self.faults += 1
        self.held += ok
        self.landed[where] += 1
        if not ok:
            self.failures.append(f"{where}: {detail}")


def run(*args: str, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*MYOIVIG, *args], capture_output=True, text=True, timeout=300, **kwargs)


def whole_records(path: Path, fmt: str) -> tuple[int, bool]:
    """How many whole records a batch output holds, and whether every line is one (a torn last line
    is allowed only where --resume cuts it: reported as not whole)."""
    if not path.exists():
        return 0, True
    data = path.read_bytes()
    lines = data.split(b"\n")
    torn = lines.pop() != b""
    if fmt == "csv":
        return max(len(lines) - 1, 0), not torn
    rows = []
    for line in lines:
        try:
            rows.append(json.loads(line)["row"])
        except (ValueError, KeyError):
            return len(rows), False
    return len(rows), not torn and rows == list(range(1, len(rows) + 1))


class Cohort:
    """One generated cohort and its uninterrupted outputs: what every resume must equal byte for byte."""

    def __init__(self, folder: Path) -> None:
        self.source = folder / "cohort.jsonl"
        with self.source.open("w") as stream:
            for number, facts in enumerate(generate(KB, COHORT, seed=2026), 1):
                stream.write(json.dumps({"id": f"P{number:04d}", **facts}) + "\n")
        self.reference = {fmt: folder / f"reference.{fmt}" for fmt in ("jsonl", "csv")}
        for path in self.reference.values():
            done = run("batch", str(self.source), "-o", str(path), "-q")
            assert done.returncode in (0, 1), done.stderr

    def resumed_identically(self, output: Path, fmt: str) -> tuple[bool, str]:
        done = run("batch", str(self.source), "-o", str(output), "--resume", "-q")
        if done.returncode not in (0, 1):
            return False, f"resume exited {done.returncode}: {done.stderr.strip()[-200:]}"
        if output.read_bytes() != self.reference[fmt].read_bytes():
            return False, "the resumed output differs from the uninterrupted one"
        return True, ""


def _where(records: int, finished: bool) -> str:
    return "after the end" if finished else "before the first record" if records == 0 else "mid-run"


def batch_signal(cohort: Cohort, folder: Path, rng: random.Random, how: str) -> tuple[bool, str, str]:
    """Start a batch, send `how` (KILL, TERM, INT) after a random delay, check what is left, resume."""
    fmt = rng.choice(("jsonl", "jsonl", "csv"))
    output = folder / f"out.{fmt}"
    process = subprocess.Popen([*MYOIVIG, "batch", str(cohort.source), "-o", str(output), "-q"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(rng.uniform(0.1, 5.0))  # while starting, mid-run or after the end
    process.send_signal(getattr(signal, f"SIG{how}"))
    _, stderr = process.communicate(timeout=120)
    finished = process.returncode in (0, 1)
    left = output if output.exists() else output.with_name(output.name + ".partial")
    records, whole = whole_records(left, fmt)
    where = _where(records, finished)
    if "Traceback" in stderr:
        return False, where, "a traceback: " + stderr.strip()[-200:]
    if how != "KILL" and not finished and process.returncode != INTERRUPTED:
        return False, where, f"exit {process.returncode}, not 130"
    if how != "KILL" and not whole:
        return False, where, "an interrupted run left a torn record"
    ok, why = cohort.resumed_identically(output, fmt)
    return ok, where + ("" if whole else ", torn last record cut"), why


def _tmpfs(path: Path, size: str) -> bool:
    path.mkdir(exist_ok=True)
    return subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                          capture_output=True).returncode == 0


def batch_full_disk(cohort: Cohort, folder: Path, rng: random.Random, mounted: bool) -> tuple[bool, str, str]:
    """The disk fills at a random point (a small tmpfs, else a file-size limit): exit 74 with one line,
    an earlier OUTPUT untouched; with room again, --resume finishes byte-identical."""
    fmt = rng.choice(("jsonl", "csv"))
    room = rng.randint(2_000, cohort.reference[fmt].stat().st_size - 1)
    disk = folder / "disk"
    mounted = mounted and rng.random() < 0.5  # half on a full tmpfs, half under a file-size limit
    if mounted:
        mounted = _tmpfs(disk, f"{max(room // 1024, 8)}k")
    if not mounted:
        disk.mkdir(exist_ok=True)
    # no preexec_fn (unsafe beside threads): a small wrapper sets the limit, then becomes the batch
    limited = [sys.executable, "-c", LIMITED, str(room)] if not mounted else []
    output = disk / f"out.{fmt}"
    output.write_text("an earlier output\n")
    try:
        before = output.read_bytes()
        done = subprocess.run([*limited, *MYOIVIG, "batch", str(cohort.source), "-o", str(output), "-q"],
                              capture_output=True, text=True, timeout=300)
        where = "a full tmpfs" if mounted else "a file-size limit"
        if done.returncode != 74 or "Traceback" in done.stderr or len(done.stderr.strip().splitlines()) != 1:
            return False, where, f"exit {done.returncode}: {done.stderr.strip()[-300:]}"
        if output.read_bytes() != before:
            return False, where, "the earlier OUTPUT was changed"
        if mounted:
            subprocess.run(["mount", "-o", "remount,size=64m", str(disk)], check=True)
        ok, why = cohort.resumed_identically(output, fmt)
        return ok, where, why
    finally:
        if mounted:
            subprocess.run(["umount", str(disk)], capture_output=True)


LIMITED = """
import os, resource, signal, sys
room = int(sys.argv[1])
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails (EFBIG) instead of killing
resource.setrlimit(resource.RLIMIT_FSIZE, (room, room))
os.execv(sys.argv[2], sys.argv[2:])
"""


def batch_broken_pipe(cohort: Cohort, _folder: Path, rng: random.Random) -> tuple[bool, str, str]:
    """`batch -o - | head -N`: exit 74 with one line, no traceback."""
    process = subprocess.Popen([*MYOIVIG, "batch", str(cohort.source), "-o", "-", "-q"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    assert process.stdout is not None
    for _ in range(rng.randint(0, 50)):
        process.stdout.readline()
    process.stdout.close()
    _, stderr = process.communicate(timeout=120)
    ok = process.returncode == 74 and b"Traceback" not in stderr and b"closed the pipe" in stderr
    return ok, "a reader that left", f"exit {process.returncode}: {stderr.decode()[-200:]}"


AUDIT_WRITER = """
import sys
from pathlib import Path
from myoivig.engine import load_knowledge_base, consult, normalize
from myoivig.engine.audit import append_record, audit_record
from myoivig.engine.population import generate
kb = load_knowledge_base(None)
for facts in generate(kb, 100000, seed=int(sys.argv[2])):
    append_record(Path(sys.argv[1]), audit_record(kb, consult(kb, normalize(kb, facts)), "0", "faults"))
"""


def audit_kill(folder: Path, rng: random.Random) -> tuple[bool, str, str]:
    """Two writers append to one log; one is killed at a random moment; a third appends after. The chain
    must verify and every line be whole (the next writer cuts what a killed one left)."""
    log = folder / "audit.jsonl"
    writers = [subprocess.Popen([sys.executable, "-c", AUDIT_WRITER, str(log), str(rng.randint(0, 10**6))],
                                stderr=subprocess.PIPE) for _ in range(2)]
    time.sleep(rng.uniform(1.0, 3.0))
    writers[0].kill()
    time.sleep(rng.uniform(0.0, 0.3))
    writers[1].kill()
    for writer in writers:
        writer.wait(timeout=30)
    after = run("consult", str(Path(__file__).resolve().parent.parent / "knowledge_base" / "cases" /
                                f"{CASES[0]}.yaml"), "--audit-log", str(log))
    if after.returncode not in (0, 1):
        return False, "append after the kill", after.stderr[-200:]
    verify = run("audit", "verify", str(log))
    lines = log.read_bytes().split(b"\n")
    whole = lines.pop() == b"" and all(json.loads(line).get("prev") for line in lines)
    return verify.returncode == 0 and whole, "two writers killed", f"{len(lines)} records: {verify.stdout[-300:]}"


def audit_tamper(log: Path, folder: Path, rng: random.Random) -> tuple[bool, str, str]:
    """One edit an insider might make; `audit verify` must exit 1 and name the line (or the kept head)."""
    lines = log.read_bytes().split(b"\n")[:-1]
    head = run("audit", "verify", str(log), "--format", "json")
    kept_head = json.loads(head.stdout)["head"]
    i, j = sorted(rng.sample(range(len(lines)), 2))
    kind = rng.choice(("delete", "swap", "edit-value", "edit-checksum", "duplicate", "insert-forged", "cut-tail",
                       "cross-checked-false"))
    changed = list(lines)
    if kind == "delete":
        del changed[i]
    elif kind == "swap":
        changed[i], changed[j] = changed[j], changed[i]
    elif kind == "edit-value":
        record = json.loads(changed[i])
        record["verdict"] = "indicated" if record.get("verdict") != "indicated" else "not_indicated"
        changed[i] = json.dumps(record, separators=(",", ":")).encode()
    elif kind == "edit-checksum":
        changed[i] = changed[i].replace(b'"sha256":"', b'"sha256":"0', 1)
    elif kind == "duplicate":
        changed.insert(i + 1, changed[i])
    elif kind == "insert-forged":
        forged = json.loads(changed[i])
        forged["patient"] = {"age_years": 40}
        changed.insert(i + 1, json.dumps(forged, separators=(",", ":")).encode())
    elif kind == "cut-tail":
        changed = changed[:-1]
    else:
        changed[i] = changed[i].replace(b'"cross_checked":true', b'"cross_checked":false')
    tampered = folder / "tampered.jsonl"
    tampered.write_bytes(b"".join(line + b"\n" for line in changed))
    verify = run("audit", "verify", str(tampered), "--head", kept_head)
    named = "line " in verify.stdout or "no longer a line of the log" in verify.stdout
    return verify.returncode == 1 and named, kind, verify.stdout[-300:]


@contextlib.contextmanager
def service(folder: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    process = subprocess.Popen([*MYOIVIG, "serve", "--port", str(port), "--as-of", "2026-01-15",
                                "--feedback-log", str(folder / "feedback.jsonl"), "--public-url", base,
                                "--store", str(folder / "store.sqlite3")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    wait_until_serving(base, process)
    try:
        yield base, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


HOOK = "/cds-services/myoivig-patient-view"


def _client(base: str, rng: random.Random, links: list[str], cards: list[str], stop: float) -> None:
    """Hooks and feedback until `stop` or until the service goes away."""
    with httpx.Client(timeout=30) as client:
        while time.monotonic() < stop:
            try:
                answer = client.post(base + HOOK, json=request(rng.choice(CASES)))
                found = answer.json()["cards"]
                if found:
                    links.append(found[0]["links"][0]["url"])
                    cards.append(found[0]["uuid"])
                    client.post(base + HOOK + "/feedback", json={"feedback": [{
                        "card": found[0]["uuid"], "outcome": "overridden",
                        "outcomeTimestamp": "2026-01-15T10:00:00Z"}]})
            except (httpx.HTTPError, ValueError, KeyError):
                return


def serve_kill(folder: Path, rng: random.Random) -> tuple[bool, str, str]:
    """kill -9 while four clients write reports and feedback; after a restart on the same files every link
    answered before the kill opens, the store passes SQLite's integrity check and the feedback log is whole."""
    links: list[str] = []
    cards: list[str] = []
    with service(folder) as (base, process):
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            stop = time.monotonic() + 20
            for _ in range(4):
                pool.submit(_client, base, random.Random(rng.random()), links, cards, stop)
            time.sleep(rng.uniform(0.5, 3.0))
            process.kill()
    integrity = sqlite3.connect(folder / "store.sqlite3").execute("PRAGMA integrity_check").fetchone()[0]
    log = folder / "feedback.jsonl"
    lines = log.read_bytes().split(b"\n") if log.exists() else [b""]
    whole = lines.pop() == b"" and all(json.loads(line)["card"] for line in lines)
    with service(folder) as (base, _process):
        opened = [httpx.get(base + link.removeprefix(link.split("/reports/")[0]), timeout=30).status_code
                  for link in rng.sample(links, min(len(links), 5))]
    ok = integrity == "ok" and whole and all(status == 200 for status in opened)
    return ok, "while writing", f"{len(links)} reports; integrity {integrity}, log whole {whole}, links {opened}"


def serve_term(folder: Path, rng: random.Random) -> tuple[bool, str, str]:
    """SIGTERM with requests in flight and a half-sent body: the answered ones are whole, exit 0 in time."""
    with service(folder) as (base, process):
        host, port = base.removeprefix("http://").split(":")
        slow = socket.create_connection((host, int(port)))
        slow.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "Content-Length: 500\r\n\r\n{".encode())
        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            calls = [pool.submit(httpx.post, base + HOOK, json=request(rng.choice(CASES)), timeout=30)
                     for _ in range(rng.randint(1, 6))]
            time.sleep(rng.uniform(0.0, 0.5))
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            answers = []
            for call in calls:
                try:
                    answers.append(call.result().status_code)
                except httpx.HTTPError:
                    answers.append(0)  # refused after the stop began: never half an answer
        code = process.wait(timeout=60)
        took = time.monotonic() - started
        slow.close()
    # a request sent after the listener closed is refused (0); none is half-answered or a 5xx
    ok = code == 0 and took < 25 and all(status in (200, 0) for status in answers)
    return ok, "requests in flight", f"exit {code} after {took:.1f} s, answers {answers}"


def slow_clients(folder: Path, count: int) -> list[tuple[bool, str, str]]:
    """`count` clients send half a body at once; each gets 408 after the deadline, while a normal call
    is answered meanwhile."""
    with service(folder) as (base, _process):
        host, port = base.removeprefix("http://").split(":")
        socks = []
        for _ in range(count):
            sock = socket.create_connection((host, int(port)))
            sock.sendall(f"POST {HOOK} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                         "Content-Length: 900\r\n\r\n{\"hook\":".encode())
            socks.append(sock)
        meanwhile = httpx.post(base + HOOK, json=request(CASES[0]), timeout=30).status_code
        results = []
        for sock in socks:
            sock.settimeout(30)
            try:
                answer = sock.recv(65536).decode(errors="replace")
            except OSError as exc:
                answer = str(exc)
            sock.close()
            results.append((answer.startswith("HTTP/1.1 408") and meanwhile == 200, "half a body",
                            answer[:120]))
        return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="Multiply every class's count (0.1 for a smoke run).")
    parser.add_argument("--only", default=None, help="One class: " + ", ".join(CLASSES))
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--json", type=Path, default=None, help="Also write the tallies as JSON here.")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="myoivig-faults-"))
    started = time.monotonic()
    tallies: list[Tally] = []
    try:
        cohort = Cohort(work)
        mounted = _tmpfs(work / "probe", "64k")
        subprocess.run(["umount", str(work / "probe")], capture_output=True)
        for name, (count, fault) in CLASSES.items():
            if args.only not in (None, name):
                continue
            tally = Tally(name)
            runs = max(1, round(count * args.scale))
            seeds = [rng.random() for _ in range(runs)]

            def one(number: int, fault: Any = fault, name: str = name, seeds: list[float] = seeds
                    ) -> list[tuple[bool, str, str]]:
                folder = work / f"{name}-{number}"
                folder.mkdir()
                try:
                    found = fault(cohort, folder, random.Random(seeds[number]), mounted)
                    return found if isinstance(found, list) else [found]
                except Exception as exc:  # a harness failure is a fault that did not hold
                    return [(False, "harness", f"{type(exc).__name__}: {exc}")]
                finally:
                    shutil.rmtree(folder, ignore_errors=True)
            parallel = 1 if name.startswith(("serve", "audit-kill")) else 2  # two cores
            with concurrent.futures.ThreadPoolExecutor(parallel) as pool:
                for results in pool.map(one, range(runs)):
                    for ok, where, detail in results:
                        tally.record(ok, where, detail)
            tallies.append(tally)
            print(f"{name:<18} {tally.held:>4}/{tally.faults:<4} held   "
                  + "; ".join(f"{where} {n}" for where, n in sorted(tally.landed.items())), flush=True)
            for failure in tally.failures[:5]:
                print(f"    FAILED {failure}", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    total, held = sum(t.faults for t in tallies), sum(t.held for t in tallies)
    print(f"{held} of {total} injected faults held in {time.monotonic() - started:.0f} s "
          f"(tmpfs {'mounted' if mounted else 'not available: file-size limits instead'})")
    if args.json is not None:
        args.json.write_text(json.dumps([{"class": t.name, "faults": t.faults, "held": t.held,
                                          "landed": dict(t.landed), "failures": t.failures} for t in tallies],
                                        indent=2) + "\n")
    return 0 if held == total and total else 1


def _audit_log(folder: Path) -> Path:
    log = folder / "audit.jsonl"
    for case in CASES[:12]:
        run("consult", str(Path(__file__).resolve().parent.parent / "knowledge_base" / "cases" / f"{case}.yaml"),
            "--audit-log", str(log))
    return log


CLASSES: dict[str, tuple[int, Callable[..., Any]]] = {
    "batch-kill-9": (50, lambda c, f, r, m: batch_signal(c, f, r, "KILL")),
    "batch-sigterm": (25, lambda c, f, r, m: batch_signal(c, f, r, "TERM")),
    "batch-sigint": (15, lambda c, f, r, m: batch_signal(c, f, r, "INT")),
    "batch-full-disk": (30, batch_full_disk),
    "batch-closed-pipe": (6, lambda c, f, r, m: batch_broken_pipe(c, f, r)),
    "audit-kill-9": (25, lambda c, f, r, m: audit_kill(f, r)),
    "audit-tamper": (1, lambda c, f, r, m: [audit_tamper(log, f, random.Random(r.random()))
                                            for log in [_audit_log(f)] for _ in range(40)]),
    "serve-kill-9": (12, lambda c, f, r, m: serve_kill(f, r)),
    "serve-sigterm": (15, lambda c, f, r, m: serve_term(f, r)),
    "serve-slow-client": (1, lambda c, f, r, m: slow_clients(f, 10)),
}
"""Class: (runs, fault). audit-tamper and serve-slow-client make 40 and 10 faults in one run each."""


if __name__ == "__main__":
    raise SystemExit(main())
