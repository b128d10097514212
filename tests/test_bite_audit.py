"""The audit log's exact layout, its torn-line repair at every size, and replay's exact verdicts."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from myoivig.engine import KnowledgeBase, consult, normalize
from myoivig.engine.audit import append_record, audit_record, read_log, replay
from myoivig.engine.errors import InputError

EARLY = {"diagnosis": "IMNM", "autoantibodies": ["anti_hmgcr"], "severity": "moderate", "dysphagia": True,
         "months_since_diagnosis": 3, "sex": "female", "height_cm": 165, "weight_kg": 72, "age_years": 52}


@pytest.fixture
def record(kb: KnowledgeBase) -> dict:
    return audit_record(kb, consult(kb, normalize(kb, EARLY)), "test", "consult")


def test_a_record_says_it_is_format_2(record: dict) -> None:
    """README: audit log documents `format` (2: chained); a reader keys its parsing on it."""
    assert record["format"] == 2


@pytest.mark.parametrize(("before", "kept"), [
    ("\n", "\n"),                                  # an empty first line is whole: kept
    ("torn", ""),                                  # no newline at all: all of it is torn
    ('{"a":1}\n' + "x" * 100_000, '{"a":1}\n'),   # a torn line longer than one 64 KiB read
    ('{"a":1}\n' + "x" * 70_000, '{"a":1}\n'),    # a torn line just over one read
])
def test_the_next_writer_cuts_exactly_the_torn_tail(tmp_path: Path, record: dict, deadline: None,
                                                     before: str, kept: str) -> None:
    """Whatever size a killed writer's fragment, the whole lines before it stay and only it goes."""
    log = tmp_path / "audit.jsonl"
    log.write_text(before)
    append_record(log, record)
    text = log.read_text()
    written = json.loads(text[len(kept):])
    assert text.startswith(kept) and {k: v for k, v in written.items() if k != "prev"} == record


def test_a_full_disk_is_an_input_error_naming_the_log(record: dict) -> None:
    """A write that fails says so (exit 2), rather than crashing or losing the record silently."""
    with pytest.raises(InputError) as caught:
        append_record(Path("/dev/full"), record)
    assert str(caught.value) == "cannot write the audit log /dev/full: No space left on device"


def test_an_unreadable_log_names_the_reason_in_words(tmp_path: Path) -> None:
    """The OS's words (strerror), not Python's repr of the exception."""
    missing = tmp_path / "none.jsonl"
    with pytest.raises(InputError) as caught:
        list(read_log(missing))
    assert str(caught.value) == f"cannot read the audit log {missing}: No such file or directory"


def test_replay_reports_the_verdict_then_and_now_and_the_conclusions_gained(kb: KnowledgeBase, record: dict) -> None:
    """A changed verdict is reported as (then, now) whichever way it went; gained is not also lost."""
    record["verdict"], record["conclusions"] = "contraindicated", ["dosing.standard_regimen", "no.such_rule"]
    [result] = replay(kb, iter([json.dumps(record)]))
    assert result.status == "changed"
    assert result.recorded_with == f"{kb.name} {kb.version} ({kb.sha256[:12]})"
    assert result.verdict == ("contraindicated", "indicated")
    assert result.lost == ("no.such_rule",)
    assert "dosing.standard_regimen" not in result.gained and "dosing.ideal_body_weight" in result.gained


def test_replay_clips_a_long_vocabulary_complaint_to_300_characters(kb: KnowledgeBase, record: dict) -> None:
    """A patient with many refused facts gets a bounded reason, exactly 300 characters."""
    record["patient"] = {f"unknown_fact_{i}": i for i in range(12)}
    [result] = replay(kb, iter([json.dumps(record)]))
    assert result.status == "unreadable" and result.reason is not None
    assert len(result.reason) == 300
    assert result.reason.startswith("the patient no longer fits the vocabulary: 12 problems:")
