"""The X filtered-stream source through tweepy.StreamingClient against recorded payloads."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from tests.configs import producer_toml
from tests.conftest import Runner, consume, wait_for, write_toml
from tests.fake_x_api import Connection, FakeXApi, payload
from tests.kafka_broker import KafkaBroker
from tweet_pipeline.config import load_producer_config
from tweet_pipeline.envelope import HEADER_SOURCE, header
from tweet_pipeline.metrics import ProducerMetrics
from tweet_pipeline.producer import ProducerApp

TOKEN = "test-bearer-token"

STREAM_SOURCE = """
[source]
type = "stream"

[source.stream]
bearer_token_env = "TEST_X_BEARER"
rules = [
  { value = "kafka lang:en", tag = "kafka" },
  { value = "#python", tag = "python" },
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
    return payload(name).splitlines()


def ids_of(name: str) -> list[str]:
    return [json.loads(line)["data"]["id"] for line in lines(name)]


def test_stream_with_drop_rate_limit_and_clean_close(
    kafka: KafkaBroker, topic: Callable[..., str], tmp_path: Path
) -> None:
    name = topic(partitions=1)
    script = [
        Connection(lines=lines("stream_part1.ndjson"), end="drop"),
        Connection(status=429, body=payload("error_429.json")),
        Connection(lines=lines("stream_part2.ndjson"), end="close"),
        Connection(lines=lines("stream_part3.ndjson"), end="hold"),
    ]
    config_path = write_toml(
        tmp_path / "p.toml",
        producer_toml(kafka.bootstrap, name, tmp_path / "s.db", source=STREAM_SOURCE),
    )
    cfg = load_producer_config(config_path, env={"TEST_X_BEARER": TOKEN})
    metrics = ProducerMetrics()
    expected = ids_of("stream_part1.ndjson") + ids_of("stream_part2.ndjson")
    expected += ids_of("stream_part3.ndjson")

    with FakeXApi(script) as api:
        runner = Runner(ProducerApp(cfg, metrics, session_setup=api.mount))
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
    assert all(r["auth"] == f"Bearer {TOKEN}" for r in api.requests)
    stream_get = next(r for r in api.requests if r["path"].startswith("/2/tweets/search/stream?"))
    assert "tweet.fields=id%2Ctext%2Cauthor_id" in stream_get["path"]

    # Four connections: drop -> reconnect, 429 -> rate-limit backoff, clean close -> reconnect.
    (_, s1), (t2, s2), (t3, s3), (_, s4) = api.connections[:4]
    assert [s1, s2, s3, s4] == [200, 429, 200, 200]
    assert 0.6 <= t3 - t2 < 5, "429 must wait backoff_rate_limit_initial_s, not tweepy's 60 s"
    assert metrics.reconnects.labels("network")._value.get() == 1
    assert metrics.reconnects.labels("rate_limit")._value.get() == 1
    assert metrics.reconnects.labels("closed")._value.get() == 1
