"""Moves tweets from the spool to Kafka, in order, deleting each only after Kafka acked it.

A record Kafka can never accept is dead-lettered instead of blocking the spool forever:

* kafka-python refuses a record larger than ``max_request_size`` in ``send()`` itself
  (`MessageSizeTooLargeError`): it is dead-lettered at once.
* The broker may refuse a record (too large for the topic's ``max.message.bytes``, invalid):
  the record becomes a *suspect* and is sent again alone, on a fresh producer; only if it fails
  alone with such an error again is it dead-lettered (so a record is never blamed for its
  batch-mates). Any other failure is retried from the spool with backoff, as before.

A dead letter goes to ``producer.dlq_topic`` as a JSON envelope (`tweet_pipeline.deadletter`)
that always fits (the value is cut if needed); its spool row is deleted only when the DLQ has
acknowledged it, and it is counted (``tweet_producer_dead_lettered_total{reason}``) and logged.
If the DLQ refuses the envelope for its size, a minimal one (no value) is sent instead.

The publisher wakes on work, never on a timer: on its `wakeup` event, which the spool sets when
it commits new tweets (`Spool.notify_on_append`), each send's future sets when Kafka answers
(acknowledged or failed), and `stop()` sets. Each round sends what the spool holds beyond what is
in flight (at most ``2 * batch_records`` in flight) and harvests the acknowledged prefix without
blocking, so sends and acknowledgements overlap (no flush per round). Only failures wait on a
clock: the retry backoff, and a metadata timeout in `send()`.

Anything else that escapes `run()` (e.g. the spool failing) ends the thread with the exception;
the producer then exits non-zero so systemd restarts it.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from kafka.errors import KafkaError, KafkaTimeoutError, MessageSizeTooLargeError

from tweet_pipeline.config import KafkaConfig, ProducerSettings
from tweet_pipeline.deadletter import (
    Reason,
    envelope_limit,
    producer_dead_letter,
    record_error_reason,
)
from tweet_pipeline.envelope import HEADER_RECEIVED_AT, HEADER_SOURCE
from tweet_pipeline.kafka_login import LoginRefusedError
from tweet_pipeline.metrics import ProducerMetrics
from tweet_pipeline.spool import Spool, SpooledTweet

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _DeadLetter:
    reason: Reason
    error: str
    minimal: bool = False


@dataclass(frozen=True)
class _Sent:
    tweet: SpooledTweet
    future: Any
    dead_letter: _DeadLetter | None = None


def producer_kwargs(kafka: KafkaConfig, settings: ProducerSettings) -> dict[str, Any]:
    """KafkaProducer settings: acks=all + idempotence keeps per-partition order across retries.

    kafka-python 3 implements the idempotent producer; it needs acks=all. With acks 0/1 the
    idempotence is off and max_in_flight is 1 so retries cannot reorder records.
    """
    idempotent = settings.acks == "all"
    return {
        **kafka.client_kwargs(),
        "acks": "all" if idempotent else settings.acks,
        "enable_idempotence": idempotent,
        "max_in_flight_requests_per_connection": 5 if idempotent else 1,
        "retries": 2**31 - 1,
        "compression_type": None if settings.compression == "none" else settings.compression,
        "linger_ms": settings.linger_ms,
        # One batch never exceeds one request: a small max_request_size caps the batch.
        "batch_size": min(settings.batch_size, settings.max_request_size),
        "delivery_timeout_ms": settings.delivery_timeout_ms,
        "request_timeout_ms": min(settings.request_timeout_ms, settings.delivery_timeout_ms),
        "max_block_ms": settings.max_block_ms,
        "max_request_size": settings.max_request_size,
        "retry_backoff_ms": 100,
        "reconnect_backoff_max_ms": 2000,
    }


ProducerFactory = Callable[[], Any]


class Publisher:
    """Runs in its own thread. `stop(deadline)` asks it to drain until the monotonic deadline."""

    def __init__(
        self,
        spool: Spool,
        settings: ProducerSettings,
        metrics: ProducerMetrics,
        factory: ProducerFactory,
    ) -> None:
        self.spool = spool
        self.settings = settings
        self.metrics = metrics
        self.factory = factory
        self.wakeup = threading.Event()
        spool.notify_on_append(self.wakeup)
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._producer: Any = None
        self._inflight: deque[_Sent] = deque()
        self._last_sent = 0
        self._backoff = settings.retry_backoff_s
        self._envelope_limit = envelope_limit(settings.max_request_size)
        self._dead_letters: dict[int, _DeadLetter] = {}  # seq -> send to the DLQ instead
        self._suspect: int | None = None  # seq refused by the broker once: probe it alone
        self._unavailable = False  # send() timed out on metadata: back off, then try again

    # -- control -------------------------------------------------------------------------
    def stop(self, deadline: float) -> None:
        self._deadline = deadline
        self._stopping.set()
        self.wakeup.set()

    def _should_exit(self) -> bool:
        if not self._stopping.is_set():
            return False
        if time.monotonic() >= self._deadline:
            return True
        return not self._inflight and self.spool.depth() == 0

    def _sleep(self, seconds: float) -> None:
        """A backoff: new tweets and acknowledgements do not cut it short, stopping does."""
        end = min(time.monotonic() + seconds, self._deadline)
        while not self._should_exit() and (left := end - time.monotonic()) > 0:
            self.wakeup.wait(min(left, 0.2))
            self.wakeup.clear()

    def _wait_for_work(self) -> None:
        """Block until the spool, Kafka or stop() sets `wakeup` (while stopping: the deadline)."""
        left = self._deadline - time.monotonic()
        self.wakeup.wait(None if left == float("inf") else max(0.0, left))

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._should_exit():
                if self._producer is None and not self._connect():
                    self._failed_wait()
                    continue
                # Cleared before looking, so a signal that comes while we look is not lost.
                self.wakeup.clear()
                sent = self._send_more()
                done = self._harvest()
                if self._unavailable:
                    self._unavailable = False
                    self._failed_wait()
                elif self._producer is not None and not sent and not done:
                    # (A failure that dropped the producer goes round at once: the resend from
                    # the spool is work that no signal announces.)
                    self._wait_for_work()
        finally:
            self._close(timeout=max(0.0, min(5.0, self._deadline - time.monotonic())))

    def _connect(self) -> bool:
        try:
            self._producer = self.factory()
        except LoginRefusedError as exc:  # a configuration (or credential) problem
            self.metrics.errors.labels("connect").inc()
            log.error("%s; tweets stay spooled", exc)
            return False
        except (KafkaError, OSError) as exc:
            self.metrics.errors.labels("connect").inc()
            log.warning("cannot connect to Kafka (%s); tweets stay spooled", exc)
            return False
        log.info("connected to Kafka")
        self._fetch_metadata()
        return True

    def _fetch_metadata(self) -> None:
        """Learn the topic's partitions now: otherwise the first tweet after a (re)connect waits
        for that round trip in send() (bench_latency: the max latency of a fresh producer)."""
        try:
            self._producer.partitions_for(self.settings.topic)
        except KafkaError as exc:  # e.g. KafkaTimeoutError: send() waits and reports it then
            log.debug("no metadata for %s yet: %s", self.settings.topic, exc)

    def _failed_wait(self) -> None:
        self._sleep(self._backoff)
        self._backoff = min(max(self._backoff * 2, 0.1), self.settings.retry_backoff_max_s)

    def _send_more(self) -> int:
        room = self.settings.batch_records * 2 - len(self._inflight)
        if self._suspect is not None:
            room = 0 if self._inflight else 1  # the suspect travels alone
        if room <= 0:
            return 0
        batch = self.spool.peek(room, after_seq=self._last_sent)
        if self._suspect is not None and batch and batch[0].seq != self._suspect:
            self._suspect = None  # no longer the oldest row (cannot normally happen)
        sent = 0
        for tweet in batch:
            try:
                entry = self._send(tweet)
            except KafkaTimeoutError as exc:  # metadata unavailable within max_block_ms
                self.metrics.errors.labels("send").inc()
                log.warning("Kafka unavailable (%s); tweets stay spooled", exc)
                self._unavailable = True
                break
            self._inflight.append(entry)
            self._last_sent = tweet.seq
            sent += 1
        return sent

    def _send(self, tweet: SpooledTweet) -> _Sent:
        dead = self._dead_letters.get(tweet.seq)
        if dead is None:
            headers = [
                (HEADER_RECEIVED_AT, str(tweet.received_at_ms).encode()),
                (HEADER_SOURCE, tweet.source.encode()),
            ]
            try:
                future = self._producer.send(
                    self.settings.topic, value=tweet.value, key=tweet.key, headers=headers
                )
                return self._watched(_Sent(tweet, future))
            except MessageSizeTooLargeError as exc:  # over max_request_size: checked in send()
                dead = self._dead_letters[tweet.seq] = _DeadLetter("too_large", str(exc))
        value, headers = producer_dead_letter(
            tweet,
            topic=self.settings.topic,
            reason=dead.reason,
            error=dead.error,
            limit=self._envelope_limit,
            minimal=dead.minimal,
        )
        future = self._producer.send(
            self.settings.dlq_topic, value=value, key=tweet.key, headers=headers
        )
        return self._watched(_Sent(tweet, future, dead))

    def _watched(self, entry: _Sent) -> _Sent:
        """Wake the loop when Kafka answers for this record (kafka-python's sender thread runs
        the callback; if the future is already done, it runs now)."""
        entry.future.add_both(self._wake)
        return entry

    def _wake(self, _result: object) -> None:
        self.wakeup.set()

    def _harvest(self) -> int:
        """Remove the acknowledged prefix of what is in flight from the spool (never blocks)."""
        acked: list[_Sent] = []
        failed: _Sent | None = None
        while self._inflight and self._inflight[0].future.is_done:
            entry = self._inflight.popleft()
            if entry.future.succeeded():
                acked.append(entry)
            else:
                failed = entry
                break
        if acked:
            self._acknowledge(acked)
            self._backoff = self.settings.retry_backoff_s
        if failed is not None:
            self._failed(failed)
        return len(acked)

    def _acknowledge(self, entries: Iterable[_Sent]) -> None:
        """Forget acknowledged tweets: published ones and dead-lettered ones."""
        entries = list(entries)
        self.spool.remove(e.tweet.seq for e in entries)
        now = time.time()
        published = 0
        for entry in entries:
            tweet, dead = entry.tweet, entry.dead_letter
            if tweet.seq == self._suspect:
                self._suspect = None
            if dead is None:
                published += 1
                self.metrics.publish_latency.observe(max(0.0, now - tweet.received_at_ms / 1000))
                continue
            self._dead_letters.pop(tweet.seq, None)
            self.metrics.dead_lettered.labels(dead.reason).inc()
            log.warning(
                "tweet %s (%d bytes) dead-lettered to %s: %s: %s%s",
                tweet.key.decode("utf-8", "replace"),
                len(tweet.value),
                self.settings.dlq_topic,
                dead.reason,
                dead.error,
                " (minimal envelope, value not kept)" if dead.minimal else "",
            )
        self.metrics.published.inc(published)
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.size_bytes())

    def _failed(self, entry: _Sent) -> None:
        """Decide what a failed delivery means, then resend from the spool."""
        error = entry.future.exception
        reason = record_error_reason(error)
        seq, tweet_id = entry.tweet.seq, entry.tweet.key.decode("utf-8", "replace")
        if entry.dead_letter is not None:
            self.metrics.errors.labels("dlq").inc()
            shrink = reason is not None and not entry.dead_letter.minimal
            if shrink:
                log.warning(
                    "the DLQ refused the envelope of tweet %s (%s); sending a minimal one",
                    tweet_id,
                    error,
                )
                self._dead_letters[seq] = dataclasses.replace(entry.dead_letter, minimal=True)
            self._recover(error, wait=not shrink)
        elif reason is not None:
            if self._suspect == seq:
                self._dead_letters[seq] = _DeadLetter(reason, f"{type(error).__name__}: {error}")
                self._suspect = None
            else:
                log.warning("Kafka refused tweet %s (%s); sending it again alone", tweet_id, error)
                self._suspect = seq
            self._recover(error, wait=False)
        else:
            self._recover(error)

    def _recover(self, error: BaseException | None, wait: bool = True) -> None:
        """A delivery failed: drop the producer, resend every unacknowledged tweet in order."""
        self.metrics.errors.labels("publish").inc()
        log.warning("publish failed (%s); retrying from the spool", error)
        # Later in-flight records may have been written; forget those that were acked so they
        # are not sent twice, then resend the rest from the oldest spooled tweet.
        self._acknowledge(e for e in self._inflight if e.future.is_done and e.future.succeeded())
        self._close()
        if wait:
            self._failed_wait()

    def _close(self, timeout: float = 0.0) -> None:
        self._inflight.clear()
        self._last_sent = 0
        if self._producer is not None:
            try:
                self._producer.close(timeout=timeout)
            except Exception:  # closing a broken producer must not raise
                log.debug("error closing producer", exc_info=True)
            self._producer = None
        self.metrics.spool_depth.set(self.spool.depth())
        self.metrics.spool_bytes.set(self.spool.size_bytes())
