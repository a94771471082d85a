#!/usr/bin/python
"""Ansible module: the KRaft controller quorum (leader, voters, observers, replication lag)."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_quorum_info
short_description: Reports a KRaft cluster's controller quorum
description:
  - Runs C(kafka-metadata-quorum.sh describe --status) and C(describe --replication) of the Kafka
    installation in I(kafka_home) and returns their answers parsed; changes nothing.
  - >-
    Reads both formats of CurrentVoters and CurrentObservers, the id list of older releases (3.7)
    (C([1,2,3])) and the JSON objects of Kafka 3.9 and 4.x
    (C([{"id": 1, "directoryId": ..., "endpoints": [...]}, ...])); from the latter it also returns
    each voter's directory id and endpoints (I(voter_details)), which
    C(kafka-metadata-quorum.sh remove-controller) needs.
  - KRaft mode only; a ZooKeeper-mode cluster makes the tool, and so the task, fail.
options:
  bootstrap_controller:
    description:
      - >-
        Bootstrap from the KRaft controllers (C(--bootstrap-controller)) instead of the brokers;
        I(bootstrap_servers) then lists the controllers' listeners. Needed while the brokers run in
        ZooKeeper mode during a ZooKeeper -> KRaft migration (they do not answer quorum requests).
    type: bool
    default: false
extends_documentation_fragment: [kafka_tool]
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Find the active controller
  kafka_quorum_info:
    kafka_home: /opt/kafka
    bootstrap_servers: kafka1:9092,kafka2:9092,kafka3:9092
  register: quorum

- name: Every voter is caught up with the leader
  ansible.builtin.assert:
    that: >-
      quorum.replication | selectattr('node_id', 'in', quorum.voters)
      | selectattr('lag', 'gt', 0) | list | length == 0
"""

RETURN = r"""
cluster_id:
  description: Cluster id.
  returned: success
  type: str
leader_id:
  description: Node id of the quorum leader (the active controller); -1 when there is none.
  returned: success
  type: int
leader_epoch:
  description: Epoch of the current leader.
  returned: success
  type: int
high_watermark:
  description: High watermark of the metadata log.
  returned: success
  type: int
max_follower_lag:
  description: Largest lag of a voter behind the leader, in records.
  returned: success
  type: int
max_follower_lag_time_ms:
  description: Largest time since a voter was last caught up, in ms (-1 when a voter never was).
  returned: success
  type: int
voters:
  description: Node ids of the voters (the controllers).
  returned: success
  type: list
  elements: int
  sample: [1, 2, 3]
voter_details:
  description:
    - One entry per voter, in the order of I(voters) - id (node id), directory_id (the voter's
      metadata log directory id; C(kafka-metadata-quorum.sh remove-controller) takes it with the
      id) and endpoints (its controller listeners).
    - directory_id is empty for the voters of a static quorum (C(controller.quorum.voters)),
      which have none (Kafka prints C(null) or nothing), and for releases that print ids only (3.7);
      endpoints is empty when Kafka prints none.
  returned: success
  type: list
  elements: dict
  sample:
    - id: 1
      directory_id: jXv-5Sm0QtG9sOx0xB1Z7w
      endpoints: [CONTROLLER://kafka1:9093]
    - id: 2
      directory_id: OaH3v5g1RoOsWz6hz9u5og
      endpoints: [CONTROLLER://kafka2:9093]
observers:
  description: Node ids of the observers (brokers that are not controllers).
  returned: success
  type: list
  elements: int
replication:
  description:
    - One entry per voter and observer, as the leader sees it - node_id, log_end_offset, lag,
      last_fetch_timestamp, last_caught_up_timestamp (ms since the epoch; -1 for never) and status
      (Leader, Follower or Observer).
  returned: success
  type: list
  elements: dict
  sample:
    - node_id: 3
      log_end_offset: -1
      lag: 90
      last_fetch_timestamp: -1
      last_caught_up_timestamp: -1
      status: Follower
"""

import json
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_tools import (
    KAFKA_TOOL_ARGS,
    check_tool,
    run_tool,
    timed_command_config,
)

TOOL = "bin/kafka-metadata-quorum.sh"
# describe --status keys -> returned integer keys.
STATUS_INTEGERS = {
    "LeaderId": "leader_id",
    "LeaderEpoch": "leader_epoch",
    "HighWatermark": "high_watermark",
    "MaxFollowerLag": "max_follower_lag",
    "MaxFollowerLagTimeMs": "max_follower_lag_time_ms",
}
# describe --replication columns -> returned keys (DirectoryId, Kafka 3.9+, is not returned).
REPLICATION_COLUMNS = {
    "NodeId": "node_id",
    "LogEndOffset": "log_end_offset",
    "Lag": "lag",
    "LastFetchTimestamp": "last_fetch_timestamp",
    "LastCaughtUpTimestamp": "last_caught_up_timestamp",
    "Status": "status",
}


class QuorumOutputError(ValueError):
    """The tool's output is not in a format this module knows."""


def node_list(value: str) -> list[Any]:
    """The entries of a CurrentVoters/CurrentObservers value: [1,2,3] or [{"id": 1, ...}, ...]."""
    try:
        entries = json.loads(value)
    except ValueError as exc:
        raise QuorumOutputError(f"cannot read the node list {value!r}") from exc
    if not isinstance(entries, list):
        raise QuorumOutputError(f"cannot read the node list {value!r}")
    return entries


def node_id(entry: Any) -> int:
    """The id of a node list entry, a bare id or an object's "id" (KeyError, TypeError or
    ValueError for anything else)."""
    return int(entry["id"] if isinstance(entry, dict) else entry)


def node_ids(value: str) -> list[int]:
    """Node ids of a CurrentVoters/CurrentObservers value: [1,2,3] or [{"id": 1, ...}, ...]."""
    try:
        return [node_id(entry) for entry in node_list(value)]
    except (KeyError, TypeError, ValueError) as exc:
        raise QuorumOutputError(f"cannot read the node list {value!r}") from exc


def voter(entry: Any) -> dict[str, Any]:
    """A CurrentVoters entry as id, directory_id and endpoints. A bare id (3.7) and a null or
    absent directoryId (a static quorum) give directory_id "", absent endpoints give []."""
    if not isinstance(entry, dict):
        return {"id": node_id(entry), "directory_id": "", "endpoints": []}
    directory_id = entry.get("directoryId")
    endpoints = entry.get("endpoints", [])
    if directory_id is not None and not isinstance(directory_id, str):
        raise TypeError(f"directoryId {directory_id!r} is not a string")
    if not isinstance(endpoints, list) or not all(isinstance(e, str) for e in endpoints):
        raise TypeError(f"endpoints {endpoints!r} is not a list of strings")
    return {"id": node_id(entry), "directory_id": directory_id or "", "endpoints": endpoints}


def voter_details(value: str) -> list[dict[str, Any]]:
    """Id, directory id and endpoints of each voter of a CurrentVoters value."""
    details = []
    for entry in node_list(value):
        try:
            details.append(voter(entry))
        except (KeyError, TypeError, ValueError) as exc:
            raise QuorumOutputError(
                f"cannot read the voter {entry!r} of the node list {value!r}"
            ) from exc
    return details


def parse_status(text: str) -> dict[str, Any]:
    """The answer of `describe --status` ("Key:   value" lines)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            fields[key.strip()] = value.strip()
    missing = [
        key for key in (*STATUS_INTEGERS, "CurrentVoters", "CurrentObservers") if key not in fields
    ]
    if missing:
        raise QuorumOutputError(
            f"no {', '.join(missing)} in the status output: {text.strip()[:500]!r}"
        )
    try:
        result: dict[str, Any] = {name: int(fields[key]) for key, name in STATUS_INTEGERS.items()}
    except ValueError as exc:
        raise QuorumOutputError(f"a number of the status output is not one: {exc}") from exc
    result["cluster_id"] = fields.get("ClusterId", "")
    result["voters"] = node_ids(fields["CurrentVoters"])
    result["voter_details"] = voter_details(fields["CurrentVoters"])
    result["observers"] = node_ids(fields["CurrentObservers"])
    return result


def parse_replication(text: str) -> list[dict[str, Any]]:
    """The rows of `describe --replication`, a table with a header line (tab-separated, padded)."""
    lines = [line.split() for line in text.splitlines() if line.strip()]
    # The table starts at its header: a JVM warning may come first.
    start = next((i for i, cells in enumerate(lines) if cells[0] == "NodeId"), None)
    if start is None:
        raise QuorumOutputError(f"no replication table in the output: {text.strip()[:500]!r}")
    header, rows = lines[start], lines[start + 1 :]
    missing = [column for column in REPLICATION_COLUMNS if column not in header]
    if missing:
        raise QuorumOutputError(
            f"no column {', '.join(missing)} in the replication table: {header}"
        )
    result = []
    for row in rows:
        if len(row) != len(header):
            raise QuorumOutputError(f"replication row {row} does not match the header {header}")
        cells = dict(zip(header, row, strict=True))
        try:
            entry: dict[str, Any] = {
                name: int(cells[column])
                for column, name in REPLICATION_COLUMNS.items()
                if column != "Status"
            }
        except ValueError as exc:
            raise QuorumOutputError(f"a number of replication row {row} is not one: {exc}") from exc
        entry["status"] = cells["Status"]
        result.append(entry)
    return result


def describe(module: AnsibleModule, what: str, command_config: str) -> str:
    """stdout of `kafka-metadata-quorum.sh describe --<what>`; fail_json with the tool's error."""
    flag = "--bootstrap-controller" if module.params["bootstrap_controller"] else "--bootstrap-server"
    args = [flag, module.params["bootstrap_servers"],
            "--command-config", command_config, "describe", f"--{what}"]  # fmt: skip
    return run_tool(
        module, TOOL, args, f"describe --{what} against {module.params['bootstrap_servers']}"
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={**KAFKA_TOOL_ARGS, "bootstrap_controller": {"type": "bool", "default": False}},
        supports_check_mode=True,
    )
    check_tool(module, TOOL)
    command_config = timed_command_config(module, "quorum-admin.properties")
    status_text = describe(module, "status", command_config)
    replication_text = describe(module, "replication", command_config)
    try:
        status = parse_status(status_text)
        replication = parse_replication(replication_text)
    except QuorumOutputError as exc:
        module.fail_json(
            msg=f"cannot read the output of {TOOL}: {exc}", stdout=status_text + replication_text
        )
    module.exit_json(changed=False, **status, replication=replication)


if __name__ == "__main__":
    main()
