"""The consumer's record handling: each record to the sinks, or (malformed) to the DLQ.

`RecordHandler` is what the checkpointing loop (`tweet_pipeline.consumer.ConsumerApp`: poll,
track offsets, flush then commit, rewind) hands every record to: it parses the record, then
gives it to the sinks (`SinkDelivery`) or, if malformed, to the dead-letter topic
(`DeadLetterQueue`). The loop knows nothing of sinks or envelopes; the handler knows nothing of
offsets. The pending batch is what was read since the last commit, and where it has gone:

`SinkDelivery` keeps the batch's sink records and, per sink, how many of them the sink has
taken (`write` returned). A sink that fails is marked failing and skipped; a retry hands it only
what it has not taken yet and flushes it, so the other sinks never get a record twice (the old
"rewind and rewrite everything" duplicated into every sink and let file rotation push real data
out).

`DeadLetterQueue` does the same for the dead-letter topic: each malformed record is an item that
is sent, then acknowledged; a failed or unconfirmed item is sent again at the next retry (with a
minimal envelope if the DLQ refused it for its size). The consumer commits only when every sink
holds the batch and every dead letter is acknowledged.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError

from tweet_pipeline.deadletter import consumer_dead_letter, dlq_key, record_error_reason
from tweet_pipeline.envelope import MalformedTweetError, parse_tweet, sink_record
from tweet_pipeline.metrics import ConsumerMetrics
from tweet_pipeline.sinks import Sink

log = logging.getLogger("tweet_consumer")


class SinkDelivery:
    def __init__(self, sinks: list[Sink], metrics: ConsumerMetrics) -> None:
        self.sinks = sinks
        self.metrics = metrics
        self.records: list[dict[str, Any]] = []
        self.taken: dict[str, int] = {s.name: 0 for s in sinks}
        self.failing: dict[str, BaseException] = {}

    def add(self, record: dict[str, Any]) -> None:
        """Hand a new record to every sink that is not failing."""
        self.records.append(record)
        for sink in self.sinks:
            if sink.name not in self.failing:
                self._catch_up(sink)

    def _fail(self, sink: Sink, error: BaseException, action: str) -> None:
        self.failing[sink.name] = error
        self.metrics.sink_errors.labels(sink.name).inc()
        log.error("sink %s failed to %s: %r; it is retried alone", sink.name, action, error)

    def _catch_up(self, sink: Sink) -> bool:
        start = self.taken[sink.name]
        for record in self.records[start:]:
            try:
                sink.write(record)
            except Exception as exc:
                self._fail(sink, exc, "write")
                return False
            self.taken[sink.name] += 1
            self.metrics.written.labels(sink.name).inc()
        return True

    def flush(self) -> bool:
        """Give each sink what it misses, then flush it. True if every sink holds the batch."""
        for sink in self.sinks:
            self.failing.pop(sink.name, None)
            if not self._catch_up(sink):
                continue
            try:
                sink.flush()
            except Exception as exc:
                self._fail(sink, exc, "flush")
        return not self.failing

    def reset(self, discard: bool = False) -> None:
        """Forget the batch (committed, or abandoned at a rebalance: then sinks drop buffers)."""
        if discard:
            for sink in self.sinks:
                sink.discard()
            self.failing.clear()
        self.records.clear()
        self.taken = dict.fromkeys(self.taken, 0)


@dataclass
class _Item:
    record: Any
    error: str
    future: Any = None
    acked: bool = False
    minimal: bool = False


class DeadLetterQueue:
    """Malformed records of the pending batch on their way to the dead-letter topic."""

    def __init__(
        self,
        factory: Callable[[], Any],
        topic: str,
        envelope_limit: int,
        metrics: ConsumerMetrics,
    ) -> None:
        self.factory = factory
        self.topic = topic
        self.envelope_limit = envelope_limit
        self.metrics = metrics
        self.items: list[_Item] = []
        self.failing = False
        self._producer: Any = None

    def add(self, record: Any, error: str) -> None:
        item = _Item(record, error)
        self.items.append(item)
        if not self.failing:
            self._send(item)

    def _fail(self, message: str, error: BaseException | None) -> None:
        self.failing = True
        self.metrics.errors.labels("dlq").inc()
        log.error("dead-letter topic %s: %s (%r); retrying", self.topic, message, error)

    def _send(self, item: _Item) -> bool:
        try:
            if self._producer is None:
                self._producer = self.factory()
            value, headers = consumer_dead_letter(
                item.record, item.error, self.envelope_limit, minimal=item.minimal
            )
            item.future = self._producer.send(
                self.topic, value=value, key=dlq_key(item.record.key), headers=headers
            )
        except KafkaError as exc:
            self._fail("cannot send", exc)
            self._drop_producer()
            return False
        return True

    def confirm(self, timeout: float) -> bool:
        """Send what is unsent, wait for acknowledgements; True if every item is acknowledged."""
        self.failing = False
        for item in self.items:
            if item.future is None and not item.acked and not self._send(item):
                return False
        if self._producer is not None and any(not i.acked for i in self.items):
            with contextlib.suppress(KafkaError):
                self._producer.flush(timeout=timeout)
        waiting, error, broken = 0, None, False
        for item in self.items:
            if item.acked:
                continue
            if not item.future.is_done:
                waiting += 1
            elif item.future.succeeded():
                item.acked = True
                self.metrics.dead_lettered.inc()
            else:
                error, item.future = item.future.exception, None
                if record_error_reason(error) is not None and not item.minimal:
                    item.minimal = True  # the DLQ refused the envelope's size: coordinates only
                    log.warning("the DLQ refused a dead letter's size; sending a minimal envelope")
                else:
                    broken = True
        if error is not None:
            self._fail("delivery failed", error)
        elif waiting:
            self._fail(f"{waiting} dead letters not acknowledged in {timeout:.0f}s", None)
        if broken:
            self._drop_producer()
        return not self.failing

    def _drop_producer(self) -> None:
        """Close a producer that failed; what it had not confirmed is sent again later."""
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=0)
            self._producer = None
        for item in self.items:
            if not item.acked:
                item.future = None

    def reset(self) -> None:
        self.items.clear()
        self.failing = False

    def close(self) -> None:
        if self._producer is not None:
            with contextlib.suppress(Exception):
                self._producer.close(timeout=5)
            self._producer = None


class RecordHandler:
    """Parse each record, then hand it to the sinks or, if malformed, to the dead-letter topic."""

    def __init__(
        self, delivery: SinkDelivery, dlq: DeadLetterQueue, metrics: ConsumerMetrics
    ) -> None:
        self.delivery = delivery
        self.dlq = dlq
        self.metrics = metrics

    def handle(self, record: Any) -> None:
        try:
            tweet = parse_tweet(record.value)
        except MalformedTweetError as exc:
            log.warning(
                "dead-lettering %s-%d@%d: %s", record.topic, record.partition, record.offset, exc
            )
            self.dlq.add(record, str(exc))
            return
        out = sink_record(tweet, record)
        if out["received_at"] is not None:
            self.metrics.end_to_end_latency.observe(
                max(0.0, (out["consumed_at"] - out["received_at"]) / 1000)
            )
        self.delivery.add(out)

    @property
    def failing(self) -> list[str]:
        """What fails: sink names, and "dlq"; empty when all is well."""
        return [*self.delivery.failing, *(["dlq"] if self.dlq.failing else [])]

    def flush(self, dlq_timeout: float) -> bool:
        """Every sink holds the batch and every dead letter is acknowledged (else retry later)."""
        return self.delivery.flush() and self.dlq.confirm(dlq_timeout)

    def reset(self, discard: bool = False) -> None:
        """The batch is committed (or, with `discard`, abandoned: it is delivered again)."""
        self.delivery.reset(discard=discard)
        self.dlq.reset()

    def close(self) -> None:
        self.dlq.close()
        for sink in self.delivery.sinks:
            sink.close()
