"""Report links that outlive a restart: the consultations behind the cards' links, kept in SQLite.

A card links to `/reports/{token}`: the token is random (never the hookInstance, so a second call with
the same hookInstance cannot replace the report behind the first link), and the row keeps what the
report is made from - the patient's facts, the FHIR reading and the knowledge base's checksum - for
`--report-ttl` hours [local policy: the facts are health data; keep them no longer than the link is
useful]. The report is made again when it is opened (the engine is deterministic), so a row is a few
kilobytes, not a rendered page; a consultation bigger than `MAX_REPORT_BYTES` gets no link.

The same file keeps the uuids of the cards the service issued, with the rules behind each, for as long
as a report: feedback on a card it never issued is refused, and feedback after a restart still joins.
And it keeps the ids (`jti`) of the JWTs already accepted until they expire, so a token is used once
across every worker process of `serve --workers N` and across a restart.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """CREATE TABLE IF NOT EXISTS reports (
    token TEXT PRIMARY KEY, created REAL NOT NULL, expires REAL NOT NULL,
    kb_sha256 TEXT NOT NULL, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS cards (
    uuid TEXT PRIMARY KEY, expires REAL NOT NULL, hook_instance TEXT NOT NULL, rules TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (jti TEXT PRIMARY KEY, expires REAL NOT NULL)"""
MAX_REPORT_BYTES = 256 * 1024
"""A kept consultation is a few kilobytes; a bigger one (a prefetch of thousands of resources) gets no
link rather than filling the disk [local policy]."""


@dataclass(frozen=True)
class KeptReport:
    facts: dict[str, Any]
    reading: dict[str, Any]
    patient: str
    kb_sha256: str


class ReportStore:
    """SQLite, one short connection per call (the service's threads never share one).

    Each write is one transaction, in WAL mode with `synchronous=NORMAL`: a crash of the service loses
    nothing committed, a power cut may lose the last few writes but never leaves the file inconsistent
    (sqlite.org/wal.html) [local policy: what is kept here is links, issued cards and used token ids,
    which a restart after a power cut may forget; the advice itself is made again from the record].
    Without it every card written was a transaction of its own and an fsync: about 14 ms a request.
    """

    def __init__(self, path: Path, ttl_hours: float) -> None:
        self.path, self.ttl = path, ttl_hours * 3600
        with self._opened() as db:  # executescript commits on its own
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        return db

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One transaction, committed at the end of the block, rolled back on any error; then closed."""
        db = self._connect()
        try:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        finally:
            db.close()

    @contextmanager
    def _opened(self) -> Iterator[sqlite3.Connection]:
        db = self._connect()
        try:
            yield db
        finally:
            db.close()

    def put(self, facts: Mapping[str, Any], reading: Mapping[str, Any], patient: str, kb_sha256: str) -> str | None:
        """Keep one consultation; its token is the link's last part (None: too big to keep). Expired rows
        go first."""
        token = secrets.token_urlsafe(24)
        now = time.time()
        body = json.dumps({"facts": dict(facts), "reading": dict(reading), "patient": patient})
        if len(body.encode("utf-8")) > MAX_REPORT_BYTES:
            return None
        with self._write() as db:
            db.execute("DELETE FROM reports WHERE expires < ?", (now,))
            db.execute("DELETE FROM cards WHERE expires < ?", (now,))
            db.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?)", (token, now, now + self.ttl, kb_sha256, body))
        return token

    def get(self, token: str) -> KeptReport | None:
        with self._opened() as db:
            row = db.execute("SELECT kb_sha256, body FROM reports WHERE token = ? AND expires >= ?",
                             (token, time.time())).fetchone()
        if row is None:
            return None
        body = json.loads(row[1])
        return KeptReport(body["facts"], body["reading"], body["patient"], row[0])

    def issued(self, cards: Mapping[str, tuple[str, list[str]]]) -> None:
        """Remember the cards just sent: uuid -> (hookInstance, rule ids). A uuid sent again (the same
        hookInstance) is refreshed."""
        expires = time.time() + self.ttl
        with self._write() as db:
            db.executemany("INSERT OR REPLACE INTO cards VALUES (?, ?, ?, ?)",
                           [(uuid, expires, instance, json.dumps(rules)) for uuid, (instance, rules) in cards.items()])

    def first_use(self, jti: str, expires: float) -> bool:
        """Record a JWT's id until it expires; False when it was already recorded (a replay), by this
        process or another."""
        with self._write() as db:
            db.execute("DELETE FROM tokens WHERE expires < ?", (time.time(),))
            inserted = db.execute("INSERT OR IGNORE INTO tokens VALUES (?, ?)", (jti, expires)).rowcount
        return inserted == 1

    def card(self, uuid: str) -> tuple[str, list[str]] | None:
        """The hookInstance and rules of a card this service issued and still remembers."""
        with self._opened() as db:
            row = db.execute("SELECT hook_instance, rules FROM cards WHERE uuid = ? AND expires >= ?",
                             (uuid, time.time())).fetchone()
        return None if row is None else (row[0], json.loads(row[1]))
