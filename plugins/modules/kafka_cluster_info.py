#!/usr/bin/python
"""Ansible module: facts about a Kafka cluster (brokers, controller, topics, replica health)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_cluster_info
short_description: Reports a Kafka cluster's brokers, controller and topics
description:
  - Connects with kafka-python's admin client and returns the registered brokers, the active
    controller, and each topic's partition count, replication factor and replica health.
  - Used to wait for a broker to join, by the status playbook and by the tests.
options:
  bootstrap_servers:
    description: Comma-separated host:port list of brokers to bootstrap from.
    type: str
    required: true
  request_timeout:
    description: Seconds to wait for each request.
    type: int
    default: 30
  include_internal:
    description: Also list internal topics (__consumer_offsets...).
    type: bool
    default: false
requirements: [kafka-python >= 3.0]
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Wait until broker 1 has joined
  kafka_cluster_info:
    bootstrap_servers: kafka1:9092
  register: cluster
  until: 1 in cluster.brokers | map(attribute='node_id')
  retries: 30
  delay: 5
"""

RETURN = r"""
cluster_id: {description: Cluster id., returned: success, type: str}
controller_id: {description: Node id of the active controller (-1 when none)., returned: success, type: int}
brokers: {description: Registered brokers (node_id, host, port, rack)., returned: success, type: list}
topics: {description: Topics by name with partitions, replication_factor, under_replicated, offline., returned: success, type: dict}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_admin import (
    KAFKA_COMMON_ARGS,
    KafkaError,
    admin_client,
    describe_topics,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={**KAFKA_COMMON_ARGS, "include_internal": {"type": "bool", "default": False}},
        supports_check_mode=True,
    )
    admin = admin_client(module)
    try:
        cluster = admin.describe_cluster()
        topics = describe_topics(admin)
    except KafkaError as exc:
        module.fail_json(msg=f"cannot describe the cluster: {exc}", exception=traceback.format_exc())
    finally:
        admin.close()
    if not module.params["include_internal"]:
        topics = {name: t for name, t in topics.items() if not t["internal"]}
    module.exit_json(
        changed=False,
        cluster_id=cluster["cluster_id"],
        controller_id=cluster["controller_id"] if cluster["controller_id"] is not None else -1,
        brokers=sorted(
            (
                {"node_id": b["broker_id"], "host": b["host"], "port": b["port"], "rack": b["rack"]}
                for b in cluster["brokers"]
            ),
            key=lambda b: b["node_id"],
        ),
        topics=topics,
    )


if __name__ == "__main__":
    main()
