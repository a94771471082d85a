"""The distribution scripts/build-kafka-dist assembles: every launcher in bin/ runs its class.

Built for the role's default Kafka version and for a Kafka 4 (KAFKA_DIST_TEST_KAFKA4, default the
role's KRaft-mode release, kafka_kraft_version), from the cache (KAFKA_DIST_CACHE or the default).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tarfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import ROOT

SCRIPT = ROOT / "scripts" / "build-kafka-dist"
DEFAULTS = yaml.safe_load((ROOT / "roles" / "kafka" / "defaults" / "main.yml").read_text())
DEFAULT_VERSION = str(DEFAULTS["kafka_kraft_version"])
ZOOKEEPER_VERSION = str(DEFAULTS["kafka_zookeeper_version"])
SCALA = str(DEFAULTS["kafka_scala_version"])
# A Kafka 4: the role's KRaft-mode release (kafka_kraft_version). 4.4.0 is the newest kafka_2.13 on
# Maven Central here, but its kafka-shell (kafka-metadata-shell) is not published there: the newest
# 4.x that builds is the role's.
KAFKA4_VERSION = os.environ.get("KAFKA_DIST_TEST_KAFKA4", DEFAULT_VERSION)
VERSIONS = list(dict.fromkeys([DEFAULT_VERSION, ZOOKEEPER_VERSION, KAFKA4_VERSION]))

# The launchers operators reach for, in every supported version; ZooKeeper's only before 4.0.
EXPECTED = {
    "kafka-run-class.sh", "kafka-server-start.sh", "kafka-server-stop.sh", "kafka-storage.sh",
    "kafka-topics.sh", "kafka-configs.sh", "kafka-console-producer.sh", "kafka-console-consumer.sh",
    "kafka-consumer-groups.sh", "kafka-metadata-quorum.sh", "kafka-acls.sh",
    "kafka-reassign-partitions.sh", "kafka-leader-election.sh", "kafka-features.sh",
    "kafka-get-offsets.sh", "kafka-log-dirs.sh", "kafka-dump-log.sh", "kafka-cluster.sh",
    "kafka-delete-records.sh", "kafka-transactions.sh", "kafka-verifiable-producer.sh",
    "kafka-verifiable-consumer.sh", "kafka-e2e-latency.sh", "kafka-producer-perf-test.sh",
    "kafka-consumer-perf-test.sh", "kafka-metadata-shell.sh", "kafka-broker-api-versions.sh",
    "kafka-delegation-tokens.sh", "kafka-client-metrics.sh", "kafka-jmx.sh",
    "kafka-replica-verification.sh", "kafka-streams-application-reset.sh",
}  # fmt: skip
ZOOKEEPER = {"zookeeper-shell.sh", "zookeeper-server-start.sh", "zookeeper-server-stop.sh"}
KAFKA4_ONLY = {"kafka-groups.sh", "kafka-share-groups.sh", "kafka-console-share-consumer.sh"}

BROKEN = ("ClassNotFoundException", "Could not find or load main class", "NoClassDefFoundError")
# What a tool prints when asked for help: joptsimple's option table, argparse4j's usage line, the
# hand-written usages.
USAGE = re.compile(r"Option\s+(\(\* = required\)\s+)?Description|usage:|USAGE:|Usage:")
# Fast JVM start for ~80 short-lived JVMs; the launchers' defaults are exercised by test_run_class.
FAST_JVM = {"KAFKA_JVM_PERFORMANCE_OPTS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"}
TIMEOUT = 60


def major(version: str) -> int:
    return int(version.split(".")[0])


@dataclass
class Dist:
    version: str
    home: Path
    archive: Path


@pytest.fixture(scope="session", params=VERSIONS)
def dist(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Dist:
    """The archive for one version, built (or taken from the cache) by the script, unpacked."""
    version: str = request.param
    proc = subprocess.run(
        [str(SCRIPT), version, SCALA], capture_output=True, text=True, timeout=900, check=False
    )
    assert proc.returncode == 0, proc.stderr
    archive = Path(proc.stdout.strip())
    target = tmp_path_factory.mktemp(f"kafka-dist-{version}")
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")
    return Dist(version, target / f"kafka_{SCALA}-{version}", archive)


@dataclass
class Run:
    argv: list[str]
    rc: int
    output: str


def run(argv: list[str], **env: str) -> Run:
    try:
        proc = subprocess.run(
            argv,
            env={**os.environ, **FAST_JVM, **env},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else exc.stdout or ""
        return Run(argv, -1, f"TIMEOUT after {TIMEOUT}s\n{out}")
    return Run(argv, proc.returncode, proc.stdout)


def invocation(bin_dir: Path, name: str, tmp: Path) -> tuple[list[str], re.Pattern[str]] | None:
    """How to run a launcher so that it exits promptly without a broker, and what it must print."""
    launcher = str(bin_dir / name)
    if name.endswith("-stop.sh"):
        return None  # they signal servers: test_stop_scripts
    if name.endswith("-server-start.sh"):
        # The class loads and fails on the configuration file, not on the class path.
        config = tmp / "missing" / f"{name}.properties"
        return [launcher, str(config)], re.compile(re.escape(str(config)))
    if name == "kafka-run-class.sh":
        return [launcher, "kafka.tools.StorageTool", "--help"], re.compile("usage: kafka-storage")
    if name == "zookeeper-shell.sh":
        return [launcher, "127.0.0.1:1", "help"], re.compile(r"ZooKeeper -server host:port")
    return [launcher, "--help"], USAGE


def test_launcher_names(dist: Dist) -> None:
    names = {p.name for p in (dist.home / "bin").iterdir()}
    assert EXPECTED <= names, sorted(EXPECTED - names)
    if major(dist.version) < 4:
        assert ZOOKEEPER <= names, sorted(ZOOKEEPER - names)
    else:
        assert KAFKA4_ONLY <= names, sorted(KAFKA4_ONLY - names)
        assert not {n for n in names if n.startswith("zookeeper-")}
    assert all(os.access(dist.home / "bin" / n, os.X_OK) for n in names)


def test_every_launcher_runs_its_class(dist: Dist, tmp_path: Path) -> None:
    bin_dir = dist.home / "bin"
    jobs = {}
    for name in sorted(p.name for p in bin_dir.iterdir()):
        spec = invocation(bin_dir, name, tmp_path)
        if spec is not None:
            jobs[name] = spec
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = dict(zip(jobs, pool.map(lambda spec: run(spec[0]), jobs.values())))
    failures = []
    for name, result in results.items():
        broken = [marker for marker in BROKEN if marker in result.output]
        if result.rc == -1 or broken or not jobs[name][1].search(result.output):
            failures.append(
                f"{name} (rc {result.rc}, {broken or 'no usage'}):\n{result.output[:2000]}"
            )
    assert not failures, "\n\n".join(failures)
    print(f"{len(results)} launchers of Kafka {dist.version} in {time.monotonic() - started:.0f}s")


def test_run_class_honours_the_official_variables(dist: Dist, tmp_path: Path) -> None:
    """kafka-run-class.sh and the wrappers pass the official variables to java (a fake one)."""
    fake = tmp_path / "jdk"
    (fake / "bin").mkdir(parents=True)
    (fake / "bin" / "java").write_text('#!/bin/sh\nprintf "%s\\n" "$@"\n')
    (fake / "bin" / "java").chmod(0o755)
    bin_dir = dist.home / "bin"
    cleared = ("KAFKA_HEAP_OPTS", "KAFKA_OPTS", "KAFKA_LOG4J_OPTS", "JMX_PORT", "LOG_DIR")
    env = {"JAVA_HOME": str(fake), "CLASSPATH": "", **dict.fromkeys(cleared, "")}

    tool = run([str(bin_dir / "kafka-topics.sh"), "--list"], **env).output.splitlines()
    assert "-Xmx256M" in tool
    assert f"{dist.home}/libs/*" in tool
    assert tool[-2:] == ["org.apache.kafka.tools.TopicCommand", "--list"]
    log4j = "tools-log4j.properties" if major(dist.version) < 4 else "tools-log4j2.yaml"
    assert any(arg.endswith(f"/config/{log4j}") for arg in tool), tool
    assert (dist.home / "config" / log4j).is_file()

    consumer = run([str(bin_dir / "kafka-console-consumer.sh")], **env).output.splitlines()
    assert "-Xmx512M" in consumer

    custom = run(
        [str(bin_dir / "kafka-topics.sh"), "--list"],
        **{
            **env,
            "KAFKA_HEAP_OPTS": "-Xmx77m",
            "KAFKA_OPTS": "-Dpipeline.test=1",
            "KAFKA_LOG4J_OPTS": "-Dlog4j2.configurationFile=/custom.yaml",
            "JMX_PORT": "9999",
            "LOG_DIR": str(tmp_path / "logs"),
        },
    ).output.splitlines()
    assert "-Xmx77m" in custom and "-Xmx256M" not in custom
    assert "-Dpipeline.test=1" in custom
    assert "-Dlog4j2.configurationFile=/custom.yaml" in custom
    assert "-Dcom.sun.management.jmxremote.port=9999" in custom
    assert f"-Dkafka.logs.dir={tmp_path / 'logs'}" in custom

    server = run([str(bin_dir / "kafka-server-start.sh"), "/etc/kafka/server.properties"], **env)
    args = server.output.splitlines()
    assert "-Xmx1G" in args and "-Xms1G" in args
    assert args[-2:] == ["kafka.Kafka", "/etc/kafka/server.properties"]
    server_log4j = "log4j.properties" if major(dist.version) < 4 else "log4j2.yaml"
    assert any(arg.endswith(f"/config/{server_log4j}") for arg in args), args
    assert (dist.home / "config" / server_log4j).is_file()


def test_stop_scripts(dist: Dist, tmp_path: Path) -> None:
    """kafka-server-stop.sh signals the kafka.Kafka process it selects (a fake broker: a shell
    named java, started by kafka-server-start.sh). --node-id keeps other brokers on this machine
    out of the test; zookeeper-server-stop.sh only sends signal 0."""
    fake = tmp_path / "jdk"
    (fake / "bin").mkdir(parents=True)
    java = fake / "bin" / "java"
    java.write_text("#!/bin/sh\ntrap 'kill $child; exit 143' TERM\nsleep 300 & child=$!\nwait\n")
    java.chmod(0o755)
    node_id = str(900_000_000 + uuid.uuid4().int % 99_999_999)
    config = tmp_path / "server.properties"
    config.write_text(f"process.roles=broker,controller\nnode.id={node_id}\n")
    bin_dir = dist.home / "bin"
    env = {**os.environ, "JAVA_HOME": str(fake)}
    broker = subprocess.Popen([str(bin_dir / "kafka-server-start.sh"), str(config)], env=env)
    zookeeper = None
    try:
        time.sleep(1)
        assert broker.poll() is None
        other = run([str(bin_dir / "kafka-server-stop.sh"), "--node-id=1" + node_id])
        assert other.rc == 1 and "No kafka server to stop" in other.output
        assert broker.poll() is None
        stop = run([str(bin_dir / "kafka-server-stop.sh"), f"--node-id={node_id}"])
        assert stop.rc == 0, stop.output
        assert broker.wait(timeout=10) == 143
        if major(dist.version) < 4:
            zk_config = tmp_path / "zookeeper.properties"
            zk_config.write_text("dataDir=/nonexistent\n")
            zookeeper = subprocess.Popen(
                [str(bin_dir / "zookeeper-server-start.sh"), str(zk_config)], env=env
            )
            time.sleep(1)
            probe = run([str(bin_dir / "zookeeper-server-stop.sh")], SIGNAL="0")
            assert probe.rc == 0, probe.output
            assert zookeeper.poll() is None
    finally:
        for proc in (broker, zookeeper):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                proc.wait(timeout=10)


def test_cache(tmp_path: Path) -> None:
    """A second call does nothing; an archive made by another version of the script is rebuilt;
    an archive the script did not make (the official one) is left alone."""
    first = subprocess.run(
        [str(SCRIPT), DEFAULT_VERSION, SCALA], capture_output=True, text=True, check=True
    )
    archive = Path(first.stdout.strip())
    mtime = archive.stat().st_mtime_ns
    again = subprocess.run(
        [str(SCRIPT), DEFAULT_VERSION, SCALA], capture_output=True, text=True, check=True
    )
    assert again.stdout == first.stdout and again.stderr == ""
    assert archive.stat().st_mtime_ns == mtime

    cache = tmp_path / "cache"
    cache.mkdir()
    env = {**os.environ, "KAFKA_DIST_CACHE": str(cache)}
    stale = cache / archive.name
    shutil.copy(archive, stale)
    (cache / f"{archive.name}.builder").write_text("0123456789abcdef\n")
    rebuilt = subprocess.run(
        [str(SCRIPT), DEFAULT_VERSION, SCALA], capture_output=True, text=True, env=env, timeout=900
    )
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "rebuilding" in rebuilt.stderr
    assert (cache / f"{archive.name}.builder").read_text() == (
        archive.parent / f"{archive.name}.builder"
    ).read_text()

    official = tmp_path / "official"
    (official / "bin").mkdir(parents=True)
    other = tmp_path / "other-cache"
    other.mkdir()
    with tarfile.open(other / archive.name, "w:gz") as tar:
        tar.add(official, arcname=f"kafka_{SCALA}-{DEFAULT_VERSION}")
    kept = subprocess.run(
        [str(SCRIPT), DEFAULT_VERSION, SCALA],
        capture_output=True,
        text=True,
        env={**os.environ, "KAFKA_DIST_CACHE": str(other)},
        check=True,
    )
    assert kept.stdout.strip() == str(other / archive.name) and kept.stderr == ""
    assert not (other / f"{archive.name}.builder").exists()


def test_the_roles_format_command_takes_a_cluster_id_that_begins_with_a_dash(
    dist: Dist, tmp_path: Path
) -> None:
    """roles/kafka/tasks/storage.yml formats KRaft storage with the cluster id as one argument: an id is
    base64url and may begin with "-" (1 in 64), which the storage tool would otherwise read as an option
    (a migration's format failed so on a ZooKeeper cluster id "-cw5zx...")."""
    (task,) = yaml.safe_load((ROOT / "roles/kafka/tasks/storage.yml").read_text())[:1]
    argv = task["vars"]["kafka_format_argv"]
    tool_args = argv[argv.index("kafka.tools.StorageTool") :]
    cluster_id = "-cw5zxFgTrWMP8lunnspUg"
    config = tmp_path / "controller.properties"
    config.write_text(
        "process.roles=controller\nnode.id=1\ncontroller.quorum.voters=1@localhost:19093\n"
        "listeners=CONTROLLER://localhost:19093\ncontroller.listener.names=CONTROLLER\n"
        f"log.dirs={tmp_path / 'data'}\n"
    )
    rendered = [
        arg.replace("{{ kafka_effective_cluster_id }}", cluster_id).replace(
            "{{ kafka_conf_dir }}/server.properties", str(config)
        )
        for arg in tool_args
    ]
    assert not [arg for arg in rendered if "{{" in arg], rendered
    result = run(["java", "-cp", f"{dist.home}/libs/*", *rendered])
    assert result.rc == 0, result.output[-2000:]
    meta = (tmp_path / "data" / "meta.properties").read_text()
    assert f"cluster.id={cluster_id}\n" in meta
