"""The kafka_scram_user and kafka_acl modules, and the admin modules' SASL and mutual TLS
connection options, against a real broker with SCRAM logins, a listener requiring client
certificates and an authorizer (the kafka_secured_broker fixture)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import (
    ROOT,
    SECURED_ADMIN,
    SECURED_ADMIN_PASSWORD,
    Broker,
    kafka_launcher,
    load_by_path,
    run_playbook,
)
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import (
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.errors import KafkaError, KafkaTimeoutError

SHA512 = {"mechanism": "SCRAM-SHA-512", "iterations": 4096}


# --- running the modules -------------------------------------------------------------------------


def run_tasks(tmp_path: Path, tasks: list[dict[str, Any]], *flags: str) -> list[dict[str, Any]]:
    """Run module tasks on localhost (ansible-playbook, json callback); each task's result."""
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    )
    env = {
        **os.environ,
        "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
        "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit",
    }
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            "localhost,",
            "-c",
            "local",
            "-e",
            f"ansible_python_interpreter={sys.executable}",
            str(playbook),
            *flags,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    report = json.loads(proc.stdout)
    return [task["hosts"]["localhost"] for task in report["plays"][0]["tasks"]]


def run_task(tmp_path: Path, task: dict[str, Any], *flags: str) -> dict[str, Any]:
    (result,) = run_tasks(tmp_path, [task], *flags)
    return result


def admin_connection(broker: Broker) -> dict[str, str]:
    """The modules' connection options: the super user over the SASL listener."""
    return {
        "bootstrap_servers": broker.bootstrap_of("SASL"),
        "security_protocol": "SASL_PLAINTEXT",
        "sasl_username": SECURED_ADMIN,
        "sasl_password": SECURED_ADMIN_PASSWORD,
    }


def user_task(broker: Broker, name: str, **params: Any) -> dict[str, Any]:
    return {"kafka_scram_user": {"name": name, **admin_connection(broker), **params}}


def acl_task(broker: Broker, principal: str, **params: Any) -> dict[str, Any]:
    return {"kafka_acl": {"principal": principal, **admin_connection(broker), **params}}


# --- the broker's side, through kafka-python alone ---------------------------------------------


def broker_admin(broker: Broker) -> KafkaAdminClient:
    """An admin client on the PLAINTEXT listener (ANONYMOUS is a super user there)."""
    return KafkaAdminClient(bootstrap_servers=broker.bootstrap)


def scram_credentials(broker: Broker, name: str) -> list[dict[str, Any]]:
    admin = broker_admin(broker)
    try:
        described = admin.describe_user_scram_credentials().get(name)
    finally:
        admin.close()
    if not described:
        return []
    return sorted(
        (
            {
                "mechanism": info["mechanism"].name.replace("_", "-"),
                "iterations": info["iterations"],
            }
            for info in described["credential_infos"]
        ),
        key=lambda cred: cred["mechanism"],
    )


def logs_in(broker: Broker, user: str, password: str, mechanism: str = "SCRAM-SHA-512") -> bool:
    """Whether kafka-python's own admin client can log in as the user over the SASL listener (it
    retries a refused login until its bootstrap timeout)."""
    try:
        client = KafkaAdminClient(
            bootstrap_servers=broker.bootstrap_of("SASL"),
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism=mechanism,
            sasl_plain_username=user,
            sasl_plain_password=password,
            bootstrap_timeout_ms=3000,
        )
    except KafkaTimeoutError:
        return False
    client.close()
    return True


def eventually(check: Callable[[], bool], seconds: float = 15.0) -> bool:
    """True once check() is (brokers apply credentials and ACLs asynchronously)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def broker_acls(broker: Broker, principal: str) -> set[str]:
    """The principal's ACLs as the broker describes them, "ALLOW WRITE TOPIC:name LITERAL *"."""
    admin = broker_admin(broker)
    try:
        acls, _ = admin.describe_acls(
            ACLFilter(
                principal=principal,
                host=None,
                operation=ACLOperation.ANY,
                permission_type=ACLPermissionType.ANY,
                resource_pattern=ResourcePatternFilter(
                    ResourceType.ANY, None, ACLResourcePatternType.ANY
                ),
            )
        )
    finally:
        admin.close()
    return {
        f"{acl.permission_type.name} {acl.operation.name} {pattern.resource_type.name}:"
        f"{pattern.resource_name} {pattern.pattern_type.name} {acl.host}"
        for acl in acls
        for pattern in [acl.resource_pattern]
    }


def produce(broker: Broker, user: str, password: str, topic: str) -> str | None:
    """Produce one record as the user over SASL_PLAINTEXT: None when the broker takes it, else the
    error's name."""
    producer = None
    try:
        producer = KafkaProducer(
            bootstrap_servers=broker.bootstrap_of("SASL"),
            security_protocol="SASL_PLAINTEXT",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_plain_username=user,
            sasl_plain_password=password,
            max_block_ms=5000,
            request_timeout_ms=5000,
            retries=0,
        )
        producer.send(topic, b"authorized?").get(timeout=10)
    except KafkaError as exc:
        return type(exc).__name__
    finally:
        if producer is not None:
            producer.close(timeout=2)
    return None


@pytest.fixture
def user() -> str:
    return f"user-{uuid.uuid4().hex[:8]}"


# --- kafka_scram_user ----------------------------------------------------------------------------


def test_create_user_is_idempotent(kafka_secured_broker: Broker, user: str, tmp_path: Path) -> None:
    task = user_task(kafka_secured_broker, user, password="first-Secret-1")
    first = run_task(tmp_path, task, "--diff")
    assert first["changed"] is True, first
    assert first["user"] == user and first["mechanisms"] == [SHA512], first
    assert first["diff"]["before"] == {
        "name": user, "mechanism": "SCRAM-SHA-512", "iterations": None, "exists": False,
    }  # fmt: skip
    assert first["diff"]["after"] == {
        "name": user, "mechanism": "SCRAM-SHA-512", "iterations": 4096, "exists": True,
    }  # fmt: skip
    assert scram_credentials(kafka_secured_broker, user) == [SHA512]
    assert eventually(lambda: logs_in(kafka_secured_broker, user, "first-Secret-1"))
    second = run_task(tmp_path, task, "--diff")
    assert second["changed"] is False, second
    assert second["mechanisms"] == [SHA512], second


def test_check_mode_reports_without_changing(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    created = run_task(
        tmp_path, user_task(kafka_secured_broker, user, password="old-Secret-1"), "--check"
    )
    assert created["changed"] is True and created["mechanisms"] == [SHA512], created
    assert scram_credentials(kafka_secured_broker, user) == []

    run_task(tmp_path, user_task(kafka_secured_broker, user, password="old-Secret-1"))
    assert eventually(lambda: logs_in(kafka_secured_broker, user, "old-Secret-1"))
    changed = run_task(
        tmp_path, user_task(kafka_secured_broker, user, password="new-Secret-2"), "--check"
    )
    assert changed["changed"] is True, changed
    assert logs_in(kafka_secured_broker, user, "old-Secret-1")
    removed = run_task(
        tmp_path, user_task(kafka_secured_broker, user, state="absent"), "--check", "--diff"
    )
    assert removed["changed"] is True and removed["mechanisms"] == [], removed
    assert removed["diff"]["after"]["exists"] is False, removed
    assert scram_credentials(kafka_secured_broker, user) == [SHA512]


def test_password_change_is_detected_by_logging_in(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    run_task(tmp_path, user_task(kafka_secured_broker, user, password="old-Secret-1"))
    assert eventually(lambda: logs_in(kafka_secured_broker, user, "old-Secret-1"))
    results = run_tasks(
        tmp_path,
        [
            user_task(kafka_secured_broker, user, password="new-Secret-2"),
            user_task(kafka_secured_broker, user, password="new-Secret-2"),
            # on_create: an existing user's password is left alone, without a login.
            user_task(
                kafka_secured_broker, user, password="other-Secret-3", update_password="on_create"
            ),
        ],
        "--diff",
    )
    assert [r["changed"] for r in results] == [True, False, False], results
    # A password change alone: the diff's view of the user is the same before and after.
    assert results[0]["diff"]["before"] == results[0]["diff"]["after"], results[0]
    assert eventually(lambda: logs_in(kafka_secured_broker, user, "new-Secret-2"))
    assert not logs_in(kafka_secured_broker, user, "old-Secret-1")
    assert not logs_in(kafka_secured_broker, user, "other-Secret-3")

    more = run_task(
        tmp_path, user_task(kafka_secured_broker, user, password="new-Secret-2", iterations=8192)
    )
    assert more["changed"] is True, more
    assert more["mechanisms"] == [{"mechanism": "SCRAM-SHA-512", "iterations": 8192}], more
    assert scram_credentials(kafka_secured_broker, user) == [
        {"mechanism": "SCRAM-SHA-512", "iterations": 8192}
    ]


def test_password_never_appears_in_the_output(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    passwords = ["Pass-One-7x9q", "Pass-Two-3k8w"]
    tasks = [
        {"name": "create", **user_task(kafka_secured_broker, user, password=passwords[0])},
        {
            "name": "check a change",
            **user_task(kafka_secured_broker, user, password=passwords[1]),
            "check_mode": True,
        },
        {"name": "change", **user_task(kafka_secured_broker, user, password=passwords[1])},
        {
            "name": "refused",
            **user_task(kafka_secured_broker, user, password=passwords[0], iterations=100),
            "ignore_errors": True,
        },
    ]
    playbook = tmp_path / "play.yml"
    playbook.write_text(
        yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": tasks}])
    )
    run = run_playbook(
        playbook,
        "-v",
        "--diff",
        "-c",
        "local",
        "-e",
        f"ansible_python_interpreter={sys.executable}",
        inventory="localhost,",
    )
    assert run.rc == 0, run.output
    assert "changed=3" in run.output and "ignored=1" in run.output, run.output
    assert "Too few iterations" in run.output, run.output
    for password in [*passwords, SECURED_ADMIN_PASSWORD]:
        assert password not in run.output


def test_broker_refusal_fails_with_its_message(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    result = run_task(
        tmp_path, user_task(kafka_secured_broker, user, password="a-Secret-1", iterations=100)
    )
    assert result.get("failed") is True and result["changed"] is False, result
    assert result["msg"] == f"user {user}: the broker refused the change: Too few iterations"
    missing = run_task(tmp_path, user_task(kafka_secured_broker, user))
    assert missing.get("failed") is True and "password" in missing["msg"], missing


def test_absent_removes_the_mechanism(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    results = run_tasks(
        tmp_path,
        [
            user_task(kafka_secured_broker, user, password="a-Secret-1"),
            user_task(kafka_secured_broker, user, password="b-Secret-2", mechanism="SCRAM-SHA-256"),
            user_task(kafka_secured_broker, user, state="absent"),
            user_task(kafka_secured_broker, user, state="absent"),
        ],
    )
    assert [r["changed"] for r in results] == [True, True, True, False], results
    sha256 = {"mechanism": "SCRAM-SHA-256", "iterations": 4096}
    assert results[1]["mechanisms"] == [sha256, SHA512], results[1]
    assert results[2]["mechanisms"] == [sha256], results[2]
    assert scram_credentials(kafka_secured_broker, user) == [sha256]
    assert eventually(lambda: logs_in(kafka_secured_broker, user, "b-Secret-2", "SCRAM-SHA-256"))
    assert not logs_in(kafka_secured_broker, user, "a-Secret-1")


def test_password_check_needs_a_sasl_listener(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    """At a PLAINTEXT listener the module can manage users but cannot check a password."""
    plaintext = {"bootstrap_servers": kafka_secured_broker.bootstrap}
    results = run_tasks(
        tmp_path,
        [
            {"kafka_scram_user": {"name": user, "password": "a-Secret-1", **plaintext}},
            {
                "kafka_scram_user": {"name": user, "password": "a-Secret-1", **plaintext},
                "ignore_errors": True,
            },
            {
                "kafka_scram_user": {
                    "name": user, "password": "b-Secret-2", "update_password": "on_create",
                    **plaintext,
                },
            },
        ],
    )  # fmt: skip
    created, checked, on_create = results
    assert created["changed"] is True, created
    assert checked.get("failed") is True, checked
    assert "cannot check its password by logging in" in checked["msg"], checked
    assert "does not take SASL logins" in checked["msg"], checked
    assert on_create["changed"] is False and "failed" not in on_create, on_create


# --- the shared connection options -------------------------------------------------------------


def test_existing_modules_take_the_sasl_options(
    kafka_secured_broker: Broker, unique_topic: str, tmp_path: Path
) -> None:
    connection = admin_connection(kafka_secured_broker)
    no_password = {k: v for k, v in connection.items() if k != "sasl_password"}
    results = run_tasks(
        tmp_path,
        [
            {"kafka_topic": {"name": unique_topic, "partitions": 2, "replication_factor": 1,
                             **connection}},
            {"kafka_cluster_info": connection},
            {"kafka_cluster_info": no_password, "ignore_errors": True},
        ],
    )  # fmt: skip
    topic, info, refused = results
    assert topic["changed"] is True and topic["topic"]["partitions"] == 2, topic
    assert info["topics"][unique_topic]["partitions"] == 2, info
    assert refused.get("failed") is True, refused
    assert refused["msg"] == "security_protocol SASL_PLAINTEXT needs sasl_password", refused


# --- kafka_acl ---------------------------------------------------------------------------------


def test_acl_present_adds_and_is_idempotent(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    principal = f"User:{user}"
    task = acl_task(
        kafka_secured_broker,
        principal,
        acls=[
            {"resource_type": "topic", "resource_name": "orders",
             "operations": ["Write", "describe"]},
            {"resource_type": "cluster", "operations": ["idempotent_write"]},
            {"resource_type": "group", "resource_name": "app-", "pattern_type": "prefixed",
             "operations": ["Read"], "permission": "deny", "host": "10.0.0.1"},
        ],
    )  # fmt: skip
    first, second = run_tasks(tmp_path, [task, task], "--diff")
    assert first["changed"] is True and len(first["added"]) == 4, first
    assert first["removed"] == [] and first["acls"] == first["added"], first
    assert first["diff"]["before"] == {"principal": principal, "acls": []}, first
    assert first["diff"]["after"]["acls"] == [
        "allow IdempotentWrite on cluster:kafka-cluster (literal) from *",
        "deny Read on group:app- (prefixed) from 10.0.0.1",
        "allow Describe on topic:orders (literal) from *",
        "allow Write on topic:orders (literal) from *",
    ], first
    assert second["changed"] is False and second["added"] == [], second
    assert broker_acls(kafka_secured_broker, principal) == {
        "ALLOW WRITE TOPIC:orders LITERAL *",
        "ALLOW DESCRIBE TOPIC:orders LITERAL *",
        "ALLOW IDEMPOTENT_WRITE CLUSTER:kafka-cluster LITERAL *",
        "DENY READ GROUP:app- PREFIXED 10.0.0.1",
    }


def test_acl_exact_removes_the_unlisted_and_absent_the_listed(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    principal = f"User:{user}"
    write = {"resource_type": "topic", "resource_name": "orders", "operations": ["Write"]}
    read = {"resource_type": "group", "resource_name": "billing", "operations": ["Read"]}
    results = run_tasks(
        tmp_path,
        [
            acl_task(kafka_secured_broker, principal, acls=[write, read]),
            acl_task(kafka_secured_broker, principal, acls=[write], state="exact"),
            acl_task(kafka_secured_broker, principal, acls=[write], state="exact"),
        ],
        "--diff",
    )
    added, exact, again = results
    assert added["changed"] is True, added
    assert exact["changed"] is True and exact["added"] == [], exact
    assert exact["removed"] == [
        {"resource_type": "group", "resource_name": "billing", "pattern_type": "literal",
         "operation": "Read", "permission": "allow", "host": "*"},
    ], exact  # fmt: skip
    assert exact["diff"]["after"]["acls"] == ["allow Write on topic:orders (literal) from *"]
    assert again["changed"] is False, again
    assert broker_acls(kafka_secured_broker, principal) == {"ALLOW WRITE TOPIC:orders LITERAL *"}

    absent = acl_task(kafka_secured_broker, principal, acls=[write, read], state="absent")
    removed, nothing = run_tasks(tmp_path, [absent, absent])
    assert removed["changed"] is True and len(removed["removed"]) == 1, removed
    assert nothing["changed"] is False, nothing
    assert broker_acls(kafka_secured_broker, principal) == set()


def test_acl_check_mode_changes_nothing(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    principal = f"User:{user}"
    write = {"resource_type": "topic", "resource_name": "orders", "operations": ["Write"]}
    run_task(tmp_path, acl_task(kafka_secured_broker, principal, acls=[write]))
    read = {"resource_type": "topic", "resource_name": "orders", "operations": ["Read"]}
    checked = run_task(
        tmp_path,
        acl_task(kafka_secured_broker, principal, acls=[read], state="exact"),
        "--check",
        "--diff",
    )
    assert checked["changed"] is True, checked
    assert [a["operation"] for a in checked["added"]] == ["Read"], checked
    assert [a["operation"] for a in checked["removed"]] == ["Write"], checked
    assert checked["diff"]["before"]["acls"] == ["allow Write on topic:orders (literal) from *"]
    assert checked["diff"]["after"]["acls"] == ["allow Read on topic:orders (literal) from *"]
    assert broker_acls(kafka_secured_broker, principal) == {"ALLOW WRITE TOPIC:orders LITERAL *"}


def test_acl_invalid_entries_fail_clearly(
    kafka_secured_broker: Broker, user: str, tmp_path: Path
) -> None:
    principal = f"User:{user}"
    entries = [
        {"resource_type": "topic", "resource_name": "orders", "operations": ["Write", "Wirte"]},
        {"resource_type": "cluster", "operations": ["Read"]},
        {"resource_type": "topik", "resource_name": "orders", "operations": ["Write"]},
        {"resource_type": "group", "operations": ["Read"]},
        {"resource_type": "cluster", "resource_name": "mine", "operations": ["Alter"]},
    ]
    tasks = [
        {**acl_task(kafka_secured_broker, principal, acls=[entry]), "ignore_errors": True}
        for entry in entries
    ]
    tasks.append({**acl_task(kafka_secured_broker, user, acls=entries[:1]), "ignore_errors": True})
    results = run_tasks(tmp_path, tasks)
    assert all(r.get("failed") is True and r["changed"] is False for r in results), results
    messages = [r["msg"] for r in results]
    assert messages[0].startswith(
        f"principal {principal}: acls[0] (topic orders): unknown operation 'Wirte'; "
        "Kafka's operations are All, Read, Write,"
    ), messages[0]
    assert (
        "acls[0] (cluster): Read is not an operation on a cluster; a cluster takes Create, "
        "ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite, Alter, Describe or All"
    ) in messages[1]
    assert "resource_type" in messages[2] and "topik" in messages[2], messages[2]
    assert "resource_name is required for a group" in messages[3], messages[3]
    assert "the cluster's resource_name is kafka-cluster" in messages[4], messages[4]
    assert f"principal '{user}' is not <type>:<name>" in messages[5], messages[5]
    assert broker_acls(kafka_secured_broker, principal) == set()


def test_produce_is_authorized_by_the_acl(
    kafka_secured_broker: Broker, user: str, unique_topic: str, tmp_path: Path
) -> None:
    """A real authorization check: the broker refuses a produce as the user until the ACL exists."""
    principal = f"User:{user}"
    write = {"resource_type": "topic", "resource_name": unique_topic,
             "operations": ["Write", "Describe"]}  # fmt: skip
    setup = run_tasks(
        tmp_path,
        [
            {"kafka_topic": {"name": unique_topic, "partitions": 1, "replication_factor": 1,
                             **admin_connection(kafka_secured_broker)}},
            user_task(kafka_secured_broker, user, password="producer-Secret-1"),
        ],
    )  # fmt: skip
    assert all(r["changed"] for r in setup), setup
    assert eventually(lambda: logs_in(kafka_secured_broker, user, "producer-Secret-1"))
    assert produce(kafka_secured_broker, user, "producer-Secret-1", unique_topic) == (
        "TopicAuthorizationFailedError"
    )

    granted = run_task(tmp_path, acl_task(kafka_secured_broker, principal, acls=[write]))
    assert granted["changed"] is True, granted
    assert eventually(
        lambda: produce(kafka_secured_broker, user, "producer-Secret-1", unique_topic) is None
    )

    revoked = run_task(
        tmp_path, acl_task(kafka_secured_broker, principal, acls=[write], state="absent")
    )
    assert revoked["changed"] is True, revoked
    assert eventually(
        lambda: (
            produce(kafka_secured_broker, user, "producer-Secret-1", unique_topic)
            == "TopicAuthorizationFailedError"
        )
    )


# --- mutual TLS: the admin modules with a broker host's own certificate ------------------------

NODE_DN = "CN=kafka1,OU=kafka,O=kafka-pipeline"  # a super user (conftest.NODE_PRINCIPAL_RULE)


@pytest.fixture(scope="module")
def client_certificates(
    kafka_secured_broker: Broker, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """PEM files (key + chain): a node's certificate, an application's (same CA, no ACL) and a
    node's subject signed by another CA."""
    ca = kafka_secured_broker.tls.ca
    rogue = kafka_launcher.CertificateAuthority(tmp_path_factory.mktemp("rogue-ca"), "rogue CA")
    return {
        "node": ca.issue("kafka1", NODE_DN),
        "app": ca.issue("app1", "CN=app1,OU=apps,O=kafka-pipeline"),
        "rogue": rogue.issue("kafka1", NODE_DN),
    }


def mtls_connection(broker: Broker, certfile: Path | None = None, **options: Any) -> dict[str, Any]:
    """The modules' connection options at the listener requiring client certificates; a short
    request_timeout, which bounds a refused connection's retries too."""
    connection = {
        "bootstrap_servers": broker.bootstrap_of("MTLS"),
        "security_protocol": "SSL",
        "ssl_cafile": str(broker.tls.ca.cert),
        "request_timeout": 5,
        **options,
    }
    if certfile is not None:
        connection["ssl_certfile"] = str(certfile)
    return connection


def topic_exists(broker: Broker, name: str) -> bool:
    admin = broker_admin(broker)
    try:
        return name in admin.list_topics()
    finally:
        admin.close()


def test_kafka_topic_over_mutual_tls_as_the_node_principal(
    kafka_secured_broker: Broker,
    client_certificates: dict[str, Path],
    unique_topic: str,
    tmp_path: Path,
) -> None:
    """The node's certificate maps to the super user: no ACL needed. A key in a file of its own
    (ssl_keyfile) works as well as one inside ssl_certfile."""
    node = client_certificates["node"]
    topic = {"name": unique_topic, "partitions": 1, "replication_factor": 1}
    separate_key = mtls_connection(
        kafka_secured_broker, node.with_suffix(".crt"), ssl_keyfile=str(node.with_suffix(".key"))
    )
    created, again, info = run_tasks(
        tmp_path,
        [
            {"kafka_topic": {**topic, **mtls_connection(kafka_secured_broker, node)}},
            {"kafka_topic": {**topic, **separate_key}},
            {"kafka_cluster_info": mtls_connection(kafka_secured_broker, node)},
        ],
    )
    assert created["changed"] is True and created["topic"]["partitions"] == 1, created
    assert again["changed"] is False and "failed" not in again, again
    assert info["topics"][unique_topic]["partitions"] == 1, info
    assert topic_exists(kafka_secured_broker, unique_topic)


def test_mutual_tls_refusals_fail_clearly(
    kafka_secured_broker: Broker,
    client_certificates: dict[str, Path],
    unique_topic: str,
    tmp_path: Path,
) -> None:
    """No client certificate, or one from another CA: the TLS refusal, within request_timeout.
    The CA's certificate of an application: the authorizer's refusal (no ACL for its subject)."""
    topic = {"name": unique_topic, "partitions": 1, "replication_factor": 1}
    app = client_certificates["app"]
    connections = [
        mtls_connection(kafka_secured_broker),
        mtls_connection(kafka_secured_broker, client_certificates["rogue"]),
        mtls_connection(kafka_secured_broker, app),
        mtls_connection(kafka_secured_broker, ssl_keyfile=str(app.with_suffix(".key"))),
        mtls_connection(kafka_secured_broker, tmp_path / "missing.pem"),
    ]
    started = time.monotonic()
    results = run_tasks(
        tmp_path,
        [{"kafka_topic": {**topic, **conn}, "ignore_errors": True} for conn in connections],
    )
    elapsed = time.monotonic() - started
    assert all(r.get("failed") is True for r in results), results
    no_cert, rogue, not_allowed, key_only, missing = (r["msg"] for r in results)
    assert "TLS refused" in no_cert, no_cert
    assert "the listener requires a client certificate, ssl_certfile" in no_cert, no_cert
    assert "TLS refused" in rogue, rogue
    assert f"does not accept the client certificate {client_certificates['rogue']}" in rogue
    assert "AuthorizationFailed" in not_allowed, not_allowed
    assert key_only == "ssl_keyfile needs ssl_certfile (the certificate chain of that key)"
    assert missing.startswith("cannot use ssl_cafile ") and "No such file" in missing, missing
    assert f"ssl_certfile {tmp_path / 'missing.pem'}" in missing, missing
    assert not topic_exists(kafka_secured_broker, unique_topic)
    # Two refused connections, 5 s each, and ansible-playbook's own start: no 30 s waits.
    assert elapsed < 60, elapsed


def test_modules_take_the_admin_tools_command_config(
    kafka_secured_broker: Broker,
    client_certificates: dict[str, Path],
    unique_topic: str,
    tmp_path: Path,
) -> None:
    """The kafka role's shape: the modules reach the TLS listener as the node with nothing but the
    admin tools' client properties file (command_config), and kafka_scram_user checks a password by
    logging in on the clients' SASL_SSL listener (login_servers)."""
    config = tmp_path / "kafka-admin.properties"
    config.write_text(
        "# the tools' --command-config\nsecurity.protocol=SSL\nssl.keystore.type=PEM\n"
        f"ssl.keystore.location={client_certificates['node']}\n"
        f"ssl.truststore.type=PEM\nssl.truststore.location={kafka_secured_broker.tls.ca.cert}\n"
    )
    connection = {
        "bootstrap_servers": kafka_secured_broker.bootstrap_of("MTLS"),
        "command_config": str(config),
        "request_timeout": 10,
    }
    user = {
        "name": f"user-{uuid.uuid4().hex[:8]}",
        "password": "client-secret-1",
        "login_servers": kafka_secured_broker.bootstrap_of("CLIENT"),
        **connection,
    }
    created, topic, again, changed = run_tasks(
        tmp_path,
        [
            {"kafka_scram_user": user},
            {"kafka_topic": {"name": unique_topic, "partitions": 1, "replication_factor": 1,
                             **connection}},
            {"kafka_scram_user": user},
            {"kafka_scram_user": {**user, "password": "client-secret-2"}},
        ],
    )  # fmt: skip
    assert created["changed"] is True, created
    assert topic["changed"] is True and topic_exists(kafka_secured_broker, unique_topic), topic
    assert again["changed"] is False, again  # its login on CLIENT was accepted
    assert changed["changed"] is True, changed  # the old password's login was refused


def test_command_config_options(tmp_path: Path) -> None:
    """What a client properties file stands for; explicit options win over it."""
    kafka_admin = load_by_path(
        "kafka_admin_command_config", ROOT / "plugins" / "module_utils" / "kafka_admin.py"
    )
    config = tmp_path / "client.properties"
    config.write_text(
        "security.protocol=sasl_ssl\nsasl.mechanism=SCRAM-SHA-512\n"
        'sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required '
        'username="ops" password="p\\"w";\n'
        "ssl.truststore.location=/ca.pem\nssl.endpoint.identification.algorithm=\n"
    )
    params = {"command_config": str(config), "security_protocol": None, "ssl_cafile": "/mine.pem",
              "ssl_check_hostname": True}  # fmt: skip
    resolved = kafka_admin.resolve_connection(params)
    assert resolved["security_protocol"] == "SASL_SSL"
    assert resolved["sasl_username"] == "ops" and resolved["sasl_password"] == 'p\\"w'
    assert resolved["ssl_cafile"] == "/mine.pem"  # given in the task
    assert resolved["ssl_check_hostname"] is False
    jks = tmp_path / "jks.properties"
    jks.write_text("ssl.truststore.location=/t.jks\nssl.truststore.type=JKS\n")
    with pytest.raises(ValueError, match="only PEM"):
        kafka_admin.resolve_connection({"command_config": str(jks)})


def test_tls_connection_settings(tmp_path: Path) -> None:
    """What the modules hand kafka-python: the TLS options only for TLS listeners, as before."""
    kafka_admin = load_by_path(
        "kafka_admin_under_test", ROOT / "plugins" / "module_utils" / "kafka_admin.py"
    )
    ca = kafka_launcher.CertificateAuthority(tmp_path)
    pem = ca.issue("node", NODE_DN)
    tls = {"ssl_cafile": str(ca.cert), "ssl_certfile": str(pem), "ssl_check_hostname": False}
    assert kafka_admin.connection_settings({"security_protocol": "PLAINTEXT"}) == {
        "security_protocol": "PLAINTEXT"
    }
    assert kafka_admin.connection_settings({"security_protocol": "SSL", **tls}) == {
        "security_protocol": "SSL",
        "ssl_cafile": str(ca.cert),
        "ssl_certfile": str(pem),
        "ssl_check_hostname": False,
    }
    sasl_ssl = kafka_admin.connection_settings(
        {
            "security_protocol": "SASL_SSL",
            "sasl_username": "u",
            "sasl_password": "p",
            "ssl_cafile": str(ca.cert),
        }
    )
    assert sasl_ssl["ssl_check_hostname"] is True and "ssl_certfile" not in sasl_ssl, sasl_ssl
    with pytest.raises(ValueError, match=r"cannot use ssl_cafile .* and ssl_certfile .*"):
        kafka_admin.connection_settings(
            {"security_protocol": "SSL", **tls, "ssl_certfile": str(ca.cert)}  # no key in it
        )


def test_retry_connection_tries_another_broker_after_a_refused_one() -> None:
    """A refused connection (a broker that has just stopped) is tried again; other errors are not."""
    kafka_admin = load_by_path(
        "kafka_admin_retry", ROOT / "plugins" / "module_utils" / "kafka_admin.py"
    )
    from kafka.errors import KafkaConnectionError, KafkaTimeoutError

    calls: list[int] = []

    def refused_twice() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise KafkaConnectionError("111 ECONNREFUSED")
        return "described"

    assert kafka_admin.retry_connection(refused_twice, attempts=3, wait_s=0) == "described"
    assert len(calls) == 3
    calls.clear()
    with pytest.raises(KafkaConnectionError):
        kafka_admin.retry_connection(refused_twice, attempts=2, wait_s=0)
    assert len(calls) == 2

    def timed_out() -> str:
        calls.append(1)
        raise KafkaTimeoutError("no answer")

    calls.clear()
    with pytest.raises(KafkaTimeoutError):
        kafka_admin.retry_connection(timed_out, attempts=3, wait_s=0)
    assert len(calls) == 1
