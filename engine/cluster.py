"""Where a cohort's rows are consulted: in this process, on N local processes, or on a Dask cluster.

Dask rather than multiprocessing: a worker that dies is replaced and its partitions
recomputed, where a `multiprocessing.Pool` hangs forever. Workers receive rows, the
knowledge base's folder and its checksum, never an engine (durable engines do not
pickle); each loads the rules once per process (`cohort.consult_partition`). Only a
few partitions are in flight at a time and their records come back in input order,
so memory stays flat and the output is the same whatever ran it.
"""
from __future__ import annotations

import itertools
import logging
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any

from .cohort import Row, consult_partition, finished_partition
from .errors import EngineError, InputError

try:
    from distributed import WorkerPlugin
except ImportError:  # Dask is optional; run_on_dask says how to install it
    WorkerPlugin = object  # type: ignore[misc,assignment]

IN_FLIGHT_PER_WORKER = 2
"""Partitions queued per worker: one running, one ready, no more held in memory."""


class NoProfiler(WorkerPlugin):
    """Stops Dask's sampling profiler on every worker, including one that joins later or replaces
    a dead one. It keeps a call-stack tree per second of work, up to 1,000 of them: a worker's
    memory grew about 2 KB a patient for the first quarter hour. Nothing here reads it."""

    name = "myoivig-no-profiler"

    def setup(self, worker: Any) -> None:
        for name in ("profile", "profile-cycle"):
            callback = worker.periodic_callbacks.pop(name, None)
            if callback is not None:
                callback.stop()


def partitions(rows: Iterable[Row], size: int) -> Iterator[list[Row]]:
    iterator = iter(rows)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def run_on_dask(kb_dir: str | None, sha256: str, rows: Iterable[Row], partition_size: int, *,
                jobs: int = 2, scheduler: str | None = None, fmt: str | None = None) -> Iterator[list[Any]]:
    """Each partition's records, in input order, from `jobs` local processes or the cluster at `scheduler`;
    with `fmt`, finished on the workers (cohort.Finished: the output line and what the summary counts)."""
    try:
        from distributed import Client, KilledWorker, LocalCluster
    except ImportError:
        raise InputError("--jobs and --scheduler need Dask: pip install 'myoivig[cluster]'",
                         field="--jobs") from None
    cluster = None
    if scheduler is None:
        cluster = LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                               dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    else:
        try:
            client = Client(scheduler, timeout="5s")
        except OSError as exc:
            raise InputError(f"cannot reach the Dask scheduler {scheduler}: {exc}",
                             field="--scheduler") from None
    try:
        client.register_plugin(NoProfiler())
        workers = max(len(client.scheduler_info().get("workers", {})), 1)
        pending: deque[Any] = deque()
        for part in partitions(rows, partition_size):
            pending.append(client.submit(consult_partition, kb_dir, sha256, part, pure=False) if fmt is None
                           else client.submit(finished_partition, kb_dir, sha256, part, fmt, pure=False))
            while len(pending) >= IN_FLIGHT_PER_WORKER * workers:
                yield _result(pending.popleft(), KilledWorker)
        while pending:
            yield _result(pending.popleft(), KilledWorker)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _result(future: Any, killed: type[BaseException]) -> list[Any]:
    try:
        return future.result()  # type: ignore[no-any-return]
    except killed as exc:
        raise EngineError(f"workers died again and again on one partition, so the batch stopped ({exc}); "
                          "the output holds whole records only: --resume continues") from None
