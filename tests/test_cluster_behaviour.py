"""The Dask driver in-process, on a fake `distributed`: partitions, rows in flight, errors, clean-up.

No cluster is started here (tests/test_cluster.py starts real ones); the fake records what is asked of Dask.
"""
from __future__ import annotations

import sys
import types
from typing import Any

import pytest

from myoivig.engine.cluster import IN_FLIGHT_PER_WORKER, NoProfiler, partitions, run_on_dask
from myoivig.engine.cohort import Row, consult_partition
from myoivig.engine.errors import EngineError, InputError

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
