"""Consumer against a real broker: at-least-once across SIGKILL, DLQ, file sink, S3 sink (moto)."""

from __future__ import annotations

import base64
import json
import os
import random
import re
import signal
import string
import subprocess
import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from tests.configs import consumer_toml
from tests.conftest import (
    Runner,
    consume,
    metric_value,
    produce_raw,
    run_cli,
    sample_ids,
    sample_lines,
    scrape,
    wait_for,
    write_toml,
)
from tests.kafka_broker import KafkaBroker, free_port
from tweet_pipeline.config import ConsumerConfig, load_consumer_config
from tweet_pipeline.consumer import ConsumerApp
from tweet_pipeline.envelope import HEADER_ERROR, HEADER_SOURCE_OFFSET, header
from tweet_pipeline.metrics import ConsumerMetrics
from tweet_pipeline.sinks import JsonLinesFileSink, S3Sink, Sink


def file_ids(path: Path) -> list[str]:
    """Tweet ids in a JSON-lines sink file and its rotated siblings (oldest first)."""
    files = sorted(path.parent.glob(path.name + ".*"), key=lambda p: -int(p.suffix[1:]))
    ids: list[str] = []
    for file in [*files, path]:
        if file.exists():
            data = file.read_bytes()
            complete = data[: data.rfind(b"\n") + 1]  # the writer may be mid-line
            for line in complete.decode().splitlines():
                if line.strip():
                    ids.append(json.loads(line)["tweet"]["id"])
    return ids


def committed_equals_end(bootstrap: str, group: str, topic: str) -> bool:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        ends = consumer.end_offsets(parts)
        return bool(parts) and all(consumer.committed(tp) == ends[tp] for tp in parts)
    finally:
        consumer.close(autocommit=False)


def test_at_least_once_across_sigkill(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=3)
    group = f"g-{uuid.uuid4().hex[:8]}"
    out = tmp_path / "out" / "tweets.jsonl"
    port = free_port()
    sinks = f'[sinks.file]\npath = "{out}"\nmax_bytes = 10000000\n'
    config = write_toml(
        tmp_path / "c.toml",
        consumer_toml(
            kafka.bootstrap,
            name,
            group,
            sinks=sinks,
            metrics_port=port,
            extra="max_poll_records = 20",
        ),
    )
    expected = sample_ids(1200)
    feeder = threading.Thread(
        target=produce_raw, args=(kafka.bootstrap, name, sample_lines(1200), 200), daemon=True
    )
    feeder.start()
    first = run_cli("tweet_pipeline.consumer", config, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: out.exists() and len(file_ids(out)) >= 250, 60, "250 tweets written")
        text = scrape(port)
        assert metric_value(text, "tweet_consumer_consumed_total") > 0
        metric_value(text, "tweet_consumer_lag")
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    finally:
        first.kill()
    before_restart = len(file_ids(out))
    assert before_restart < 1200, "the consumer must be killed mid-stream"
    second = run_cli("tweet_pipeline.consumer", config, stderr=subprocess.PIPE)
    try:
        feeder.join(30)
        wait_for(lambda: set(expected) <= set(file_ids(out)), 60, "every tweet written")
        wait_for(lambda: committed_equals_end(kafka.bootstrap, group, name), 30, "offsets")
        second.send_signal(signal.SIGTERM)
        _, err = second.communicate(timeout=30)
    finally:
        second.kill()
    assert second.returncode == 0, err.decode()[-2000:]
    ids = file_ids(out)
    assert set(ids) == set(expected)  # nothing missing; duplicates are allowed (at-least-once)
    record = json.loads(out.read_text().splitlines()[-1])
    assert set(record) == {"tweet", "kafka", "received_at", "consumed_at"}
    assert {"topic", "partition", "offset", "timestamp", "key"} == set(record["kafka"])


MALFORMED = [
    b"this is not json",
    b'{"text": "no id here"}',
    b'{"id": "123", "lang": "en"}',
    b"[1, 2, 3]",
    b"\xff\xfe\x00binary",
]


def test_malformed_records_go_to_the_dlq_and_good_ones_keep_flowing(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    good = sample_lines(100)
    values: list[bytes] = []
    for index, line in enumerate(good):
        values.append(line)
        if index % 20 == 10:
            values.append(MALFORMED[index // 20])
    produce_raw(kafka.bootstrap, name, values)
    out = tmp_path / "tweets.jsonl"
    cfg = load_consumer_config(
        write_toml(
            tmp_path / "c.toml",
            consumer_toml(kafka.bootstrap, name, "dlq-test", sinks=f'[sinks.file]\npath = "{out}"'),
        )
    )
    metrics = ConsumerMetrics()
    runner = Runner(ConsumerApp(cfg, metrics))
    try:
        wait_for(lambda: out.exists() and len(file_ids(out)) >= 100, 30, "100 good tweets")
        wait_for(lambda: metrics.dead_lettered._value.get() >= 5, 10, "5 dead letters")
    finally:
        assert runner.stop() == 0
    assert file_ids(out) == sample_ids(100)
    dead = consume(kafka.bootstrap, f"{name}.dlq", 5)
    assert len(dead) == 5
    offsets = [i for i, v in enumerate(values) if v in MALFORMED]
    for record, offset, raw in zip(dead, offsets, MALFORMED, strict=True):
        envelope = json.loads(record.value)
        assert envelope["source"] == {
            "topic": name,
            "partition": 0,
            "offset": offset,
            "timestamp": envelope["source"]["timestamp"],
        }
        assert envelope["error"]
        assert header(record.headers, HEADER_ERROR) == envelope["error"].encode()
        assert header(record.headers, HEADER_SOURCE_OFFSET) == str(offset).encode()
        kept = envelope.get("value_text", "").encode() or base64.b64decode(envelope["value_b64"])
        assert kept == raw
    errors = [json.loads(r.value)["error"] for r in dead]
    assert errors[0].startswith("not JSON")
    assert errors[1] == "missing field 'id'"
    assert errors[2] == "missing field 'text'"
    assert errors[3] == "not a JSON object: list"
    assert metrics.lag.labels(name, "0")._value.get() == 0
    assert committed_equals_end(kafka.bootstrap, "dlq-test", name)


def test_s3_sink_batches_objects_by_date_prefix_and_survives_a_missing_bucket(
    kafka: KafkaBroker,
    topic: Callable[..., str],
    tmp_path: Path,
    moto_server: str,
    aws_env: dict[str, str],
) -> None:
    name = topic(partitions=2)
    bucket = f"tweets-{uuid.uuid4().hex[:8]}"
    produce_raw(kafka.bootstrap, name, sample_lines(300))
    sinks = f"""
[sinks.s3]
bucket = "{bucket}"
prefix = "raw/tweets/"
endpoint_url = "{moto_server}"
region = "us-east-1"
"""
    cfg = load_consumer_config(
        write_toml(tmp_path / "c.toml", consumer_toml(kafka.bootstrap, name, "s3", sinks=sinks))
    )
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    metrics = ConsumerMetrics()
    runner = Runner(ConsumerApp(cfg, metrics))
    try:
        # The bucket does not exist yet: uploads fail, the consumer pauses and retries S3.
        wait_for(lambda: metrics.sink_errors.labels("s3")._value.get() >= 1, 30, "an S3 error")
        assert metrics.commits._value.get() == 0
        s3.create_bucket(Bucket=bucket)

        def all_ids() -> set[str]:
            ids: set[str] = set()
            for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
                ids |= {json.loads(line)["tweet"]["id"] for line in body.splitlines()}
            return ids

        wait_for(lambda: all_ids() >= set(sample_ids(300)), 60, "every tweet in S3")
        wait_for(lambda: committed_equals_end(kafka.bootstrap, "s3", name), 30, "offsets")
    finally:
        assert runner.stop() == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) >= 300 // 50  # batched: commit_max_records = 50 per object at most
    pattern = r"^raw/tweets/\d{4}/\d{2}/\d{2}/\d{2}/\d{8}T\d{12}-[0-9a-f]{12}\.jsonl$"
    assert all(re.match(pattern, k) for k in keys), keys
    assert all_ids() == set(sample_ids(300))


class FlakySink:
    """Wraps a sink; its first `failures` flushes raise (an S3 outage)."""

    def __init__(self, inner: Sink, failures: int) -> None:
        self.inner = inner
        self.name = inner.name
        self.failures = failures

    def write(self, record: dict[str, Any]) -> None:
        self.inner.write(record)

    def flush(self) -> None:
        if self.failures:
            self.failures -= 1
            raise ConnectionError(f"{self.name} is down")
        self.inner.flush()

    def discard(self) -> None:
        self.inner.discard()

    def close(self) -> None:
        self.inner.close()


def s3_ids(s3: Any, bucket: str) -> list[str]:
    ids: list[str] = []
    for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read()
        ids += [json.loads(line)["tweet"]["id"] for line in body.splitlines()]
    return ids


def test_a_failing_s3_sink_is_retried_alone_without_duplicating_into_the_file(
    kafka: KafkaBroker,
    topic: Callable[..., str],
    tmp_path: Path,
    moto_server: str,
    aws_env: dict[str, str],
) -> None:
    name = topic(partitions=1)
    bucket = f"tweets-{uuid.uuid4().hex[:8]}"
    s3 = boto3.client("s3", endpoint_url=moto_server, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    produce_raw(kafka.bootstrap, name, sample_lines(150))
    out = tmp_path / "tweets.jsonl"
    sinks = f'[sinks.file]\npath = "{out}"\n[sinks.s3]\nbucket = "{bucket}"\n'
    sinks += f'endpoint_url = "{moto_server}"\n'
    cfg = load_consumer_config(
        write_toml(tmp_path / "c.toml", consumer_toml(kafka.bootstrap, name, "flaky", sinks=sinks))
    )
    assert cfg.file is not None and cfg.s3 is not None
    metrics = ConsumerMetrics()
    file_sink = JsonLinesFileSink(cfg.file)
    app = ConsumerApp(cfg, metrics, sinks=[file_sink, FlakySink(S3Sink(cfg.s3), failures=3)])
    runner = Runner(app)
    try:
        wait_for(lambda: metrics.sink_errors.labels("s3")._value.get() >= 1, 30, "an S3 error")
        wait_for(lambda: metrics.paused._value.get() == 1, 10, "consumption paused")
        wait_for(lambda: len(s3_ids(s3, bucket)) >= 150, 60, "every tweet in S3")
        wait_for(lambda: committed_equals_end(kafka.bootstrap, "flaky", name), 30, "offsets")
    finally:
        assert runner.stop() == 0
    assert file_ids(out) == sample_ids(150)  # each record exactly once, in order
    assert sorted(s3_ids(s3, bucket)) == sorted(sample_ids(150))
    assert metrics.sink_errors.labels("s3")._value.get() == 3
    assert (
        metrics.registry.get_sample_value("tweet_consumer_sink_errors_total", {"sink": "file"})
        is None
    )
    assert metrics.written.labels("file")._value.get() == 150
    assert metrics.paused._value.get() == 0


def committed_offset(bootstrap: str, group: str, topic: str) -> int | None:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    try:
        return consumer.committed(TopicPartition(topic, 0))  # type: ignore[no-any-return]
    finally:
        consumer.close(autocommit=False)


def test_dlq_failures_are_retried_without_crashing_or_committing_past_the_record(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    good = sample_lines(60)
    produce_raw(kafka.bootstrap, name, [*good[:30], b"not json at all", *good[30:]])
    out = tmp_path / "tweets.jsonl"
    cfg = load_consumer_config(
        write_toml(
            tmp_path / "c.toml",
            consumer_toml(kafka.bootstrap, name, "dlq-down", sinks=f'[sinks.file]\npath = "{out}"'),
        )
    )
    failures = [5]  # retried after 0.2, 0.4, 0.8, 1.6 and 3.2 s

    class FlakyDlq:
        def __init__(self) -> None:
            self.real = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")

        def send(self, *args: Any, **kwargs: Any) -> Any:
            if failures[0]:
                failures[0] -= 1
                raise KafkaTimeoutError("DLQ metadata not available")
            return self.real.send(*args, **kwargs)

        def flush(self, timeout: float | None = None) -> None:
            self.real.flush(timeout)

        def close(self, timeout: float | None = None) -> None:
            self.real.close(timeout)

    metrics = ConsumerMetrics()
    runner = Runner(ConsumerApp(cfg, metrics, dlq_factory=FlakyDlq))
    try:
        wait_for(lambda: metrics.errors.labels("dlq")._value.get() >= 2, 30, "DLQ failures")
        committed = committed_offset(kafka.bootstrap, "dlq-down", name)
        assert metrics.paused._value.get() == 1  # ... so `committed` was read while failing
        assert committed is None or committed <= 30  # never past the malformed record
        wait_for(lambda: committed_equals_end(kafka.bootstrap, "dlq-down", name), 60, "offsets")
    finally:
        assert runner.stop() == 0  # it never crashed
    (dead,) = consume(kafka.bootstrap, f"{name}.dlq", 1)
    assert json.loads(dead.value)["source"]["offset"] == 30
    assert file_ids(out) == sample_ids(60)  # every good record exactly once
    assert metrics.errors.labels("dlq")._value.get() == 5
    assert metrics.dead_lettered._value.get() == 1
    assert metrics.paused._value.get() == 0


def test_an_oversized_dead_letter_is_cut_to_fit(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    huge = b"\xff" + os.urandom(900_000)  # not UTF-8: base64 would make it 1.2 MB
    good = sample_lines(20)
    produce_raw(kafka.bootstrap, name, [*good[:10], huge, *good[10:]])
    out = tmp_path / "tweets.jsonl"
    cfg = load_consumer_config(
        write_toml(
            tmp_path / "c.toml",
            consumer_toml(kafka.bootstrap, name, "huge", sinks=f'[sinks.file]\npath = "{out}"'),
        )
    )
    metrics = ConsumerMetrics()
    runner = Runner(ConsumerApp(cfg, metrics))
    try:
        wait_for(lambda: committed_equals_end(kafka.bootstrap, "huge", name), 60, "offsets")
    finally:
        assert runner.stop() == 0
    (dead,) = consume(kafka.bootstrap, f"{name}.dlq", 1)
    assert len(dead.value) <= 1_048_576 - 4096
    envelope = json.loads(dead.value)
    assert envelope["truncated"] is True and envelope["value_bytes"] == len(huge)
    kept = base64.b64decode(envelope["value_b64"])
    assert len(kept) > 500_000 and huge.startswith(kept)
    assert envelope["source"]["offset"] == 10 and envelope["error"].startswith("not JSON")
    assert file_ids(out) == sample_ids(20)


def test_a_dlq_that_refuses_the_size_gets_a_minimal_envelope(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    topic(name=f"{name}.dlq", configs={"max.message.bytes": "2000"})
    rng = random.Random(3)
    noise = "".join(rng.choice(string.ascii_letters) for _ in range(20_000)).encode()
    good = sample_lines(20)
    produce_raw(kafka.bootstrap, name, [*good[:5], noise, *good[5:]])
    out = tmp_path / "tweets.jsonl"
    cfg = load_consumer_config(
        write_toml(
            tmp_path / "c.toml",
            consumer_toml(kafka.bootstrap, name, "small", sinks=f'[sinks.file]\npath = "{out}"'),
        )
    )
    metrics = ConsumerMetrics()
    runner = Runner(ConsumerApp(cfg, metrics))
    try:
        wait_for(lambda: committed_equals_end(kafka.bootstrap, "small", name), 60, "offsets")
    finally:
        assert runner.stop() == 0
    (dead,) = consume(kafka.bootstrap, f"{name}.dlq", 1)
    envelope = json.loads(dead.value)
    assert "value_text" not in envelope and "value_b64" not in envelope
    assert envelope["truncated"] is True and envelope["value_bytes"] == 20_000
    assert envelope["source"]["offset"] == 5 and envelope["error"].startswith("not JSON")
    assert metrics.errors.labels("dlq")._value.get() >= 1
    assert file_ids(out) == sample_ids(20)


def test_a_rebalance_commits_what_the_sinks_hold_and_the_consumer_goes_on(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    """A second member joins while the first holds uncommitted records: the first commits them at
    the revocation (kafka-python 3 runs the listener on its IO loop) and keeps consuming."""
    name = topic(partitions=3)
    group = f"g-{uuid.uuid4().hex[:8]}"

    def config(member: str) -> ConsumerConfig:
        text = consumer_toml(
            kafka.bootstrap, name, group, sinks=f'[sinks.file]\npath = "{tmp_path / member}.jsonl"'
        )
        # No checkpoint but the rebalance's: an hour's interval, a batch bigger than the test.
        text = text.replace("commit_interval_s = 0.5", "commit_interval_s = 3600")
        text = text.replace("commit_max_records = 50", "commit_max_records = 100000")
        return load_consumer_config(write_toml(tmp_path / f"{member}.toml", text))

    produce_raw(kafka.bootstrap, name, sample_lines(300))
    first_metrics = ConsumerMetrics()
    first = Runner(ConsumerApp(config("first"), first_metrics))
    second: Runner | None = None
    try:
        wait_for(lambda: first_metrics.consumed._value.get() == 300, 60, "300 tweets read")
        assert first_metrics.commits._value.get() == 0  # all 300 still pending
        second_metrics = ConsumerMetrics()
        second = Runner(ConsumerApp(config("second"), second_metrics))
        wait_for(
            lambda: committed_equals_end(kafka.bootstrap, group, name), 60, "revocation commit"
        )
        assert first.thread.is_alive() and first.error is None, first.error
        assert first_metrics.errors.labels("commit")._value.get() == 0
        produce_raw(kafka.bootstrap, name, sample_lines(400)[300:])
        wait_for(
            lambda: (
                first_metrics.consumed._value.get() + second_metrics.consumed._value.get() == 400
            ),
            60,
            "the next 100 tweets read by the two members",
        )
    finally:
        assert first.stop() == 0  # it never crashed
        if second is not None:
            assert second.stop() == 0
    ids = file_ids(tmp_path / "first.jsonl") + file_ids(tmp_path / "second.jsonl")
    assert sorted(set(ids)) == sorted(sample_ids(400))
    assert len(ids) == 400  # the revocation's commit: nothing read twice
