"""The validate commands of the kafka and zookeeper roles' template tasks, run for real.

Each test renders a role's template with the role's own template task (its arguments, validate
included, are read from the role's tasks file; only the destination is redirected to a temporary
directory) on localhost, against the real Kafka distribution (and promtool for the prometheus
role): what Kafka or the check accepts is written, and a rejected file fails the task and leaves the
file already there untouched.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT, VENV_BIN

VARS_FILES = [
    f"roles/{role}/{kind}/main.yml"
    for role in ("pipeline", "kafka", "zookeeper", "prometheus")
    for kind in ("defaults", "vars")
    if (ROOT / "roles" / role / kind / "main.yml").exists()
]
BROKERS = {"broker1": None, "broker2": None, "broker3": None}
# Three nodes running broker and KRaft controller in one process (or, in ZooKeeper mode, a broker
# and a ZooKeeper node each).
INVENTORY = {
    "all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "children": {
            "zookeeper": {"hosts": BROKERS},
            "kafka_brokers": {"hosts": BROKERS},
            "kafka_controllers": {"hosts": BROKERS},
            "monitoring": {"hosts": {"broker1": None}},
        },
    }
}
# Dedicated KRaft controllers (the production layout): three controllers, three brokers.
DEDICATED = {
    "all": {
        "vars": INVENTORY["all"]["vars"],
        "children": {
            "kafka_brokers": {"hosts": BROKERS},
            "kafka_controllers": {"hosts": {"controller1": None, "controller2": None, "controller3": None}},
        },
    }
}
# The roles' configuration checkers, and the module they import from their own directory.
CHECKERS = {
    "kafka_config_check": ROOT / "roles/kafka/files/kafka_config_check.py",
    "zookeeper_config_check": ROOT / "roles/zookeeper/files/zookeeper_config_check.py",
}
SHARED_MODULE = ROOT / "roles/common/files/java_properties.py"
# From Debian's prometheus package: scripts/bootstrap unpacks it into .venv/bin (or set PROMTOOL).
PROMTOOL = os.environ.get("PROMTOOL") or shutil.which("promtool") or shutil.which("promtool", path=str(VENV_BIN))


def role_task(role: str, name: str) -> dict[str, Any]:
    """The template arguments of one named task of a role's configure.yml (or configure_files.yml, the full pass
    it includes when the files differ from their record)."""
    tasks = [
        task
        for name in ("configure.yml", "configure_files.yml")
        if (ROOT / "roles" / role / "tasks" / name).exists()
        for task in yaml.safe_load((ROOT / "roles" / role / "tasks" / name).read_text())
    ]
    (task,) = [task for task in tasks if task.get("name") == name]
    args = dict(task["ansible.builtin.template"])
    if args.get("validate", "").startswith("promtool "):
        assert PROMTOOL, "promtool not found: run scripts/bootstrap (or set PROMTOOL)"
        args["validate"] = PROMTOOL + args["validate"][len("promtool"):]
    return args


def installed_checkers(directory: Path) -> dict[str, str]:
    """The checkers as the roles install them: in one directory, beside their shared module."""
    directory.mkdir(exist_ok=True)
    for source in (*CHECKERS.values(), SHARED_MODULE):
        shutil.copy(source, directory)
    return {variable: str(directory / path.name) for variable, path in CHECKERS.items()}


def render(tmp_path: Path, role: str, name: str, dest: str, kafka_home: Path, host: str = "broker1",
           inventory: dict[str, Any] = INVENTORY, **extra_vars: Any) -> tuple[bool, str]:
    """Run the role's template task on `host` into tmp_path/dest; (succeeded, output)."""
    args = role_task(role, name)
    args.pop("owner", None)
    args.pop("group", None)
    args["src"] = f"{ROOT}/roles/{role}/templates/" + args["src"]  # src may be an expression
    args["dest"] = str(tmp_path / dest)
    play = [{"hosts": host, "gather_facts": False, "vars_files": [str(ROOT / f) for f in VARS_FILES],
             "tasks": [{"name": name, "ansible.builtin.template": args}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    # kafka_quorum is a fact the role sets from the formatted storage (tasks/storage_ids.yml).
    variables = {"kafka_home": str(kafka_home), "kafka_quorum": "dynamic",
                 **installed_checkers(tmp_path / "config-check"), **extra_vars}
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
         "-e", json.dumps(variables), str(tmp_path / "play.yml")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
    )
    return proc.returncode == 0, proc.stdout + proc.stderr


@pytest.fixture(scope="session")
def zookeeper_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kafka role's ZooKeeper-mode release (3.9), assembled by scripts/build-kafka-dist (cached)."""
    build = subprocess.run([str(ROOT / "scripts" / "build-kafka-dist"), "zookeeper"],
                           capture_output=True, text=True, timeout=1200, check=True)
    target = tmp_path_factory.mktemp("kafka-zookeeper-dist")
    with tarfile.open(build.stdout.strip()) as tar:
        tar.extractall(target, filter="data")
    return next(target.iterdir())


@pytest.fixture(params=["kraft", "zookeeper"])
def mode_dist(request: pytest.FixtureRequest, kafka_dist: Path) -> tuple[str, Path]:
    """Each metadata mode with its Kafka release: KRaft on Kafka 4, ZooKeeper mode on 3.9."""
    if request.param == "kraft":
        return "kraft", kafka_dist
    return "zookeeper", request.getfixturevalue("zookeeper_dist")


def properties_of(path: Path) -> dict[str, str]:
    return dict(
        line.split("=", 1) for line in path.read_text().splitlines() if line and not line.startswith("#")
    )


@pytest.mark.parametrize(
    ("mode", "security", "mechanism"),
    [("kraft", "sasl_ssl", "SCRAM-SHA-512"), ("kraft", "sasl_ssl", "SCRAM-SHA-256"),
     ("kraft", "plaintext", "SCRAM-SHA-512"), ("zookeeper", "sasl_ssl", "SCRAM-SHA-512"),
     ("zookeeper", "plaintext", "SCRAM-SHA-512")],
)  # fmt: skip
def test_kafka_accepts_the_rendered_server_properties(
    tmp_path: Path, request: pytest.FixtureRequest, mode: str, security: str, mechanism: str
) -> None:
    """Each metadata mode, secured (TLS, SCRAM, ACLs; in ZooKeeper mode TLS to ZooKeeper and znode ACLs
    too) and open; the clients' SCRAM mechanism is pipeline_kafka_sasl_mechanism's."""
    dist = request.getfixturevalue("kafka_dist" if mode == "kraft" else "zookeeper_dist")
    ok, output = render(tmp_path, "kafka", "Write server.properties", "server.properties", dist,
                        kafka_metadata_mode=mode, pipeline_kafka_security=security,
                        pipeline_kafka_sasl_mechanism=mechanism)
    assert ok, output
    assert f"node 1 ({mode} mode)" in (tmp_path / "server.properties").read_text()
    properties = properties_of(tmp_path / "server.properties")
    if security == "plaintext":
        assert properties["listeners"].startswith("PLAINTEXT://0.0.0.0:9092")
        assert "authorizer.class.name" not in properties and "super.users" not in properties
        return
    if mode == "zookeeper":
        assert properties["listeners"] == "CLIENT://0.0.0.0:9092,INTERNAL://0.0.0.0:9091"
        assert properties["authorizer.class.name"] == "kafka.security.authorizer.AclAuthorizer"
        assert properties["zookeeper.connect"] == "broker1:2182,broker2:2182,broker3:2182"
        assert properties["zookeeper.ssl.client.enable"] == "true"
        assert properties["zookeeper.ssl.keystore.location"] == "/etc/kafka-pipeline/tls/kafka-zookeeper.pem"
        assert properties["zookeeper.set.acl"] == "true"
    else:
        assert "zookeeper.ssl.client.enable" not in properties
        assert properties["listeners"] == "CLIENT://0.0.0.0:9092,INTERNAL://0.0.0.0:9091,CONTROLLER://0.0.0.0:9093"
        assert properties["listener.name.controller.ssl.client.auth"] == "required"
    assert properties["listener.security.protocol.map"] == "CLIENT:SASL_SSL,INTERNAL:SSL,CONTROLLER:SSL"
    assert properties["inter.broker.listener.name"] == "INTERNAL"
    assert properties["listener.name.internal.ssl.client.auth"] == "required"
    assert properties["listener.name.controller.ssl.client.auth"] == "required"
    assert properties["sasl.enabled.mechanisms"] == mechanism
    assert f"listener.name.client.{mechanism.lower()}.sasl.jaas.config" in properties
    assert properties["allow.everyone.if.no.acl.found"] == "false"
    assert properties["super.users"] == "User:kafka-node"
    assert properties["ssl.principal.mapping.rules"] == (
        "RULE:^CN=[^,]+,OU=kafka,O=kafka-pipeline$/kafka-node/,DEFAULT"
    )


def test_kafka_accepts_the_rendered_logging_configuration(tmp_path: Path, mode_dist: tuple[str, Path]) -> None:
    mode, dist = mode_dist
    dest = "log4j2.yaml" if mode == "kraft" else "log4j.properties"
    ok, output = render(tmp_path, "kafka", "Write the logging configuration", dest, dist, kafka_metadata_mode=mode)
    assert ok, output
    assert (tmp_path / dest).exists()


@pytest.mark.parametrize("quorum", ["dynamic", "static"])
@pytest.mark.parametrize(
    ("host", "roles", "listeners", "advertised"),
    [
        ("controller1", "controller", "CONTROLLER://0.0.0.0:9093", "CONTROLLER://controller1:9093"),
        ("broker1", "broker", "CLIENT://0.0.0.0:9092,INTERNAL://0.0.0.0:9091",
         "CLIENT://broker1:9092,INTERNAL://broker1:9091"),
    ],
)
def test_kafka_accepts_dedicated_controllers_and_brokers(
    tmp_path: Path, kafka_dist: Path, host: str, roles: str, listeners: str, advertised: str, quorum: str
) -> None:
    """The production layout: controllers and brokers on separate hosts, node ids controllers first. A
    dynamic quorum finds its voters through controller.quorum.bootstrap.servers, and each controller
    advertises its endpoint (add-controller registers it); a static one lists them as voters."""
    ok, output = render(tmp_path, "kafka", "Write server.properties", "server.properties", kafka_dist,
                        host=host, inventory=DEDICATED, kafka_quorum=quorum)
    assert ok, output
    properties = dict(
        line.split("=", 1) for line in (tmp_path / "server.properties").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert properties["process.roles"] == roles
    assert properties["listeners"] == listeners
    assert properties["node.id"] == ("1" if host == "controller1" else "4")
    if quorum == "dynamic":
        assert "controller.quorum.voters" not in properties
        assert properties["controller.quorum.bootstrap.servers"] == "controller1:9093,controller2:9093,controller3:9093"
        assert properties["advertised.listeners"] == advertised
    else:
        assert "controller.quorum.bootstrap.servers" not in properties
        assert properties["controller.quorum.voters"] == "1@controller1:9093,2@controller2:9093,3@controller3:9093"
        assert ("advertised.listeners" in properties) == (roles == "broker")


# A ZooKeeper-mode cluster on its way to KRaft: three brokers (each beside a ZooKeeper node) and three
# dedicated controllers, numbered after the brokers (they keep their broker.id).
MIGRATION = {
    "all": {
        "vars": INVENTORY["all"]["vars"],
        "children": {
            "zookeeper": {"hosts": BROKERS},
            "kafka_brokers": {"hosts": BROKERS},
            "kafka_controllers": {"hosts": {"controller1": None, "controller2": None, "controller3": None}},
        },
    }
}
MIGRATION_VOTERS = "4@controller1:9093,5@controller2:9093,6@controller3:9093"


@pytest.mark.parametrize(
    "phase", ["controllers", "brokers_migrating", "brokers_kraft", "finalized", "zookeeper_retired"]
)
@pytest.mark.parametrize("host", ["broker1", "controller1"])
def test_kafka_accepts_each_phase_of_a_migration(
    tmp_path: Path, zookeeper_dist: Path, phase: str, host: str
) -> None:
    """Kafka 3.9 accepts the settings of each node in each phase of playbooks/migrate_to_kraft.yml, and each
    has what Kafka's migration guide asks of it there: the brokers keep ZooKeeper mode until their KRaft phase,
    with the migration flag and the controllers' voters in between; the controllers copy (and keep writing)
    ZooKeeper's metadata until finalized."""
    ok, output = render(tmp_path, "kafka", "Write server.properties", "server.properties", zookeeper_dist,
                        host=host, inventory=MIGRATION, kafka_quorum="static", kafka_metadata_mode="zookeeper",
                        pipeline_kafka_migration_phase=phase)
    assert ok, output
    properties = properties_of(tmp_path / "server.properties")
    step = ["controllers", "brokers_migrating", "brokers_kraft", "finalized", "zookeeper_retired"].index(phase) + 1
    if host == "controller1":
        assert properties["process.roles"] == "controller"
        assert properties["node.id"] == "4"
        assert properties["controller.quorum.voters"] == MIGRATION_VOTERS
        assert properties["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        migrating = step <= 3
        assert ("zookeeper.metadata.migration.enable" in properties) == migrating
        assert ("zookeeper.connect" in properties) == migrating
        if migrating:
            assert properties["zookeeper.metadata.migration.enable"] == "true"
            assert properties["zookeeper.connect"] == "broker1:2182,broker2:2182,broker3:2182"
            assert properties["zookeeper.ssl.keystore.location"] == "/etc/kafka-pipeline/tls/kafka-zookeeper.pem"
            assert properties["zookeeper.set.acl"] == "true"
            # It sends the ZooKeeper-mode brokers their metadata on their inter-broker listener.
            assert properties["inter.broker.listener.name"] == "INTERNAL"
        return
    if step <= 2:
        assert "process.roles" not in properties and "node.id" not in properties
        assert properties["broker.id"] == "1"
        assert properties["zookeeper.connect"] == "broker1:2182,broker2:2182,broker3:2182"
        assert properties["authorizer.class.name"] == "kafka.security.authorizer.AclAuthorizer"
        assert ("zookeeper.metadata.migration.enable" in properties) == (step == 2)
        assert ("controller.quorum.voters" in properties) == (step == 2)
        if step == 2:
            assert properties["controller.quorum.voters"] == MIGRATION_VOTERS
            assert properties["controller.listener.names"] == "CONTROLLER"
            assert properties["inter.broker.protocol.version"] == "3.9"
    else:
        assert properties["process.roles"] == "broker"
        assert properties["node.id"] == "1"
        assert properties["controller.quorum.voters"] == MIGRATION_VOTERS
        assert properties["authorizer.class.name"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        assert not [key for key in properties if key.startswith("zookeeper.")]
        assert "broker.id" not in properties and "inter.broker.protocol.version" not in properties


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"kafka_num_partitions": 0},
         "Invalid value 0 for configuration num.partitions: Value must be at least 1 (role variable: kafka_num_partitions)"),
        ({"kafka_server_properties_extra": {"log.segment.bytes": 10}},
         "configuration log.segment.bytes: Value must be at least "),
        ({"kafka_server_properties_extra": {"process.roles": "broker"}}, "controller"),
        # Kafka takes any negative retention for "unlimited" (so -5 passes here: only the preflight's
        # range check stops it), but refuses 0.
        ({"kafka_log_retention_hours": 0}, "log.retention.ms must be unlimited (-1)"),
    ],
)
def test_a_server_properties_kafka_rejects_leaves_the_old_file(
    tmp_path: Path, kafka_dist: Path, extra_vars: dict[str, Any], message: str
) -> None:
    live = tmp_path / "server.properties"
    live.write_text("# the running broker's configuration\n")
    ok, output = render(tmp_path, "kafka", "Write server.properties", "server.properties", kafka_dist, **extra_vars)
    assert not ok, output
    assert "failed to validate" in output and "Kafka rejects this server.properties" in output, output
    assert message in output, output
    assert live.read_text() == "# the running broker's configuration\n"


@pytest.mark.parametrize("security", ["sasl_ssl", "plaintext"])
def test_zookeeper_check_accepts_the_rendered_files(tmp_path: Path, zookeeper_dist: Path, security: str) -> None:
    for name, dest in (("Write zoo.cfg", "zoo.cfg"), ("Write the logging configuration", "log4j.properties")):
        ok, output = render(tmp_path, "zookeeper", name, dest, zookeeper_dist, pipeline_kafka_security=security)
        assert ok, output
    zoo_cfg = (tmp_path / "zoo.cfg").read_text()
    assert "server.3=broker3:2888:3888" in zoo_cfg
    if security == "sasl_ssl":
        # TLS only: no plaintext client port, client certificates required, the quorum over TLS.
        assert "secureClientPort=2182" in zoo_cfg and "clientPort=" not in zoo_cfg.replace("secureClientPort", "")
        assert "ssl.clientAuth=need" in zoo_cfg and "sslQuorum=true" in zoo_cfg
    else:
        assert "clientPort=2181" in zoo_cfg and "secureClientPort" not in zoo_cfg and "ssl" not in zoo_cfg


@pytest.mark.parametrize(
    ("extra_vars", "message"),
    [
        ({"zookeeper_init_limit": 0}, "initLimit (zookeeper_init_limit): 0 is not between 1"),
        ({"zookeeper_tick_time": -2000}, "tickTime (zookeeper_tick_time): -2000 is not between 1"),
        ({"pipeline_zookeeper_election_port": 2888}, "the peer and election ports are the same (2888)"),
        ({"zookeeper_myid": 9}, "zookeeper_myid 9 is not one of the server.N ids"),
        ({"pipeline_zookeeper_secure_client_port": 3888}, "a quorum port is also the secureClientPort (3888)"),
        ({"pipeline_tls_dir": "tls"}, "ssl.keyStore.location: 'tls/zookeeper.pem' is not an absolute path"),
    ],
)
def test_a_zoo_cfg_the_check_rejects_leaves_the_old_file(
    tmp_path: Path, zookeeper_dist: Path, extra_vars: dict[str, Any], message: str
) -> None:
    live = tmp_path / "zoo.cfg"
    live.write_text("# the running node's configuration\n")
    ok, output = render(tmp_path, "zookeeper", "Write zoo.cfg", "zoo.cfg", zookeeper_dist, **extra_vars)
    assert not ok and "failed to validate" in output, output
    assert message in output, output
    assert live.read_text() == "# the running node's configuration\n"


def test_promtool_rejects_a_bad_prometheus_config_before_it_lands(tmp_path: Path, kafka_dist: Path) -> None:
    """The prometheus role already validated before replacing: rules, then the configuration."""
    for name, dest in (("Write the alert rules", "pipeline.yml"), ("Write the configuration", "prometheus.yml")):
        ok, output = render(tmp_path, "prometheus", name, dest, kafka_dist)
        assert ok, output
    live = tmp_path / "prometheus.yml"
    before = live.read_text()
    ok, output = render(tmp_path, "prometheus", "Write the configuration", "prometheus.yml", kafka_dist,
                        prometheus_scrape_timeout="1x")
    assert not ok and "failed to validate" in output and "not a valid duration string" in output, output
    assert live.read_text() == before


@pytest.mark.parametrize("phase", ["finalized", "zookeeper_retired"])
def test_prometheus_stops_scraping_a_retired_zookeeper(tmp_path: Path, kafka_dist: Path, phase: str) -> None:
    """A ZooKeeper -> KRaft migration's last phase stops the ensemble: Prometheus no longer scrapes it (and so
    raises no ZooKeeperDown for it); until then it does."""
    ok, output = render(tmp_path, "prometheus", "Write the alert rules", "pipeline.yml", kafka_dist)
    assert ok, output
    ok, output = render(tmp_path, "prometheus", "Write the configuration", "prometheus.yml", kafka_dist,
                        pipeline_kafka_migration_phase=phase)
    assert ok, output
    jobs = {job["job_name"]: job for job in yaml.safe_load((tmp_path / "prometheus.yml").read_text())["scrape_configs"]}
    zookeeper_targets = [target for config in jobs.get("zookeeper", {}).get("static_configs", [])
                         for target in config["targets"]]
    assert len(zookeeper_targets) == (0 if phase == "zookeeper_retired" else 3), jobs.get("zookeeper")
    assert len([target for config in jobs["kafka"]["static_configs"] for target in config["targets"]]) == 3
