"""`tweet-producer`: source (X filtered stream or replay file) -> durable spool -> Kafka.

Threads: the source appends to the spool (a tweet counts as taken once its transaction has
committed); the publisher sends the spool in order and deletes what Kafka acknowledged. Tweets
left in the spool by an earlier run are older than anything new, so they are published first.

Shutdown (SIGTERM/SIGINT): the source stops, the publisher keeps publishing for at most
``producer.shutdown_timeout_s``, then the process exits; whatever is not acknowledged stays
in the spool for the next start. With a replay source that reaches its end (loop = false) the
producer drains the spool and exits 0.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from tweet_pipeline import cli
from tweet_pipeline.config import ProducerConfig, load_producer_config
from tweet_pipeline.metrics import ProducerMetrics, serve
from tweet_pipeline.publisher import Publisher, producer_kwargs
from tweet_pipeline.replay import ReplaySource
from tweet_pipeline.spool import NewTweet, Spool
from tweet_pipeline.stream import SessionSetup, StreamSource

log = logging.getLogger("tweet_producer")


class ProducerApp:
    def __init__(
        self,
        config: ProducerConfig,
        metrics: ProducerMetrics | None = None,
        session_setup: SessionSetup | None = None,
        producer_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.metrics = metrics or ProducerMetrics()
        self.spool = Spool(config.spool.path, config.spool.fsync)
        self.metrics.spool_depth.set(self.spool.depth())
        kwargs = producer_kwargs(config.kafka, config.producer)
        self.publisher = Publisher(
            self.spool,
            config.producer,
            self.metrics,
            producer_factory or (lambda: KafkaProducer(**kwargs)),
        )
        self.source: StreamSource | ReplaySource
        if config.source == "stream":
            assert config.stream is not None
            self.source = StreamSource(config.stream, self._ingest, self.metrics, session_setup)
        else:
            assert config.replay is not None
            self.source = ReplaySource(
                config.replay, self._ingest, self.metrics.errors.labels("bad_input").inc
            )
        self._stopping = threading.Event()
        self._source_failed = False

    def _ingest(self, tweets: list[NewTweet]) -> None:
        self.spool.append(tweets)
        self.metrics.received.inc(len(tweets))
        self.metrics.spooled.inc(len(tweets))
        self.metrics.spool_depth.set(self.spool.depth())
        self.publisher.wakeup.set()

    def _run_source(self) -> None:
        try:
            self.source.run()
        except Exception:
            self._source_failed = True
            self.metrics.errors.labels("source").inc()
            log.exception("source failed")

    def stop(self) -> None:
        self._stopping.set()
        self.source.stop()
        self.publisher.stop(time.monotonic() + self.config.producer.shutdown_timeout_s)

    def run(self) -> int:
        serve(self.config.metrics, self.metrics.registry)
        if depth := self.spool.depth():
            log.info("%d tweets spooled by an earlier run are published first", depth)
        publisher = threading.Thread(target=self.publisher.run, name="publisher", daemon=True)
        source = threading.Thread(target=self._run_source, name="source", daemon=True)
        publisher.start()
        source.start()
        while source.is_alive() and not self._stopping.is_set():
            source.join(0.2)
        if not self._stopping.is_set():
            log.info("source finished; draining the spool")
            self.publisher.stop(float("inf"))
        else:
            source.join(2.0)
        grace = self.config.producer.shutdown_timeout_s + self.config.producer.max_block_ms / 1000
        deadline: float | None = None
        while publisher.is_alive():
            publisher.join(0.2)
            if self._stopping.is_set():
                deadline = deadline or time.monotonic() + grace + 2
                if time.monotonic() > deadline:
                    log.warning("publisher did not stop in time")
                    break
        left = self.spool.depth()
        self.spool.close()
        log.info("stopped; %d tweets left in the spool", left)
        return 1 if self._source_failed else 0


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
