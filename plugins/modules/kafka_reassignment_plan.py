#!/usr/bin/python
"""Ansible module: plans a partition reassignment that spreads the replicas over given brokers."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_reassignment_plan
short_description: Plans a Kafka partition reassignment that balances replicas and leaders
description:
  - Reads every partition's replicas and every broker's rack with kafka-python's admin client and
    plans new replica lists over the target C(brokers) (plugins/module_utils/kafka_balance.py).
  - Replicas on brokers outside C(brokers) move off them (decommission); each broker ends with as
    many replicas as any other, within 1 (each topic's too where the moves allow it), with as few
    replica moves as that takes; an already balanced cluster gets an empty plan. A moving replica
    goes, where it can, to a broker of a rack the partition does not use yet. The replica lists
    are then reordered so the preferred leaders are spread within 1 too.
  - The plan is kafka-reassign-partitions.sh's JSON (C(reassignment)), for the partitions it
    changes. The module changes nothing in the cluster (it only plans), so check mode runs it too.
  - Fails when a target broker is not a registered, unfenced broker of the cluster (a move to it
    would never finish), or when a partition has more replicas than there are target brokers.
  - Run it while no reassignment is in flight, since the replica lists of a moving partition
    hold its old and its new replicas.
options:
  brokers:
    description: Node ids of the brokers to hold the replicas; replicas on any other move.
    type: list
    elements: int
    required: true
  topics:
    description:
      - Topics to plan. Omitted or empty, every topic of the cluster, internal ones
        (__consumer_offsets...) included.
    type: list
    elements: str
  use_racks:
    description: Place the moving replicas by the brokers' racks (broker.rack), when they have one.
    type: bool
    default: true
extends_documentation_fragment: [kafka_connection]
requirements: [kafka-python >= 3.0]
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Plan the moves onto brokers 1 to 4 (broker 4 just joined)
  kafka_reassignment_plan:
    bootstrap_servers: kafka1:9092
    brokers: [1, 2, 3, 4]
  register: plan

- name: Write the plan for kafka-reassign-partitions.sh
  ansible.builtin.copy:
    content: "{{ plan.reassignment | to_nice_json }}"
    dest: /var/lib/kafka/reassignment.json
    mode: "0644"
  when: plan.partitions_changed > 0
"""

RETURN = r"""
reassignment:
  description:
    - The partitions whose replica list changes (a new order too), as the
      --reassignment-json-file of kafka-reassign-partitions.sh, sorted by topic and partition.
  returned: success
  type: dict
  sample:
    version: 1
    partitions:
      - {topic: twitter, partition: 0, replicas: [4, 2, 3], log_dirs: [any, any, any]}
moves:
  description: Replicas to copy (each on a broker that does not hold its partition yet).
  returned: success
  type: int
partitions_changed:
  description: Partitions in C(reassignment).
  returned: success
  type: int
replicas_per_broker_before:
  description: Replicas each broker holds now, by node id (target brokers and current holders).
  returned: success
  type: dict
  sample: {"1": 50, "2": 50, "3": 50, "4": 0}
replicas_per_broker_after:
  description: Replicas each broker holds once the plan is done, same brokers.
  returned: success
  type: dict
leaders_per_broker_after:
  description: Partitions whose preferred leader (first replica) each target broker is, after the plan.
  returned: success
  type: dict
brokers_not_registered:
  description: Target brokers that are not registered, unfenced brokers of the cluster.
  returned: always
  type: list
  elements: int
"""

import traceback
from collections import Counter
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_admin import (
    KAFKA_COMMON_ARGS,
    KafkaError,
    admin_client,
    broker_error,
)
from ansible.module_utils.kafka_balance import (
    Assignment,
    moves,
    plan_balance,
    to_reassignment_json,
)


class PlanError(Exception):
    """The plan cannot be made; result: what to report with the message."""

    def __init__(self, message: str, **result: Any) -> None:
        super().__init__(message)
        self.result = {"brokers_not_registered": [], **result}


def current_assignment(described: list[dict[str, Any]], topics: list[str]) -> Assignment:
    """Replica lists by (topic, partition) of a metadata answer (admin.describe_topics)."""
    errors = [f"{t['name']}: {broker_error(t['error_code'], None)}" for t in described
              if t["error_code"] != 0]  # fmt: skip
    if errors:
        raise PlanError(f"cannot read topics ({'; '.join(sorted(errors))})")
    missing = sorted(set(topics) - {t["name"] for t in described})
    if missing:
        raise PlanError(f"no such topics: {', '.join(missing)}")
    return {
        (t["name"], p["partition_index"]): list(p["replica_nodes"])
        for t in described
        for p in t["partitions"]
    }


def per_broker(assignment: Assignment, brokers: list[int], leaders: bool = False) -> dict[int, int]:
    counts = Counter(
        b for replicas in assignment.values() for b in (replicas[:1] if leaders else replicas)
    )
    return {b: counts[b] for b in sorted(set(brokers) | set(counts))}


def plan(admin: Any, brokers: list[int], topics: list[str], use_racks: bool) -> dict[str, Any]:
    """The module's result for an admin client; PlanError when no plan can be made."""
    registered = {
        b["broker_id"]: b.get("rack")
        for b in admin.describe_cluster()["brokers"]
        if not b.get("is_fenced", False)
    }
    missing = sorted(set(brokers) - set(registered))
    if missing:
        raise PlanError(
            f"brokers {missing} are not registered (or are fenced: stopped) in the cluster, which "
            f"has {sorted(registered)}: replicas moved to them would never be in sync",
            brokers_not_registered=missing,
        )
    old = current_assignment(admin.describe_topics(topics or None), topics)
    racks = registered if use_racks and any(registered.values()) else None
    try:
        new = plan_balance(old, brokers, racks)
    except ValueError as exc:
        raise PlanError(str(exc)) from exc
    reassignment = to_reassignment_json(old, new)
    before = per_broker(old, brokers)
    return {
        "changed": bool(reassignment["partitions"]),
        "reassignment": reassignment,
        "moves": moves(old, new),
        "partitions_changed": len(reassignment["partitions"]),
        "replicas_per_broker_before": before,
        "replicas_per_broker_after": per_broker(new, list(before)),
        "leaders_per_broker_after": per_broker(new, brokers, leaders=True),
        "brokers_not_registered": [],
    }


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **KAFKA_COMMON_ARGS,
            "brokers": {"type": "list", "elements": "int", "required": True},
            "topics": {"type": "list", "elements": "str"},
            "use_racks": {"type": "bool", "default": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    admin = admin_client(module)
    try:
        result = plan(admin, params["brokers"], params["topics"] or [], params["use_racks"])
    except PlanError as exc:
        module.fail_json(msg=f"no reassignment plan: {exc}", **exc.result)
    except KafkaError as exc:
        module.fail_json(
            msg=f"cannot read the partitions and brokers: {exc}", exception=traceback.format_exc()
        )
    finally:
        admin.close()
    module.exit_json(**result)


if __name__ == "__main__":
    main()
