"""Consumer sinks. `write()` takes one sink record; `flush()` makes everything written so far
durable (the consumer commits offsets only after every sink flushed). A failed `write()` or
`flush()` is retried by the consumer: `write()` again from the first record the sink did not take,
`flush()` again as is (the S3 sink keeps its buffer until an upload succeeded). `discard()` drops
what a buffering sink holds when the consumer gives a pending batch up (a rebalance during a
failure: the records are delivered again)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
from typing import IO, Any, Protocol

from tweet_pipeline.config import ConsoleSinkConfig, FileSinkConfig, S3SinkConfig


class Sink(Protocol):
    name: str

    def write(self, record: dict[str, Any]) -> None: ...

    def flush(self) -> None: ...

    def discard(self) -> None: ...

    def close(self) -> None: ...


def _line(record: dict[str, Any]) -> str:
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def _one_line(text: str) -> str:
    return " ".join(text.split())


class ConsoleSink:
    """One line per tweet on stdout (journald under systemd), printed as it arrives."""

    name = "console"

    def __init__(self, config: ConsoleSinkConfig, stream: IO[str] | None = None) -> None:
        self.format = config.format
        self.stream = stream or sys.stdout

    def write(self, record: dict[str, Any]) -> None:
        if self.format == "json":
            text = _line(record)
        else:
            tweet, kafka = record["tweet"], record["kafka"]
            text = (
                f"[{kafka['partition']}:{kafka['offset']}] {tweet['id']} "
                f"@{tweet.get('author_id', '?')} ({tweet.get('lang', '?')}): "
                f"{_one_line(tweet['text'])}"
            )
        self.stream.write(text + "\n")
        self.stream.flush()

    def flush(self) -> None:
        self.stream.flush()

    def discard(self) -> None:
        """Lines already printed stay printed (at-least-once)."""

    def close(self) -> None:
        self.stream.flush()


class JsonLinesFileSink:
    """JSON lines appended to `path`, rotated to path.1 .. path.N when `max_bytes` is reached.

    Each line reaches the file as it is written (readers see it); `flush()` fsyncs."""

    name = "file"

    def __init__(self, config: FileSinkConfig) -> None:
        self.config = config
        self.path = config.path
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_torn_tail()
        self._fh = self.path.open("ab")
        self._size = self._fh.tell()

    def _drop_torn_tail(self) -> None:
        """Cut a last line left half-written by a crash (SIGKILL, power loss).

        Its records were never committed (offsets are committed after a flush), so Kafka delivers
        them again: cutting the torn bytes loses nothing and keeps every line valid JSON.
        """
        if not self.path.exists():
            return
        with self.path.open("r+b") as fh:
            size = fh.seek(0, os.SEEK_END)
            if size == 0:
                return
            fh.seek(size - 1)
            if fh.read(1) == b"\n":
                return
            keep = 0
            block = 65536
            end = size
            while end > 0:
                start = max(0, end - block)
                fh.seek(start)
                chunk = fh.read(end - start)
                newline = chunk.rfind(b"\n")
                if newline >= 0:
                    keep = start + newline + 1
                    break
                end = start
            fh.truncate(keep)

    def _rotate(self) -> None:
        self.flush()
        self._fh.close()
        keep = self.config.backup_count
        oldest = self.path.with_name(f"{self.path.name}.{keep}")
        oldest.unlink(missing_ok=True)
        for index in range(keep - 1, 0, -1):
            src = self.path.with_name(f"{self.path.name}.{index}")
            if src.exists():
                src.rename(self.path.with_name(f"{self.path.name}.{index + 1}"))
        self.path.rename(self.path.with_name(f"{self.path.name}.1"))
        self._fh = self.path.open("ab")
        self._size = 0

    def write(self, record: dict[str, Any]) -> None:
        data = (_line(record) + "\n").encode("utf-8")
        if self._size and self._size + len(data) > self.config.max_bytes:
            self._rotate()
        self._fh.write(data)
        # Into the file (the page cache) at once, not when Python's 8 KiB buffer fills: at 10
        # tweets/s a line waited there for a second or more. Durability is still flush()'s fsync.
        self._fh.flush()
        self._size += len(data)

    def flush(self) -> None:
        self._fh.flush()
        if self.config.fsync:
            os.fsync(self._fh.fileno())

    def discard(self) -> None:
        """Lines already written stay (at-least-once: a given-up batch is written again)."""

    def close(self) -> None:
        self.flush()
        self._fh.close()


class S3Sink:
    """Buffers records; each flush uploads one object prefix/YYYY/MM/DD/HH/<time>-<id>.jsonl."""

    name = "s3"

    def __init__(self, config: S3SinkConfig, client: Any = None) -> None:
        self.config = config
        if client is None:
            import boto3  # noqa: PLC0415 - only needed when the S3 sink is enabled

            client = boto3.client("s3", endpoint_url=config.endpoint_url, region_name=config.region)
        self.client = client
        self._buffer: list[str] = []
        self.objects_written = 0

    def object_key(self, now: dt.datetime) -> str:
        name = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}.jsonl"
        parts = [self.config.prefix, f"{now:%Y/%m/%d/%H}", name]
        return "/".join(p for p in parts if p)

    def write(self, record: dict[str, Any]) -> None:
        self._buffer.append(_line(record))

    def flush(self) -> None:
        if not self._buffer:
            return
        body = ("\n".join(self._buffer) + "\n").encode("utf-8")
        key = self.object_key(dt.datetime.now(dt.UTC))
        self.client.put_object(
            Bucket=self.config.bucket, Key=key, Body=body, ContentType="application/x-ndjson"
        )
        self._buffer.clear()
        self.objects_written += 1

    def discard(self) -> None:
        self._buffer.clear()

    def close(self) -> None:
        self._buffer.clear()
