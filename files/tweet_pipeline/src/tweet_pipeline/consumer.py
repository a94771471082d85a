"""`tweet-consumer`: Kafka consumer group -> sinks (console, JSON-lines file, S3), at-least-once.

Offsets are committed manually at checkpoints (every ``commit_interval_s`` or
``commit_max_records`` records, on partition revocation and at shutdown). A checkpoint first
flushes every sink (fsync for the file, an object upload for S3) and waits for the dead-letter
producer's acknowledgements; only then are the offsets committed. If a sink fails, the consumer
rewinds to the last committed offsets and tries again after ``retry_backoff_s``: records may be
written twice, never lost.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.consumer.subscription_state import ConsumerRebalanceListener
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from tweet_pipeline import cli
from tweet_pipeline.config import ConsumerConfig, load_consumer_config
from tweet_pipeline.envelope import (
    MalformedTweetError,
    dead_letter,
    now_ms,
    parse_tweet,
    sink_record,
)
from tweet_pipeline.metrics import ConsumerMetrics, serve
from tweet_pipeline.sinks import ConsoleSink, JsonLinesFileSink, S3Sink, Sink

log = logging.getLogger("tweet_consumer")


class SinkError(Exception):
    def __init__(self, sink: str, error: BaseException) -> None:
        super().__init__(f"sink {sink} failed: {error!r}")
        self.sink = sink


def build_sinks(config: ConsumerConfig) -> list[Sink]:
    sinks: list[Sink] = []
    if config.console is not None:
        sinks.append(ConsoleSink(config.console))
    if config.file is not None:
        sinks.append(JsonLinesFileSink(config.file))
    if config.s3 is not None:
        sinks.append(S3Sink(config.s3))
    return sinks


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, app: ConsumerApp) -> None:
        self.app = app

    def on_partitions_revoked(self, revoked: Any) -> None:
        self.app.checkpoint(reason="rebalance")

    def on_partitions_assigned(self, assigned: Any) -> None:
        log.info("assigned %s", sorted(f"{tp.topic}-{tp.partition}" for tp in assigned))


class ConsumerApp:
    def __init__(
        self,
        config: ConsumerConfig,
        metrics: ConsumerMetrics | None = None,
        sinks: list[Sink] | None = None,
    ) -> None:
        self.config = config
        self.settings = config.consumer
        self.metrics = metrics or ConsumerMetrics()
        self.sinks = sinks if sinks is not None else build_sinks(config)
        self._stopping = threading.Event()
        self._consumer: Any = None
        self._dlq: Any = None
        self._dlq_futures: list[Any] = []
        self._next: dict[TopicPartition, int] = {}  # offset to commit, per partition
        self._first: dict[TopicPartition, int] = {}  # first uncommitted offset consumed
        self._pending = 0
        self._committed: dict[TopicPartition, int] = {}
        self._last_checkpoint = time.monotonic()
        self._last_lag = 0.0

    def stop(self) -> None:
        self._stopping.set()

    # -- setup -----------------------------------------------------------------------------
    def _connect(self) -> None:
        kafka = self.config.kafka.client_kwargs()
        self._dlq = KafkaProducer(
            **kafka, acks="all", enable_idempotence=True, compression_type="gzip", linger_ms=5
        )
        self._consumer = KafkaConsumer(
            **kafka,
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
        tp = TopicPartition(record.topic, record.partition)
        self._first.setdefault(tp, record.offset)
        self._next[tp] = record.offset + 1
        self._pending += 1
        self.metrics.consumed.inc()
        try:
            tweet = parse_tweet(record.value)
        except MalformedTweetError as exc:
            value, headers = dead_letter(record, str(exc))
            self._dlq_futures.append(
                self._dlq.send(
                    self.settings.dlq_topic, value=value, key=record.key, headers=headers
                )
            )
            self.metrics.dead_lettered.inc()
            log.warning(
                "dead-lettered %s-%d@%d: %s", record.topic, record.partition, record.offset, exc
            )
            return
        out = sink_record(tweet, record)
        if out["received_at"] is not None:
            self.metrics.end_to_end_latency.observe(
                max(0.0, (out["consumed_at"] - out["received_at"]) / 1000)
            )
        for sink in self.sinks:
            try:
                sink.write(out)
            except Exception as exc:
                raise SinkError(sink.name, exc) from exc
            self.metrics.written.labels(sink.name).inc()

    def checkpoint(
        self, reason: str = "interval", rewind_also: dict[TopicPartition, int] | None = None
    ) -> bool:
        """Flush sinks, wait for DLQ acks, then commit. False (after rewinding) on failure."""
        if not self._pending:
            self._last_checkpoint = time.monotonic()
            return True
        try:
            for sink in self.sinks:
                try:
                    sink.flush()
                except Exception as exc:
                    raise SinkError(sink.name, exc) from exc
            if self._dlq_futures:
                self._dlq.flush(timeout=30)
                for future in self._dlq_futures:
                    future.get(timeout=30)
        except SinkError as exc:
            self.metrics.sink_errors.labels(exc.sink).inc()
            self._rewind(exc, rewind_also)
            return False
        except KafkaError as exc:
            self.metrics.errors.labels("dlq").inc()
            self._rewind(exc, rewind_also)
            return False
        offsets = {tp: OffsetAndMetadata(off, "", -1) for tp, off in self._next.items()}
        try:
            self._consumer.commit(offsets=offsets)
        except KafkaError as exc:  # e.g. the group rebalanced: records come again
            self.metrics.errors.labels("commit").inc()
            log.warning("offset commit failed (%s); records may be delivered again", exc)
        else:
            self._committed = {tp: o.offset for tp, o in offsets.items()}
            self.metrics.commits.inc()
            log.debug("committed %d records (%s)", self._pending, reason)
        self._reset_pending()
        return True

    def _reset_pending(self) -> None:
        self._next.clear()
        self._first.clear()
        self._dlq_futures.clear()
        self._pending = 0
        self._last_checkpoint = time.monotonic()

    def _rewind(self, error: BaseException, also: dict[TopicPartition, int] | None = None) -> None:
        log.error("%s; rewinding to the last committed offsets", error)
        for sink in self.sinks:
            sink.discard()
        targets = dict(also or {})
        for tp, offset in self._first.items():
            targets[tp] = min(offset, targets.get(tp, offset))
        assigned = self._consumer.assignment()
        for tp, offset in targets.items():
            if tp in assigned:
                try:
                    self._consumer.seek(tp, offset)
                except (KafkaError, AssertionError, ValueError) as exc:
                    log.warning("cannot rewind %s: %s", tp, exc)
        self._reset_pending()
        self._stopping.wait(self.settings.retry_backoff_s)

    def _update_lag(self) -> None:
        assigned = list(self._consumer.assignment())
        if not assigned:
            return
        try:
            ends = self._consumer.end_offsets(assigned)
            for tp in assigned:
                lag = max(0, ends[tp] - self._consumer.position(tp))
                self.metrics.lag.labels(tp.topic, str(tp.partition)).set(lag)
        except (KafkaError, KeyError) as exc:
            log.debug("lag update failed: %s", exc)

    def _process(self, polled: dict[Any, list[Any]]) -> None:
        """Hand records to the sinks; checkpoint every commit_max_records (one S3 object).

        On a failure, every partition of this poll is rewound too: records fetched but not yet
        handed to the sinks would otherwise be skipped.
        """
        starts = {tp: records[0].offset for tp, records in polled.items() if records}
        try:
            for records in polled.values():
                for record in records:
                    self._handle(record)
                    if self._pending >= self.settings.commit_max_records:
                        if not self.checkpoint(rewind_also=starts):
                            return  # rewound: the rest of this poll comes again
                        starts.update(self._committed)
        except SinkError as exc:
            self.metrics.sink_errors.labels(exc.sink).inc()
            self._rewind(exc, starts)

    def _due(self) -> bool:
        return self._pending >= self.settings.commit_max_records or (
            self._pending > 0
            and time.monotonic() - self._last_checkpoint >= self.settings.commit_interval_s
        )

    def run(self) -> int:
        serve(self.config.metrics, self.metrics.registry)
        while not self._stopping.is_set():
            try:
                self._connect()
                break
            except KafkaError as exc:
                self.metrics.errors.labels("connect").inc()
                log.warning("cannot connect to Kafka (%s); retrying", exc)
                self._stopping.wait(self.settings.retry_backoff_s)
        if self._consumer is None:
            return 0
        try:
            while not self._stopping.is_set():
                polled = self._consumer.poll(timeout_ms=500)
                self._process(polled)
                if self._due():
                    self.checkpoint()
                if time.monotonic() - self._last_lag >= self.settings.lag_interval_s:
                    self._last_lag = time.monotonic()
                    self._update_lag()
            self.checkpoint(reason="shutdown")
        finally:
            self._consumer.close(autocommit=False)
            self._dlq.close(timeout=5)
            for sink in self.sinks:
                sink.close()
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
