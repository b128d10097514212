"""Report links that outlive a restart: the consultations behind the cards' links, kept in SQLite.

A card links to `/reports/{token}`: the token is random (never the hookInstance, so a second call with
the same hookInstance cannot replace the report behind the first link), and the row keeps what the
report is made from - the patient's facts, the FHIR reading and the knowledge base's checksum - for
`--report-ttl` hours [local policy: the facts are health data; keep them no longer than the link is
useful]. The report is made again when it is opened (the engine is deterministic), so a row is a few
kilobytes, not a rendered page.
"""
from __future__ import annotations

import json
import secrets
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SCHEMA = """CREATE TABLE IF NOT EXISTS reports (
    token TEXT PRIMARY KEY, created REAL NOT NULL, expires REAL NOT NULL,
    kb_sha256 TEXT NOT NULL, body TEXT NOT NULL)"""


@dataclass(frozen=True)
class KeptReport:
    facts: dict[str, Any]
    reading: dict[str, Any]
    patient: str
    kb_sha256: str


class ReportStore:
    """SQLite, one short connection per call (the service's threads never share one)."""

    def __init__(self, path: Path, ttl_hours: float) -> None:
        self.path, self.ttl = path, ttl_hours * 3600
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=10, isolation_level=None)

    def put(self, facts: Mapping[str, Any], reading: Mapping[str, Any], patient: str, kb_sha256: str) -> str:
        """Keep one consultation; its token is the link's last part. Expired rows go first."""
        token = secrets.token_urlsafe(24)
        now = time.time()
        body = json.dumps({"facts": dict(facts), "reading": dict(reading), "patient": patient})
        with self._connect() as db:
            db.execute("DELETE FROM reports WHERE expires < ?", (now,))
            db.execute("INSERT INTO reports VALUES (?, ?, ?, ?, ?)", (token, now, now + self.ttl, kb_sha256, body))
        return token

    def get(self, token: str) -> KeptReport | None:
        with self._connect() as db:
            row = db.execute("SELECT kb_sha256, body FROM reports WHERE token = ? AND expires >= ?",
                             (token, time.time())).fetchone()
        if row is None:
            return None
        body = json.loads(row[1])
        return KeptReport(body["facts"], body["reading"], body["patient"], row[0])
