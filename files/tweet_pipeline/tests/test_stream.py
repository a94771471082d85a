"""The X filtered-stream source: tweepy's StreamingClient against the X API double, reached
through ``api_base_url`` (in-process, and as the deployed console scripts)."""

from __future__ import annotations

import json
import logging
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.configs import producer_toml
from tests.conftest import Runner, consume, wait_for, write_toml
from tests.kafka_broker import KafkaBroker, free_port
from tweet_pipeline.config import load_producer_config
from tweet_pipeline.envelope import HEADER_SOURCE, header
from tweet_pipeline.metrics import ProducerMetrics
from tweet_pipeline.producer import ProducerApp
from tweet_pipeline.x_api_double import Step, XApiDouble, load_tweets

TOKEN = "test-bearer-token"
PAYLOADS = Path(__file__).parent / "payloads"
RULES = [{"value": "kafka lang:en", "tag": "kafka"}, {"value": "#python", "tag": "python"}]


def stream_source(base_url: str, token: str = 'bearer_token_env = "TEST_X_BEARER"') -> str:
    rules = ",\n  ".join(f'{{ value = "{r["value"]}", tag = "{r["tag"]}" }}' for r in RULES)
    return f"""
[source]
type = "stream"

[source.stream]
{token}
api_base_url = "{base_url}"
rules = [
  {rules},
]
tweet_fields = ["id", "text", "author_id", "created_at", "lang", "public_metrics"]
timeout_s = 5
backoff_network_step_s = 0.05
backoff_network_max_s = 1
backoff_http_initial_s = 0.05
backoff_http_max_s = 1
backoff_rate_limit_initial_s = 0.6
"""


def lines(name: str) -> list[bytes]:
    return (PAYLOADS / name).read_bytes().splitlines()


def ids_of(name: str) -> list[str]:
    return [json.loads(line)["data"]["id"] for line in lines(name)]


def recorded_rules() -> list[dict[str, Any]]:
    return list(json.loads((PAYLOADS / "rules_get.json").read_text())["data"])


def first_occurrences(ids: list[str]) -> list[str]:
    seen: set[str] = set()
    return [i for i in ids if not (i in seen or seen.add(i))]  # type: ignore[func-returns-value]


def test_stream_with_drop_rate_limit_and_clean_close(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    parts = ("stream_part1.ndjson", "stream_part2.ndjson", "stream_part3.ndjson")
    tweets = load_tweets([line for part in parts for line in lines(part)])
    script = [
        Step(tweets=3, end="drop"),
        Step(status=429),
        Step(tweets=3, end="close"),
        Step(tweets=None, end="hold"),
    ]
    expected = [i for part in parts for i in ids_of(part)]
    metrics = ProducerMetrics()

    with XApiDouble(tweets, script, token=TOKEN, rules=recorded_rules(), keepalive_s=1) as api:
        config_path = write_toml(
            tmp_path / "p.toml",
            producer_toml(kafka.bootstrap, name, tmp_path / "s.db", source=stream_source(api.url)),
        )
        cfg = load_producer_config(config_path, env={"TEST_X_BEARER": TOKEN})
        runner = Runner(ProducerApp(cfg, metrics))
        wait_for(lambda: metrics.published._value.get() >= len(expected), 30, "9 tweets published")
        assert runner.stop(15) == 0

    records = consume(kafka.bootstrap, name, len(expected))
    assert [r.key.decode() for r in records] == expected
    first = json.loads(records[0].value)
    assert first["text"].startswith("Kafka consumer lag")
    assert first["matching_rules"] == [{"id": "1861000000000000101", "tag": "kafka"}]
    assert header(records[0].headers, HEADER_SOURCE) == b"stream"

    # Rules were synced through tweepy: the stale rule deleted, the missing one added.
    posts = [r["body"] for r in api.requests if r["method"] == "POST"]
    assert {"delete": {"ids": ["1861000000000000099"]}} in posts
    assert {"add": [{"value": "#python", "tag": "python"}]} in posts
    state = api.state()
    assert sorted(r["value"] for r in state["rules"]) == ["#python", "kafka lang:en"]
    assert 401 not in state["statuses"]  # every request carried the token
    stream_get = next(r for r in api.requests if r["path"].startswith("/2/tweets/search/stream?"))
    assert "tweet.fields=id%2Ctext%2Cauthor_id" in stream_get["path"]

    # Four connections: drop -> reconnect, 429 -> rate-limit backoff, clean close -> reconnect.
    (_, s1), (t2, s2), (t3, s3), (_, s4) = api.connections[:4]
    assert [s1, s2, s3, s4] == [200, 429, 200, 200]
    assert 0.6 <= t3 - t2 < 5, "429 must wait backoff_rate_limit_initial_s, not tweepy's 60 s"
    assert metrics.reconnects.labels("network")._value.get() == 1
    assert metrics.reconnects.labels("rate_limit")._value.get() == 1
    assert metrics.reconnects.labels("closed")._value.get() == 1


def _state(url: str) -> dict[str, Any]:
    try:
        return dict(requests.get(url + "/_double/state", timeout=2).json())
    except requests.RequestException:
        return {}


def test_deployed_producer_streams_from_the_double_service(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    """Both console scripts as deployed: token in a 0640 file (no environment), DEBUG logs."""
    name = topic(partitions=1)
    secret = "AAAAAAAAAAAAAAAAAAAAAdeployed%2Btoken%3DxYz"
    token_file = tmp_path / "x-bearer-token"
    token_file.write_text(secret + "\n")
    token_file.chmod(0o640)
    stale = tmp_path / "rules.json"
    stale.write_text(json.dumps([{"value": "zookeeper", "tag": "old"}]))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    exe = Path(sys.executable).parent
    double = subprocess.Popen(
        [
            str(exe / "tweet-x-api-double"),
            *("--port", str(port), "--count", "30", "--rate", "60", "--drop-after", "10"),
            *("--keepalive-s", "1", "--rules", str(stale)),
            *("--expect-token-file", str(token_file), "--log-level", "DEBUG"),
        ],
        stderr=subprocess.PIPE,
    )
    token_keys = f'bearer_token_env = ""\nbearer_token_file = "{token_file}"'
    config = write_toml(
        tmp_path / "p.toml",
        producer_toml(
            kafka.bootstrap, name, tmp_path / "s.db", source=stream_source(url, token_keys)
        ),
    )
    producer = subprocess.Popen(
        [str(exe / "tweet-producer"), "--config", str(config), "--log-level", "DEBUG"],
        env={"PATH": "/usr/bin:/bin", "TWITTER_BEARER_TOKEN": "not-this-one"},
        stderr=subprocess.PIPE,
    )
    try:
        wait_for(lambda: len(_state(url).get("delivered_ids", [])) == 30, 60, "30 tweets streamed")
        state = _state(url)
        records = consume(kafka.bootstrap, name, 30)
        producer.send_signal(signal.SIGTERM)
        _, producer_log = producer.communicate(timeout=30)
        double.send_signal(signal.SIGTERM)
        _, double_log = double.communicate(timeout=30)
    finally:
        producer.kill()
        double.kill()
    assert producer.returncode == 0, producer_log.decode()[-3000:]
    assert double.returncode == 0
    # The producer synced the rules (the stale one deleted) and sent the token from the file.
    assert sorted(r["value"] for r in state["rules"]) == sorted(r["value"] for r in RULES)
    assert state["rules_deleted"] == 1
    assert 401 not in state["statuses"]
    # It went through the drop and the 429, and Kafka has exactly what the double delivered.
    assert state["stream_statuses"][:3] == [200, 429, 200]
    assert first_occurrences([r.key.decode() for r in records]) == state["delivered_ids"]
    # DEBUG logs show tweepy's request headers, with the token redacted.
    text = producer_log.decode()
    assert "'Authorization': 'Bearer [REDACTED]'" in text
    for log in (text, double_log.decode()):
        assert secret not in log and "deployed%2Btoken" not in log and "deployed+token" not in log


def test_a_wrong_token_is_refused(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    tweets = load_tweets(lines("stream_part1.ndjson"))
    with XApiDouble(tweets, [Step()], token=TOKEN, rules=recorded_rules()) as api:
        config_path = write_toml(
            tmp_path / "p.toml",
            producer_toml(
                kafka.bootstrap, topic(), tmp_path / "s.db", source=stream_source(api.url)
            ),
        )
        cfg = load_producer_config(config_path, env={"TEST_X_BEARER": "wrong-token"})
        metrics = ProducerMetrics()
        runner = Runner(ProducerApp(cfg, metrics))
        wait_for(lambda: api.state()["statuses"].count(401) >= 2, 30, "two refused requests")
        assert runner.stop(15) == 0
        state = api.state()
    assert set(state["statuses"]) == {401}
    assert state["delivered_ids"] == [] and state["connections"] == 0
    assert metrics.errors.labels("rules")._value.get() >= 2


def test_a_tweet_that_cannot_be_spooled_stops_the_producer(
    kafka: KafkaBroker,
    topic: Callable[..., str],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tweets = load_tweets(lines("stream_part1.ndjson"))
    first = tweets[0].id
    with XApiDouble(tweets, [Step()], token=TOKEN, rules=recorded_rules()) as api:
        config_path = write_toml(
            tmp_path / "p.toml",
            producer_toml(
                kafka.bootstrap, topic(), tmp_path / "s.db", source=stream_source(api.url)
            ),
        )
        cfg = load_producer_config(config_path, env={"TEST_X_BEARER": TOKEN})
        metrics = ProducerMetrics()
        app = ProducerApp(cfg, metrics)

        def broken(_tweets: object) -> int:
            raise sqlite3.OperationalError("disk I/O error")

        app.spool.append = broken  # type: ignore[method-assign]
        with caplog.at_level(logging.ERROR):
            assert Runner(app).join(30) == 1  # ends by itself, non-zero: systemd restarts it
        connections = api.state()["connections"]
    assert connections == 1  # no reconnect: the stream stopped at the failure
    assert metrics.errors.labels("ingest")._value.get() == 1
    assert metrics.errors.labels("source")._value.get() == 1
    assert any(f"could not spool tweet {first}" in r.getMessage() for r in caplog.records)


def test_a_full_spool_refuses_stream_tweets_and_counts_them(tmp_path: Path) -> None:
    parts = ("stream_part1.ndjson", "stream_part2.ndjson")
    tweets = load_tweets([line for part in parts for line in lines(part)])
    dead = f"127.0.0.1:{free_port()}"  # Kafka unreachable: nothing leaves the spool
    with XApiDouble(tweets, [Step()], token=TOKEN, rules=recorded_rules()) as api:
        text = producer_toml(
            dead,
            "t",
            tmp_path / "s.db",
            source=stream_source(api.url),
            extra_spool="max_records = 4",
        )
        cfg = load_producer_config(write_toml(tmp_path / "p.toml", text), {"TEST_X_BEARER": TOKEN})
        metrics = ProducerMetrics()
        runner = Runner(ProducerApp(cfg, metrics))
        wait_for(lambda: metrics.received._value.get() == 6, 30, "6 tweets received")
        full = metrics.registry.get_sample_value("tweet_producer_spool_full")
        assert runner.stop(15) == 0
    assert metrics.spooled._value.get() == 4
    assert metrics.spool_rejected.labels("max_records")._value.get() == 2
    assert full == 1
