"""`tweet-producer`: source (X filtered stream or replay file) -> durable spool -> Kafka.

Threads: the source appends to the spool (a tweet counts as taken once its transaction has
committed); the publisher sends the spool in order and deletes what Kafka acknowledged. Tweets
left in the spool by an earlier run are older than anything new, so they are published first.

A full spool (``spool.max_records`` / ``spool.max_bytes``, or SQLite's "database or disk is
full"): the stream source's tweets are refused and counted
(``tweet_producer_spool_rejected_total{reason}``; X cannot resend them either way, and the
alternative is a full disk that stops everything); the replay source waits for room (its file is
durable, so backpressure loses nothing). ``tweet_producer_spool_full`` is 1 meanwhile.

If a worker thread dies (the publisher or the source raising), the producer stops and exits 1,
so systemd restarts it; it never keeps taking tweets that nothing will publish.

Shutdown (SIGTERM/SIGINT): the source stops, the publisher keeps publishing for at most
``producer.shutdown_timeout_s``, then the process exits; whatever is not acknowledged stays
in the spool for the next start. With a replay source that reaches its end (loop = false) the
producer drains the spool and exits 0.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from tweet_pipeline import cli
from tweet_pipeline.config import ProducerConfig, load_producer_config
from tweet_pipeline.kafka_login import connect
from tweet_pipeline.logs import RateLimitedLog
from tweet_pipeline.metrics import ProducerMetrics, serve
from tweet_pipeline.publisher import Publisher, producer_kwargs
from tweet_pipeline.replay import ReplaySource
from tweet_pipeline.spool import NewTweet, Spool, is_disk_full
from tweet_pipeline.stream import StreamSource

log = logging.getLogger("tweet_producer")

EXIT_WORKER_FAILED = 1


class ProducerApp:
    def __init__(
        self,
        config: ProducerConfig,
        metrics: ProducerMetrics | None = None,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or ProducerMetrics()
        sp = config.spool
        self.spool = Spool(sp.path, sp.fsync, max_records=sp.max_records, max_bytes=sp.max_bytes)
        self._disk_full = False
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.size_bytes())
        self.metrics.spool_full.set_function(self._spool_full)
        kwargs = producer_kwargs(config.kafka, config.producer)
        self.publisher = Publisher(
            self.spool,
            config.producer,
            self.metrics,
            producer_factory or (lambda: connect(config.kafka, KafkaProducer, **kwargs)),
        )
        self.source: StreamSource | ReplaySource
        if config.source == "stream":
            assert config.stream is not None
            self.source = StreamSource(config.stream, self._ingest, self.metrics)
        else:
            assert config.replay is not None
            self.source = ReplaySource(
                config.replay, self._ingest, self.metrics.errors.labels("bad_input").inc
            )
        self._stopping = threading.Event()
        self._failed: list[str] = []  # workers that died with an exception
        self._full_log = RateLimitedLog(log)

    # -- ingest: the source thread -----------------------------------------------------------
    def _spool_full(self) -> float:
        return 1.0 if self._disk_full or self.spool.full_reason() else 0.0

    def _append(self, tweets: Sequence[NewTweet]) -> tuple[int, str | None]:
        """Spool what fits; (how many, why not the rest)."""
        try:
            taken = self.spool.append(tweets)
        except sqlite3.OperationalError as exc:
            if not is_disk_full(exc):
                raise
            self._disk_full = True
            return 0, "disk_full"
        if taken:
            self._disk_full = False
            self.metrics.spooled.inc(taken)
            self.metrics.spool_depth.set(self.spool.depth())
            self.metrics.spool_bytes.set(self.spool.size_bytes())
        return taken, None if taken == len(tweets) else self.spool.full_reason() or "max_records"

    def _ingest(self, tweets: list[NewTweet]) -> None:
        self.metrics.received.inc(len(tweets))
        if self.config.source == "stream":
            self._ingest_or_reject(tweets)
        else:
            self._ingest_waiting(tweets)

    def _ingest_or_reject(self, tweets: Sequence[NewTweet]) -> None:
        taken, reason = self._append(tweets)
        if reason is None:
            return
        rejected = tweets[taken:]
        self.metrics.spool_rejected.labels(reason).inc(len(rejected))
        self._full_log.warning(
            "spool full (%s): %d stream tweet(s) refused, e.g. %s",
            reason,
            len(rejected),
            rejected[0].key.decode("utf-8", "replace"),
        )

    def _ingest_waiting(self, tweets: Sequence[NewTweet]) -> None:
        waited = False
        while tweets and not self._stopping.is_set():
            taken, reason = self._append(tweets)
            tweets = tweets[taken:]
            if reason is None:
                break
            if not waited:
                log.warning("spool full (%s); the replay waits for the publisher", reason)
                waited = True
            if reason == "disk_full":
                self._stopping.wait(1.0)
            else:
                self.spool.wait_for_room(1.0)
        if waited and not tweets:
            log.info("spool has room again; the replay goes on")

    # -- threads ---------------------------------------------------------------------------
    def _worker(self, name: str, target: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                target()
            except Exception:
                self._failed.append(name)
                self.metrics.errors.labels(name).inc()
                log.exception("%s failed", name)

        return run

    def stop(self) -> None:
        """Stop taking tweets; run() then drains the spool for shutdown_timeout_s."""
        self._stopping.set()
        self.source.stop()

    def run(self) -> int:
        serve(self.config.metrics, self.metrics.registry)
        if depth := self.spool.depth():
            log.info("%d tweets spooled by an earlier run are published first", depth)
        publisher = threading.Thread(
            target=self._worker("publisher", self.publisher.run), name="publisher", daemon=True
        )
        source = threading.Thread(
            target=self._worker("source", self.source.run), name="source", daemon=True
        )
        publisher.start()
        source.start()
        while source.is_alive() and publisher.is_alive() and not self._stopping.is_set():
            source.join(0.2)
        timeout = self.config.producer.shutdown_timeout_s
        if not publisher.is_alive() and not self._stopping.is_set():
            log.error("the publisher died; stopping the source")
            self._stopping.set()
            self.source.stop()
            source.join(2.0)
        elif self._failed:
            log.error("the source failed; publishing what is spooled for up to %.1fs", timeout)
            self.publisher.stop(time.monotonic() + timeout)
        elif not self._stopping.is_set():
            log.info("source finished; draining the spool")
            self.publisher.stop(float("inf"))
        else:
            # The publisher stops once the spool is empty: only after the source has spooled its
            # last tweet, or that tweet would wait for the next start.
            source.join(2.0)
            self.publisher.stop(time.monotonic() + timeout)
        grace = timeout + self.config.producer.max_block_ms / 1000
        deadline: float | None = None
        while publisher.is_alive():
            publisher.join(0.2)
            if self._stopping.is_set() or self._failed:
                deadline = deadline or time.monotonic() + grace + 2
                if time.monotonic() > deadline:
                    log.warning("publisher did not stop in time")
                    break
        left = self.spool.depth()
        self.spool.close()
        log.info("stopped; %d tweets left in the spool", left)
        if self._failed:
            log.error("exiting with status %d: %s failed", EXIT_WORKER_FAILED, self._failed[0])
            return EXIT_WORKER_FAILED
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(
        "tweet-producer",
        "Publish tweets from the X filtered stream or a replay file to Kafka.",
        argv,
        lambda path: load_producer_config(Path(path)),
        ProducerApp,
    )


if __name__ == "__main__":
    raise SystemExit(main())
