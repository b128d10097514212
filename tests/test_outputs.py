"""Nothing half-written, the same answer every time: atomic outputs and byte-identical results."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from myoivig.cli.main import cli

from .conftest import KB_DIR

EARLY = str(KB_DIR / "cases" / "imnm_anti_hmgcr_early.yaml")
LIMIT_FILE_SIZE = "import resource, sys; resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096)); "


def myoivig(args: list[str], prelude: str = "", env: dict[str, str] | None = None,
            cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    code = prelude + "from myoivig.cli.main import main; main(sys.argv[1:])"
    return subprocess.run([sys.executable, "-c", "import sys; " + code, *args], capture_output=True, text=True,
                          timeout=120, check=False, env=env, cwd=cwd)


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.iterdir() if path.name.endswith(".part"))


def test_a_full_disk_leaves_the_old_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "kb.gv"
    target.write_text("the previous graph\n")
    result = myoivig(["graph", "kb", "-o", str(target)], LIMIT_FILE_SIZE)  # the graph is about 40 KB
    assert result.returncode == 2, result.stderr
    assert f"cannot write {target}: File too large" in result.stderr and "Traceback" not in result.stderr
    assert target.read_text() == "the previous graph\n"
    assert leftovers(tmp_path) == []


def test_dev_full_is_a_message() -> None:
    result = CliRunner().invoke(cli, ["graph", "kb", "-o", "/dev/full", "--graph-format", "dot"])
    assert (result.exit_code, result.stdout) == (2, "")
    assert "cannot write /dev/full: No space left on device" in result.stderr


@pytest.mark.parametrize("where", ["missing/kb.dot", "/proc/kb.dot"])
def test_an_unwritable_folder_is_a_message(tmp_path: Path, where: str) -> None:
    target = tmp_path / where if not where.startswith("/") else Path(where)
    result = CliRunner().invoke(cli, ["graph", "kb", "-o", str(target)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert f"cannot write {target}:" in result.stderr


def test_a_failed_command_leaves_none_of_its_outputs(tmp_path: Path) -> None:
    graph, case = tmp_path / "g.dot", tmp_path / "missing" / "c.yaml"
    result = CliRunner().invoke(cli, ["consult", EARLY, "--graph", str(graph), "--save-case", str(case)])
    assert (result.exit_code, result.stdout) == (2, "")
    assert f"cannot write {case}" in result.stderr
    assert not graph.exists() and leftovers(tmp_path) == []


def test_a_writer_killed_before_the_rename_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "kb.gv"
    target.write_text("the previous graph\n")
    killed = "import os; os.replace = lambda *a: os._exit(137); "  # dies at the worst moment
    result = myoivig(["graph", "kb", "-o", str(target)], killed)
    assert result.returncode == 137
    assert target.read_text() == "the previous graph\n"
    [part] = leftovers(tmp_path)  # the finished temporary file, never at the target's name
    assert (tmp_path / part).read_text().startswith("digraph knowledge_base {")


def test_a_successful_write_replaces_the_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "kb.gv"
    target.write_text("the previous graph\n")
    assert CliRunner().invoke(cli, ["graph", "kb", "-o", str(target)]).exit_code == 0
    assert target.read_text().startswith("digraph knowledge_base {") and leftovers(tmp_path) == []


def test_the_same_patient_gives_byte_identical_output_whatever_the_hash_seed(tmp_path: Path) -> None:
    outputs = set()
    for seed in ("0", "1", "4242"):
        env = dict(os.environ, PYTHONHASHSEED=seed)
        text = myoivig(["consult", EARLY, "--detail", "--trace"], env=env).stdout
        data = myoivig(["consult", EARLY, "--format", "json"], env=env).stdout
        graph = tmp_path / f"g{seed}.dot"
        assert myoivig(["graph", "case", EARLY, "-o", str(graph)], env=env).returncode == 0
        outputs.add((text, data, graph.read_text()))
    assert len(outputs) == 1
    text, data, graph_source = outputs.pop()
    assert text.startswith("IVIG: INDICATED") and '"verdict": "indicated"' in data and graph_source


def test_written_files_get_the_usual_mode(tmp_path: Path) -> None:
    """mkstemp makes its files 0600: the rename must not leave a graph only root can read."""
    umask = os.umask(0o022)
    try:
        target = tmp_path / "kb.gv"
        assert CliRunner().invoke(cli, ["graph", "kb", "-o", str(target)]).exit_code == 0
        assert target.stat().st_mode & 0o777 == 0o644
        target.chmod(0o640)
        assert CliRunner().invoke(cli, ["graph", "kb", "-o", str(target)]).exit_code == 0
        assert target.stat().st_mode & 0o777 == 0o640  # a replaced file keeps its own mode
    finally:
        os.umask(umask)
