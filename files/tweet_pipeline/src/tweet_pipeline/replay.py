"""Replay source: newline-delimited JSON tweets from a file, optionally rate-limited and looped.

A line that is not a tweet object is counted (``on_bad_line``) and logged with its line number
and a short excerpt (at most 10 such warnings a minute, then a count of the suppressed ones).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from importlib import resources
from pathlib import Path
from typing import IO

from tweet_pipeline.config import ReplayConfig
from tweet_pipeline.envelope import now_ms
from tweet_pipeline.logs import RateLimitedLog
from tweet_pipeline.spool import NewTweet

log = logging.getLogger(__name__)

Ingest = Callable[[list[NewTweet]], None]
_FULL_SPEED_BATCH = 200


def sample_path() -> Path:
    """The sample bundled with the package (src/tweet_pipeline/data/sample_tweets.ndjson)."""
    return Path(str(resources.files("tweet_pipeline") / "data" / "sample_tweets.ndjson"))


def tweet_from_line(line: bytes, source: str) -> NewTweet | None:
    """Key a JSON tweet line by its id; None for lines that are not tweet objects."""
    try:
        obj = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str | int):
        return None
    value = line.strip()
    return NewTweet(str(obj["id"]).encode(), value, now_ms(), source)


class ReplaySource:
    def __init__(
        self, config: ReplayConfig, ingest: Ingest, on_bad_line: Callable[[], None] = lambda: None
    ) -> None:
        self.config = config
        self.path = config.path or sample_path()
        self.ingest = ingest
        self.on_bad_line = on_bad_line
        self.stop_event = threading.Event()
        self._bad_lines = RateLimitedLog(log)

    def stop(self) -> None:
        self.stop_event.set()

    def _lines(self) -> Iterator[tuple[int, bytes]]:
        while True:
            fh: IO[bytes]
            with self.path.open("rb") as fh:
                for number, line in enumerate(fh, start=1):
                    if line.strip():
                        yield number, line
            if not self.config.loop:
                return

    def run(self) -> None:
        """Read until EOF (or forever with loop=true), pacing to `rate` records/s if > 0."""
        rate = self.config.rate
        batch_size = 1 if rate > 0 else _FULL_SPEED_BATCH
        batch: list[NewTweet] = []
        start = time.monotonic()
        count = 0
        for number, line in self._lines():
            if self.stop_event.is_set():
                break
            tweet = tweet_from_line(line, "replay")
            if tweet is None:
                self.on_bad_line()
                excerpt = line.strip()[:80].decode("utf-8", "replace")
                self._bad_lines.warning(
                    "%s line %d is not a tweet object, skipped: %r", self.path, number, excerpt
                )
                continue
            if rate > 0:
                delay = start + count / rate - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    break
                # Taken now, not when read: the pacing wait is not part of the pipeline's latency.
                tweet = dataclasses.replace(tweet, received_at_ms=now_ms())
            batch.append(tweet)
            count += 1
            if len(batch) >= batch_size:
                self.ingest(batch)
                batch = []
        if batch:
            self.ingest(batch)
        log.info("replay of %s finished after %d tweets", self.path, count)
