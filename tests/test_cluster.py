"""`batch --jobs N` and `--scheduler`: the same records as in one process, whatever runs them."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli
from myoivig.engine import KnowledgeBase
from myoivig.engine.cohort import Row, consult_partition
from myoivig.engine.errors import KnowledgeBaseMismatch

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


def test_two_local_processes_write_the_same_bytes_as_one(kb: KnowledgeBase, source: Path, one_process: bytes,
                                                         tmp_path: Path) -> None:
    assert batch(str(source), "-o", str(tmp_path / "two.jsonl"), "--jobs", "2", "--partition-size", "70") == 1
    assert (tmp_path / "two.jsonl").read_bytes() == one_process
    table = write_csv(kb, tmp_path / "in.csv", cohort(kb, 100, seed=9))
    assert batch(str(table), "-o", str(tmp_path / "one.csv")) == 0
    assert batch(str(table), "-o", str(tmp_path / "two.csv"), "--jobs", "2", "--partition-size", "40") == 0
    assert (tmp_path / "one.csv").read_bytes() == (tmp_path / "two.csv").read_bytes()


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


def test_a_worker_with_other_rules_refuses_to_advise(kb: KnowledgeBase) -> None:
    rows = [Row(1, None, {"diagnosis": "dermatomyositis"})]
    assert consult_partition(None, kb.sha256, rows)[0]["summary"]["verdict"]
    with pytest.raises(KnowledgeBaseMismatch, match=r"install the same knowledge base on every worker"):
        consult_partition(None, "0" * 64, rows)
    assert KnowledgeBaseMismatch.exit_code == 3


def test_an_unreachable_scheduler_is_exit_2_naming_the_option(source: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["batch", str(source), "-o", str(tmp_path / "x.jsonl"),
                                      "--scheduler", "tcp://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "cannot reach the Dask scheduler tcp://127.0.0.1:9" in result.output
    assert not (tmp_path / "x.jsonl").exists() and not (tmp_path / "x.jsonl.partial").exists()  # nothing half-made
