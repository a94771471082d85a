#!/usr/bin/python
"""Ansible module: ensure a Kafka topic's existence, partition count and configuration."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_topic
short_description: Ensures a Kafka topic, its partition count and its configuration
description:
  - Creates or deletes a topic; grows its partition count; sets topic-level configuration entries
    with incremental alter-configs, so entries this task does not name are left alone.
  - Idempotent, supports check mode and diff mode.
  - Refuses what Kafka cannot do in place (fewer partitions, another replication factor) with a
    clear message instead of a silent no-op.
options:
  name: {description: Topic name., type: str, required: true}
  state:
    description: Whether the topic exists.
    type: str
    choices: [present, absent]
    default: present
  partitions: {description: Partition count (required to create a topic)., type: int}
  replication_factor: {description: Replication factor (required to create a topic)., type: int}
  config:
    description: Topic configuration entries (for example retention.ms); values are compared as strings.
    type: dict
    default: {}
  bootstrap_servers: {description: Comma-separated host:port list of brokers., type: str, required: true}
  request_timeout: {description: Seconds to wait for each request., type: int, default: 30}
requirements: [kafka-python >= 3.0]
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Ensure the twitter topic
  kafka_topic:
    name: twitter
    partitions: 3
    replication_factor: 1
    config:
      retention.ms: 604800000
    bootstrap_servers: kafka1:9092
"""

RETURN = r"""
topic:
  description: The topic after the task (name, partitions, replication_factor, config).
  returned: state is present
  type: dict
"""

import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_admin import (
    KAFKA_COMMON_ARGS,
    KafkaError,
    admin_client,
    describe_topics,
)

try:
    from kafka.admin import ConfigResource, ConfigResourceType, NewPartitions, NewTopic
except ImportError:  # reported by admin_client()
    pass


def topic_config(admin: Any, name: str, keys: list[str]) -> dict[str, str]:
    """Current values of the given topic configuration keys."""
    if not keys:
        return {}
    described = admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, name)], config_filter="all"
    )
    entries = described["topic"][name]
    return {key: entries[key]["value"] for key in keys if key in entries}


def state_of(admin: Any, name: str, keys: list[str]) -> dict[str, Any] | None:
    """The topic as this module sees it, or None when it does not exist."""
    topic = describe_topics(admin, [name]).get(name)
    if topic is None:
        return None
    return {
        "name": name,
        "partitions": topic["partitions"],
        "replication_factor": topic["replication_factor"],
        "config": topic_config(admin, name, keys),
    }


def ensure_present(module: AnsibleModule, admin: Any) -> dict[str, Any]:
    params = module.params
    name = params["name"]
    wanted_config = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in params["config"].items()}
    before = state_of(admin, name, sorted(wanted_config))
    if before is None:
        missing = [p for p in ("partitions", "replication_factor") if params[p] is None]
        if missing:
            module.fail_json(msg=f"topic {name} does not exist; {' and '.join(missing)} needed to create it")
        after = {
            "name": name,
            "partitions": params["partitions"],
            "replication_factor": params["replication_factor"],
            "config": wanted_config,
        }
        if not module.check_mode:
            admin.create_topics(
                [NewTopic(name, params["partitions"], params["replication_factor"], topic_configs=wanted_config)],
                timeout_ms=params["request_timeout"] * 1000,
            )
        return {"changed": True, "before": {}, "after": after}

    if params["replication_factor"] is not None and params["replication_factor"] != before["replication_factor"]:
        module.fail_json(
            msg=f"topic {name} has replication factor {before['replication_factor']}, "
            f"not {params['replication_factor']}: changing it needs a partition reassignment "
            "(kafka-reassign-partitions), which this module does not do"
        )
    if params["partitions"] is not None and params["partitions"] < before["partitions"]:
        module.fail_json(
            msg=f"topic {name} has {before['partitions']} partitions; Kafka cannot reduce it "
            f"to {params['partitions']}"
        )
    after = {
        **before,
        "partitions": params["partitions"] or before["partitions"],
        "config": {**before["config"], **wanted_config},
    }
    changed_config = {k: v for k, v in wanted_config.items() if before["config"].get(k) != v}
    grow = after["partitions"] > before["partitions"]
    if not module.check_mode:
        if grow:
            admin.create_partitions({name: NewPartitions(after["partitions"])})
        if changed_config:
            admin.alter_configs(
                [ConfigResource(ConfigResourceType.TOPIC, name, configs=changed_config)],
                incremental=True,
            )
    return {"changed": grow or bool(changed_config), "before": before, "after": after}


def ensure_absent(module: AnsibleModule, admin: Any) -> dict[str, Any]:
    name = module.params["name"]
    before = state_of(admin, name, [])
    if before is None:
        return {"changed": False, "before": {}, "after": {}}
    if not module.check_mode:
        admin.delete_topics([name], timeout_ms=module.params["request_timeout"] * 1000)
    return {"changed": True, "before": before, "after": {}}


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **KAFKA_COMMON_ARGS,
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "default": "present", "choices": ["present", "absent"]},
            "partitions": {"type": "int"},
            "replication_factor": {"type": "int"},
            "config": {"type": "dict", "default": {}},
        },
        supports_check_mode=True,
    )
    for param in ("partitions", "replication_factor"):
        if module.params[param] is not None and module.params[param] < 1:
            module.fail_json(msg=f"{param} must be at least 1 (got {module.params[param]})")
    admin = admin_client(module)
    try:
        if module.params["state"] == "present":
            outcome = ensure_present(module, admin)
        else:
            outcome = ensure_absent(module, admin)
    except KafkaError as exc:
        module.fail_json(msg=f"topic {module.params['name']}: {exc}", exception=traceback.format_exc())
    finally:
        admin.close()
    result: dict[str, Any] = {"changed": outcome["changed"]}
    if module.params["state"] == "present":
        result["topic"] = outcome["after"]
    if module._diff:
        result["diff"] = {"before": outcome["before"], "after": outcome["after"]}
    module.exit_json(**result)


if __name__ == "__main__":
    main()
