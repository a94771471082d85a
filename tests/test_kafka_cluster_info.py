"""The kafka_cluster_info module's replica health: min.insync.replicas, under-replicated, offline
and at-risk partitions, fenced brokers.

The one-node session broker shows what one broker can (a topic whose min.insync.replicas is above
its replication factor); a two-node cluster of this module's own (node 1 broker and controller,
node 2 broker only, broker default min.insync.replicas=2) shows the rest by stopping node 2.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import Broker, kafka_launcher
from kafka import KafkaAdminClient, KafkaConsumer
from kafka.admin import NewTopic
from test_kafka_topic import run_task, topic_task


def cluster_info(broker: Broker, tmp_path: Path, **params: Any) -> dict[str, Any]:
    result = run_task(
        tmp_path, {"kafka_cluster_info": {"bootstrap_servers": broker.bootstrap, **params}}
    )
    assert result.get("failed") is not True, result
    assert result["changed"] is False, result
    return result


def wait_for(
    broker: Broker, tmp_path: Path, ready: Callable[[dict[str, Any]], bool], timeout: float = 90
) -> dict[str, Any]:
    """cluster_info once `ready` holds for its result (the controller acts in the background)."""
    deadline = time.monotonic() + timeout
    while True:
        result = cluster_info(broker, tmp_path)
        if ready(result) or time.monotonic() > deadline:
            return result
        time.sleep(2)


def test_reports_brokers_topics_and_their_min_insync_replicas(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=2, replication_factor=1))
    info = cluster_info(kafka_broker, tmp_path)
    assert info["brokers"] == [{"node_id": 1, "host": "127.0.0.1", "port": kafka_broker.port,
                                "rack": None}]  # fmt: skip
    assert info["fenced_brokers"] == []
    assert info["controller_id"] == 1
    # min.insync.replicas of a topic without its own: the broker's default, 1.
    assert info["topics"][unique_topic] == {
        "partitions": 2, "replication_factor": 1, "under_replicated": 0, "offline": 0,
        "internal": False, "min_insync_replicas": 1, "under_min_isr": 0,
    }  # fmt: skip
    for key in ("under_replicated_partitions", "offline_partitions", "at_risk_partitions"):
        assert info[key] == [], (key, info)


def test_topic_min_insync_replicas_above_its_replicas(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    """One replica, min.insync.replicas 2: every partition is under min ISR (acks=all fails)."""
    task = topic_task(kafka_broker, unique_topic, partitions=2, replication_factor=1,
                      config={"min.insync.replicas": 2})  # fmt: skip
    run_task(tmp_path, task)
    info = cluster_info(kafka_broker, tmp_path)
    topic = info["topics"][unique_topic]
    assert (topic["min_insync_replicas"], topic["under_min_isr"]) == (2, 2), topic
    assert {f"{unique_topic}-0", f"{unique_topic}-1"} <= set(info["under_min_isr_partitions"])
    assert (
        f"{unique_topic}-0" not in info["under_replicated_partitions"]
    )  # its only replica is in sync


def test_leaving_broker_puts_its_only_replicas_at_risk(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=2, replication_factor=1))
    leaving_1 = cluster_info(kafka_broker, tmp_path, leaving_broker=1)
    assert {f"{unique_topic}-0", f"{unique_topic}-1"} <= set(leaving_1["at_risk_partitions"])
    assert cluster_info(kafka_broker, tmp_path, leaving_broker=7)["at_risk_partitions"] == []


def start_two_node_cluster(workdir: Path, home: Path) -> tuple[Broker, Broker]:
    """Node 1 (broker and the only controller) and node 2 (a broker only), min.insync.replicas 2.

    The launcher makes one-node clusters: node 2 gets its own listeners, node 1 as its controller,
    and node 1's cluster id in its formatted storage (meta.properties).
    """
    common = {"auto.create.topics.enable": "false", "min.insync.replicas": "2"}
    for node in ("node1", "node2"):
        (workdir / node).mkdir()
    node1 = Broker(workdir / "node1", home=home, properties=common)
    port = kafka_launcher.free_port()
    node2 = Broker(
        workdir / "node2",
        home=home,
        properties={
            **common,
            "node.id": "2",
            "process.roles": "broker",
            "controller.quorum.voters": f"1@127.0.0.1:{node1.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        },
    )
    node2.port, node2.bootstrap = port, f"127.0.0.1:{port}"
    cluster_id = re.search(
        r"^cluster\.id=(.+)$", (node1.data / "meta.properties").read_text(), re.MULTILINE
    )
    assert cluster_id is not None
    meta = node2.data / "meta.properties"
    meta.write_text(re.sub(r"^cluster\.id=.+$", f"cluster.id={cluster_id[1]}", meta.read_text(),
                           flags=re.MULTILINE))  # fmt: skip
    node1.start()
    try:
        node2.start()
    except BaseException:
        node1.stop()
        raise
    return node1, node2


@pytest.fixture(scope="module")
def two_nodes(
    kafka_dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Broker, Broker]]:
    node1, node2 = start_two_node_cluster(tmp_path_factory.mktemp("two-nodes"), kafka_dist)
    try:
        yield node1, node2
    finally:
        node2.stop()
        node1.stop()


def kafka_major(broker: Broker) -> int:
    """Major version of the broker's distribution (its home is kafka_<scala>-<version>)."""
    return int(broker.home.name.split("-")[-1].split(".")[0])


def create_topics(broker: Broker) -> None:
    """both: 2 partitions on both nodes; on2: 1 partition, its only replica on node 2; and
    __consumer_offsets (1 replica, from the first consumer group)."""
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic("both", 2, 2), NewTopic("on2", -1, -1, {0: [2]})])
    finally:
        admin.close()
    consumer = KafkaConsumer("both", bootstrap_servers=broker.bootstrap, group_id="health-test")
    try:
        deadline = time.monotonic() + 60
        while not consumer.assignment() and time.monotonic() < deadline:
            consumer.poll(timeout_ms=1000)
    finally:
        consumer.close()


def test_a_stopped_broker_in_a_two_node_cluster(
    two_nodes: tuple[Broker, Broker], tmp_path: Path
) -> None:
    node1, node2 = two_nodes
    create_topics(node1)
    healthy = wait_for(
        node1, tmp_path, lambda r: "__consumer_offsets-0" in r["under_min_isr_partitions"]
    )
    assert [b["node_id"] for b in healthy["brokers"]] == [1, 2], healthy
    assert healthy["topics"]["both"]["min_insync_replicas"] == 2  # the broker default
    assert healthy["under_replicated_partitions"] == [] and healthy["offline_partitions"] == []
    # Internal topics count, though include_internal is false: __consumer_offsets has 1 replica < 2.
    assert "__consumer_offsets" not in healthy["topics"]
    assert "__consumer_offsets-0" in healthy["under_min_isr_partitions"], healthy
    assert "on2-0" in healthy["under_min_isr_partitions"]  # 1 replica, min.insync.replicas 2
    assert not any(p.startswith("both-") for p in healthy["under_min_isr_partitions"]), healthy

    # Before node 2 stops: both-* would keep 1 in-sync replica (< 2), on2-0 none.
    leaving_2 = cluster_info(node1, tmp_path, leaving_broker=2)
    assert {"both-0", "both-1", "on2-0"} <= set(leaving_2["at_risk_partitions"]), leaving_2
    # on2-0 does not need node 1.
    leaving_1 = cluster_info(node1, tmp_path, leaving_broker=1)
    assert {"both-0", "both-1"} <= set(leaving_1["at_risk_partitions"]), leaving_1
    assert "on2-0" not in leaving_1["at_risk_partitions"], leaving_1

    node2.stop()
    try:
        down = wait_for(
            node1,
            tmp_path,
            lambda r: (
                "both-1" in r["under_replicated_partitions"] and bool(r["offline_partitions"])
            ),
        )
        assert [b["node_id"] for b in down["brokers"]] == [1], down  # registered, but fenced
        # Kafka 4.0+ lists fenced brokers (DescribeCluster v2); 3.x leaves them out.
        assert down["fenced_brokers"] == ([2] if kafka_major(node1) >= 4 else []), down
        # on2-0 (and the offsets partitions on node 2) lost their only replica: offline. Kafka 4
        # also empties their ISR (eligible leader replicas), so they count as under-replicated.
        assert {"both-0", "both-1"} <= set(down["under_replicated_partitions"]), down
        assert {"both-0", "both-1"} <= set(down["under_min_isr_partitions"]), down
        assert "on2-0" in down["offline_partitions"], down
        assert not any(p.startswith("both-") for p in down["offline_partitions"]), down
        assert down["topics"]["both"]["under_replicated"] == 2
        assert down["topics"]["both"]["under_min_isr"] == 2
        assert down["topics"]["on2"]["offline"] == 1
    finally:
        node2.start()
    back = wait_for(node1, tmp_path, lambda r: not r["under_replicated_partitions"] and
                    not r["offline_partitions"] and len(r["brokers"]) == 2)  # fmt: skip
    assert [b["node_id"] for b in back["brokers"]] == [1, 2] and back["fenced_brokers"] == [], back
    assert back["under_replicated_partitions"] == [] and back["offline_partitions"] == [], back
