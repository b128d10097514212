"""The `myoivig` program's entry: a stop (SIGTERM or Ctrl-C) is an interrupt from the first instruction on.

SIGTERM raises KeyboardInterrupt like Ctrl-C, so a stop that lands while the program is still
starting (importing, loading the knowledge base) ends as every other interrupt does: exit 130, one
line, no traceback, and no output begun.
"""
from __future__ import annotations

import signal
import sys


def run() -> None:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    code = 130  # engine.errors.INTERRUPTED, which a stop may land before importing
    try:
        from myoivig.cli.main import main  # cli/main.py
        from myoivig.engine.errors import INTERRUPTED  # engine/errors.py (see __init__.py)

        code = INTERRUPTED
        main()
    except KeyboardInterrupt:
        print("Interrupted.", file=sys.stderr)
        sys.exit(code)


if __name__ == "__main__":
    run()
