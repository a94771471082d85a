"""site.yml rejects bad settings in its preflight play, naming the variable, before any host changes."""

from __future__ import annotations

import json
import re

import pytest
import yaml

from conftest import ROOT, run_playbook

INVENTORY = ROOT / "tests" / "inventories" / "validation"
# A second inventory source that adds an (unreachable) monitoring host, monitor1.
MONITORING = ROOT / "tests" / "inventories" / "monitoring.yml"
# A second inventory source that adds broker2, pinned to broker1's node id.
SECOND_BROKER = ROOT / "tests" / "inventories" / "second_broker.yml"
# A second inventory source that adds an (unreachable) producer host and consumer host.
CLIENTS = ROOT / "tests" / "inventories" / "clients.yml"


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


def test_the_open_monitoring_plane_passes_with_a_warning() -> None:
    """pipeline_monitoring_security http is allowed, loudly, like Kafka's open layout."""
    rc, output = site({"pipeline_monitoring_security": "http"})
    assert rc != 0
    assert recap(output)["unreachable"] == 1 and recap(output)["failed"] == 0, output
    assert re.search(r"\[WARNING\]: pipeline_monitoring_security is 'http'", output), output
    _, secured = site()
    assert "pipeline_monitoring_security is 'http'" not in secured, secured


def test_an_unknown_monitoring_security_is_refused() -> None:
    """The argument spec names the choices before anything changes."""
    rc, output = site({"pipeline_monitoring_security": "tls"})
    assert_stopped_by_validation(rc, output, "pipeline_monitoring_security")


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
        # SCRAM only: the brokers enable that mechanism and the users get its credential.
        ({"pipeline_kafka_sasl_mechanism": "PLAIN"}, "pipeline_kafka_sasl_mechanism"),
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


def test_the_clients_pass_the_preflight() -> None:
    """The control of the settings-owner checks: the roles' own settings pass on both client hosts."""
    run = run_playbook(ROOT / "site.yml", "-i", str(CLIENTS), inventory=INVENTORY)
    for host in ("producer1", "consumer1"):
        assert recap(run.output, host)["failed"] == 0, run.output


@pytest.mark.parametrize(
    ("settings", "host", "named"),
    [
        ({"producer_settings": {"producer": {"topic": "other"}}}, "producer1", "pipeline_topic"),
        ({"producer_settings": {"kafka": {"client_id": "mine"}}}, "producer1", "kafka.client_id"),
        # The Kafka login is the tweet_app role's: the security keys are refused too.
        ({"producer_settings": {"kafka": {"security_protocol": "PLAINTEXT"}}}, "producer1",
         "pipeline_kafka_security"),
        ({"producer_settings": {"kafka": {"sasl_mechanism": "SCRAM-SHA-256"}}}, "producer1",
         "pipeline_kafka_sasl_mechanism"),
        ({"consumer_settings": {"kafka": {"ssl_cafile": "/tmp/ca.crt"}}}, "consumer1", "pipeline_tls_ca_file"),
        ({"consumer_settings": {"sinks": {"s3": {"region": "eu-west-1"}}}}, "consumer1", "consumer_s3_region"),
        # So is the metrics endpoint's security.
        ({"consumer_settings": {"metrics": {"basic_auth_user": "anyone"}}}, "consumer1", "pipeline_monitoring_user"),
    ],
)
def test_settings_leave_the_roles_keys_to_their_variables(
    settings: dict[str, object], host: str, named: str
) -> None:
    args = ["-i", str(CLIENTS), "-e", json.dumps(settings)]
    run = run_playbook(ROOT / "site.yml", *args, inventory=INVENTORY)
    assert_stopped_by_validation(run.rc, run.output, named, host=host)
    assert "not here" in run.output, run.output


def test_every_key_of_the_kafka_login_has_an_owner() -> None:
    """The keys the tweet_app role writes into [kafka] (SCRAM and MSK IAM logins) are all refused."""
    tweet_app = yaml.safe_load((ROOT / "roles" / "tweet_app" / "vars" / "main.yml").read_text())
    written = set(tweet_app["tweet_app_kafka_security_config"]["kafka"])
    written |= set(tweet_app["tweet_app_kafka_msk_iam_config"]["kafka"])
    owned = {
        owner["key"] for owner in tweet_app["tweet_app_kafka_login_owners"] if owner["table"] == ["kafka"]
    }
    assert written - owned == set()


def test_every_key_of_the_metrics_security_has_an_owner() -> None:
    """The keys the tweet_app role writes into [metrics] (TLS, basic auth, address) are all refused."""
    tweet_app = yaml.safe_load((ROOT / "roles" / "tweet_app" / "vars" / "main.yml").read_text())
    written = set(tweet_app["tweet_app_metrics_security_config"]["metrics"])
    owned = {owner["key"] for owner in tweet_app["tweet_app_metrics_owners"] if owner["table"] == ["metrics"]}
    assert written and written - owned == set()
