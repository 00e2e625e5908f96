"""The submit journal (SQLite next to the store): never pay twice after a crash.

Each paid submit is recorded *before* it is sent (state ``sending``), with the provider's job id
as soon as the host names it (``submitted``), and closed as ``done`` once the video is in the
store, or ``failed`` when the host said no. After a crash the next run finds:

- ``submitted`` with an id: resume polling that job instead of paying again;
- ``sending`` without an id: the outcome is unknown (the host may have billed it): report it,
  and pay again only when the user says so (``--resubmit-unknown``).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS submits (
    key TEXT PRIMARY KEY,          -- provider/model/request_hash
    experiment TEXT NOT NULL,
    state TEXT NOT NULL,           -- sending | submitted | done | failed
    request_id TEXT,
    error TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
)
"""


@dataclass
class JournalEntry:
    key: str
    experiment: str
    state: str
    request_id: str | None
    error: str | None


def journal_key(provider: str, model: str, request_hash: str) -> str:
    return f"{provider}/{model}/{request_hash}"


class Journal:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(_SCHEMA)

    def _write(self, sql: str, args: tuple) -> None:
        with self._lock:
            self._db.execute(sql, args)

    def sending(self, key: str, experiment: str) -> None:
        now = time.time()
        self._write(
            "INSERT INTO submits(key, experiment, state, request_id, error, created, updated) "
            "VALUES(?,?,?,?,?,?,?) ON CONFLICT(key) DO UPDATE SET state='sending', "
            "request_id=NULL, error=NULL, updated=excluded.updated",
            (key, experiment, "sending", None, None, now, now),
        )

    def submitted(self, key: str, request_id: str) -> None:
        self._write(
            "UPDATE submits SET state='submitted', request_id=?, updated=? WHERE key=?",
            (request_id, time.time(), key),
        )

    def done(self, key: str) -> None:
        self._write("UPDATE submits SET state='done', updated=? WHERE key=?", (time.time(), key))

    def failed(self, key: str, error: str) -> None:
        self._write(
            "UPDATE submits SET state='failed', error=?, updated=? WHERE key=?",
            (error[:500], time.time(), key),
        )

    def get(self, key: str) -> JournalEntry | None:
        with self._lock:
            row = self._db.execute(
                "SELECT key, experiment, state, request_id, error FROM submits WHERE key=?", (key,)
            ).fetchone()
        return JournalEntry(*row) if row else None

    def open_entries(self, experiment: str | None = None) -> dict[str, JournalEntry]:
        """Entries still ``sending`` or ``submitted`` (work a crash may have left behind)."""
        sql = (
            "SELECT key, experiment, state, request_id, error FROM submits "
            "WHERE state IN ('sending','submitted')"
        )
        args: tuple = ()
        if experiment is not None:
            sql += " AND experiment=?"
            args = (experiment,)
        with self._lock:
            return {r[0]: JournalEntry(*r) for r in self._db.execute(sql, args).fetchall()}

    def close(self) -> None:
        with self._lock:
            self._db.close()
