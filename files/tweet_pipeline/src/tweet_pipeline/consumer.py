"""`tweet-consumer`: Kafka consumer group -> sinks (console, JSON-lines file, S3), at-least-once.

Offsets are committed manually at checkpoints (every ``commit_interval_s`` or
``commit_max_records`` records, on partition revocation and at shutdown). A checkpoint first
flushes every sink (fsync for the file, an object upload for S3) and waits for the dead-letter
topic's acknowledgements; only then are the offsets committed.

If a sink or the dead-letter topic fails, nothing is committed past the pending batch and
nothing is rewound: the consumer pauses its partitions (it keeps polling, so it stays in the
group), and retries only what failed, after ``retry_backoff_s`` doubling up to
``retry_backoff_max_s``: the failing sink gets the records it misses (`tweet_pipeline.delivery`),
the others get nothing twice; unacknowledged dead letters are sent again, with a minimal
envelope if the DLQ refused their size. Records fetched after the failure but not yet handed on
are fetched again after the pause. ``tweet_consumer_paused`` is 1 meanwhile, and
``tweet_consumer_sink_errors_total{sink}`` / ``tweet_consumer_errors_total{kind="dlq"}`` count
each failure. Only a rebalance (or SIGTERM) during a failure abandons the pending batch: its
records are then delivered again (to this or another consumer), never lost.

`ConsumerApp` is the checkpointing loop (poll, track offsets, flush then commit, rewind); what
happens to one record (parse, then sinks or DLQ) is `tweet_pipeline.delivery.RecordHandler`.
The dead-letter producer is configured like the producer's publisher (`producer_kwargs`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import AsyncConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from tweet_pipeline import cli
from tweet_pipeline.config import ConsumerConfig, ProducerSettings, load_consumer_config
from tweet_pipeline.deadletter import envelope_limit
from tweet_pipeline.delivery import DeadLetterQueue, RecordHandler, SinkDelivery
from tweet_pipeline.envelope import now_ms
from tweet_pipeline.kafka_login import LoginRefusedError, connect
from tweet_pipeline.metrics import ConsumerMetrics, serve
from tweet_pipeline.publisher import producer_kwargs
from tweet_pipeline.sinks import ConsoleSink, JsonLinesFileSink, S3Sink, Sink

log = logging.getLogger("tweet_consumer")

DLQ_CONFIRM_TIMEOUT_S = 10.0
# The dead-letter producer: the publisher's settings (acks=all, idempotent, gzip, ...) with
# shorter timeouts, so a checkpoint does not wait long for a DLQ that is down.
DLQ_PRODUCER = ProducerSettings(
    max_block_ms=5000, request_timeout_ms=10_000, delivery_timeout_ms=30_000
)


def build_sinks(config: ConsumerConfig) -> list[Sink]:
    sinks: list[Sink] = []
    if config.console is not None:
        sinks.append(ConsoleSink(config.console))
    if config.file is not None:
        sinks.append(JsonLinesFileSink(config.file))
    if config.s3 is not None:
        sinks.append(S3Sink(config.s3))
    return sinks


class _Rebalance(AsyncConsumerRebalanceListener):  # type: ignore[misc]
    """kafka-python 3 calls the listener on the consumer's IO loop, where a blocking consumer call
    (commit()) raises: the revocation's commit is awaited there instead."""

    def __init__(self, app: ConsumerApp) -> None:
        self.app = app

    async def on_partitions_revoked(self, revoked: Any) -> None:
        await self.app.on_revoked()

    async def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned %s", sorted(f"{tp.topic}-{tp.partition}" for tp in assigned))


class ConsumerApp:
    def __init__(
        self,
        config: ConsumerConfig,
        metrics: ConsumerMetrics | None = None,
        sinks: list[Sink] | None = None,
        dlq_factory: Callable[[], Any] | None = None,
    ) -> None:
        self.config = config
        self.settings = config.consumer
        self.metrics = metrics or ConsumerMetrics()
        self.sinks = sinks if sinks is not None else build_sinks(config)
        self.delivery = SinkDelivery(self.sinks, self.metrics)
        self.dlq = DeadLetterQueue(
            dlq_factory or self._dlq_producer,
            self.settings.dlq_topic,
            envelope_limit(DLQ_PRODUCER.max_request_size),
            self.metrics,
        )
        self.handler = RecordHandler(self.delivery, self.dlq, self.metrics)
        self._stopping = threading.Event()
        self._consumer: Any = None
        self._next: dict[TopicPartition, int] = {}  # offset to commit, per partition
        self._pending = 0
        self._last_checkpoint = time.monotonic()
        self._last_lag = 0.0
        self._blocked = False  # a sink or the DLQ failed: partitions paused, retry at _retry_at
        self._retry_at = 0.0
        self._retry_delay = self.settings.retry_backoff_s

    def stop(self) -> None:
        self._stopping.set()

    # -- setup -----------------------------------------------------------------------------
    def _dlq_producer(self) -> Any:
        return KafkaProducer(**producer_kwargs(self.config.kafka, DLQ_PRODUCER))

    def _connect(self) -> None:
        self._consumer = connect(
            self.config.kafka,
            KafkaConsumer,
            **self.config.kafka.client_kwargs(),
            group_id=self.settings.group_id,
            enable_auto_commit=False,
            auto_offset_reset=self.settings.auto_offset_reset,
            max_poll_records=self.settings.max_poll_records,
            session_timeout_ms=self.settings.session_timeout_ms,
            heartbeat_interval_ms=max(1000, self.settings.session_timeout_ms // 3),
        )
        self._consumer.subscribe([self.settings.topic], listener=_Rebalance(self))

    # -- processing ------------------------------------------------------------------------
    def _handle(self, record: Any) -> None:
        """Track the record's offset (committed at the next checkpoint), then hand it on."""
        self._next[TopicPartition(record.topic, record.partition)] = record.offset + 1
        self._pending += 1
        self.metrics.consumed.inc()
        self.metrics.uncommitted.set(self._pending)
        self.handler.handle(record)

    def _failing(self) -> bool:
        return bool(self.handler.failing)

    def _process(self, polled: dict[Any, list[Any]]) -> None:
        """Hand records on; checkpoint every commit_max_records (one S3 object).

        Once something fails, the records of this poll not handed on yet are fetched again
        after the pause (seek back), so the pending batch stays at most commit_max_records.
        """
        batches = [(tp, records) for tp, records in polled.items() if records]
        for index, (tp, records) in enumerate(batches):
            for record in records:
                if self._failing():
                    self._block()
                    later = [(t, r[0].offset) for t, r in batches[index + 1 :]]
                    self._seek([(tp, record.offset), *later])
                    return
                self._handle(record)
                if self._pending >= self.settings.commit_max_records and not self._failing():
                    self.checkpoint()
        if self._failing():
            self._block()

    def _seek(self, targets: list[tuple[TopicPartition, int]]) -> None:
        assigned = self._consumer.assignment()
        for tp, offset in targets:
            if tp in assigned:
                try:
                    self._consumer.seek(tp, offset)
                except (KafkaError, AssertionError, ValueError) as exc:
                    log.warning("cannot seek %s to %d: %s", tp, offset, exc)

    # -- failure: pause, retry with backoff ------------------------------------------------
    def _block(self) -> None:
        """Something failed: pause fetching (polls go on: the group keeps us) and retry later."""
        if self._blocked:
            return
        self._blocked = True
        self._consumer.pause(*self._consumer.assignment())
        self.metrics.paused.set(1)
        log.warning(
            "pausing consumption: %d records wait for %s",
            self._pending,
            ", ".join(self.handler.failing),
        )
        self._schedule_retry()

    def _schedule_retry(self) -> None:
        self._retry_at = time.monotonic() + self._retry_delay
        ceiling = max(self.settings.retry_backoff_max_s, self.settings.retry_backoff_s)
        self._retry_delay = min(max(self._retry_delay * 2, 0.1), ceiling)

    def _unblock(self) -> None:
        self._retry_delay = self.settings.retry_backoff_s
        if self._blocked:
            self._blocked = False
            self._consumer.resume(*self._consumer.paused())
            self.metrics.paused.set(0)
            log.info("sinks and DLQ work again; consumption resumes")

    # -- checkpoints -----------------------------------------------------------------------
    def checkpoint(self, reason: str = "interval") -> bool:
        """Flush sinks, confirm dead letters, then commit. False (and paused) on failure."""
        offsets = self._flushed_offsets()
        if offsets is None:
            return False
        if offsets:
            try:
                self._consumer.commit(offsets=offsets)
            except KafkaError as exc:  # e.g. the group rebalanced: records come again
                self._commit_failed(exc)
            else:
                self._committed(reason)
        self._reset_pending()
        self._unblock()
        return True

    async def checkpoint_async(self, reason: str) -> bool:
        """checkpoint() for the consumer's IO loop (the rebalance listener): awaits the commit."""
        offsets = self._flushed_offsets()
        if offsets is None:
            return False
        if offsets:
            try:
                await self._consumer.commit_async(offsets=offsets)
            except KafkaError as exc:
                self._commit_failed(exc)
            else:
                self._committed(reason)
        self._reset_pending()
        self._unblock()
        return True

    def _flushed_offsets(self) -> dict[TopicPartition, OffsetAndMetadata] | None:
        """The offsets to commit once every sink holds the batch and every dead letter is
        acknowledged ({} when nothing is pending); None, and paused, when something failed."""
        if not self._pending:
            return {}
        if not self.handler.flush(DLQ_CONFIRM_TIMEOUT_S):
            if self._blocked:
                self._schedule_retry()
            else:
                self._block()
            return None
        return {tp: OffsetAndMetadata(off, "", -1) for tp, off in self._next.items()}

    def _committed(self, reason: str) -> None:
        self.metrics.commits.inc()
        log.debug("committed %d records (%s)", self._pending, reason)

    def _commit_failed(self, exc: KafkaError) -> None:
        self.metrics.errors.labels("commit").inc()
        log.warning("offset commit failed (%s); records may be delivered again", exc)

    def _reset_pending(self, discard: bool = False) -> None:
        self.handler.reset(discard=discard)
        self._next.clear()
        self._pending = 0
        self.metrics.uncommitted.set(0)
        self._last_checkpoint = time.monotonic()

    async def on_revoked(self) -> None:
        """Partitions go away: commit what the sinks hold, or give the batch up (redelivered)."""
        if await self.checkpoint_async(reason="rebalance"):
            return
        log.warning(
            "rebalance while sinks/DLQ fail: %d uncommitted records will be delivered again",
            self._pending,
        )
        self._reset_pending(discard=True)
        self._blocked = False
        self._retry_delay = self.settings.retry_backoff_s
        self.metrics.paused.set(0)

    def _update_lag(self) -> None:
        """Each assigned partition's lag, from the high watermark its last fetch returned. It sends
        no request of its own, so it cannot hold up the loop: end_offsets() (a ListOffsets request)
        did, for minutes, after a broker came back from a network cut (kafka-python 3.0 retried it
        without end while the consumer read nothing)."""
        for tp in list(self._consumer.assignment()):
            try:
                end = self._consumer.highwater(tp)
                if end is None:  # not fetched yet
                    continue
                lag = max(0, end - self._consumer.position(tp))
            except (KafkaError, KeyError) as exc:
                log.debug("lag update failed: %s", exc)
                continue
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)

    def _due(self) -> bool:
        if self._blocked:
            return time.monotonic() >= self._retry_at
        return self._pending >= self.settings.commit_max_records or (
            self._pending > 0
            and time.monotonic() - self._last_checkpoint >= self.settings.commit_interval_s
        )

    def _connect_until_stopped(self) -> None:
        """Connect, retrying every retry_backoff_s. A refused login is retried too (a new
        credential may not have reached every broker yet), but it fails at once, so its retries
        back off, doubling up to retry_backoff_max_s."""
        refused_delay = self.settings.retry_backoff_s
        ceiling = max(self.settings.retry_backoff_max_s, self.settings.retry_backoff_s)
        while not self._stopping.is_set():
            delay = self.settings.retry_backoff_s
            try:
                self._connect()
                return
            except LoginRefusedError as exc:  # a configuration (or credential) problem
                log.error("%s; retrying in %.1fs", exc, refused_delay)
                delay, refused_delay = refused_delay, min(max(refused_delay * 2, 0.1), ceiling)
            except KafkaError as exc:
                log.warning("cannot connect to Kafka (%s); retrying", exc)
            self.metrics.errors.labels("connect").inc()
            self._stopping.wait(delay)

    def run(self) -> int:
        serve(self.config.metrics, self.metrics.registry)
        self._connect_until_stopped()
        if self._consumer is None:
            return 0
        try:
            while not self._stopping.is_set():
                polled = self._consumer.poll(timeout_ms=200 if self._blocked else 500)
                self._process(polled)
                if self._due():
                    self.checkpoint(reason="retry" if self._blocked else "interval")
                if time.monotonic() - self._last_lag >= self.settings.lag_interval_s:
                    self._last_lag = time.monotonic()
                    self._update_lag()
            if not self.checkpoint(reason="shutdown"):
                log.warning(
                    "stopping with %d uncommitted records; they are delivered again", self._pending
                )
        finally:
            self._consumer.close(autocommit=False)
            self.handler.close()
        log.info("stopped at %d", now_ms())
        return 0


def main(argv: Sequence[str] | None = None) -> int:
    return cli.main(
        "tweet-consumer",
        "Consume tweets from Kafka into console, JSON-lines file and S3 sinks.",
        argv,
        lambda path: load_consumer_config(Path(path)),
        ConsumerApp,
    )


if __name__ == "__main__":
    raise SystemExit(main())
