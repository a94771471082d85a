"""A real single-node KRaft Kafka broker for the tests, run from the assembled distribution."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

from kafka import KafkaAdminClient
from kafka.errors import KafkaError

DEFAULT_ARCHIVE = (
    Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    / "kafka-pipeline"
    / "kafka_2.13-3.9.1.tgz"
)

LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kafka_archive() -> Path:
    archive = Path(os.environ.get("KAFKA_DIST_ARCHIVE") or DEFAULT_ARCHIVE)
    if not archive.is_file():
        raise RuntimeError(
            f"Kafka distribution archive not found at {archive}. Build it with "
            "scripts/build-kafka-dist (from the repository root) or set KAFKA_DIST_ARCHIVE."
        )
    return archive


class KafkaBroker:
    """Extract, format and run one broker+controller; `stop()`/`start()` simulate an outage."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        archive = kafka_archive()
        with tarfile.open(archive) as tar:
            tar.extractall(workdir, filter="data")
        homes = [p for p in workdir.iterdir() if p.is_dir() and p.name.startswith("kafka_")]
        if len(homes) != 1:
            raise RuntimeError(f"unexpected layout in {archive}: {homes}")
        self.home = homes[0]
        self.java = shutil.which("java") or "java"
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.data = workdir / "data"
        self.config = workdir / "server.properties"
        self.log4j = workdir / "log4j.properties"
        self.log = workdir / "broker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.log4j.write_text(LOG4J)
        self.config.write_text(
            "\n".join(
                [
                    "process.roles=broker,controller",
                    "node.id=1",
                    f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
                    f"listeners=PLAINTEXT://127.0.0.1:{self.port},"
                    f"CONTROLLER://127.0.0.1:{self.controller_port}",
                    f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
                    "controller.listener.names=CONTROLLER",
                    "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
                    "inter.broker.listener.name=PLAINTEXT",
                    f"log.dirs={self.data}",
                    "num.partitions=1",
                    "auto.create.topics.enable=true",
                    "offsets.topic.replication.factor=1",
                    "offsets.topic.num.partitions=3",
                    "transaction.state.log.replication.factor=1",
                    "transaction.state.log.min.isr=1",
                    "group.initial.rebalance.delay.ms=0",
                    "log.flush.interval.messages=1",
                    "",
                ]
            )
        )
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        self._java(
            ["kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(self.config)],
            check=True,
        )

    def _command(self, args: list[str]) -> list[str]:
        return [
            self.java,
            "-Xmx512m",
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.log4j}",
            "-cp",
            f"{self.home / 'libs'}/*",
            *args,
        ]

    def _java(self, args: list[str], check: bool) -> None:
        subprocess.run(self._command(args), check=check, capture_output=True, timeout=120)

    def start(self, timeout: float = 90.0) -> None:
        assert self.process is None, "broker already running"
        log = self.log.open("ab")
        self.process = subprocess.Popen(
            self._command(["kafka.Kafka", str(self.config)]), stdout=log, stderr=log
        )
        log.close()
        self.wait_ready(timeout)

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited: {self.log.read_text()[-3000:]}")
            try:
                # A plain TCP probe first: kafka-python's own bootstrap backoff grows to seconds.
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=3000)
                try:
                    admin.list_topics()
                finally:
                    admin.close()
                return
            except (KafkaError, OSError) as exc:
                last = exc
                time.sleep(0.3)
        raise RuntimeError(f"broker not ready after {timeout}s: {last!r}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None
