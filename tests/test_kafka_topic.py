"""The kafka_topic and kafka_cluster_info modules against a real broker."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from kafka import KafkaAdminClient
from kafka.admin import ConfigResource, ConfigResourceType

from conftest import ROOT, Broker


def run_task(tmp_path: Path, task: dict[str, Any], *flags: str) -> dict[str, Any]:
    """Run one module task on localhost and return its result (the json callback's)."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [task]}])
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
    }
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook), *flags],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    report = json.loads(proc.stdout)
    return report["plays"][0]["tasks"][0]["hosts"]["localhost"]


def topic_state(broker: Broker, name: str) -> tuple[int, dict[str, str]] | None:
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        if name not in admin.list_topics():
            return None
        (topic,) = admin.describe_topics([name])
        configs = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        values = {k: v["value"] for k, v in configs["topic"][name].items()}
        return len(topic["partitions"]), values
    finally:
        admin.close()


def topic_task(broker: Broker, name: str, **params: Any) -> dict[str, Any]:
    return {"kafka_topic": {"name": name, "bootstrap_servers": broker.bootstrap, **params}}


def test_create_is_idempotent(kafka_broker: Broker, unique_topic: str, tmp_path: Path) -> None:
    task = topic_task(kafka_broker, unique_topic, partitions=2, replication_factor=1,
                      config={"retention.ms": 3600000})
    first = run_task(tmp_path, task)
    assert first["changed"] is True, first
    assert topic_state(kafka_broker, unique_topic) == (2, {"retention.ms": "3600000"})
    second = run_task(tmp_path, task)
    assert second["changed"] is False, second
    assert second["topic"]["partitions"] == 2


def test_check_mode_changes_nothing(kafka_broker: Broker, unique_topic: str, tmp_path: Path) -> None:
    task = topic_task(kafka_broker, unique_topic, partitions=1, replication_factor=1)
    result = run_task(tmp_path, task, "--check", "--diff")
    assert result["changed"] is True, result
    assert result["diff"]["before"] == {} and result["diff"]["after"]["partitions"] == 1
    assert topic_state(kafka_broker, unique_topic) is None


def test_grow_partitions_and_change_config_with_diff(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=1, replication_factor=1,
                                  config={"retention.ms": 1000000, "cleanup.policy": "delete"}))
    result = run_task(
        tmp_path,
        topic_task(kafka_broker, unique_topic, partitions=3, config={"retention.ms": 2000000}),
        "--diff",
    )
    assert result["changed"] is True, result
    assert result["diff"]["before"]["partitions"] == 1
    assert result["diff"]["after"]["partitions"] == 3
    assert result["diff"]["before"]["config"]["retention.ms"] == "1000000"
    state = topic_state(kafka_broker, unique_topic)
    assert state == (3, {"retention.ms": "2000000", "cleanup.policy": "delete"}), state


def test_refuses_what_kafka_cannot_do(kafka_broker: Broker, unique_topic: str, tmp_path: Path) -> None:
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=2, replication_factor=1))
    shrink = run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=1))
    assert shrink.get("failed") is True and "cannot reduce" in shrink["msg"], shrink
    more_replicas = run_task(tmp_path, topic_task(kafka_broker, unique_topic, replication_factor=2))
    assert more_replicas.get("failed") is True and "replication factor" in more_replicas["msg"]
    assert topic_state(kafka_broker, unique_topic) is not None


def test_absent_deletes(kafka_broker: Broker, unique_topic: str, tmp_path: Path) -> None:
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=1, replication_factor=1))
    assert run_task(tmp_path, topic_task(kafka_broker, unique_topic, state="absent"))["changed"]
    assert not run_task(tmp_path, topic_task(kafka_broker, unique_topic, state="absent"))["changed"]


def test_cluster_info_reports_brokers_and_topics(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=2, replication_factor=1))
    info = run_task(tmp_path, {"kafka_cluster_info": {"bootstrap_servers": kafka_broker.bootstrap}})
    assert [b["node_id"] for b in info["brokers"]] == [1]
    assert info["controller_id"] == 1
    assert info["topics"][unique_topic] == {
        "partitions": 2, "replication_factor": 1, "under_replicated": 0, "offline": 0,
        "internal": False, "min_insync_replicas": 1, "under_min_isr": 0,
    }


def test_unreachable_broker_fails_clearly(tmp_path: Path) -> None:
    result = run_task(tmp_path, {"kafka_cluster_info": {"bootstrap_servers": "127.0.0.1:1",
                                                        "request_timeout": 5}})
    assert result.get("failed") is True
    assert "cannot reach Kafka at 127.0.0.1:1" in result["msg"]


def test_config_the_broker_rejects_fails_with_its_message(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    """AlterConfigs answers per resource: a refused entry is a failure, not a change on every run."""
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=1, replication_factor=1))
    bad = topic_task(kafka_broker, unique_topic, config={"max.message.bytes": -5})
    for attempt in ("first", "second"):
        result = run_task(tmp_path, bad)
        assert result.get("failed") is True, (attempt, result)
        assert "Invalid value -5 for configuration max.message.bytes" in result["msg"], (attempt, result)
        assert result["changed"] is False, (attempt, result)
    # Check mode asks the broker with validate_only, so a check run reports the refusal too.
    checked = run_task(tmp_path, bad, "--check")
    assert checked.get("failed") is True and "max.message.bytes" in checked["msg"], checked
    state = topic_state(kafka_broker, unique_topic)
    assert state is not None and state[1].get("max.message.bytes") != "-5", state


def test_creation_the_broker_rejects_fails_with_its_message(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    """CreateTopics answers per topic too: one broker cannot hold two replicas."""
    task = topic_task(kafka_broker, unique_topic, partitions=1, replication_factor=2)
    for flags in ((), ("--check",)):
        result = run_task(tmp_path, task, *flags)
        assert result.get("failed") is True, (flags, result)
        assert "InvalidReplicationFactor" in result["msg"] and "replication factor" in result["msg"], result
    bad_config = topic_task(kafka_broker, unique_topic, partitions=1, replication_factor=1,
                            config={"cleanup.policy": "bogus"})
    result = run_task(tmp_path, bad_config)
    assert result.get("failed") is True and "cleanup.policy" in result["msg"], result
    assert topic_state(kafka_broker, unique_topic) is None
