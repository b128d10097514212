"""`batch --jobs N` and `--scheduler`: the same records as in one process, whatever runs them.

The Dask driver in-process, on a fake `distributed`: partitions, rows in flight, errors, clean-up.

No cluster is started here (tests/test_cluster.py starts real ones); the fake records what is asked of Dask.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase
from myoivig.engine.cluster import IN_FLIGHT_PER_WORKER, NoProfiler, partitions, run_on_dask
from myoivig.engine.cohort import Row, consult_partition
from myoivig.engine.errors import EngineError, InputError, KnowledgeBaseMismatch

from .builders import cohort, write_csv, write_jsonl
from .hooks import free_port

distributed = pytest.importorskip("distributed")
MYOIVIG = [sys.executable, "-m", "myoivig"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Dask cluster on loopback, started as docs/cohorts.md says (`dask scheduler`, `dask worker
    --nworkers 2 --nthreads 1`) from another folder than the client's: records must not depend on where
    a process runs. Yields the scheduler's address."""
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    dask = str(Path(sys.executable).with_name("dask"))
    address = f"tcp://127.0.0.1:{free_port()}"
    scheduler = subprocess.Popen([dask, "scheduler", "--host", "127.0.0.1", "--port", address.rsplit(":", 1)[1],
                                  "--dashboard-address", ":0", "--no-show"],
                                 cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workers = subprocess.Popen([dask, "worker", address, "--nworkers", "2", "--nthreads", "1",
                                "--dashboard-address", ":0", "--local-directory", str(elsewhere)],
                               cwd=elsewhere, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        with distributed.Client(address, timeout="30s") as client:
            client.wait_for_workers(2, timeout=60)
            assert set(client.run(os.getcwd).values()) == {str(elsewhere)}
        yield address
    finally:
        for process in (workers, scheduler):
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(scope="module")
def source(kb: KnowledgeBase, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("cohort")
    return write_jsonl(folder / "in.jsonl", cohort(kb, 400, seed=5), extra=('{"id": "X", "sex": "other"}', "}"))


@pytest.fixture(scope="module")
def one_process(source: Path) -> bytes:
    """The records written in this process: what every other way of running must match byte for byte."""
    assert batch(str(source), "-o", str(source.with_name("one.jsonl"))) == 1
    return source.with_name("one.jsonl").read_bytes()


def batch(*args: str) -> int:
    result = CliRunner().invoke(cli, ["batch", *args, "-q"])
    assert "Traceback" not in result.output, result.output
    return result.exit_code


@pytest.mark.slow
def test_two_local_processes_write_the_same_bytes_as_one(kb: KnowledgeBase, source: Path, one_process: bytes,
                                                         tmp_path: Path) -> None:
    assert batch(str(source), "-o", str(tmp_path / "two.jsonl"), "--jobs", "2", "--partition-size", "70") == 1
    assert (tmp_path / "two.jsonl").read_bytes() == one_process
    table = write_csv(kb, tmp_path / "in.csv", cohort(kb, 100, seed=9))
    assert batch(str(table), "-o", str(tmp_path / "one.csv")) == 0
    assert batch(str(table), "-o", str(tmp_path / "two.csv"), "--jobs", "2", "--partition-size", "40") == 0
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


@pytest.mark.slow
def test_a_cluster_at_an_address_writes_the_same_bytes(cluster: str, source: Path, one_process: bytes,
                                                       tmp_path: Path) -> None:
    assert batch(str(source), "-o", str(tmp_path / "remote.jsonl"), "--partition-size", "50",
                 "--scheduler", cluster) == 1
    remote = (tmp_path / "remote.jsonl").read_bytes()
    assert remote == one_process
    assert b'"row":401,"id":"X","error"' in remote and b'"row":402,"error"' in remote
    with distributed.Client(cluster) as client:
        profiling = client.run(lambda dask_worker: "profile" in dask_worker.periodic_callbacks)
    assert list(profiling.values()) == [False, False]  # its per-second call trees grew worker memory


@pytest.mark.slow
def test_a_killed_worker_is_replaced_and_its_rows_recomputed(cluster: str, source: Path, one_process: bytes,
                                                             tmp_path: Path) -> None:
    output = tmp_path / "survived.jsonl"
    with distributed.Client(cluster) as client:
        pids = client.run(os.getpid)
        running = subprocess.Popen([*MYOIVIG, "batch", str(source), "-o", str(output), "-q", "--partition-size",
                                    "40", "--scheduler", cluster])
        while not output.exists() or output.stat().st_size == 0:  # the first partition is written: the rest runs
            time.sleep(0.05)
        killed = next(iter(pids.values()))
        os.kill(killed, signal.SIGKILL)
        assert running.wait(timeout=300) == 1
        assert killed not in client.run(os.getpid).values()  # the nanny started a new worker
    assert output.read_bytes() == one_process


@pytest.mark.slow
def test_a_worker_with_other_rules_refuses_to_advise(kb: KnowledgeBase) -> None:
    rows = [Row(1, None, {"diagnosis": "dermatomyositis"})]
    assert consult_partition(None, kb.sha256, rows)[0]["summary"]["verdict"]
    with pytest.raises(KnowledgeBaseMismatch, match=r"install the same knowledge base on every worker"):
        consult_partition(None, "0" * 64, rows)
    assert KnowledgeBaseMismatch.exit_code == 3


@pytest.mark.slow
def test_an_unreachable_scheduler_is_exit_2_naming_the_option(source: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(tmp_path / "x.jsonl"),
                                      "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in result.output
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.jsonl.partial").exists()  # nothing half-made


# ---------------------------------------------------------------- The Dask driver in-process, on a fake `distributed`: partiti
ROWS = [Row(n, None, {}) for n in range(1, 21)]


class _KilledWorker(Exception):
    pass


class _Future:
    def __init__(self, value: Any) -> None:
        self.value = value

    def result(self) -> Any:
        if isinstance(self.value, BaseException):
            raise self.value
        return self.value


def fake_dask(monkeypatch: pytest.MonkeyPatch, workers: int | None = 1, fail: BaseException | None = None,
              unreachable: bool = False) -> dict[str, Any]:
    """A `distributed` module that records what the driver asks of it; `workers=None`: no `workers` key."""
    seen: dict[str, Any] = {"submitted": [], "cluster": None, "client": None, "closed": [], "plugins": [],
                            "awaited_after": []}

    class LocalCluster:
        def __init__(self, **kwargs: Any) -> None:
            seen["cluster"] = kwargs

        def close(self) -> None:
            seen["closed"].append("cluster")

    class Client:
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            if unreachable:
                raise OSError("Timed out trying to connect")
            seen["client"] = (args, kwargs)

        def register_plugin(self, plugin: Any) -> None:
            seen["plugins"].append(plugin)

        def scheduler_info(self) -> dict[str, Any]:
            return {} if workers is None else {"workers": {f"w{i}": {} for i in range(workers)}}

        def submit(self, function: Any, *args: Any, pure: bool) -> _Future:
            seen["submitted"].append((function, args[:2], pure))
            part = args[2]
            return _Future(fail if fail else [row.number for row in part])

        def close(self) -> None:
            seen["closed"].append("client")

    module = types.ModuleType("distributed")
    module.Client, module.LocalCluster, module.KilledWorker = Client, LocalCluster, _KilledWorker  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "distributed", module)
    return seen


# ---------------------------------------------------------------- partitions
@pytest.mark.parametrize(("count", "size", "lengths"), [
    (0, 3, []), (1, 3, [1]), (3, 3, [3]), (4, 3, [3, 1]), (7, 3, [3, 3, 1]), (5, 1, [1, 1, 1, 1, 1]),
])
def test_rows_are_cut_into_partitions_in_input_order(count: int, size: int, lengths: list[int]) -> None:
    """Every row once, in order, in partitions of `size` (the last may be shorter)."""
    parts = list(partitions(iter(ROWS[:count]), size))
    assert [len(p) for p in parts] == lengths
    assert [row.number for part in parts for row in part] == list(range(1, count + 1))


def test_partitions_read_lazily() -> None:
    """A file of millions is never read whole: the first partition comes before the rest are read."""
    read: list[int] = []

    def rows() -> Any:
        for row in ROWS:
            read.append(row.number)
            yield row
    first = next(partitions(rows(), 2))
    assert [r.number for r in first] == [1, 2] and read == [1, 2]


# ---------------------------------------------------------------- how many are in flight
@pytest.mark.parametrize(("workers", "in_flight"), [(None, 2), (0, 2), (1, 2), (2, 4), (3, 6), (5, 10)])
def test_two_partitions_per_worker_are_in_flight(monkeypatch: pytest.MonkeyPatch, workers: int | None,
                                                 in_flight: int) -> None:
    """Memory stays flat: two partitions per worker (counting at least one worker) before the first is awaited."""
    seen = fake_dask(monkeypatch, workers)
    results = run_on_dask(None, "0" * 64, ROWS, 1, jobs=2)
    assert next(results) == [1]
    assert len(seen["submitted"]) == in_flight
    assert [n for part in results for n in part] == list(range(2, 21))
    assert IN_FLIGHT_PER_WORKER == 2


def test_fewer_partitions_than_slots_all_come_back_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fake_dask(monkeypatch, 4)
    assert list(run_on_dask("kb", "ab" * 32, ROWS[:5], 2, jobs=4)) == [[1, 2], [3, 4], [5]]
    assert [(fn, args, pure) for fn, args, pure in seen["submitted"]] == [
        (consult_partition, ("kb", "ab" * 32), False)] * 3
    assert list(run_on_dask("kb", "ab" * 32, [], 2)) == []


# ---------------------------------------------------------------- local processes or a scheduler
def test_local_processes_are_started_quietly_and_closed(monkeypatch: pytest.MonkeyPatch) -> None:
    """--jobs N: N one-thread processes, a dashboard on a free port; the client and cluster closed after."""
    import logging
    seen = fake_dask(monkeypatch, 3)
    assert list(run_on_dask(None, "0" * 64, ROWS[:1], 5, jobs=3)) == [[1]]
    assert seen["cluster"] == {"n_workers": 3, "threads_per_worker": 1, "processes": True,
                               "dashboard_address": ":0", "silence_logs": logging.ERROR}
    assert seen["closed"] == ["client", "cluster"]
    assert [type(p) for p in seen["plugins"]] == [NoProfiler]


def test_a_scheduler_is_reached_with_a_timeout_and_no_cluster_is_started(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fake_dask(monkeypatch, 2)
    assert list(run_on_dask(None, "0" * 64, ROWS[:3], 2, scheduler="tcp://host:8786")) == [[1, 2], [3]]
    assert seen["client"] == (("tcp://host:8786",), {"timeout": "5s"})
    assert seen["cluster"] is None and seen["closed"] == ["client"]


def test_an_unreachable_scheduler_is_an_input_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    fake_dask(monkeypatch, unreachable=True)
    with pytest.raises(InputError) as caught:
        list(run_on_dask(None, "0" * 64, ROWS[:1], 2, scheduler="tcp://nowhere:1"))
    assert str(caught.value) == "cannot reach the Dask scheduler tcp://nowhere:1: Timed out trying to connect"
    assert caught.value.field == "--scheduler"


def test_without_dask_the_options_say_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """`distributed` not installed: exit 2 with the pip command, not an ImportError traceback."""
    monkeypatch.setitem(sys.modules, "distributed", None)  # makes `from distributed import ...` fail
    with pytest.raises(InputError) as caught:
        list(run_on_dask(None, "0" * 64, ROWS[:1], 2))
    assert str(caught.value) == "--jobs and --scheduler need Dask: pip install 'myoivig[cluster]'"
    assert caught.value.field == "--jobs"


def test_workers_that_keep_dying_stop_the_batch_and_still_close(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = fake_dask(monkeypatch, 1, fail=_KilledWorker("worker w0 died"))
    with pytest.raises(EngineError) as caught:
        list(run_on_dask(None, "0" * 64, ROWS[:2], 5, jobs=1))
    assert str(caught.value) == ("workers died again and again on one partition, so the batch stopped "
                                 "(worker w0 died); the output holds whole records only: --resume continues")
    assert seen["closed"] == ["client", "cluster"]


def test_another_failure_of_a_partition_is_not_called_dying_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker refusing other rules raises its own error, unchanged."""
    fake_dask(monkeypatch, 1, fail=ValueError("other rules"))
    with pytest.raises(ValueError, match=r"^other rules$"):
        list(run_on_dask(None, "0" * 64, ROWS[:2], 5, jobs=1))


# ---------------------------------------------------------------- the profiler plugin
class _Callback:
    def __init__(self) -> None:
        self.stopped = False

    def stop(self) -> None:
        self.stopped = True


def test_no_profiler_stops_and_removes_both_profiler_callbacks_only() -> None:
    """The sampling profiler's two callbacks go; the worker's other callbacks keep running."""
    profile, cycle, heartbeat = _Callback(), _Callback(), _Callback()
    worker = types.SimpleNamespace(periodic_callbacks={"profile": profile, "profile-cycle": cycle,
                                                       "heartbeat": heartbeat})
    NoProfiler().setup(worker)
    assert (profile.stopped, cycle.stopped, heartbeat.stopped) == (True, True, False)
    assert worker.periodic_callbacks == {"heartbeat": heartbeat}
    assert NoProfiler.name == "myoivig-no-profiler"


def test_no_profiler_on_a_worker_without_a_profiler_does_nothing() -> None:
    """A worker started with the profiler off has no such callbacks: nothing to stop, no error."""
    worker = types.SimpleNamespace(periodic_callbacks={})
    NoProfiler().setup(worker)
    assert worker.periodic_callbacks == {}
