"""Writing the files a command produces: all of them or none, never a part of one.

Each file is first written to a temporary file in its own folder, then every one is
renamed over its target (a rename within a folder is atomic): a killed process
leaves the old file or the new one, a failed write leaves no output of the command
and the old files untouched, and every write error is a message (exit 2).
"""
from __future__ import annotations

import os
import stat
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from ..engine import InputError

STDOUT = Path("-")
"""`-o -`: standard output."""


def write_outputs(outputs: Sequence[tuple[Path, bytes]]) -> None:
    """Write every (path, content) pair, or none of them; `-` is standard output, written last."""
    to_stdout = [data for path, data in outputs if path == STDOUT]
    outputs = [(path, data) for path, data in outputs if path != STDOUT]
    _write_files(outputs)
    for data in to_stdout:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()


def _mode_for(path: Path) -> int:
    """The target's own mode if it exists, else what the umask gives a new file."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def _write_files(outputs: Sequence[tuple[Path, bytes]]) -> None:
    staged: list[tuple[Path, str]] = []
    devices = [(path, data) for path, data in outputs if path.exists() and not path.is_file()]
    device_paths = {path for path, _ in devices}
    current = Path()
    try:
        for current, data in outputs:
            if current in device_paths:
                continue
            handle, temporary = tempfile.mkstemp(prefix=f".{current.name}.", suffix=".part",
                                                 dir=current.parent)
            staged.append((current, temporary))
            os.fchmod(handle, _mode_for(current))  # mkstemp makes 0600; a replaced file keeps its mode
            with os.fdopen(handle, "wb") as stream:
                stream.write(data)
                stream.flush()
                os.fsync(stream.fileno())
        for current, data in devices:  # a device or a pipe (/dev/stdout, /dev/full) cannot be renamed over
            with current.open("wb") as stream:
                stream.write(data)
        for current, temporary in staged:
            os.replace(temporary, current)
    except OSError as exc:
        for _, temporary in staged:
            Path(temporary).unlink(missing_ok=True)
        raise InputError(f"cannot write {current}: {exc.strerror or exc}", field=str(current)) from None
