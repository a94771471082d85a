#!/usr/bin/env python3
"""Tries to get into the secured cluster in ways that must be refused, beside a control that must
work, and prints {probe: {"ok": bool, "error": "..."}} as JSON. Each refusal differs from its control
in one thing only (the password, the CA, the principal, the listener), so a refusal cannot come from
an unreachable broker. Run with the Python of the tweet app's venv, as root, on a producer or consumer
host:

usage: kafka_access_probe.py SERVICE_CONFIG ROLE TOPIC INTERNAL_ENDPOINT CONTROLLER_ENDPOINT
  SERVICE_CONFIG  the service's TOML (its [kafka] table: brokers, TLS, SCRAM login)
  ROLE            producer or consumer
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from tweet_pipeline.config import load_consumer_config, load_producer_config

TIMEOUTS = {"request_timeout_ms": 10_000, "bootstrap_timeout_ms": 5_000}


def attempt(action: Callable[[], Any]) -> dict[str, Any]:
    try:
        action()
    except Exception as exc:  # what refused it is the result
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": True, "error": ""}


def write(client: dict[str, Any], topic: str) -> None:
    producer = KafkaProducer(**client, **TIMEOUTS, max_block_ms=10_000, acks="all", retries=0)
    try:
        producer.send(topic, b'{"probe": true}').get(timeout=15)
    finally:
        producer.close(timeout=5)


def read(client: dict[str, Any], topic: str) -> None:
    consumer = KafkaConsumer(**client, **TIMEOUTS, group_id=None, enable_auto_commit=False)
    try:
        partition = TopicPartition(topic, 0)
        consumer.assign([partition])
        consumer.seek_to_beginning(partition)
        consumer.poll(timeout_ms=8_000, max_records=1)
    finally:
        consumer.close()


def create_topic(client: dict[str, Any]) -> None:
    admin = KafkaAdminClient(**client, **TIMEOUTS)
    try:
        admin.create_topics([NewTopic("probe-intruder", 1, 1)])
    finally:
        admin.close()


def main() -> None:
    config_path, role, topic, internal, controller = sys.argv[1:6]
    loader = load_producer_config if role == "producer" else load_consumer_config
    client = loader(Path(config_path)).kafka.client_kwargs()
    client["client_id"] = f"access-probe-{role}"
    # What the role may do (the producer writes, the consumer reads): each refusal tries that very thing,
    # wrong in one way only: the password, the CA, no login at all, plaintext or no certificate.
    allowed = write if role == "producer" else read
    login = client["bootstrap_servers"]
    plaintext = {"client_id": client["client_id"], "security_protocol": "PLAINTEXT"}
    tls_only = plaintext | {"security_protocol": "SSL", "ssl_cafile": client["ssl_cafile"]}
    no_ca = {key: value for key, value in client.items() if key != "ssl_cafile"}
    tries = {
        "control": client,
        "wrong_password": client | {"sasl_plain_password": "not-the-password"},
        "untrusted_ca": no_ca,
        "no_login": plaintext | {"bootstrap_servers": login},
        "plaintext_internal": plaintext | {"bootstrap_servers": [internal]},
        "plaintext_controller": plaintext | {"bootstrap_servers": [controller]},
        "tls_without_certificate_internal": tls_only | {"bootstrap_servers": [internal]},
    }
    results = {
        name: attempt(lambda settings=settings: allowed(settings, topic))
        for name, settings in tries.items()
    }
    # And what it may not do, with its own valid login.
    if role == "producer":
        results["read_refused"] = attempt(lambda: read(client, topic))
    else:
        results["write_refused"] = attempt(lambda: write(client, topic))
        results["create_topic_refused"] = attempt(lambda: create_topic(client))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
