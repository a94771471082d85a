"""A durable, ordered on-disk spool of tweets waiting for Kafka.

Design choice: SQLite (stdlib ``sqlite3``) rather than hand-written append-only segment files.

* A tweet is "taken" only once its INSERT transaction has committed. In WAL mode with
  ``synchronous=FULL`` (``fsync = "always"``) the commit fsyncs the WAL, so a taken tweet
  survives a process crash, a SIGKILL and a power loss. ``fsync = "normal"``
  (``synchronous=NORMAL``) survives a process crash but may lose the last commits on power
  loss, for much higher ingest rates on slow disks.
* Order is the INTEGER PRIMARY KEY ``seq`` (AUTOINCREMENT: never reused, so it keeps growing
  across restarts); the publisher reads in ``seq`` order and deletes a row only after Kafka
  acknowledged it, so a restart resends exactly the unacknowledged tail, in order.
* Segment files would need their own framing, checksums for torn writes, an acknowledgement
  index and compaction; SQLite's journal gives atomic batches and crash recovery for free and
  adds no dependency. Batched appends (one transaction, one fsync per batch) keep the replay
  source fast.

One connection is shared by the ingest and publish threads under a lock; each call is one
short transaction.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal


@dataclass(frozen=True)
class SpooledTweet:
    seq: int
    key: bytes
    value: bytes
    received_at_ms: int
    source: str


@dataclass(frozen=True)
class NewTweet:
    key: bytes
    value: bytes
    received_at_ms: int
    source: str


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    source TEXT NOT NULL
)
"""


class SpoolClosedError(RuntimeError):
    pass


class Spool:
    def __init__(self, path: Path, fsync: Literal["always", "normal"] = "always") -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync == 'always' else 'NORMAL'}")
        self._db.execute(_SCHEMA)
        (self._depth,) = self._db.execute("SELECT COUNT(*) FROM spool").fetchone()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolClosedError("spool is closed")
        return self._db

    def append(self, tweets: Sequence[NewTweet]) -> None:
        """Durably append tweets in order (one transaction). Returns once committed."""
        if not tweets:
            return
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            try:
                db.executemany(
                    "INSERT INTO spool (key, value, received_at_ms, source) VALUES (?, ?, ?, ?)",
                    [(t.key, t.value, t.received_at_ms, t.source) for t in tweets],
                )
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
            self._depth += len(tweets)

    def peek(self, limit: int, after_seq: int = 0) -> list[SpooledTweet]:
        """The oldest `limit` tweets with seq > after_seq, in order."""
        with self._lock:
            rows = (
                self._conn()
                .execute(
                    "SELECT seq, key, value, received_at_ms, source FROM spool "
                    "WHERE seq > ? ORDER BY seq LIMIT ?",
                    (after_seq, limit),
                )
                .fetchall()
            )
        return [SpooledTweet(*row) for row in rows]

    def remove(self, seqs: Iterable[int]) -> None:
        """Forget tweets that Kafka acknowledged."""
        params = [(s,) for s in seqs]
        if not params:
            return
        with self._lock:
            db = self._conn()
            db.execute("BEGIN IMMEDIATE")
            before = db.total_changes
            db.executemany("DELETE FROM spool WHERE seq = ?", params)
            removed = db.total_changes - before
            db.execute("COMMIT")
            self._depth -= removed

    def depth(self) -> int:
        return int(self._depth)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
