"""The pipeline moves a tweet when there is work, not when a timer fires (issue 13).

Structural tests without Kafka: a fake producer hands out kafka-python futures the test resolves,
and the publisher's `wakeup.wait` is recorded, so "it waited on a timer" is an observable fact
rather than a wall-clock threshold. The few time bounds here are generous (seconds) and only catch
a publisher that never wakes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka.errors import InvalidRecordError, KafkaConnectionError, KafkaTimeoutError
from kafka.future import Future

from tests.conftest import wait_for
from tweet_pipeline.config import FileSinkConfig, ProducerSettings, ReplayConfig
from tweet_pipeline.envelope import now_ms
from tweet_pipeline.metrics import ProducerMetrics
from tweet_pipeline.publisher import Publisher
from tweet_pipeline.replay import ReplaySource, sample_path
from tweet_pipeline.sinks import JsonLinesFileSink
from tweet_pipeline.spool import NewTweet, Spool


def tweet(i: int) -> NewTweet:
    return NewTweet(str(i).encode(), f'{{"id":"{i}","text":"t"}}'.encode(), now_ms(), "replay")


class FakeProducer:
    """send() returns a future the test resolves; flush() is counted (the publisher needs none)."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.futures: list[Future] = []
        self.flushes = 0
        self.metadata_for: list[str] = []
        self.refuse: list[Exception] = []  # send() raises these first, one per call
        self._lock = threading.Lock()

    def send(self, topic: str, value: bytes, key: bytes, headers: Any = None) -> Future:
        with self._lock:
            if self.refuse:
                raise self.refuse.pop(0)
            future = Future()
            self.sent.append(key)
            self.futures.append(future)
            return future

    def flush(self, timeout: float | None = None) -> None:
        self.flushes += 1

    def partitions_for(self, topic: str) -> set[int]:
        self.metadata_for.append(topic)
        return {0}

    def close(self, timeout: float | None = None) -> None:
        pass

    def ack_all(self) -> None:
        with self._lock:
            pending = [f for f in self.futures if not f.is_done]
        for future in pending:
            future.success(None)  # kafka-python runs callbacks on its sender thread; here, ours


class WaitRecorder:
    """Wraps an Event's wait(): records each timeout and tells when the caller is blocked."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event
        self.original = event.wait
        self.timeouts: list[float | None] = []
        self.blocked = threading.Event()

    def wait(self, timeout: float | None = None) -> bool:
        self.timeouts.append(timeout)
        self.blocked.set()
        try:
            return self.original(timeout)
        finally:
            self.blocked.clear()

    def idle(self) -> bool:
        """Blocked in wait() with nothing set (so only a new signal can wake it)."""
        return self.blocked.is_set() and not self.event.is_set()


@pytest.fixture
def spool(tmp_path: Path) -> Iterator[Spool]:
    spool = Spool(tmp_path / "spool.db")
    yield spool
    spool.close()


def start_publisher(
    spool: Spool, producer: FakeProducer, **settings: Any
) -> tuple[Publisher, WaitRecorder, threading.Thread]:
    publisher = Publisher(spool, ProducerSettings(**settings), ProducerMetrics(), lambda: producer)
    recorder = WaitRecorder(publisher.wakeup)
    publisher.wakeup.wait = recorder.wait  # type: ignore[method-assign]
    thread = threading.Thread(target=publisher.run, daemon=True)
    thread.start()
    return publisher, recorder, thread


def stop_publisher(publisher: Publisher, thread: threading.Thread) -> None:
    publisher.stop(time.monotonic() + 2)
    thread.join(10)
    assert not thread.is_alive()


def test_the_spool_signals_each_committed_append(spool: Spool) -> None:
    signal = threading.Event()
    spool.notify_on_append(signal)
    assert not signal.is_set()
    assert spool.append([tweet(1)]) == 1
    assert signal.is_set()
    signal.clear()
    spool.max_records = 1  # full: nothing is taken, so nothing to publish and no signal
    assert spool.append([tweet(2)]) == 0
    assert not signal.is_set()


def test_an_idle_publisher_waits_for_a_signal_not_a_timer(spool: Spool) -> None:
    producer = FakeProducer()
    publisher, waits, thread = start_publisher(spool, producer)
    try:
        wait_for(waits.idle, 5, "the publisher to wait for work")
        assert waits.timeouts == [None]  # no timeout: nothing but a signal wakes it

        spool.append([tweet(1)])  # the spool's signal alone must bring the tweet to Kafka
        wait_for(lambda: producer.sent == [b"1"], 5, "the spooled tweet to be sent")
        wait_for(waits.idle, 5, "the publisher to wait for the acknowledgement")
        assert spool.depth() == 1  # not acknowledged yet: still spooled

        producer.ack_all()  # the future's callback alone must bring the ack to the spool
        wait_for(lambda: spool.depth() == 0, 5, "the acknowledged tweet to leave the spool")
        wait_for(waits.idle, 5, "the publisher to wait for work again")
        assert set(waits.timeouts) == {None}
        assert producer.flushes == 0  # acknowledgements are harvested, never waited for
    finally:
        stop_publisher(publisher, thread)


def test_the_publisher_learns_the_topic_before_the_first_tweet(spool: Spool) -> None:
    """The first tweet after a (re)connect does not wait for a metadata round trip in send()."""
    producer = FakeProducer()
    publisher, waits, thread = start_publisher(spool, producer, topic="tweets")
    try:
        wait_for(waits.idle, 5, "the publisher to wait for work")
        assert producer.metadata_for == ["tweets"]
        assert producer.sent == []
    finally:
        stop_publisher(publisher, thread)


def test_sends_go_on_while_acknowledgements_are_pending(spool: Spool) -> None:
    producer = FakeProducer()
    publisher, waits, thread = start_publisher(spool, producer, batch_records=5)
    try:
        spool.append([tweet(i) for i in range(3)])
        wait_for(lambda: len(producer.sent) == 3, 5, "the first tweets to be sent")
        spool.append([tweet(i) for i in range(3, 20)])  # nothing acknowledged yet
        # Pipelined: sent at once up to 2 * batch_records in flight, not after the first acks.
        wait_for(lambda: len(producer.sent) == 10, 5, "sends up to the in-flight limit")
        wait_for(waits.idle, 5, "the publisher to wait at the in-flight limit")
        assert len(producer.sent) == 10
        producer.ack_all()
        wait_for(lambda: len(producer.sent) == 20, 5, "the rest to be sent after the acks")
        producer.ack_all()
        wait_for(lambda: spool.depth() == 0, 5, "every acknowledged tweet to leave the spool")
        assert producer.sent == [str(i).encode() for i in range(20)]
        assert producer.flushes == 0
    finally:
        stop_publisher(publisher, thread)


def test_a_metadata_timeout_is_retried_after_the_backoff_without_a_new_signal(
    spool: Spool,
) -> None:
    producer = FakeProducer()
    producer.refuse = [KafkaTimeoutError("no metadata")]
    publisher, _waits, thread = start_publisher(spool, producer, retry_backoff_s=0.05)
    try:
        spool.append([tweet(1)])  # the only signal: the retry must come from the backoff
        wait_for(lambda: producer.sent == [b"1"], 5, "the tweet to be sent after the backoff")
        assert publisher.metrics.errors.labels("send")._value.get() == 1
    finally:
        producer.ack_all()
        stop_publisher(publisher, thread)


@pytest.mark.parametrize(
    "error", [InvalidRecordError("refused"), KafkaConnectionError("broker gone")]
)
def test_a_failed_delivery_is_sent_again_without_a_new_signal(
    spool: Spool, error: Exception
) -> None:
    """A refused record is resent alone, a lost one after the backoff: both without new tweets."""
    producer = FakeProducer()
    publisher, _waits, thread = start_publisher(spool, producer, retry_backoff_s=0.05)
    try:
        spool.append([tweet(1)])
        wait_for(lambda: producer.sent == [b"1"], 5, "the tweet to be sent")
        producer.futures[0].failure(error)
        wait_for(lambda: producer.sent == [b"1", b"1"], 5, "the tweet to be sent again")
        producer.ack_all()
        wait_for(lambda: spool.depth() == 0, 5, "the acknowledged tweet to leave the spool")
    finally:
        stop_publisher(publisher, thread)


def test_a_paced_replay_stamps_intake_when_it_hands_the_tweet_on(tmp_path: Path) -> None:
    """received_at is the intake time: the pacing wait before it is not pipeline latency."""
    lines = sample_path().read_bytes().splitlines()[:3]
    path = tmp_path / "in.ndjson"
    path.write_bytes(b"\n".join(lines) + b"\n")
    gaps: list[int] = []

    def ingest(batch: list[NewTweet]) -> None:
        gaps.extend(now_ms() - t.received_at_ms for t in batch)

    ReplaySource(ReplayConfig(path=path, rate=2.0), ingest).run()  # one tweet per 500 ms
    assert len(gaps) == 3
    assert max(gaps) < 250  # stamped after the 500 ms pacing wait, not before it


def test_the_file_sink_line_is_in_the_file_before_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "tweets.jsonl"
    sink = JsonLinesFileSink(FileSinkConfig(path=path))
    try:
        sink.write({"tweet": {"id": "1", "text": "t"}, "received_at": 1, "consumed_at": 2})
        # No flush() yet (that is the checkpoint's fsync): a reader already sees the line.
        assert path.read_text().splitlines() == [
            '{"tweet":{"id":"1","text":"t"},"received_at":1,"consumed_at":2}'
        ]
    finally:
        sink.close()
