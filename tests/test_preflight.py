"""site.yml rejects bad settings in its preflight play, naming the variable, before any host changes."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, run_playbook

INVENTORY = ROOT / "tests" / "inventories" / "validation"
# A second inventory source that adds an (unreachable) monitoring host, monitor1.
MONITORING = ROOT / "tests" / "inventories" / "monitoring.yml"
# A second inventory source that adds broker2, pinned to broker1's node id.
SECOND_BROKER = ROOT / "tests" / "inventories" / "second_broker.yml"


def site(*extra_vars: dict[str, object]) -> tuple[int, str]:
    args = [arg for ev in extra_vars for arg in ("-e", json.dumps(ev))]
    run = run_playbook(ROOT / "site.yml", *args, inventory=INVENTORY)
    return run.rc, run.output


def site_cli(*pairs: str, monitoring: bool = False) -> tuple[int, str]:
    """site.yml with `-e name=value` pairs: what an operator types, and what arrives as strings."""
    args = [arg for pair in pairs for arg in ("-e", pair)]
    if monitoring:
        args += ["-i", str(MONITORING)]
    run = run_playbook(ROOT / "site.yml", *args, inventory=INVENTORY)
    return run.rc, run.output


def recap(output: str, host: str = "broker1") -> dict[str, int]:
    match = re.search(host + r"\s+:\s+(.*)", output.split("PLAY RECAP")[-1])
    assert match, output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def assert_stopped_by_validation(rc: int, output: str, named: str, host: str = "broker1") -> None:
    """Failed in the preflight, on that host, naming the variable; nothing changed or contacted."""
    assert rc != 0
    assert named in output, output
    counts = recap(output, host)
    assert counts["failed"] == 1 and counts["changed"] == 0, output
    assert counts["unreachable"] == 0, output
    assert "Gathering Facts" not in output, output


def test_the_open_layout_passes_with_a_warning() -> None:
    """pipeline_kafka_security plaintext is allowed, loudly: Ansible's own [WARNING], then on."""
    rc, output = site({"pipeline_kafka_security": "plaintext"})
    assert rc != 0
    assert recap(output)["unreachable"] == 1 and recap(output)["failed"] == 0, output
    assert re.search(r"\[WARNING\]: pipeline_kafka_security is 'plaintext'", output), output
    _, secured = site()
    assert "pipeline_kafka_security is 'plaintext'" not in secured, secured


def test_valid_settings_pass_the_preflight() -> None:
    """The control: valid settings get past validation and only then fail, on the unreachable host."""
    rc, output = site()
    assert rc != 0
    assert recap(output)["unreachable"] == 1, output
    assert "Preflight" in output and recap(output)["failed"] == 0, output


@pytest.mark.parametrize(
    ("extra_vars", "named"),
    [
        ({"kafka_metadata_mode": "banana"}, "kafka_metadata_mode"),
        ({"kafka_version": "4.0.0", "kafka_metadata_mode": "zookeeper"}, "kafka_metadata_mode"),
        ({"kafka_topics_replication_factor": 3}, "kafka_topics_replication_factor"),
        ({"kafka_default_replication_factor": 2}, "kafka_default_replication_factor"),
        ({"kafka_archive_source": "local", "kafka_archive_local_path": "/nonexistent.tgz"},
         "kafka_archive_local_path"),
        ({"zookeeper_4lw_whitelist": ["ruok", "banana"]}, "zookeeper_4lw_whitelist"),
        ({"kafka_topics_list": [{"name": "twitter", "partitions": "many", "replication_factor": 1}]},
         "partitions"),
        ({"pipeline_kafka_security": "tls"}, "pipeline_kafka_security"),
        ({"pipeline_zookeeper_secure_client_port": 2888}, "pipeline_zookeeper_secure_client_port"),
        ({"pipeline_kafka_internal_port": 9093}, "pipeline_kafka_internal_port"),
        ({"pipeline_kafka_passwords": {"producer": ""}}, "pipeline_kafka_passwords"),
        # Amazon MSK with IAM logins needs the cluster's brokers and region (playbooks/aws/msk.yml).
        ({"pipeline_kafka_security": "msk_iam"}, "pipeline_kafka_aws_region"),
    ],
)
def test_bad_settings_fail_before_any_change(extra_vars: dict[str, object], named: str) -> None:
    rc, output = site(extra_vars)
    assert rc != 0
    failures = [line for line in output.splitlines() if "fatal:" in line or "msg" in line]
    assert named in output, output
    counts = recap(output)
    assert counts["failed"] == 1 and counts["changed"] == 0, output
    # Stopped by validation: no host was contacted.
    assert counts["unreachable"] == 0, failures
    assert "Gathering Facts" not in output, output


def test_string_extra_vars_of_the_right_type_pass_the_preflight() -> None:
    """-e name=value gives strings; the specs accept them, and the checks convert before comparing."""
    rc, output = site_cli(
        "kafka_log_retention_hours=100", "kafka_log_retention_hours=-1", "kafka_num_partitions=6",
        "kafka_auto_create_topics=false", "kafka_systemd_hardening=no", "kafka_limit_nofile=65536",
        "kafka_topics_partitions=6", "kafka_topics_retention_ms=-1", "zookeeper_tick_time=3000",
        "zookeeper_autopurge_purge_interval=0", "pipeline_kafka_port=19092",
        "prometheus_alert_disk_free_percent=15", "pipeline_alertmanager_cluster_port=19094",
        "alertmanager_send_resolved=false",
        monitoring=True,
    )
    assert rc != 0
    assert recap(output)["unreachable"] == 1, output
    assert recap(output)["failed"] == 0 and recap(output, "monitor1")["failed"] == 0, output


@pytest.mark.parametrize(
    ("pair", "named"),
    [
        ("kafka_log_retention_hours=-5", "kafka_log_retention_hours"),
        ("kafka_log_retention_hours=0", "kafka_log_retention_hours"),
        ("kafka_num_partitions=0", "kafka_num_partitions"),
        ("kafka_min_insync_replicas=0", "kafka_min_insync_replicas"),
        ("kafka_start_timeout=0", "kafka_start_timeout"),
        ("kafka_heap_size=1gb", "kafka_heap_size"),
        ("kafka_cluster_id=abc", "kafka_cluster_id"),
        ("kafka_zookeeper_chroot=kafka/", "kafka_zookeeper_chroot"),
        ("pipeline_kafka_port=70000", "pipeline_kafka_port"),
        ("zookeeper_tick_time=0", "zookeeper_tick_time"),
        ("zookeeper_init_limit=0", "zookeeper_init_limit"),
        ("zookeeper_sync_limit=-1", "zookeeper_sync_limit"),
        ("zookeeper_autopurge_snap_retain_count=1", "zookeeper_autopurge_snap_retain_count"),
        ("zookeeper_heap_size=lots", "zookeeper_heap_size"),
        ("pipeline_zookeeper_peer_port=2181", "pipeline_zookeeper_peer_port"),
        ("kafka_topics_partitions=0", "kafka_topics_partitions"),
        ("kafka_topics_replication_factor=0", "kafka_topics_replication_factor"),
        ("kafka_topics_retention_ms=-5", "kafka_topics_retention_ms"),
        ("pipeline_kafka_jmx_exporter_port=0", "pipeline_kafka_jmx_exporter_port"),
        ("pipeline_node_exporter_port=65536", "pipeline_node_exporter_port"),
    ],
)
def test_out_of_range_cli_values_fail_naming_the_variable(pair: str, named: str) -> None:
    assert_stopped_by_validation(*site_cli(pair), named)


def test_kraft_node_ids_must_be_unique() -> None:
    """A second broker pinned to the first one's node id: both would claim one voter's id."""
    run = run_playbook(ROOT / "site.yml", "-i", str(SECOND_BROKER), inventory=INVENTORY)
    assert_stopped_by_validation(run.rc, run.output, "kafka_node_id", host="broker2")


def test_kraft_needs_controllers() -> None:
    """KRaft mode (the default) with an empty controllers group stops, naming the group."""
    rc, output = site_cli("pipeline_kafka_controller_group=no_such_group")
    assert_stopped_by_validation(rc, output, "no_such_group")


@pytest.mark.parametrize(
    ("pair", "named"),
    [
        ("prometheus_alert_disk_free_percent=150", "prometheus_alert_disk_free_percent"),
        ("prometheus_limit_nofile=10", "prometheus_limit_nofile"),
        ("pipeline_alertmanager_cluster_port=0", "pipeline_alertmanager_cluster_port"),
        ("alertmanager_group_wait=soon", "alertmanager_group_wait"),
        # A string port from the command line is still compared as a number: 9093 is Alertmanager's.
        ("pipeline_prometheus_port=9093", "pipeline_prometheus_port"),
    ],
)
def test_out_of_range_monitoring_values_fail_naming_the_variable(pair: str, named: str) -> None:
    rc, output = site_cli(pair, monitoring=True)
    assert_stopped_by_validation(rc, output, named, host="monitor1")
