"""Shared code of the project's Kafka modules: one admin client, clear errors, kafka-python 3.x."""

from __future__ import annotations

import traceback
from typing import Any

try:
    from kafka import KafkaAdminClient
    from kafka.errors import KafkaError, for_code

    KAFKA_IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - reported to the user by require_kafka()
    KafkaAdminClient = None  # type: ignore[assignment,misc]
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
    """The broker's error for one resource of a response ("InvalidConfigurationError: <its message>"),
    or None when its error code is 0. Admin responses carry an error per resource (topic, config
    resource...): a request can succeed while the broker refuses what it asked for."""
    if not error_code:
        return None
    name = for_code(error_code).__name__ if for_code is not None else f"error {error_code}"
    return f"{name}: {error_message}" if error_message else f"{name} (error code {error_code})"


def describe_topics(admin: Any, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Topics by name: partition count, replication factor and replica health."""
    result: dict[str, dict[str, Any]] = {}
    for topic in admin.describe_topics(names):
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
