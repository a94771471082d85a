"""The AWS security groups' ingress rules (roles/aws_network), rendered as the role renders them.

Every port of the pipeline (both metadata modes, the JMX exporters, the Alertmanager cluster) is
open between the groups that need it, and each port is the pipeline role's (one definition).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import ROOT, VENV_BIN

ROLE = ROOT / "roles" / "aws_network"
PREFIX = "kafka-pipeline-dev"
# Lab or test-only ports: no security group needs them.
NOT_ON_AWS = {"pipeline_x_api_double_port"}
# Two ports of which one is in use, pipeline_zookeeper_port (TLS unless plaintext): only that one is opened.
ALTERNATIVES = {"pipeline_zookeeper_client_port", "pipeline_zookeeper_secure_client_port"}


def ingress_rules(tmp_path: Path, *extra_vars: str) -> dict[str, list[dict[str, Any]]]:
    """Inventory group -> its security group's rules, from the role's template and variables."""
    var_files = [ROOT / "roles" / "pipeline" / "defaults" / "main.yml",
                 ROOT / "roles" / "aws_common" / "defaults" / "main.yml",
                 ROLE / "defaults" / "main.yml", ROLE / "vars" / "main.yml"]  # fmt: skip
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(path) for path in var_files],
        "tasks": [{
            "ansible.builtin.debug": {
                "msg": "{{ lookup('ansible.builtin.template', '"
                + str(ROLE / "templates" / "ingress_rules.yml.j2") + "') | from_yaml }}"},
            "loop": "{{ aws_network_groups }}",
        }],
    }  # fmt: skip
    playbook = tmp_path / "rules.yml"
    playbook.write_text(yaml.safe_dump([play]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
           "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit"}  # fmt: skip
    extra = [arg for value in extra_vars for arg in ("-e", value)]
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", *extra, str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["results"]
    return {result["item"]: result["msg"] for result in results}


def allowed(rules: dict[str, list[dict[str, Any]]], group: str) -> set[tuple[str, int, str]]:
    """(proto, port, source group) of the rules into group's security group."""
    return {
        (rule["proto"], port, rule["group_name"].removeprefix(f"{PREFIX}-"))
        for rule in rules[group]
        if "group_name" in rule
        for port in rule["ports"]
    }


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    return ingress_rules(tmp_path_factory.mktemp("aws-network"))


def test_every_pipeline_port_is_open_somewhere(rules: dict[str, list[dict[str, Any]]]) -> None:
    """By name (two services may share a number): pipeline_<name>_port is the port <name> of
    aws_network_ports, which each rule names in its description ("<name> from <group>")."""
    defaults = yaml.safe_load((ROOT / "roles" / "pipeline" / "defaults" / "main.yml").read_text())
    names = {
        var.removeprefix("pipeline_").removesuffix("_port")
        for var in defaults
        if var.startswith("pipeline_") and var.endswith("_port") and var not in NOT_ON_AWS | ALTERNATIVES
    }
    opened = {
        rule["rule_desc"].split(" ")[0] for group_rules in rules.values() for rule in group_rules
    }
    assert names - opened == set(), "pipeline ports no security group opens"


def test_both_metadata_modes(rules: dict[str, list[dict[str, Any]]]) -> None:
    brokers, controllers = allowed(rules, "kafka_brokers"), allowed(rules, "kafka_controllers")
    zookeeper = allowed(rules, "zookeeper")
    # KRaft: combined nodes (broker group) and dedicated controllers, each reached by the brokers.
    assert ("tcp", 9093, "kafka_brokers") in brokers
    assert {("tcp", 9093, "kafka_controllers"), ("tcp", 9093, "kafka_brokers")} <= controllers
    assert ("tcp", 9092, "kafka_controllers") in brokers  # the admin modules on a controller
    # The TLS listener of a secured cluster: brokers among themselves, admin modules on any node.
    assert {("tcp", 9091, "kafka_brokers"), ("tcp", 9091, "kafka_controllers")} <= brokers
    assert {("tcp", 7071, "monitoring"), ("tcp", 9100, "monitoring")} <= controllers
    # ZooKeeper mode: the brokers reach the ensemble's TLS client port, which talks to itself; the
    # plaintext client port is closed.
    assert {("tcp", 2182, "kafka_brokers"), ("tcp", 2888, "zookeeper"),
            ("tcp", 3888, "zookeeper"), ("tcp", 7072, "monitoring")} <= zookeeper  # fmt: skip
    assert not any(port == 2181 for _, port, _ in zookeeper)


def test_plaintext_opens_the_plaintext_zookeeper_port(tmp_path: Path) -> None:
    zookeeper = allowed(ingress_rules(tmp_path, "pipeline_kafka_security=plaintext"), "zookeeper")
    assert ("tcp", 2181, "kafka_brokers") in zookeeper
    assert not any(port == 2182 for _, port, _ in zookeeper)


def test_monitoring_hosts_reach_each_other(rules: dict[str, list[dict[str, Any]]]) -> None:
    monitoring = allowed(rules, "monitoring")
    assert {("tcp", 9090, "monitoring"), ("tcp", 9093, "monitoring"), ("tcp", 9094, "monitoring"),
            ("udp", 9094, "monitoring")} <= monitoring  # fmt: skip


def test_ports_come_from_the_pipeline_role(tmp_path: Path) -> None:
    moved = ingress_rules(
        tmp_path, "pipeline_kafka_controller_port=19093", "pipeline_alertmanager_cluster_port=19094"
    )
    assert ("tcp", 19093, "kafka_brokers") in allowed(moved, "kafka_controllers")
    assert ("udp", 19094, "monitoring") in allowed(moved, "monitoring")
    assert not any(port == 9093 for _, port, _ in allowed(moved, "kafka_controllers"))
