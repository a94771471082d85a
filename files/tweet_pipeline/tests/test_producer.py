"""Producer against a real broker: replay, broker outage, SIGTERM, restart drains the spool."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import string
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.configs import producer_toml
from tests.conftest import (
    Runner,
    consume,
    metric_value,
    run_cli,
    sample_ids,
    sample_lines,
    scrape,
    wait_for,
    write_toml,
)
from tests.kafka_broker import KafkaBroker, free_port
from tweet_pipeline.config import load_producer_config
from tweet_pipeline.envelope import HEADER_RECEIVED_AT, HEADER_SOURCE, header
from tweet_pipeline.metrics import ProducerMetrics
from tweet_pipeline.producer import ProducerApp


def first_occurrences(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def spool_rows(path: Path) -> list[str]:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return [key.decode() for (key,) in db.execute("SELECT key FROM spool ORDER BY seq")]
    finally:
        db.close()


def spooled_count(path: Path) -> int:
    """Rows in a spool another process is writing (0 while it is still being created)."""
    try:
        return len(spool_rows(path)) if path.exists() else 0
    except sqlite3.OperationalError:
        return 0


def test_replay_publishes_the_whole_bundled_sample(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=3)
    cfg = load_producer_config(
        write_toml(tmp_path / "p.toml", producer_toml(kafka.bootstrap, name, tmp_path / "s.db"))
    )
    metrics = ProducerMetrics()
    app = ProducerApp(cfg, metrics)
    assert Runner(app).join(120) == 0

    expected = sample_ids()
    assert len(expected) >= 1200
    records = consume(kafka.bootstrap, name, len(expected))
    assert sorted(r.key.decode() for r in records) == sorted(expected)
    for record in records[:50]:
        tweet = json.loads(record.value)
        assert record.key.decode() == tweet["id"]
        assert {"id", "text", "author_id", "created_at", "lang", "public_metrics"} <= set(tweet)
        received = int(header(record.headers, HEADER_RECEIVED_AT) or b"0")
        assert 0 < received <= record.timestamp
        assert header(record.headers, HEADER_SOURCE) == b"replay"
    assert metrics.received._value.get() == len(expected)
    assert metrics.published._value.get() == len(expected)
    assert metrics.spool_depth._value.get() == 0
    assert spool_rows(tmp_path / "s.db") == []


def test_replay_from_a_named_pipe_publishes_each_tweet_as_it_comes_and_ends_with_the_writer(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    """A named pipe as the replay path: tweets are taken as another process writes them (the
    first published before the writer is done); the writer's close ends the replay: exit 0."""
    name = topic(partitions=1)
    pipe = tmp_path / "in.pipe"
    os.mkfifo(pipe)
    cfg = load_producer_config(
        write_toml(
            tmp_path / "p.toml",
            producer_toml(kafka.bootstrap, name, tmp_path / "s.db", replay=pipe, rate=1000),
        )
    )
    metrics = ProducerMetrics()
    runner = Runner(ProducerApp(cfg, metrics))
    lines = sample_lines(50)
    with pipe.open("wb") as writer:
        writer.write(b"\n".join(lines[:10]) + b"\n")
        writer.flush()
        wait_for(lambda: metrics.published._value.get() >= 10, 30, "the first 10 tweets published")
        writer.write(b"\n".join(lines[10:]) + b"\n")
    assert runner.join(60) == 0
    ids = [r.key.decode() for r in consume(kafka.bootstrap, name, 50)]
    assert first_occurrences(ids) == sample_ids(50)
    assert spool_rows(tmp_path / "s.db") == []


def test_broker_outage_loses_nothing_and_keeps_order(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    replay = tmp_path / "in.ndjson"
    replay.write_bytes(b"\n".join(sample_lines(600)) + b"\n")
    cfg = load_producer_config(
        write_toml(
            tmp_path / "p.toml",
            producer_toml(kafka.bootstrap, name, tmp_path / "s.db", replay=replay, rate=150),
        )
    )
    metrics = ProducerMetrics()
    runner = Runner(ProducerApp(cfg, metrics))
    try:
        wait_for(lambda: metrics.published._value.get() >= 100, 30, "100 tweets published")
        kafka.stop()
        published_at_stop = metrics.published._value.get()
        wait_for(lambda: metrics.received._value.get() >= 600, 30, "all 600 tweets received")
        # Nothing is published while the broker is down; everything taken is in the spool.
        assert metrics.published._value.get() <= published_at_stop + 5
        spooled = spool_rows(tmp_path / "s.db")
        assert len(spooled) >= 600 - published_at_stop - 5
        assert metrics.spool_depth._value.get() > 0
    finally:
        if kafka.process is None:
            kafka.start()
    assert runner.join(120) == 0
    ids = [r.key.decode() for r in consume(kafka.bootstrap, name, 600)]
    assert first_occurrences(ids) == sample_ids(600)
    assert metrics.spool_depth._value.get() == 0
    assert spool_rows(tmp_path / "s.db") == []


def test_sigterm_flushes_then_exits(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    """Broker up: SIGTERM publishes what is spooled and exits 0 with an empty spool."""
    name = topic(partitions=1)
    port = free_port()
    config = write_toml(
        tmp_path / "p.toml",
        producer_toml(
            kafka.bootstrap, name, tmp_path / "s.db", rate=200, loop=True, metrics_port=port
        ),
    )
    proc = run_cli("tweet_pipeline.producer", config, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: _published(port) >= 200, 60, "200 tweets published")
        text = scrape(port)
        for name_ in (
            "tweet_producer_received_total",
            "tweet_producer_spooled_total",
            "tweet_producer_spool_depth",
            "tweet_producer_publish_latency_seconds_bucket",
        ):
            metric_value(text, name_)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"0 tweets left in the spool" in err
    assert spool_rows(tmp_path / "s.db") == []
    # Everything taken was published: the topic holds a gap-free prefix of the sample.
    records = consume(kafka.bootstrap, name, 200)
    ids = first_occurrences([r.key.decode() for r in records])
    assert ids == sample_ids(len(ids))


def _published(port: int) -> float:
    try:
        return metric_value(scrape(port), "tweet_producer_published_total")
    except (OSError, AssertionError):
        return 0.0


def test_sigterm_while_kafka_is_down_keeps_the_spool_and_a_restart_drains_it(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    spool = tmp_path / "s.db"
    dead = f"127.0.0.1:{free_port()}"  # nothing listens there: Kafka is unreachable
    config = write_toml(
        tmp_path / "down.toml",
        producer_toml(dead, name, spool, rate=300, extra_producer="shutdown_timeout_s = 2"),
    )
    proc = run_cli("tweet_pipeline.producer", config, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: spooled_count(spool) >= 150, 30, "150 spooled")
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 0, err.decode()[-2000:]
    assert time.monotonic() - started < 2 + 2 + 5  # shutdown_timeout_s + max_block + slack
    kept = spool_rows(spool)
    assert len(kept) >= 150
    assert kept == sample_ids(len(kept))  # in order, no gap

    empty = tmp_path / "empty.ndjson"
    empty.write_text("")
    config = write_toml(
        tmp_path / "up.toml", producer_toml(kafka.bootstrap, name, spool, replay=empty)
    )
    restart = run_cli("tweet_pipeline.producer", config, stderr=subprocess.PIPE)
    _, err = restart.communicate(timeout=60)
    assert restart.returncode == 0, err.decode()[-2000:]
    assert f"{len(kept)} tweets spooled by an earlier run".encode() in err
    records = consume(kafka.bootstrap, name, len(kept))
    assert first_occurrences([r.key.decode() for r in records]) == kept
    assert spool_rows(spool) == []


def big_tweet(line: bytes, size: int, seed: int = 7) -> bytes:
    """The tweet of `line` with a `size`-character random (incompressible) text."""
    tweet = json.loads(line)
    rng = random.Random(seed)
    tweet["text"] = "".join(rng.choice(string.ascii_letters) for _ in range(size))
    return json.dumps(tweet).encode()


def replay_file(path: Path, lines: list[bytes]) -> Path:
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def test_a_record_over_max_request_size_is_dead_lettered(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name, dlq = topic(), topic(prefix="dlq")
    lines = sample_lines(20)
    lines[9] = big_tweet(lines[9], 40_000)
    big_id = json.loads(lines[9])["id"]
    cfg = load_producer_config(
        write_toml(
            tmp_path / "p.toml",
            producer_toml(
                kafka.bootstrap,
                name,
                tmp_path / "s.db",
                replay=replay_file(tmp_path / "in.ndjson", lines),
                extra_producer=f'max_request_size = 16384\ndlq_topic = "{dlq}"',
            ),
        )
    )
    metrics = ProducerMetrics()
    assert Runner(ProducerApp(cfg, metrics)).join(60) == 0

    good = [i for i in sample_ids(20) if i != big_id]
    assert first_occurrences([r.key.decode() for r in consume(kafka.bootstrap, name, 19)]) == good
    (dead,) = consume(kafka.bootstrap, dlq, 1)
    assert len(dead.value) <= 16384 - 4096
    envelope = json.loads(dead.value)
    assert envelope["id"] == big_id and dead.key.decode() == big_id
    assert envelope["reason"] == "too_large" and "max_request_size" in envelope["error"]
    assert envelope["truncated"] is True and envelope["value_bytes"] == len(lines[9])
    assert lines[9].decode().startswith(envelope["value_text"])
    assert envelope["source"]["topic"] == name and envelope["source"]["origin"] == "replay"
    assert header(dead.headers, "x-dead-letter-stage") == b"producer"
    assert metrics.dead_lettered.labels("too_large")._value.get() == 1
    assert metrics.published._value.get() == 19
    assert spool_rows(tmp_path / "s.db") == []


def test_a_record_the_broker_refuses_is_dead_lettered_after_a_lone_retry(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(configs={"max.message.bytes": "6000"})  # gzip: the compressed batch counts
    dlq = topic(prefix="dlq")
    lines = sample_lines(40)
    lines[20] = big_tweet(lines[20], 30_000)
    big_id = json.loads(lines[20])["id"]
    cfg = load_producer_config(
        write_toml(
            tmp_path / "p.toml",
            producer_toml(
                kafka.bootstrap,
                name,
                tmp_path / "s.db",
                replay=replay_file(tmp_path / "in.ndjson", lines),
                extra_producer=f'dlq_topic = "{dlq}"',
            ),
        )
    )
    metrics = ProducerMetrics()
    assert Runner(ProducerApp(cfg, metrics)).join(60) == 0

    good = [i for i in sample_ids(40) if i != big_id]
    assert first_occurrences([r.key.decode() for r in consume(kafka.bootstrap, name, 39)]) == good
    (dead,) = consume(kafka.bootstrap, dlq, 1)
    envelope = json.loads(dead.value)
    assert envelope["id"] == big_id and envelope["reason"] == "too_large"
    assert envelope["truncated"] is False and envelope["value_text"].encode() == lines[20]
    assert metrics.dead_lettered.labels("too_large")._value.get() == 1
    assert metrics.errors.labels("publish")._value.get() >= 2  # refused, then refused alone
    assert spool_rows(tmp_path / "s.db") == []


class ExplodingProducer:
    """A Kafka producer whose send() fails with an unexpected error."""

    def send(self, *args: object, **kwargs: object) -> None:
        raise RuntimeError("boom")

    def flush(self, timeout: float | None = None) -> None:
        pass

    def partitions_for(self, topic: str) -> set[int]:
        return {0}

    def close(self, timeout: float | None = None) -> None:
        pass


@pytest.mark.parametrize("failure", ["kafka client", "spool"])
def test_a_dead_publisher_ends_the_producer_with_status_1(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path, failure: str
) -> None:
    cfg = load_producer_config(
        write_toml(
            tmp_path / "p.toml",
            producer_toml(kafka.bootstrap, topic(), tmp_path / "s.db", rate=100, loop=True),
        )
    )
    metrics = ProducerMetrics()
    if failure == "kafka client":
        app = ProducerApp(cfg, metrics, producer_factory=ExplodingProducer)
    else:
        app = ProducerApp(cfg, metrics)

        def corrupt(limit: int, after_seq: int = 0) -> list[object]:
            raise sqlite3.DatabaseError("database disk image is malformed")

        app.spool.peek = corrupt  # type: ignore[method-assign]
    assert Runner(app).join(30) == 1  # a looping replay would otherwise run forever
    assert metrics.errors.labels("publisher")._value.get() == 1
    kept = spool_rows(tmp_path / "s.db")
    assert kept == sample_ids(len(kept))  # what was taken stays spooled for the restart


def test_a_full_spool_makes_the_replay_wait(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"  # Kafka unreachable: nothing leaves the spool
    cfg = load_producer_config(
        write_toml(
            tmp_path / "p.toml",
            producer_toml(dead, "t", tmp_path / "s.db", extra_spool="max_records = 50"),
        )
    )
    metrics = ProducerMetrics()
    runner = Runner(ProducerApp(cfg, metrics))
    full = "tweet_producer_spool_full"
    wait_for(lambda: metrics.registry.get_sample_value(full) == 1, 30, "the spool to be full")
    assert runner.thread.is_alive()  # the replay waits: it neither finishes nor drops
    assert runner.stop(15) == 0
    assert spool_rows(tmp_path / "s.db") == sample_ids(50)
    assert metrics.spooled._value.get() == 50
    rejected = metrics.registry.get_sample_value(
        "tweet_producer_spool_rejected_total", {"reason": "max_records"}
    )
    assert rejected is None  # nothing refused in replay mode
