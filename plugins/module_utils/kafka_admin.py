"""Shared code of the project's Kafka modules: one admin client, clear errors, kafka-python 3.x."""

from __future__ import annotations

import traceback
from typing import Any

try:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaError, for_code

    KAFKA_IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - reported to the user by require_kafka()
    KafkaAdminClient = None  # type: ignore[assignment,misc]
    ConfigResource = ConfigResourceType = None  # type: ignore[assignment,misc]
    KafkaError = Exception  # type: ignore[assignment,misc]
    for_code = None  # type: ignore[assignment]
    KAFKA_IMPORT_ERROR = traceback.format_exc()

KAFKA_COMMON_ARGS: dict[str, Any] = {
    "bootstrap_servers": {"type": "str", "required": True},
    "request_timeout": {"type": "int", "default": 30},
}


def require_kafka(module: Any) -> None:
    """Fail with a readable message when kafka-python is not importable."""
    if KAFKA_IMPORT_ERROR is not None:
        module.fail_json(
            msg="kafka-python >= 3.0 is required on the host running this module "
            "(the kafka role installs it into pipeline_admin_venv)",
            exception=KAFKA_IMPORT_ERROR,
        )


def admin_client(module: Any) -> Any:
    """An admin client for the module's bootstrap_servers, or fail_json with the reason."""
    require_kafka(module)
    timeout_ms = module.params["request_timeout"] * 1000
    try:
        return KafkaAdminClient(
            bootstrap_servers=module.params["bootstrap_servers"].split(","),
            client_id="ansible-kafka-pipeline",
            request_timeout_ms=timeout_ms,
        )
    except KafkaError as exc:
        module.fail_json(
            msg=f"cannot reach Kafka at {module.params['bootstrap_servers']}: {exc}",
            exception=traceback.format_exc(),
        )
    return None  # unreachable: fail_json exits


def broker_error(error_code: int, error_message: str | None) -> str | None:
    """The broker's error for one resource of a response ("InvalidConfigurationError: <its
    message>"), or None when its error code is 0. Admin responses carry an error per resource
    (topic, config resource...): a request can succeed while the broker refuses what it asks."""
    if not error_code:
        return None
    name = for_code(error_code).__name__ if for_code is not None else f"error {error_code}"
    return f"{name}: {error_message}" if error_message else f"{name} (error code {error_code})"


def describe_topics(admin: Any, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Topics by name: partition count, replication factor and replica health."""
    return summarize_topics(admin.describe_topics(names))


def summarize_topics(described: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Topics by name from a metadata answer (admin.describe_topics); skips topics in error."""
    result: dict[str, dict[str, Any]] = {}
    for topic in described:
        if topic["error_code"] != 0:
            continue
        partitions = topic["partitions"]
        result[topic["name"]] = {
            "partitions": len(partitions),
            "replication_factor": max((len(p["replica_nodes"]) for p in partitions), default=0),
            "under_replicated": sum(
                1 for p in partitions if len(p["isr_nodes"]) < len(p["replica_nodes"])
            ),
            "offline": sum(1 for p in partitions if p["leader_id"] < 0),
            "internal": topic["is_internal"],
        }
    return result


MIN_INSYNC_REPLICAS = "min.insync.replicas"


def topic_min_insync_replicas(admin: Any, names: list[str]) -> dict[str, int]:
    """Each topic's effective min.insync.replicas: its own setting, else the broker's default (the
    broker resolves that for a topic resource). Raises KafkaError when a topic has no answer."""
    if not names:
        return {}
    described = admin.describe_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, name, configs=[MIN_INSYNC_REPLICAS])
            for name in names
        ],
        config_filter="all",
    ).get("topic", {})
    result: dict[str, int] = {}
    for name in names:
        entry = described.get(name, {}).get(MIN_INSYNC_REPLICAS)
        if entry is None or entry.get("value") is None:
            # The client drops the per-resource error; a topic deleted meanwhile lands here.
            raise KafkaError(f"no {MIN_INSYNC_REPLICAS} in the broker's answer for topic {name}")
        result[name] = int(entry["value"])
    return result


def partition_health(
    described: list[dict[str, Any]], min_isr: dict[str, int], leaving_broker: int | None = None
) -> dict[str, Any]:
    """Replica health of every partition of a metadata answer (internal topics included).

    Returns "topic-partition" lists: under_replicated_partitions (ISR smaller than the replica
    set), under_min_isr_partitions (ISR below the topic's min.insync.replicas: acks=all writes
    fail), offline_partitions (no leader), at_risk_partitions (leaving_broker is in the ISR and
    the ISR without it would be under min.insync.replicas, or empty), and under_min_isr_by_topic.
    """
    lists: dict[str, list[str]] = {
        "under_replicated_partitions": [],
        "under_min_isr_partitions": [],
        "offline_partitions": [],
        "at_risk_partitions": [],
    }
    under_min_isr_by_topic: dict[str, int] = {}
    for topic in sorted(described, key=lambda t: str(t["name"])):
        if topic["error_code"] != 0:
            continue
        name = topic["name"]
        under_min_isr_by_topic[name] = 0
        for partition in sorted(topic["partitions"], key=lambda p: int(p["partition_index"])):
            label = f"{name}-{partition['partition_index']}"
            isr = set(partition["isr_nodes"])
            if len(isr) < len(partition["replica_nodes"]):
                lists["under_replicated_partitions"].append(label)
            if len(isr) < min_isr[name]:
                lists["under_min_isr_partitions"].append(label)
                under_min_isr_by_topic[name] += 1
            if partition["leader_id"] < 0:
                lists["offline_partitions"].append(label)
            if leaving_broker in isr and (len(isr) - 1 < min_isr[name] or len(isr) == 1):
                lists["at_risk_partitions"].append(label)
    return {**lists, "under_min_isr_by_topic": under_min_isr_by_topic}
