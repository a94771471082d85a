"""Fixtures of the repository-level tests: a real Kafka broker and ansible-playbook runs."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent


def load_by_path(name: str, path: Path) -> ModuleType:
    """A Python file loaded as module `name` (files that are not in a package: the broker launcher,
    the Ansible modules)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def _load_launcher() -> ModuleType:
    """The package tests' broker launcher (stdlib only), shared by path: one launcher for all tests."""
    return load_by_path(
        "tweet_pipeline_tests_kafka_broker", ROOT / "files" / "tweet_pipeline" / "tests" / "kafka_broker.py"
    )


kafka_launcher = _load_launcher()
Broker = kafka_launcher.KafkaBroker


@pytest.fixture(scope="session")
def kafka_dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Kafka distribution of the kafka role's version (KAFKA_DIST_ARCHIVE or scripts/build-kafka-dist), unpacked."""
    return Path(kafka_launcher.unpack_kafka(tmp_path_factory.mktemp("kafka-dist")))


@pytest.fixture(scope="session")
def kafka_broker(kafka_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A single-node KRaft broker on free localhost ports, for the life of the test session."""
    # The modules under test must create their topics themselves.
    broker = Broker(
        tmp_path_factory.mktemp("kafka-broker"), home=kafka_dist, properties={"auto.create.topics.enable": "false"}
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


# The secured broker's super user, formatted into its storage (SCRAM-SHA-512).
SECURED_ADMIN = "admin"
SECURED_ADMIN_PASSWORD = "admin-secret-0"
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"
# Every certificate whose subject ends in OU=kafka,O=kafka-pipeline (the Kafka nodes' own, which
# the admin modules present over mutual TLS) is the principal User:kafka-node, a super user; any
# other certificate keeps its whole subject as its name (DEFAULT), e.g.
# User:CN=app1,OU=apps,O=kafka-pipeline. Kafka matches the RFC 2253 form of the subject.
NODE_PRINCIPAL = "kafka-node"
NODE_PRINCIPAL_RULE = f"RULE:^(.*,)?OU=kafka,O=kafka-pipeline$/{NODE_PRINCIPAL}/,DEFAULT"


@pytest.fixture(scope="session")
def kafka_secured_broker(
    kafka_dist: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Broker]:
    """A single-node KRaft broker with SASL/SCRAM logins, mutual TLS and the standard authorizer.

    bootstrap_of("SASL"): a SASL_PLAINTEXT listener taking SCRAM-SHA-512 and SCRAM-SHA-256, where
    SECURED_ADMIN (a super user, formatted in with kafka-storage --add-scram) logs in.
    bootstrap_of("MTLS"): an SSL listener that requires a client certificate signed by the
    broker's CA (`broker.tls.ca`, whose `issue()` makes them); NODE_PRINCIPAL_RULE names them.
    bootstrap_of("CLIENT"): SASL_SSL with SCRAM-SHA-512, the kafka role's client listener.
    bootstrap: the PLAINTEXT listener the broker and its controller talk over; their principal,
    ANONYMOUS, is a super user too, so the tests check the broker's state there. No ACL means no
    access (allow.everyone.if.no.acl.found=false)."""
    workdir = tmp_path_factory.mktemp("kafka-secured-broker")
    broker = Broker(
        workdir,
        home=kafka_dist,
        listeners={"SASL": "SASL_PLAINTEXT", "MTLS": "SSL", "CLIENT": "SASL_SSL"},
        scram_credentials=[
            f"SCRAM-SHA-512=[name={SECURED_ADMIN},password={SECURED_ADMIN_PASSWORD}]"
        ],
        tls=kafka_launcher.BrokerTls.create(workdir / "tls", mtls_listeners=("MTLS",)),
        properties={
            "auto.create.topics.enable": "false",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512,SCRAM-SHA-256",
            "listener.name.sasl.scram-sha-512.sasl.jaas.config": SCRAM_LOGIN,
            "listener.name.sasl.scram-sha-256.sasl.jaas.config": SCRAM_LOGIN,
            "listener.name.client.scram-sha-512.sasl.jaas.config": SCRAM_LOGIN,
            "listener.name.client.scram-sha-256.sasl.jaas.config": SCRAM_LOGIN,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": f"User:ANONYMOUS;User:{SECURED_ADMIN};User:{NODE_PRINCIPAL}",
            "ssl.principal.mapping.rules": NODE_PRINCIPAL_RULE,
        },
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


@dataclass
class PlaybookRun:
    rc: int
    output: str


def run_playbook(playbook: Path, *args: str, inventory: str | Path | None = None) -> PlaybookRun:
    """ansible-playbook from this repository's venv, with the repository's ansible.cfg."""
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook), *args]
    if inventory is not None:
        cmd[2:2] = ["-i", str(inventory)]
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1"}
    env.pop("ANSIBLE_CALLBACKS_ENABLED", None)
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    return PlaybookRun(proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture
def unique_topic() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"

