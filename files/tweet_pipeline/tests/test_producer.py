"""Producer against a real broker: replay, broker outage, SIGTERM, restart drains the spool."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

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
