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
  - Fails with the broker's own message when the broker rejects a creation, a partition increase or
    a configuration entry (each admin response carries an error per topic). In check mode the same
    requests are sent with validate_only, so a rejected value fails the check run too.
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
extends_documentation_fragment: [kafka_connection]
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

import re
import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_admin import (
    KAFKA_COMMON_ARGS,
    KafkaError,
    admin_client,
    broker_error,
    describe_topics,
)

try:
    from kafka.admin import ConfigResource, ConfigResourceType
except ImportError:  # reported by admin_client()
    pass


class Rejected(Exception):
    """The broker refused part of the request; changed: whether an earlier step of it took effect."""

    def __init__(self, message: str, changed: bool = False) -> None:
        super().__init__(message)
        self.changed = changed


def as_dict(response: Any) -> dict[str, Any]:
    return response if isinstance(response, dict) else response.to_dict()


def create(module: AnsibleModule, admin: Any, name: str, config: dict[str, str]) -> None:
    """CreateTopics (validate_only in check mode); its per-topic error is the broker's verdict."""
    params = module.params
    result = admin.create_topics(
        {name: {"num_partitions": params["partitions"], "replication_factor": params["replication_factor"],
                "configs": config}},
        timeout_ms=params["request_timeout"] * 1000,
        validate_only=module.check_mode,
        raise_errors=False,
    )
    for topic in as_dict(result)["topics"]:
        error = broker_error(topic["error_code"], topic.get("error_message"))
        if error:
            raise Rejected(f"the broker refused to create it: {error}")


def grow(module: AnsibleModule, admin: Any, name: str, partitions: int) -> None:
    """CreatePartitions (validate_only in check mode), checked per topic."""
    result = admin.create_partitions(
        {name: partitions},
        timeout_ms=module.params["request_timeout"] * 1000,
        validate_only=module.check_mode,
        raise_errors=False,
    )
    for topic in as_dict(result)["results"]:
        error = broker_error(topic["error_code"], topic.get("error_message"))
        if error:
            raise Rejected(f"the broker refused to grow it to {partitions} partitions: {error}")


def alter(module: AnsibleModule, admin: Any, name: str, config: dict[str, str], changed: bool) -> None:
    """IncrementalAlterConfigs (validate_only in check mode). The client returns one outcome per
    resource, "OK" or the broker's error, instead of raising: it must be read. Unknown keys are left
    to the broker too (raise_on_unknown=False), so the message is always the broker's."""
    try:
        result = admin.alter_configs(
            [ConfigResource(ConfigResourceType.TOPIC, name, configs=config)],
            validate_only=module.check_mode,
            raise_on_unknown=False,
            incremental=True,
        )
    except ValueError as exc:
        raise Rejected(f"cannot set {sorted(config)}: {exc}", changed) from exc
    outcome = result.get("topic", {}).get(name, "no answer for this topic")
    if outcome != "OK":
        outcome = re.sub(r"^\[Error \d+\] ", "", str(outcome))
        entries = ", ".join(f"{key}={value}" for key, value in sorted(config.items()))
        raise Rejected(f"the broker refused the configuration ({entries}): {outcome}", changed)


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
        create(module, admin, name, wanted_config)
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
    more_partitions = after["partitions"] > before["partitions"]
    if more_partitions:
        grow(module, admin, name, after["partitions"])
    if changed_config:
        alter(module, admin, name, changed_config, changed=more_partitions and not module.check_mode)
    return {"changed": more_partitions or bool(changed_config), "before": before, "after": after}


def ensure_absent(module: AnsibleModule, admin: Any) -> dict[str, Any]:
    name = module.params["name"]
    before = state_of(admin, name, [])
    if before is None:
        return {"changed": False, "before": {}, "after": {}}
    if not module.check_mode:
        result = admin.delete_topics(
            [name], timeout_ms=module.params["request_timeout"] * 1000, raise_errors=False
        )
        for topic in as_dict(result)["topics"]:
            error = broker_error(topic["error_code"], topic.get("error_message"))
            if error:
                raise Rejected(f"the broker refused to delete it: {error}")
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
    except Rejected as exc:
        module.fail_json(msg=f"topic {module.params['name']}: {exc}", changed=exc.changed)
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
