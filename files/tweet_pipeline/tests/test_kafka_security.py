"""Producer and consumer through a SASL_SSL listener (SCRAM-SHA-512, a private CA) with ACLs.

One broker of this module's own: the SASL_SSL listener for the apps, each logging in as its own
user with only the ACLs the deployment grants it; the PLAINTEXT listener (ANONYMOUS is a super
user there) for the test's own setup and checks.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaAdminClient
from kafka.admin import (
    ACL,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    NewTopic,
    ResourcePattern,
    ResourceType,
)

from tests.configs import consumer_toml, producer_toml
from tests.conftest import consume, sample_ids, sample_lines, wait_for, write_toml
from tests.kafka_broker import BrokerTls, CertificateAuthority, KafkaBroker, free_port
from tweet_pipeline.config import KafkaConfig
from tweet_pipeline.kafka_login import LoginRefusedError, check_login

PRODUCER, CONSUMER = "tweet-producer", "tweet-consumer"
PASSWORDS = {PRODUCER: "producer-Secret-7q2x", CONSUMER: "consumer-Secret-9w4k"}
SCRAM_LOGIN = "org.apache.kafka.common.security.scram.ScramLoginModule required;"


@pytest.fixture(scope="module")
def secured_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaBroker]:
    workdir = tmp_path_factory.mktemp("kafka-sasl-ssl")
    broker = KafkaBroker(
        workdir,
        listeners={"SASL_SSL": "SASL_SSL"},
        scram_credentials=[
            f"SCRAM-SHA-512=[name={user},password={password}]"
            for user, password in PASSWORDS.items()
        ],
        tls=BrokerTls.create(workdir / "tls"),
        properties={
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config": SCRAM_LOGIN,
            "authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            "allow.everyone.if.no.acl.found": "false",
            "super.users": "User:ANONYMOUS",
            "auto.create.topics.enable": "false",
        },
    )
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def allow(principal: str, operation: ACLOperation, kind: ResourceType, name: str) -> ACL:
    pattern = ResourcePattern(kind, name, ACLResourcePatternType.LITERAL)
    return ACL(f"User:{principal}", "*", operation, ACLPermissionType.ALLOW, pattern)


def topic_for_the_apps(broker: KafkaBroker, group: str) -> str:
    """A new topic, and the ACLs the deployment grants on it: the producer writes it, the
    consumer reads it in `group`; nothing else."""
    name = f"secure-{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
    try:
        admin.create_topics([NewTopic(name, 1, 1)])
        created = admin.create_acls(
            [
                allow(PRODUCER, ACLOperation.WRITE, ResourceType.TOPIC, name),
                allow(PRODUCER, ACLOperation.DESCRIBE, ResourceType.TOPIC, name),
                allow(
                    PRODUCER, ACLOperation.IDEMPOTENT_WRITE, ResourceType.CLUSTER, "kafka-cluster"
                ),
                allow(CONSUMER, ACLOperation.READ, ResourceType.TOPIC, name),
                allow(CONSUMER, ACLOperation.READ, ResourceType.GROUP, group),
            ]
        )
    finally:
        admin.close()
    assert not created["failed"], created
    return name


def secured(toml: str, broker: KafkaBroker, user: str, password_file: Path) -> str:
    """An app's configuration with the login of `user` at the SASL_SSL listener."""
    assert broker.tls is not None
    login = (
        '[kafka]\nsecurity_protocol = "SASL_SSL"\n'
        f'ssl_cafile = "{broker.tls.ca.cert}"\n'
        f'sasl_username = "{user}"\nsasl_password_file = "{password_file}"\n'
    )
    return toml.replace("[kafka]\n", login, 1)


def password_file(directory: Path, user: str, password: str) -> Path:
    """The secret file as the deployment writes it (0640; here owned by the test's user)."""
    path = directory / f"{user}.password"
    path.write_text(password + "\n")
    path.chmod(0o640)
    return path


def file_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line)["tweet"]["id"] for line in lines if line.endswith("}")]


def run_at_debug(module: str, config: Path, log: Path) -> subprocess.Popen[bytes]:
    """An app's CLI at --log-level DEBUG, its log (stderr) into `log`."""
    with log.open("wb") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", module, "--config", str(config), "--log-level", "DEBUG"],
            env=dict(os.environ),
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )


def logged(log: Path, text: str) -> bool:
    return text in log.read_text()


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    finally:
        process.kill()


def test_tweets_flow_through_sasl_ssl_with_scram_and_acls(
    secured_kafka: KafkaBroker, tmp_path: Path
) -> None:
    group = f"g-{uuid.uuid4().hex[:8]}"
    topic = topic_for_the_apps(secured_kafka, group)
    bootstrap = secured_kafka.bootstrap_of("SASL_SSL")
    replay = tmp_path / "in.ndjson"
    replay.write_bytes(b"\n".join(sample_lines(20)) + b"\n")
    producer_config = write_toml(
        tmp_path / "p.toml",
        secured(
            producer_toml(bootstrap, topic, tmp_path / "s.db", replay=replay),
            secured_kafka,
            PRODUCER,
            password_file(tmp_path, PRODUCER, PASSWORDS[PRODUCER]),
        ),
    )
    out = tmp_path / "tweets.jsonl"
    consumer_config = write_toml(
        tmp_path / "c.toml",
        secured(
            consumer_toml(bootstrap, topic, group, sinks=f'[sinks.file]\npath = "{out}"\n'),
            secured_kafka,
            CONSUMER,
            password_file(tmp_path, CONSUMER, PASSWORDS[CONSUMER]),
        ),
    )
    producer = run_at_debug("tweet_pipeline.producer", producer_config, tmp_path / "producer.log")
    assert producer.wait(90) == 0  # the replay ends: every tweet published, then exit 0
    published = consume(secured_kafka.bootstrap, topic, 20)
    assert [r.key.decode() for r in published] == sample_ids(20)

    consumer = run_at_debug("tweet_pipeline.consumer", consumer_config, tmp_path / "consumer.log")
    try:
        wait_for(lambda: len(file_ids(out)) >= 20, 60, "20 tweets in the file sink")
    finally:
        assert stop(consumer) == 0
    assert file_ids(out) == sample_ids(20)

    logs = {name: (tmp_path / f"{name}.log").read_text() for name in ("producer", "consumer")}
    assert "accepts the login of 'tweet-producer'" in logs["producer"], logs["producer"]
    assert " DEBUG tweet_consumer: committed " in logs["consumer"], logs["consumer"]
    for text in logs.values():
        assert not any(password in text for password in PASSWORDS.values()), text


def test_a_wrong_password_is_refused_at_once_and_never_logged(
    secured_kafka: KafkaBroker, tmp_path: Path
) -> None:
    """kafka-python alone would retry the refused login for 30 s and then report only that it
    could not bootstrap; the apps say at once that Kafka refuses the login, and keep retrying."""
    group = f"g-{uuid.uuid4().hex[:8]}"
    topic = topic_for_the_apps(secured_kafka, group)
    bootstrap = secured_kafka.bootstrap_of("SASL_SSL")
    wrong = {PRODUCER: "wrong-Producer-pw1", CONSUMER: "wrong-Consumer-pw2"}
    replay = tmp_path / "in.ndjson"
    replay.write_bytes(b"\n".join(sample_lines(5)) + b"\n")
    configs = {
        PRODUCER: producer_toml(
            bootstrap, topic, tmp_path / "s.db", replay=replay,
            extra_producer="shutdown_timeout_s = 1",
        ),
        CONSUMER: consumer_toml(bootstrap, topic, group, sinks="[sinks.console]\n"),
    }  # fmt: skip
    modules = {PRODUCER: "tweet_pipeline.producer", CONSUMER: "tweet_pipeline.consumer"}
    logs = {user: tmp_path / f"{user}.log" for user in configs}
    processes = {}
    for user, toml in configs.items():
        config = write_toml(
            tmp_path / f"{user}.toml",
            secured(toml, secured_kafka, user, password_file(tmp_path, user, wrong[user])),
        )
        processes[user] = run_at_debug(modules[user], config, logs[user])
    started = time.monotonic()
    try:
        for user, log_path in logs.items():
            refusal = f"cannot log in to Kafka as '{user}' (SCRAM-SHA-512 over SASL_SSL)"
            wait_for(functools.partial(logged, log_path, refusal), 20, refusal)
        refused_after = time.monotonic() - started
    finally:
        codes = {user: stop(process) for user, process in processes.items()}
    assert codes == {PRODUCER: 0, CONSUMER: 0}, codes
    assert refused_after < 15, refused_after  # no 30 s bootstrap timeout first
    for user, log_path in logs.items():
        text = log_path.read_text()
        assert " ERROR " in text and "invalid credentials" in text, text
        # Retried with a backoff from 0.2 s (retry_backoff_s), doubling: not in a busy loop.
        assert text.count("cannot log in to Kafka") <= 8, text
        assert wrong[user] not in text and PASSWORDS[user] not in text, text


def test_the_login_check_names_what_is_wrong(secured_kafka: KafkaBroker, tmp_path: Path) -> None:
    """What the apps run before each connection: silent when the login works or no broker
    answers (the client reports that as before), a clear refusal otherwise."""
    assert secured_kafka.tls is not None
    kafka = KafkaConfig(
        client_id="login-check",
        bootstrap_servers=[secured_kafka.bootstrap_of("SASL_SSL")],
        security_protocol="SASL_SSL",
        ssl_cafile=str(secured_kafka.tls.ca.cert),
        sasl_username=CONSUMER,
        sasl_password=PASSWORDS[CONSUMER],
    )
    check_login(kafka)
    check_login(dataclasses.replace(kafka, bootstrap_servers=[f"127.0.0.1:{free_port()}"]))
    other_ca = CertificateAuthority(tmp_path / "other-ca")
    with pytest.raises(LoginRefusedError, match="does not verify against ssl_cafile"):
        check_login(dataclasses.replace(kafka, ssl_cafile=str(other_ca.cert)))
    with pytest.raises(LoginRefusedError, match="UnsupportedSaslMechanismError"):
        check_login(dataclasses.replace(kafka, sasl_mechanism="SCRAM-SHA-256"))
    with pytest.raises(LoginRefusedError, match="invalid credentials"):
        check_login(dataclasses.replace(kafka, sasl_username="nobody"))
