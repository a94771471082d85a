"""Fixtures of the repository-level tests: a real Kafka broker and ansible-playbook runs."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Broker:
    bootstrap: str
    home: Path


@pytest.fixture(scope="session")
def kafka_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The assembled Kafka distribution (scripts/build-kafka-dist), unpacked."""
    archive = os.environ.get("KAFKA_DIST_ARCHIVE") or subprocess.run(
        [str(ROOT / "scripts" / "build-kafka-dist")], check=True, capture_output=True, text=True
    ).stdout.strip()
    target = tmp_path_factory.mktemp("kafka-dist")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return next(target.iterdir())


@pytest.fixture(scope="session")
def kafka_broker(kafka_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A single-node KRaft broker on free localhost ports, for the life of the test session."""
    work = tmp_path_factory.mktemp("kafka-broker")
    port, controller_port = free_port(), free_port()
    props = work / "server.properties"
    props.write_text(
        "\n".join(
            [
                "process.roles=broker,controller",
                "node.id=1",
                f"controller.quorum.voters=1@127.0.0.1:{controller_port}",
                "controller.listener.names=CONTROLLER",
                f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
                "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
                f"log.dirs={work / 'data'}",
                "offsets.topic.replication.factor=1",
                "transaction.state.log.replication.factor=1",
                "transaction.state.log.min.isr=1",
                "auto.create.topics.enable=false",
            ]
        )
        + "\n"
    )
    java = ["java", "-Xmx512m", "-cp", f"{kafka_dist / 'libs'}/*"]
    cluster_id = subprocess.run(
        [*java, "kafka.tools.StorageTool", "random-uuid"], check=True, capture_output=True, text=True
    ).stdout.strip()
    subprocess.run(
        [*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(props)],
        check=True,
        capture_output=True,
    )
    log = (work / "kafka.log").open("w")
    proc = subprocess.Popen([*java, "kafka.Kafka", str(props)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise RuntimeError(f"Kafka did not start: see {work / 'kafka.log'}") from None
            time.sleep(0.5)
    yield Broker(bootstrap=f"127.0.0.1:{port}", home=kafka_dist)
    proc.terminate()
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


@dataclass
class PlaybookRun:
    rc: int
    output: str


def run_playbook(playbook: Path, *args: str, inventory: str | Path | None = None) -> PlaybookRun:
    """ansible-playbook from this repository's venv, with the repository's ansible.cfg."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook), *args]
    if inventory is not None:
        cmd[2:2] = ["-i", str(inventory)]
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return PlaybookRun(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture
def unique_topic() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"

