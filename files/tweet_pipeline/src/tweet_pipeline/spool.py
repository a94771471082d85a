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
short transaction. Whoever publishes the spool registers an event (`notify_on_append`) that each
committed append sets, so it wakes on new tweets instead of polling the table on a timer.
A transaction that fails (e.g. SQLITE_FULL, "database or disk is full") is rolled back, so the
spool stays usable and keeps what was committed before; the in-memory counters change only after
a commit.

Limits: ``max_records`` and ``max_bytes`` (key + value bytes, 0 = none). `append` takes the
longest prefix of a batch that fits (a tweet fits while the spool is below both limits, so one
large tweet can overshoot ``max_bytes`` by itself but never block) and returns how many it took;
what to do with the rest is the caller's policy (the producer: stream rejects, replay waits).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Sequence
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

    @property
    def size(self) -> int:
        return len(self.key) + len(self.value)


_SCHEMA = """
CREATE TABLE IF NOT EXISTS spool (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    received_at_ms INTEGER NOT NULL,
    source TEXT NOT NULL
)
"""
_DELETE_CHUNK = 500


class SpoolClosedError(RuntimeError):
    pass


def is_disk_full(error: BaseException) -> bool:
    """SQLITE_FULL: the disk (or the database's max_page_count) has no room."""
    return (
        isinstance(error, sqlite3.OperationalError)
        and getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_FULL
    )


class Spool:
    def __init__(
        self,
        path: Path,
        fsync: Literal["always", "normal"] = "always",
        max_records: int = 0,
        max_bytes: int = 0,
    ) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.max_records = max_records  # 0: no limit
        self.max_bytes = max_bytes  # 0: no limit
        self._lock = threading.Lock()
        self._room = threading.Condition(self._lock)
        self._on_append: list[threading.Event] = []
        self._db: sqlite3.Connection | None = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(f"PRAGMA synchronous={'FULL' if fsync == 'always' else 'NORMAL'}")
        self._db.execute(_SCHEMA)
        self._depth, self._bytes = self._db.execute(
            "SELECT COUNT(*), COALESCE(SUM(length(key) + length(value)), 0) FROM spool"
        ).fetchone()

    def _conn(self) -> sqlite3.Connection:
        if self._db is None:
            raise SpoolClosedError("spool is closed")
        return self._db

    @contextlib.contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE ... COMMIT; on any error roll back (if SQLite has not) and re-raise."""
        db = self._conn()
        db.execute("BEGIN IMMEDIATE")
        try:
            yield db
            db.execute("COMMIT")
        except BaseException:
            if db.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
            raise

    def notify_on_append(self, event: threading.Event) -> None:
        """Set `event` after every append that committed at least one tweet."""
        self._on_append.append(event)

    def _fits(self, count: int, size: int) -> bool:
        if self.max_records and self._depth + count >= self.max_records:
            return False
        return not (self.max_bytes and self._bytes + size >= self.max_bytes)

    def append(self, tweets: Sequence[NewTweet]) -> int:
        """Durably append the longest prefix of `tweets` that fits the limits (one transaction).

        Returns how many were appended, once committed. Raises `sqlite3.Error` (after rolling
        back: nothing of this batch is kept, everything before it is) if SQLite fails.
        """
        with self._lock:
            take, size = 0, 0
            while take < len(tweets) and self._fits(take, size):
                size += tweets[take].size
                take += 1
            if not take:
                return 0
            with self._transaction() as db:
                db.executemany(
                    "INSERT INTO spool (key, value, received_at_ms, source) VALUES (?, ?, ?, ?)",
                    [(t.key, t.value, t.received_at_ms, t.source) for t in tweets[:take]],
                )
            self._depth += take
            self._bytes += size
        for event in self._on_append:
            event.set()
        return take

    def full_reason(self) -> Literal["max_records", "max_bytes"] | None:
        """Which limit stops the next append, if any."""
        with self._lock:
            if self.max_records and self._depth >= self.max_records:
                return "max_records"
            if self.max_bytes and self._bytes >= self.max_bytes:
                return "max_bytes"
            return None

    def wait_for_room(self, timeout: float) -> bool:
        """Wait until a `remove` happened (or `timeout`); True if the spool is below its limits."""
        with self._room:
            if self._fits(0, 0):
                return True
            self._room.wait(timeout)
            return self._fits(0, 0)

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
        """Forget tweets that Kafka acknowledged (one transaction; rolled back on error)."""
        unique = sorted(set(seqs))
        if not unique:
            return
        with self._room:
            removed, freed = 0, 0
            with self._transaction() as db:
                for start in range(0, len(unique), _DELETE_CHUNK):
                    chunk = unique[start : start + _DELETE_CHUNK]
                    marks = ",".join("?" * len(chunk))
                    sizes = db.execute(
                        f"DELETE FROM spool WHERE seq IN ({marks}) "  # noqa: S608 - only ?s
                        "RETURNING length(key) + length(value)",
                        chunk,
                    ).fetchall()
                    removed += len(sizes)
                    freed += sum(size for (size,) in sizes)
            self._depth -= removed
            self._bytes -= freed
            self._room.notify_all()

    def depth(self) -> int:
        return int(self._depth)

    def size_bytes(self) -> int:
        """Key + value bytes of the spooled tweets (the database file is somewhat larger)."""
        return int(self._bytes)

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
            self._room.notify_all()
