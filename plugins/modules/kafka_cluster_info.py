#!/usr/bin/python
"""Ansible module: facts about a Kafka cluster (brokers, controller, topics, replica health)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_cluster_info
short_description: Reports a Kafka cluster's brokers, controller, topics and replica health
description:
  - Connects with kafka-python's admin client and returns the registered brokers, the active
    controller, each topic's partition count, replication factor and replica health, and the
    partitions that are under-replicated, under min.insync.replicas or offline.
  - The partition lists cover every topic, internal ones (__consumer_offsets...) included,
    whatever include_internal says.
  - Used to wait for a broker to join, as the health gate of a rolling restart, by the status
    playbook and by the tests.
options:
  include_internal:
    description: Also list internal topics (__consumer_offsets...) in C(topics).
    type: bool
    default: false
  leaving_broker:
    description:
      - Node id of a broker about to stop (a rolling restart). C(at_risk_partitions) then lists
        the partitions that would fall under min.insync.replicas, or lose their last in-sync
        replica, without it.
    type: int
extends_documentation_fragment: [kafka_connection]
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

- name: Refuse to stop broker 2 while a partition needs it
  kafka_cluster_info:
    bootstrap_servers: kafka1:9092,kafka2:9092,kafka3:9092
    leaving_broker: 2
  register: cluster
  failed_when: cluster.at_risk_partitions | length > 0
"""

RETURN = r"""
cluster_id: {description: Cluster id., returned: success, type: str}
controller_id:
  description: Node id of the active controller (-1 when none).
  returned: success
  type: int
brokers:
  description:
    - Registered, unfenced brokers (node_id, host, port, rack), by node id.
    - A stopped KRaft broker stays registered but fenced; it is in C(fenced_brokers), not here.
  returned: success
  type: list
  elements: dict
fenced_brokers:
  description:
    - Node ids of registered brokers the controller has fenced (stopped, or not caught up yet).
    - Kafka 4.0 and later report them; earlier versions leave them out of the answer.
  returned: success
  type: list
  elements: int
topics:
  description:
    - Topics by name with partitions, replication_factor, under_replicated, offline, internal,
      min_insync_replicas (the topic's effective min.insync.replicas) and under_min_isr (how many
      of its partitions have fewer in-sync replicas than that).
  returned: success
  type: dict
under_replicated_partitions:
  description: Partitions ("topic-partition") whose in-sync replicas are fewer than their replicas.
  returned: success
  type: list
  elements: str
  sample: [twitter-0, __consumer_offsets-12]
under_min_isr_partitions:
  description:
    - Partitions whose in-sync replicas are fewer than the topic's min.insync.replicas (writes
      with acks=all fail).
  returned: success
  type: list
  elements: str
offline_partitions:
  description: Partitions without a leader.
  returned: success
  type: list
  elements: str
at_risk_partitions:
  description:
    - Partitions where C(leaving_broker) is in the ISR and the ISR without it would be under
      min.insync.replicas or empty. Empty when C(leaving_broker) is not set.
  returned: success
  type: list
  elements: str
"""

import traceback
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_admin import (
    KAFKA_COMMON_ARGS,
    KafkaError,
    admin_client,
    partition_health,
    retry_connection,
    summarize_topics,
    topic_min_insync_replicas,
)


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **KAFKA_COMMON_ARGS,
            "include_internal": {"type": "bool", "default": False},
            "leaving_broker": {"type": "int"},
        },
        supports_check_mode=True,
    )
    admin = admin_client(module)

    def describe() -> tuple[Any, list[dict[str, Any]], dict[str, Any], dict[str, int]]:
        cluster = admin.describe_cluster()
        described = admin.describe_topics()
        topics = summarize_topics(described)
        return cluster, described, topics, topic_min_insync_replicas(admin, sorted(topics))

    try:
        # Right after a broker stopped, the client may still send to it: the gate's and the
        # migration's checks run exactly then.
        cluster, described, topics, min_isr = retry_connection(describe)
    except KafkaError as exc:
        module.fail_json(
            msg=f"cannot describe the cluster: {exc}", exception=traceback.format_exc()
        )
    finally:
        admin.close()
    health = partition_health(described, min_isr, module.params["leaving_broker"])
    for name, topic in topics.items():
        topic["min_insync_replicas"] = min_isr[name]
        topic["under_min_isr"] = health["under_min_isr_by_topic"][name]
    if not module.params["include_internal"]:
        topics = {name: t for name, t in topics.items() if not t["internal"]}
    # DescribeCluster v2 (Kafka 4.0+) also lists fenced brokers; older answers leave them out.
    registered: list[dict[str, Any]] = cluster["brokers"]
    module.exit_json(
        changed=False,
        cluster_id=cluster["cluster_id"],
        controller_id=cluster["controller_id"] if cluster["controller_id"] is not None else -1,
        brokers=sorted(
            (
                {"node_id": b["broker_id"], "host": b["host"], "port": b["port"], "rack": b["rack"]}
                for b in registered
                if not b.get("is_fenced", False)
            ),
            key=lambda b: b["node_id"],
        ),
        fenced_brokers=sorted(b["broker_id"] for b in registered if b.get("is_fenced", False)),
        topics=topics,
        under_replicated_partitions=health["under_replicated_partitions"],
        under_min_isr_partitions=health["under_min_isr_partitions"],
        offline_partitions=health["offline_partitions"],
        at_risk_partitions=health["at_risk_partitions"],
    )


if __name__ == "__main__":
    main()
