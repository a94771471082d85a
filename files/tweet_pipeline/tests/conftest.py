from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

from tests.kafka_broker import KafkaBroker, free_port
from tweet_pipeline.replay import sample_path


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    broker = KafkaBroker(tmp_path_factory.mktemp("kafka"))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture
def topic(kafka: KafkaBroker) -> Callable[..., str]:
    """Create a fresh topic: topic(partitions=1, configs={...}, name=None) -> name."""

    def make(
        partitions: int = 1,
        prefix: str = "t",
        configs: dict[str, str] | None = None,
        name: str | None = None,
    ) -> str:
        name = name or f"{prefix}-{uuid.uuid4().hex[:10]}"
        admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
        try:
            admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
        finally:
            admin.close()
        return name

    return make


def consume(bootstrap: str, topic: str, count: int, timeout: float = 60.0) -> list[Any]:
    """Read records from the beginning of `topic` until `count` are seen (or fail)."""
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
    )
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(records) < count and time.monotonic() < deadline:
            for record in consumer:
                records.append(record)
    finally:
        consumer.close()
    assert len(records) >= count, f"only {len(records)} of {count} records in {topic}"
    return records


def sample_lines(n: int | None = None) -> list[bytes]:
    lines = [line for line in sample_path().read_bytes().splitlines() if line.strip()]
    return lines if n is None else lines[:n]


def sample_ids(n: int | None = None) -> list[str]:
    return [json.loads(line)["id"] for line in sample_lines(n)]


def produce_raw(bootstrap: str, topic: str, values: list[bytes], rate: float = 0.0) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    start = time.monotonic()
    for index, value in enumerate(values):
        if rate:
            delay = start + index / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        key = None
        with contextlib.suppress(ValueError, KeyError, TypeError):
            key = str(json.loads(value)["id"]).encode()
        producer.send(topic, value=value, key=key)
    producer.flush(30)
    producer.close()


def wait_for(predicate: Callable[[], bool], timeout: float, message: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout}s waiting for: {message}")


def write_toml(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def run_cli(
    module: str, config: Path, env: dict[str, str] | None = None, **kwargs: Any
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", module, "--config", str(config)],
        env={**os.environ, **(env or {})},
        **kwargs,
    )


def scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return resp.read().decode()


def metric_value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"metric {name} not exposed")


@pytest.fixture(scope="session")
def moto_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    exe = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    assert exe, "moto_server not installed: pip install -e '.[test]'"
    port = free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("wb")
    proc = subprocess.Popen([exe, "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: _http_ok(url), 30, "moto_server to answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/moto-api/", timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    env = {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


class Runner:
    """Run an app's blocking `run()` in a thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.result: int | None = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.result = self.app.run()
        except BaseException as exc:
            self.error = exc

    def join(self, timeout: float) -> int | None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "app did not stop in time"
        if self.error:
            raise self.error
        return self.result

    def stop(self, timeout: float = 30) -> int | None:
        self.app.stop()
        return self.join(timeout)
