"""The monitoring host's Prometheus files, rendered the way the prometheus role renders them.

The alert rules rendered with the role's defaults and an inventory of three brokers must pass
`promtool check rules` and the unit tests in roles/prometheus/files/tests (`promtool test rules`;
the only place they run: the pipeline scenario's verify does not repeat them), and every alert
must be tested; the scrape configuration must list the inventory groups' hosts. promtool comes
from Debian's `prometheus` package (scripts/bootstrap unpacks it into .venv/bin; or set
PROMTOOL); without it those tests fail rather than skip.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, VENV_BIN

ROLE = ROOT / "roles" / "prometheus"
RULE_TESTS = ROLE / "files" / "tests" / "pipeline.rules.test.yml"
PROMTOOL = os.environ.get("PROMTOOL") or shutil.which("promtool")
needs_promtool = pytest.mark.usefixtures("promtool_available")


@pytest.fixture
def promtool_available() -> None:
    """promtool is required, not optional: scripts/bootstrap puts it in .venv/bin."""
    assert PROMTOOL, "promtool not found: run scripts/bootstrap (or set PROMTOOL)"


INVENTORY = """\
all:
  children:
    zookeeper: {hosts: {zk1: {}, zk2: {}, zk3: {}}}
    kafka_brokers: {hosts: {kafka1: {}, kafka2: {}, kafka3: {pipeline_host_address: 10.0.0.13}}}
    producers: {hosts: {producer1: {}}}
    monitoring: {hosts: {monitor1: {}}}
"""


def render(
    template: str, dest: Path, inventory: Path | None = None, extra_vars: dict[str, str] | None = None
) -> Path:
    """Renders one of the role's templates with ansible.builtin.template and the role's vars
    (given as extra vars, so extra_vars, given last, are the only way to change them)."""
    cmd = [
        str(VENV_BIN / "ansible"), "localhost", "-c", "local",
        "-i", str(inventory) if inventory else "localhost,",
        "-m", "ansible.builtin.template", "-a", f"src={ROLE / 'templates' / template} dest={dest}",
        "-e", f"@{ROOT / 'roles' / 'pipeline' / 'defaults' / 'main.yml'}",
        "-e", f"@{ROOT / 'roles' / 'pipeline' / 'vars' / 'main.yml'}",
        "-e", f"@{ROLE / 'defaults' / 'main.yml'}",
        "-e", f"@{ROLE / 'vars' / 'main.yml'}",
        "-e", f"ansible_python_interpreter={sys.executable}",
        *(["-e", json.dumps(extra_vars)] if extra_vars else []),
    ]  # fmt: skip
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    proc = subprocess.run(
        cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return dest


@pytest.fixture(scope="module")
def rules_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The rules rendered for INVENTORY (three brokers), next to their unit tests."""
    work = tmp_path_factory.mktemp("rules")
    inventory = work / "hosts.yml"
    inventory.write_text(INVENTORY)
    render("pipeline.rules.yml.j2", work / "pipeline.rules.yml", inventory)
    shutil.copy(RULE_TESTS, work / RULE_TESTS.name)
    return work


def promtool(*args: str, cwd: Path) -> str:
    assert PROMTOOL
    proc = subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


@needs_promtool
def test_rules_pass_promtool_check(rules_dir: Path) -> None:
    assert "SUCCESS" in promtool("check", "rules", "pipeline.rules.yml", cwd=rules_dir)


@needs_promtool
def test_rule_unit_tests_pass(rules_dir: Path) -> None:
    assert "SUCCESS" in promtool("test", "rules", RULE_TESTS.name, cwd=rules_dir)


def alert_rules(rules_file: Path) -> dict[str, dict[str, object]]:
    rules = yaml.safe_load(rules_file.read_text())
    return {
        rule["alert"]: rule
        for group in rules["groups"]
        for rule in group["rules"]
        if "alert" in rule
    }


def test_broker_count_comes_from_the_inventory(rules_dir: Path) -> None:
    expr = str(alert_rules(rules_dir / "pipeline.rules.yml")["KafkaBrokersMissing"]["expr"])
    assert "instance=~`kafka1|kafka2|kafka3`" in expr and expr.endswith("< 3"), expr


@needs_promtool
def test_rules_without_brokers_skip_the_broker_count(tmp_path: Path) -> None:
    """No broker in the inventory (Amazon MSK): no broker count to compare with."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text("all:\n  children:\n    monitoring: {hosts: {monitor1: {}}}\n")
    rules_file = render("pipeline.rules.yml.j2", tmp_path / "pipeline.rules.yml", inventory)
    alerts = alert_rules(rules_file)
    assert "KafkaBrokersMissing" not in alerts and "KafkaNoActiveController" in alerts
    assert "SUCCESS" in promtool("check", "rules", rules_file.name, cwd=tmp_path)


def test_every_alert_has_a_firing_test(rules_dir: Path) -> None:
    rules = yaml.safe_load((rules_dir / "pipeline.rules.yml").read_text())
    alerts = {
        rule["alert"] for group in rules["groups"] for rule in group["rules"] if "alert" in rule
    }
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    fired = {
        case["alertname"]
        for test in tests
        for case in test["alert_rule_test"]
        if case["exp_alerts"]
    }
    assert alerts - fired == set(), "alerts without a test that makes them fire"
    assert {"HostDown", "KafkaBrokerDown", "ZooKeeperNotServing", "ConsumerLagHigh"} <= alerts
    assert {
        "KafkaUnderMinIsrPartitions",
        "KafkaNoActiveController",
        "KafkaBrokersMissing",
    } <= alerts


def test_scrape_targets_come_from_the_inventory_groups(tmp_path: Path) -> None:
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY)
    config = yaml.safe_load(
        render("prometheus.yml.j2", tmp_path / "prometheus.yml", inventory).read_text()
    )
    jobs = {
        job["job_name"]: {
            group["labels"]["instance"]: group["targets"][0] for group in job["static_configs"]
        }
        for job in config["scrape_configs"]
    }
    assert jobs["kafka"] == {
        "kafka1": "kafka1:7071",
        "kafka2": "kafka2:7071",
        "kafka3": "10.0.0.13:7071",
    }
    assert jobs["zookeeper"] == {f"zk{i}": f"zk{i}:7072" for i in (1, 2, 3)}
    assert jobs["producer"] == {"producer1": "producer1:8000"}
    # No consumer hosts yet: an empty job, scraped once the group has hosts.
    assert jobs["consumer"] == {}
    assert set(jobs["node"]) == {
        "zk1",
        "zk2",
        "zk3",
        "kafka1",
        "kafka2",
        "kafka3",
        "producer1",
        "monitor1",
    }
    assert jobs["prometheus"] == {"monitor1": "monitor1:9090"}
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "monitor1:9093"
    ]
    assert config["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    # Every target and Alertmanager over TLS, verified with the CA, as the monitoring user.
    secured = {
        "scheme": "https",
        "tls_config": {"ca_file": "/etc/kafka-pipeline/tls/ca.crt"},
        "basic_auth": {"username": "prometheus", "password_file": "/etc/prometheus/monitoring.password"},
    }
    for client in [*config["scrape_configs"], *config["alerting"]["alertmanagers"]]:
        assert {key: client.get(key) for key in secured} == secured, client


def test_the_open_monitoring_plane_scrapes_plain_http(tmp_path: Path) -> None:
    """pipeline_monitoring_security http: the seed's layout, no TLS and no credentials."""
    inventory = tmp_path / "hosts.yml"
    inventory.write_text(INVENTORY)
    config = yaml.safe_load(
        render(
            "prometheus.yml.j2",
            tmp_path / "prometheus.yml",
            inventory,
            {"pipeline_monitoring_security": "http"},
        ).read_text()
    )
    for client in [*config["scrape_configs"], *config["alerting"]["alertmanagers"]]:
        assert client["scheme"] == "http" and "tls_config" not in client and "basic_auth" not in client
