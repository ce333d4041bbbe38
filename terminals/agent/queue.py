"""The local queue of card reads: SQLite, in order, surviving a restart of the agent.

Each read gets the terminal's next gap-free sequence number when it is queued (the server records
each (terminal, sequence) once, so a read sent twice is recorded once). The sender delivers the
oldest read first and deletes it only when the server has answered; a read the server refuses
(4xx) moves to the `rejected` table for the office, never silently dropped.
"""

from __future__ import annotations

import datetime as dt
import logging
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("cardsystem.agent.queue")

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS pending (
    sequence INTEGER PRIMARY KEY,
    uid TEXT NOT NULL,
    mode TEXT NOT NULL,
    read_at TEXT NOT NULL,
    read_day TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE TABLE IF NOT EXISTS rejected (
    sequence INTEGER PRIMARY KEY,
    uid TEXT NOT NULL,
    mode TEXT NOT NULL,
    read_at TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    status INTEGER NOT NULL,
    code TEXT,
    body TEXT,
    rejected_at TEXT NOT NULL,
    flagged INTEGER NOT NULL DEFAULT 0
);
INSERT OR IGNORE INTO meta (key, value) VALUES ('next_sequence', 0);
"""


class QueueFull(Exception):
    """The queue holds `queue_max` reads: this read is not recorded."""


class AlreadyQueuedToday(Exception):
    """Serve mode: this card already has its reads for today waiting in the queue."""


@dataclass(frozen=True)
class Read:
    sequence: int
    uid: str
    mode: str
    read_at: str
    idempotency_key: str
    attempts: int = 0


@dataclass(frozen=True)
class Rejected:
    sequence: int
    uid: str
    mode: str
    read_at: str
    status: int
    code: str | None
    flagged: bool


class ReadQueue:
    """Thread-safe; one connection, serialised by a lock (a till makes a read every few seconds)."""

    def __init__(self, path: str | Path, *, max_items: int = 1000, warn_ratio: float = 0.8) -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self.max_items = max_items
        self.warn_ratio = warn_ratio
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=10)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a read acknowledged to the cashier survives a power cut
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add(self, uid: str, *, mode: str, per_card_per_day: int | None = None, now: dt.datetime | None = None) -> Read:
        """Queue a read with the next sequence number. Raises QueueFull / AlreadyQueuedToday."""
        read_at = (now or dt.datetime.now().astimezone()).isoformat(timespec="milliseconds")
        day = read_at[:10]
        key = uuid.uuid4().hex
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                (count,) = db.execute("SELECT COUNT(*) FROM pending").fetchone()
                if count >= self.max_items:
                    raise QueueFull(f"queue full: {count} reads waiting (queue_max {self.max_items})")
                if per_card_per_day is not None:
                    (same,) = db.execute(
                        "SELECT COUNT(*) FROM pending WHERE uid = ? AND mode = ? AND read_day = ?", (uid, mode, day)
                    ).fetchone()
                    if same >= per_card_per_day:
                        raise AlreadyQueuedToday(f"card {uid} already has {same} read(s) queued for {day}")
                (sequence,) = db.execute("SELECT value FROM meta WHERE key = 'next_sequence'").fetchone()
                db.execute("UPDATE meta SET value = ? WHERE key = 'next_sequence'", (sequence + 1,))
                db.execute(
                    "INSERT INTO pending (sequence, uid, mode, read_at, read_day, idempotency_key)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (sequence, uid, mode, read_at, day, key),
                )
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        count += 1
        if count >= self.max_items * self.warn_ratio:
            log.warning(
                "QUEUE FILLING: %d of %d reads waiting for the server (%.0f %%); at %d new cards are refused",
                count,
                self.max_items,
                100 * count / self.max_items,
                self.max_items,
            )
        return Read(sequence, uid, mode, read_at, key)

    def oldest(self) -> Read | None:
        with self._lock:
            row = self._db.execute(
                "SELECT sequence, uid, mode, read_at, idempotency_key, attempts FROM pending ORDER BY sequence LIMIT 1"
            ).fetchone()
        return Read(*row) if row else None

    def pending(self) -> list[Read]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sequence, uid, mode, read_at, idempotency_key, attempts FROM pending ORDER BY sequence"
            ).fetchall()
        return [Read(*row) for row in rows]

    def __len__(self) -> int:
        with self._lock:
            (count,) = self._db.execute("SELECT COUNT(*) FROM pending").fetchone()
        return int(count)

    def delivered(self, sequence: int) -> None:
        with self._lock:
            self._db.execute("DELETE FROM pending WHERE sequence = ?", (sequence,))

    def failed_attempt(self, sequence: int, error: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE pending SET attempts = attempts + 1, last_error = ? WHERE sequence = ?", (error[:500], sequence)
            )

    def reject(self, read: Read, *, status: int, code: str | None, body: str, flagged: bool = False) -> None:
        """Move a read the server refused to `rejected` (kept for the office), in one transaction."""
        now = dt.datetime.now().astimezone().isoformat(timespec="seconds")
        with self._lock:
            db = self._db
            db.execute("BEGIN IMMEDIATE")
            try:
                db.execute(
                    "INSERT OR REPLACE INTO rejected"
                    " (sequence, uid, mode, read_at, idempotency_key, status, code, body, rejected_at, flagged)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        read.sequence,
                        read.uid,
                        read.mode,
                        read.read_at,
                        read.idempotency_key,
                        status,
                        code,
                        body[:4000],
                        now,
                        int(flagged),
                    ),
                )
                db.execute("DELETE FROM pending WHERE sequence = ?", (read.sequence,))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def rejected(self) -> list[Rejected]:
        with self._lock:
            rows = self._db.execute(
                "SELECT sequence, uid, mode, read_at, status, code, flagged FROM rejected ORDER BY sequence"
            ).fetchall()
        return [Rejected(s, u, m, r, st, c, bool(f)) for s, u, m, r, st, c, f in rows]

    def next_sequence(self) -> int:
        with self._lock:
            (value,) = self._db.execute("SELECT value FROM meta WHERE key = 'next_sequence'").fetchone()
        return int(value)
