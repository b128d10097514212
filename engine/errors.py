"""One exception tree for myoivig.

Each class carries the exit code the CLI turns it into, so the CLI never has to
guess what went wrong; the library raises these and nothing else for expected
failures.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

FINDINGS = 1
"""The exit of a check that found something: a case failed, a record changed, a chain broke, a batch
row was refused, coverage fell short. The user reads what it found; nothing went wrong in myoivig."""
INTERRUPTED = 130
"""The exit of a command stopped by Ctrl-C or SIGTERM (128 + SIGINT, as a shell reports Ctrl-C)."""


class MyoivigError(Exception):
    """Base of every error myoivig raises on purpose."""

    exit_code = 1


MAX_PROBLEMS = 20
"""The most problems one input is told (the rest are counted)."""


class InputError(MyoivigError):
    """The patient data (or a command argument) is wrong: the user can fix it."""

    exit_code = 2

    def __init__(self, message: str, field: str | None = None,
                 allowed: str | None = None, suggestion: str | None = None) -> None:
        self.field = field
        self.allowed = allowed
        self.suggestion = suggestion
        text = message
        if suggestion:
            text += f" (did you mean '{suggestion}'?)"
        if allowed:
            text += f"; allowed: {allowed}"
        super().__init__(text)
        self.problems: list[InputError] = [self]

    @classmethod
    def of(cls, problems: Sequence[InputError]) -> InputError:
        """One error for several problems, each on its own line (a single one stays as it is). At most
        MAX_PROBLEMS are told, then how many more: a row of 100,000 stray keys stays a short record."""
        if len(problems) == 1:
            return problems[0]
        told = list(problems[:MAX_PROBLEMS])
        if len(problems) > MAX_PROBLEMS:
            told.append(cls(f"... and {len(problems) - MAX_PROBLEMS} more"))
        error = cls(f"{len(problems)} problems:\n  " + "\n  ".join(str(p) for p in told), field=problems[0].field)
        error.problems = told
        return error


def shown(path: Path) -> str:
    """A file as a terminal opens it from here: relative to the current folder when inside it, else absolute."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path.resolve())


@dataclass(frozen=True)
class Problem:
    """One finding about a knowledge-base file, located for an editor."""

    file: str
    line: int
    column: int
    message: str
    rule: str | None = None
    hint: str | None = None
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}:{self.column}"
        rule = f" [{self.rule}]" if self.rule else ""
        hint = f" - {self.hint}" if self.hint else ""
        return f"{where}: {self.severity}{rule}: {self.message}{hint}"


class KnowledgeBaseError(MyoivigError):
    """The knowledge base is broken: it must never give advice."""

    exit_code = 3

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = list(problems)
        lines = [str(p) for p in self.problems]
        super().__init__("the knowledge base is invalid:\n  " + "\n  ".join(lines))


class EngineError(MyoivigError):
    """The rule engine failed while running: a defect, not the user's fault."""

    exit_code = 4


class OutputError(MyoivigError):
    """The output could not be written: a full disk, a closed pipe (`| head`), a device error."""

    exit_code = 74  # EX_IOERR (sysexits.h)


class KnowledgeBaseMismatch(MyoivigError):
    """A worker holds other rules than the client: its advice would not be the client's."""

    exit_code = 3


class HookError(MyoivigError):
    """A CDS Hooks answer other than 200, with the OperationOutcome issue code the spec's table gives
    (the service turns it into an HTTP status; it never reaches a command's exit)."""

    def __init__(self, status: int, code: str, message: str, expression: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.expression = status, code, message, expression
