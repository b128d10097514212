"""`make bench`: every speed and memory figure of docs/performance.md, measured side by side.

Machines are shared and noisy, so each comparison runs its contenders interleaved on the
same generated cohort, repeated, and prints the median with the spread (min-max); ratios
between contenders measured together mean something, absolute numbers less so. Never part
of the test suite. `--quick` shrinks every size tenfold (a smoke run, not figures to quote).
"""
from __future__ import annotations

import argparse
import concurrent.futures
import csv
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from myoivig.engine import load_knowledge_base
from myoivig.engine.consultation import consult
from myoivig.engine.durable_engine import DurableEngine
from myoivig.engine.evaluator import evaluate_rules
from myoivig.engine.model import KnowledgeBase
from myoivig.engine.population import generate

ROOT = Path(__file__).resolve().parent.parent
PATIENT = ROOT / "knowledge_base" / "cases" / "imnm_anti_hmgcr_early.yaml"
MYOIVIG = [sys.executable, "-m", "myoivig"]
IMPORT_FLOOR = "import durable.lang, yaml, click, graphviz"
TARGETS = {"consult_per_core": 1000.0, "consult_vs_floor": 30.0, "cold_vs_floor": 1.5, "memory_growth": 1.2,
           "parallel_efficiency": 0.85, "batch_per_process": 900.0, "serve_one_client": 150.0, "serve_16_vs_1": 1.15}
"""The targets of issue #24, printed beside each figure; never asserted (machines are shared and noisy)."""
FLOOR_WHEN_SET = 32_953.0
"""The direct evaluator's rate (patients/s) on the machine and day issue #24 set its targets in patients or
requests a second. A slower machine scales them by its own floor / this: both verdicts are printed."""
REQUEST = ROOT / "docs" / "examples" / "patient-view-request.json"


def spread(values: list[float], unit: str = "", scale: float = 1.0, places: int = 0) -> str:
    med, low, high = (statistics.median(values) * scale, min(values) * scale, max(values) * scale)
    return f"{med:>10,.{places}f}{unit} (spread {low:,.{places}f}-{high:,.{places}f})"


def verdict(ok: bool) -> str:
    return "target met" if ok else "TARGET MISSED (docs/performance.md says why)"


def rate_verdict(value: float, target: float, speed: float | None) -> str:
    """A rate against its target as set, and against the target scaled to this machine's speed."""
    said = f"target >= {target:,.0f}/s: {verdict(value >= target)}"
    if speed is None:
        return said
    return f"{said}; scaled to this machine ({speed:.2f}x the issue's) >= {target * speed:,.0f}/s: " \
           f"{verdict(value >= target * speed)}"


def rates(kb: KnowledgeBase, count: int, repeats: int) -> float:
    """Section 1; returns this machine's speed against the one issue #24's targets were set on."""
    patients = generate(kb, count, seed=21)
    engine = DurableEngine(kb)
    contenders: dict[str, Callable[[dict[str, Any]], Any]] = {
        "full consultation (engine, cross-check, verdict, dose, missing)": lambda f: consult(kb, f),
        "durable_rules engine alone (trace on; there is no off switch)": engine.run,
        "direct three-valued evaluator (the floor)": lambda f: evaluate_rules(kb, f),
    }
    for facts in patients[:30]:  # warm every cache before timing
        for run in contenders.values():
            run(facts)
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            for facts in patients:
                run(facts)
            results[name].append(count / (time.perf_counter() - start))
    print(f"\n1. Patients per second, one process, {count:,} generated patients, {repeats} interleaved repeats")
    for name, values in results.items():
        print(f"  {name:<66} {spread(values, '/s')}")
    full, alone, floor = (statistics.median(v) for v in results.values())
    print(f"  ratios: direct / engine {floor / alone:.1f}x; engine / full consultation {alone / full:.2f}x")
    print(f"  full consultation / direct floor {floor / full:.1f}x (target <= {TARGETS['consult_vs_floor']:.0f}x: "
          f"{verdict(floor / full <= TARGETS['consult_vs_floor'])})")
    speed = floor / FLOOR_WHEN_SET
    print(f"  full consultations per core: {rate_verdict(full, TARGETS['consult_per_core'], speed)}")
    engine.close()
    return speed


def cpu_seconds(command: list[str]) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of one child process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=INSTALLED)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return usage.ru_utime + usage.ru_stime, time.perf_counter() - start


INSTALLED = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
"""Cold starts run as an installed program does: from compiled bytecode (pip compiles it at install; with
PYTHONDONTWRITEBYTECODE the source tree would be compiled again by every run, and the floor's libraries,
installed by pip, would not)."""


def cold_start(repeats: int) -> None:
    contenders = {
        "myoivig consult PATIENT (cold process)": [*MYOIVIG, "consult", str(PATIENT)],
        f"import floor: python -c '{IMPORT_FLOOR}'": [sys.executable, "-c", IMPORT_FLOOR],
        "python -c pass": [sys.executable, "-c", "pass"],
    }
    results: dict[str, list[float]] = {name: [] for name in contenders}
    for command in contenders.values():  # a first run writes the bytecode and the checked knowledge base's cache
        cpu_seconds(command)
    for _ in range(repeats):
        for name, command in contenders.items():
            results[name].append(cpu_seconds(command)[0])
    print(f"\n2. Cold start, CPU seconds of one process, {repeats} interleaved repeats")
    for name, values in results.items():
        print(f"  {name:<66} {spread(values, ' ms', 1000)}")
    consult_cpu, floor, bare = (statistics.median(v) for v in results.values())
    ratio = consult_cpu / floor
    print(f"  cold consult / import floor {ratio:.2f}x (target <= {TARGETS['cold_vs_floor']:.1f}x: "
          f"{verdict(ratio <= TARGETS['cold_vs_floor'])}); above python -c pass: "
          f"{(consult_cpu - bare) * 1000:,.0f} ms")


def write_cohort(kb: KnowledgeBase, path: Path, count: int) -> Path:
    names = list(kb.facts)
    with path.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["id", *names])
        for number, facts in enumerate(generate(kb, count, seed=33), 1):
            writer.writerow([f"P{number}", *(";".join(facts[n]) or "none" if isinstance(facts.get(n), list)
                                            else str(facts[n]).lower() if isinstance(facts.get(n), bool)
                                            else facts.get(n, "") for n in names)])
    return path


# The child's own high-water mark (Linux): ru_maxrss would also count the pages of this process,
# which the child shares between fork and exec, and this one holds whole cohorts.
PEAK = ("import atexit, runpy, sys; atexit.register(lambda: print('VmHWM', open('/proc/self/status').read()"
        ".split('VmHWM:')[1].split()[0], file=sys.stderr)); sys.argv = ['myoivig', *sys.argv[1:]]; "
        "runpy.run_module('myoivig', run_name='__main__', alter_sys=True)")


def peak_memory(kb: KnowledgeBase, sizes: list[int], folder: Path) -> None:
    print("\n3. Peak memory (the process's own high-water RSS) of `myoivig batch COHORT.csv -o OUT.csv`")
    peaks = []
    for size in sizes:
        cohort = write_cohort(kb, folder / f"cohort{size}.csv", size)
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", PEAK, "batch", str(cohort), "-o", str(folder / "out.csv"), "-q"],
                              capture_output=True, text=True)
        elapsed = time.perf_counter() - start
        peaks.append(int(done.stderr.split("VmHWM")[-1].split()[0]) / 1024)
        print(f"  {size:>9,} patients: {peaks[-1]:8.1f} MB peak, {elapsed:7.1f} s ({size / elapsed:,.0f} patients/s)")
    growth = peaks[-1] / peaks[0]
    print(f"  largest / smallest: {growth:.2f}x (target <= {TARGETS['memory_growth']}x: "
          f"{verdict(growth <= TARGETS['memory_growth'])})")


def _burn(_: int) -> int:
    total = 0
    for i in range(6_000_000):
        total += i * i % 7
    return total


def machine_speedup(repeats: int) -> float:
    """This machine's own speed-up for two processes of pure CPU work: the most batch could get."""
    code = "import bench.bench as b; b._burn(0)"
    one, two = [], []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True)
        one.append(time.perf_counter() - start)
        start = time.perf_counter()
        pair = [subprocess.Popen([sys.executable, "-c", code], cwd=ROOT) for _ in range(2)]
        for process in pair:
            process.wait()
        two.append(time.perf_counter() - start)
    return 2 * statistics.median(one) / statistics.median(two)


def parallel(kb: KnowledgeBase, count: int, repeats: int, folder: Path, speed: float | None) -> None:
    cohort = write_cohort(kb, folder / "parallel.csv", count)
    times: dict[int, list[float]] = {1: [], 2: []}
    for _ in range(repeats):
        for jobs in (1, 2):
            start = time.perf_counter()
            subprocess.run([*MYOIVIG, "batch", str(cohort), "-o", str(folder / f"jobs{jobs}.csv"), "-q",
                            "--jobs", str(jobs)], check=False)
            times[jobs].append(time.perf_counter() - start)
    same = (folder / "jobs1.csv").read_bytes() == (folder / "jobs2.csv").read_bytes()
    speedup = statistics.median(times[1]) / statistics.median(times[2])
    machine = machine_speedup(repeats)
    efficiency = speedup / machine
    print(f"\n4. Parallel batch, {count:,} patients, {repeats} interleaved repeats (wall seconds)")
    one_process = count / statistics.median(times[1])
    print(f"  --jobs 1 {spread(times[1], ' s', places=1)}   ({one_process:,.0f} patients/s; "
          f"{rate_verdict(one_process, TARGETS['batch_per_process'], speed)})")
    print(f"  --jobs 2 {spread(times[2], ' s', places=1)}   (outputs byte-identical: {same})")
    print(f"  batch speed-up {speedup:.2f}x; this machine's own for two CPU-bound processes {machine:.2f}x; "
          f"parallel efficiency {efficiency:.0%} (target >= {TARGETS['parallel_efficiency']:.0%}: "
          f"{verdict(efficiency >= TARGETS['parallel_efficiency'])})")


def worker_memory(kb: KnowledgeBase, count: int, folder: Path) -> None:
    """A Dask worker's memory after loading the rules and after `count` patients."""
    import logging

    import distributed
    import psutil

    from myoivig.engine.cluster import run_on_dask
    from myoivig.engine.cohort import Row

    def rss() -> float:
        return float(psutil.Process().memory_info().rss) / 2**20

    rows = [Row(n, None, facts) for n, facts in enumerate(generate(kb, count, seed=44), 1)]
    warm_up = count // 10
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0",
                                  silence_logs=logging.ERROR) as cluster, distributed.Client(cluster) as client:
        for _ in run_on_dask(None, kb.sha256, rows[:warm_up], 500, scheduler=cluster.scheduler_address, fmt="jsonl"):
            pass
        after_load = next(iter(client.run(rss).values()))
        for _ in run_on_dask(None, kb.sha256, rows, 500, scheduler=cluster.scheduler_address, fmt="jsonl"):
            pass
        after = next(iter(client.run(rss).values()))
    print(f"\n5. A Dask worker's memory (500-row partitions): {after_load:.1f} MB after its first {warm_up:,} "
          f"patients, {after:.1f} MB after {count:,} more ({(after - after_load) * 1024 / count:.2f} KB a patient)")


def _serving(workers: int, folder: Path) -> tuple[subprocess.Popen[bytes], str]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    process = subprocess.Popen([*MYOIVIG, "serve", "--port", str(port), "--workers", str(workers), "--as-of",
                                "2026-01-15", "--store", str(folder / f"s{workers}.sqlite3"), "--feedback-log",
                                str(folder / "f.jsonl")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(base + "/cds-services", timeout=1).status_code == 200:
                return process, base
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("the service did not start")


def _clients(base: str, body: bytes, clients: int, each: int) -> tuple[float, list[float]]:
    """`clients` threads, each with its own keep-alive connection, `each` requests: (requests/s, latencies)."""
    latencies: list[float] = []
    url = base + "/cds-services/myoivig-patient-view"

    def client(_: int) -> list[float]:
        took = []
        with httpx.Client(timeout=120, headers={"Content-Type": "application/json"}) as http:
            for _ in range(each):
                start = time.perf_counter()
                assert http.post(url, content=body).status_code == 200
                took.append(time.perf_counter() - start)
        return took

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        for took in pool.map(client, range(clients)):
            latencies += took
    return len(latencies) / (time.perf_counter() - start), latencies


def serve_throughput(requests: int, folder: Path, speed: float | None) -> None:
    """The CDS Hooks service on the docs' example request: one client, 16 and 200 at once, 1 and 2 workers."""
    body = REQUEST.read_bytes()
    print(f"\n6. `myoivig serve` on docs/examples/patient-view-request.json, {requests} requests per run")
    rates: dict[tuple[int, int], float] = {}
    for workers in (1, 2):
        process, base = _serving(workers, folder)
        try:
            _clients(base, body, 4, 10)  # every worker warm
            for clients in (1, 16, 200):
                rate, took = _clients(base, body, clients, max(requests // clients, 2))
                rates[(workers, clients)] = rate
                cut = statistics.quantiles(took, n=100)
                print(f"  {workers} worker(s), {clients:>3} client(s): {rate:7.1f} requests/s, "
                      f"p50 {cut[49] * 1000:7.1f} ms, p99 {cut[98] * 1000:7.1f} ms")
        finally:
            process.terminate()
            process.wait(timeout=30)
    one = rates[(1, 1)]
    ratio = rates[(2, 16)] / rates[(2, 1)]
    print(f"  one client, one worker: {one:.0f}/s ({rate_verdict(one, TARGETS['serve_one_client'], speed)})")
    print(f"  2 workers, 16 clients / 1 client {ratio:.2f}x "
          f"(target >= {TARGETS['serve_16_vs_1']}x: {verdict(ratio >= TARGETS['serve_16_vs_1'])})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="every size tenfold smaller (smoke run)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--only", type=int, nargs="*", default=[1, 2, 3, 4, 5, 6], help="sections to run (1-6)")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    kb = load_knowledge_base()
    print(f"myoivig bench on {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{len(kb.rules)} rules, knowledge base {kb.version}")
    speed = rates(kb, 1000 // scale, args.repeats) if 1 in args.only else None
    if 2 in args.only:
        cold_start(args.repeats)
    with tempfile.TemporaryDirectory() as folder:
        if 3 in args.only:
            peak_memory(kb, [1000 // scale, 10_000 // scale, 100_000 // scale], Path(folder))
        if 4 in args.only:
            parallel(kb, 10_000 // scale, max(args.repeats // 2, 2), Path(folder), speed)
        if 5 in args.only:
            worker_memory(kb, 20_000 // scale, Path(folder))
        if 6 in args.only:
            serve_throughput(2000 // scale, Path(folder), speed)


if __name__ == "__main__":
    main()
