"""playbooks/status.yml and its table (playbooks/templates/status_table.j2).

The playbook runs for real against the session's KRaft broker (a one-host inventory: the broker is
localhost, no monitoring host); the table's FAIL and WARN rules are checked on crafted answers of
kafka_cluster_info and kafka_quorum_info, as the play would pass them.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, VENV_BIN, Broker, run_playbook
from test_kafka_topic import run_task, topic_task

TEMPLATE = ROOT / "playbooks" / "templates" / "status_table.j2"
PIPELINE_DEFAULTS = ROOT / "roles" / "pipeline" / "defaults" / "main.yml"
THREE_BROKERS = {
    "all": {
        "children": {
            "kafka_brokers": {"hosts": {"kafka1": {}, "kafka2": {}, "kafka3": {}}},
            "consumers": {"hosts": {}},
            "producers": {"hosts": {}},
        }
    }
}


def rows(table: str) -> dict[str, tuple[str, str]]:
    """CHECK -> (STATE, DETAIL) of a table (the checks' names are unique), also as a debug task
    prints it (indented)."""
    found = {}
    for line in table.splitlines():
        match = re.match(r"^\s*(\S.*?)\s+(OK|WARN|FAIL|-)\s+(.*?)\s*$", line)
        if match:
            found[match[1]] = (match[2], match[3])
    return found


def render_table(tmp_path: Path, answers: dict[str, Any]) -> str:
    """The table for a three-broker inventory, from the plays' answers (status_* variables)."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(yaml.safe_dump(THREE_BROKERS))
    playbook = tmp_path / "table.yml"
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars": {"status_broker": "kafka1", "status_monitor": "", "status_prom": {},
                 "status_quorum_behind_ms": 10000, **answers},
        "tasks": [{"ansible.builtin.debug": {
            "msg": "{{ lookup('ansible.builtin.template', '" + str(TEMPLATE) + "') }}"}}],
    }  # fmt: skip
    playbook.write_text(yaml.safe_dump([play]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}  # fmt: skip
    env["ANSIBLE_CALLBACKS_ENABLED"] = "ansible.builtin.junit"  # not profile_tasks: JSON only
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", str(inventory), "-c", "local",
         "-e", f"@{PIPELINE_DEFAULTS}", "-e", f"ansible_python_interpreter={sys.executable}",
         str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]
    return str(result["msg"])


def broker(node_id: int, rack: str | None = None) -> dict[str, Any]:
    return {"node_id": node_id, "host": f"10.0.0.{node_id}", "port": 9092, "rack": rack}


def cluster(**changes: Any) -> dict[str, Any]:
    """A healthy kafka_cluster_info answer for three brokers, with changes."""
    return {
        "brokers": [broker(1, "eu-west-1a"), broker(2, "eu-west-1b"), broker(3, "eu-west-1c")],
        "fenced_brokers": [],
        "controller_id": 2,
        "topics": {"twitter": {"partitions": 3, "replication_factor": 3, "min_insync_replicas": 2,
                               "under_replicated": 0, "offline": 0, "under_min_isr": 0}},
        "under_replicated_partitions": [],
        "under_min_isr_partitions": [],
        "offline_partitions": [],
        "at_risk_partitions": [],
        **changes,
    }  # fmt: skip


def replica(node_id: int, caught_up: int, lag: int, status: str) -> dict[str, Any]:
    return {"node_id": node_id, "log_end_offset": 100 - lag, "lag": lag,
            "last_fetch_timestamp": caught_up, "last_caught_up_timestamp": caught_up,
            "status": status}  # fmt: skip


def quorum(*replication: dict[str, Any], leader_id: int = 1) -> dict[str, Any]:
    """A kafka_quorum_info answer: voters 1, 2, 3."""
    return {"leader_id": leader_id, "leader_epoch": 4, "high_watermark": 100, "voters": [1, 2, 3],
            "observers": [], "replication": list(replication)}  # fmt: skip


HEALTHY_QUORUM = quorum(
    replica(1, 1_000_000, 0, "Leader"),
    replica(2, 999_800, 0, "Follower"),
    replica(3, 999_900, 1, "Follower"),
)


def test_healthy_kraft_cluster(tmp_path: Path) -> None:
    table = render_table(
        tmp_path,
        {
            "status_cluster": cluster(),
            "status_quorum": HEALTHY_QUORUM,
            "status_metadata_mode": "kraft",
        },
    )
    found = rows(table)
    assert found["brokers"] == ("OK", "3/3 registered in kafka_brokers"), table
    assert found["broker 1"] == ("OK", "10.0.0.1:9092, rack eu-west-1a"), table
    assert found["broker 3"] == ("OK", "10.0.0.3:9092, rack eu-west-1c"), table
    assert found["controller quorum"] == (
        "OK", "leader 1 (epoch 4), voters: 1 leader, 2 lag 0, 3 lag 1; observers: none"
    ), table  # fmt: skip
    assert "controller" not in found  # the ZooKeeper-mode row
    for check in ("under-replicated", "under min ISR", "offline partitions"):
        assert found[check][0] == "OK", (check, table)
    assert "min ISR 2" in found["topics / partitions"][1], table
    assert table.rstrip().endswith("overall: HEALTHY"), table


def test_missing_broker_under_min_isr_and_a_voter_behind(tmp_path: Path) -> None:
    answer = cluster(
        brokers=[broker(1), broker(2)],
        fenced_brokers=[3],
        under_replicated_partitions=["twitter-0", "__consumer_offsets-7"],
        under_min_isr_partitions=["twitter-0"],
    )
    behind = quorum(
        replica(1, 1_000_000, 0, "Leader"),
        replica(2, 999_900, 0, "Follower"),
        replica(3, -1, 90, "Follower"),
    )
    table = render_table(
        tmp_path,
        {"status_cluster": answer, "status_quorum": behind, "status_metadata_mode": "kraft"},
    )
    found = rows(table)
    assert found["brokers"] == ("FAIL", "2/3 registered in kafka_brokers, fenced: 3"), table
    assert found["broker 2"] == ("OK", "10.0.0.2:9092, rack -"), table
    assert found["broker 3"][0] == "FAIL" and "fenced" in found["broker 3"][1], table
    assert found["under-replicated"] == (
        "WARN", "2 (twitter-0, __consumer_offsets-7) with fewer in-sync replicas than replicas"
    ), table  # fmt: skip
    assert found["under min ISR"][0] == "FAIL" and "(twitter-0)" in found["under min ISR"][1]
    assert found["offline partitions"][0] == "OK", table
    # 2 of 3 voters caught up: a majority, so WARN, not FAIL.
    assert found["controller quorum"][0] == "WARN", table
    assert "3 lag 90 behind" in found["controller quorum"][1], table
    assert table.rstrip().endswith("overall: NEEDS ATTENTION"), table


def test_quorum_without_a_caught_up_majority_fails(tmp_path: Path) -> None:
    lost = quorum(
        replica(1, 1_000_000, 0, "Leader"),
        replica(2, 900_000, 400, "Follower"),  # 100 s behind
        replica(3, -1, 90, "Follower"),
    )
    table = render_table(
        tmp_path,
        {"status_cluster": cluster(), "status_quorum": lost, "status_metadata_mode": "kraft"},
    )
    assert rows(table)["controller quorum"][0] == "FAIL", table


def test_offline_partitions_fail(tmp_path: Path) -> None:
    answer = cluster(offline_partitions=["twitter-2"])
    table = render_table(
        tmp_path,
        {
            "status_cluster": answer,
            "status_quorum": HEALTHY_QUORUM,
            "status_metadata_mode": "kraft",
        },
    )
    assert rows(table)["offline partitions"] == ("FAIL", "1 (twitter-2) without a leader"), table


def test_zookeeper_mode_shows_the_controller_and_no_quorum(tmp_path: Path) -> None:
    table = render_table(
        tmp_path, {"status_cluster": cluster(), "status_quorum": {"skipped": True},
                   "status_metadata_mode": "zookeeper"},
    )  # fmt: skip
    found = rows(table)
    assert found["controller"] == ("OK", "broker 2 (ZooKeeper mode)"), table
    assert "controller quorum" not in found, table
    no_controller = render_table(
        tmp_path, {"status_cluster": cluster(controller_id=-1), "status_quorum": {"skipped": True},
                   "status_metadata_mode": "zookeeper"},
    )  # fmt: skip
    assert rows(no_controller)["controller"] == ("FAIL", "none (ZooKeeper mode)"), no_controller


def run_status(broker: Broker, tmp_path: Path, topic: str, **host_vars: str) -> str:
    """playbooks/status.yml for a one-host inventory, the broker on localhost; its output."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "pipeline_host_address": "127.0.0.1", **host_vars}  # fmt: skip
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(
        yaml.safe_dump({"all": {"children": {"kafka_brokers": {"hosts": {"kafka-a": host}}}}})
    )
    # The admin tools' client settings, as the kafka role writes them for an open (plaintext) cluster:
    # the test broker has no TLS listener.
    admin_config = tmp_path / "kafka-admin.properties"
    admin_config.write_text("security.protocol=PLAINTEXT\n")
    run = run_playbook(
        ROOT / "playbooks" / "status.yml",
        "-e", "pipeline_kafka_security=plaintext",
        "-e", f"pipeline_kafka_admin_config={admin_config}",
        "-e", f"pipeline_kafka_port={broker.port}",
        "-e", f"pipeline_admin_venv={Path(sys.executable).parent.parent}",
        "-e", f"pipeline_topic={topic}",
        "-e", "status_fail_on_problem=false",
        inventory=inventory,
    )  # fmt: skip
    assert run.rc == 0, run.output
    return run.output.replace("\\n", "\n")


def test_status_playbook_against_a_real_broker(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    """The real play: the cluster and the quorum asked of the broker's host (localhost here), with
    kafka_home from the inventory and the bootstrap address from pipeline_host_address."""
    run_task(tmp_path, topic_task(kafka_broker, unique_topic, partitions=1, replication_factor=1))
    output = run_status(kafka_broker, tmp_path, unique_topic, kafka_home=str(kafka_broker.home))
    found = rows(output)
    assert found["brokers"] == ("OK", "1/1 registered in kafka_brokers"), output
    assert found["broker 1"] == ("OK", f"127.0.0.1:{kafka_broker.port}, rack -"), output
    assert found["controller quorum"][0] == "OK", output
    assert re.match(r"leader 1 \(epoch \d+\), voters: 1 leader; observers: none$",
                    found["controller quorum"][1]), output  # fmt: skip
    assert found["topics / partitions"][0] == "OK", output
    assert found["offline partitions"][0] == "OK", output
    # kafka_metadata_mode is not in the inventory: the kafka role's default.
    assert "cluster via kafka-a, kraft mode" in output, output


def test_status_playbook_uses_the_kafka_roles_kafka_home(
    kafka_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    """Without kafka_home in the inventory, the play looks where the kafka role installs Kafka."""
    defaults = yaml.safe_load((ROOT / "roles" / "kafka" / "defaults" / "main.yml").read_text())
    if Path(defaults["kafka_home"]).exists():
        pytest.skip(f"{defaults['kafka_home']} exists here: the quorum would answer")
    found = rows(run_status(kafka_broker, tmp_path, unique_topic))
    assert found["controller quorum"][0] == "FAIL", found
    assert f"kafka_home {defaults['kafka_home']}" in found["controller quorum"][1], found
    assert found["brokers"][0] == "OK", found  # the admin client needs no kafka_home
