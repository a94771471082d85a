"""Moves tweets from the spool to Kafka, in order, deleting each only after Kafka acked it."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from kafka.errors import KafkaError, KafkaTimeoutError

from tweet_pipeline.config import KafkaConfig, ProducerSettings
from tweet_pipeline.envelope import HEADER_RECEIVED_AT, HEADER_SOURCE
from tweet_pipeline.metrics import ProducerMetrics
from tweet_pipeline.spool import Spool, SpooledTweet

log = logging.getLogger(__name__)


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
        "delivery_timeout_ms": settings.delivery_timeout_ms,
        "request_timeout_ms": min(settings.request_timeout_ms, settings.delivery_timeout_ms),
        "max_block_ms": settings.max_block_ms,
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
        self._stopping = threading.Event()
        self._deadline = float("inf")
        self._producer: Any = None
        self._inflight: deque[tuple[SpooledTweet, Any]] = deque()
        self._last_sent = 0
        self._backoff = settings.retry_backoff_s

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
        end = min(time.monotonic() + seconds, self._deadline)
        while not self._should_exit() and (left := end - time.monotonic()) > 0:
            self.wakeup.wait(min(left, 0.2))
            self.wakeup.clear()

    # -- main loop -------------------------------------------------------------------------
    def run(self) -> None:
        try:
            while not self._should_exit():
                if self._producer is None and not self._connect():
                    self._failed_wait()
                    continue
                sent = self._send_more()
                done = self._harvest()
                if not sent and not done and not self._inflight:
                    self._sleep(0.5)
        finally:
            self._close(timeout=max(0.0, min(5.0, self._deadline - time.monotonic())))

    def _connect(self) -> bool:
        try:
            self._producer = self.factory()
        except (KafkaError, OSError) as exc:
            self.metrics.errors.labels("connect").inc()
            log.warning("cannot connect to Kafka (%s); tweets stay spooled", exc)
            return False
        log.info("connected to Kafka")
        return True

    def _failed_wait(self) -> None:
        self._sleep(self._backoff)
        self._backoff = min(max(self._backoff * 2, 0.1), self.settings.retry_backoff_max_s)

    def _send_more(self) -> int:
        room = self.settings.batch_records * 2 - len(self._inflight)
        if room <= 0:
            return 0
        batch = self.spool.peek(room, after_seq=self._last_sent)
        sent = 0
        for tweet in batch:
            headers = [
                (HEADER_RECEIVED_AT, str(tweet.received_at_ms).encode()),
                (HEADER_SOURCE, tweet.source.encode()),
            ]
            try:
                future = self._producer.send(
                    self.settings.topic, value=tweet.value, key=tweet.key, headers=headers
                )
            except KafkaTimeoutError as exc:  # metadata unavailable within max_block_ms
                self.metrics.errors.labels("send").inc()
                log.warning("Kafka unavailable (%s); tweets stay spooled", exc)
                break
            self._inflight.append((tweet, future))
            self._last_sent = tweet.seq
            sent += 1
        return sent

    def _harvest(self) -> int:
        """Wait briefly for acks; remove the acknowledged prefix from the spool."""
        if not self._inflight:
            return 0
        timeout = max(0.0, min(0.5, self._deadline - time.monotonic()))
        with contextlib.suppress(KafkaTimeoutError):
            self._producer.flush(timeout=timeout)
        acked: list[int] = []
        failed: BaseException | None = None
        now = time.time()
        while self._inflight and self._inflight[0][1].is_done:
            tweet, future = self._inflight.popleft()
            if future.succeeded():
                acked.append(tweet.seq)
                self.metrics.publish_latency.observe(max(0.0, now - tweet.received_at_ms / 1000))
            else:
                failed = future.exception
                break
        if acked:
            self.spool.remove(acked)
            self.metrics.published.inc(len(acked))
            self.metrics.spool_depth.set(self.spool.depth())
            self._backoff = self.settings.retry_backoff_s
        if failed is not None:
            self._recover(failed)
        return len(acked)

    def _recover(self, error: BaseException) -> None:
        """A delivery failed: drop the producer, resend every unacknowledged tweet in order."""
        self.metrics.errors.labels("publish").inc()
        log.warning("publish failed (%s); retrying from the spool", error)
        # Later in-flight records may have been written; remove those that were acked so they
        # are not sent twice, then resend the rest from the oldest spooled tweet.
        acked = [t.seq for t, f in self._inflight if f.is_done and f.succeeded()]
        self.spool.remove(acked)
        self.metrics.published.inc(len(acked))
        self._close()
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
