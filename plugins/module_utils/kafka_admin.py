"""Shared code of the project's Kafka modules: one admin client, clear errors, kafka-python 3.x."""

from __future__ import annotations

import re
import socket
import ssl
import time
import traceback
from collections.abc import Callable
from typing import Any, TypeVar

try:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import KafkaConnectionError, KafkaError, for_code
    from kafka.net.sasl.scram import ScramClient
    from kafka.protocol.metadata import ApiVersionsRequest
    from kafka.protocol.parser import KafkaProtocol
    from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest

    KAFKA_IMPORT_ERROR: str | None = None
except ImportError:  # pragma: no cover - reported to the user by require_kafka()
    KafkaAdminClient = None  # type: ignore[assignment,misc]
    ConfigResource = ConfigResourceType = None  # type: ignore[assignment,misc]
    KafkaError = KafkaConnectionError = Exception  # type: ignore[assignment,misc]
    for_code = None  # type: ignore[assignment]
    ScramClient = KafkaProtocol = ApiVersionsRequest = None  # type: ignore[assignment,misc]
    SaslAuthenticateRequest = SaslHandshakeRequest = None  # type: ignore[assignment,misc]
    KAFKA_IMPORT_ERROR = traceback.format_exc()

SECURITY_PROTOCOLS = ["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
T = TypeVar("T")
SASL_MECHANISMS = ["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]

# The connection options of every admin module: each merges this dict into its argument_spec (and
# documents the same options). admin_client() turns them into the KafkaAdminClient's settings.
KAFKA_COMMON_ARGS: dict[str, Any] = {
    "bootstrap_servers": {"type": "str", "required": True},
    "request_timeout": {"type": "int", "default": 30},
    # No defaults here: a value not given comes from command_config, else PLAINTEXT / SCRAM-SHA-512.
    "security_protocol": {"type": "str", "choices": SECURITY_PROTOCOLS},
    "sasl_mechanism": {"type": "str", "choices": SASL_MECHANISMS},
    "sasl_username": {"type": "str"},
    "sasl_password": {"type": "str", "no_log": True},
    "ssl_cafile": {"type": "path"},
    "ssl_certfile": {"type": "path"},
    "ssl_keyfile": {"type": "path"},
    "ssl_check_hostname": {"type": "bool", "default": True},
    "command_config": {"type": "path"},
}
# Java client properties (Kafka's tools' --command-config) -> the options they stand for.
COMMAND_CONFIG_KEYS = {
    "security.protocol": "security_protocol",
    "sasl.mechanism": "sasl_mechanism",
    "ssl.truststore.location": "ssl_cafile",
    "ssl.keystore.location": "ssl_certfile",
}
JAAS_CREDENTIAL = re.compile(r'\b(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"')
TLS_PROTOCOLS = ("SSL", "SASL_SSL")
TLS_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


def read_properties(path: str) -> dict[str, str]:
    """key=value (or key: value) lines of a Java properties file; # and ! start comments."""
    props: dict[str, str] = {}
    with open(path, encoding="utf-8") as source:
        for raw in source:
            line = raw.strip()
            if not line or line[0] in "#!":
                continue
            match = re.match(r"([^=:\s]+)\s*[=:]?\s*(.*)$", line)
            if match:
                props[match.group(1)] = match.group(2)
    return props


def command_config_options(path: str) -> dict[str, Any]:
    """The connection options a client properties file sets: security.protocol, sasl.mechanism,
    the PEM truststore (ssl_cafile) and keystore (ssl_certfile: key and chain in one file),
    sasl.jaas.config's username and password, an empty ssl.endpoint.identification.algorithm
    (ssl_check_hostname false). ValueError for a file that cannot be used."""
    try:
        props = read_properties(path)
    except OSError as exc:
        raise ValueError(f"cannot read command_config {path}: {exc}") from exc
    for store in ("truststore", "keystore"):
        kind = props.get(f"ssl.{store}.type", "PEM").upper()
        if f"ssl.{store}.location" in props and kind != "PEM":
            raise ValueError(
                f"command_config {path}: ssl.{store}.type {kind} (only PEM files can be used here)"
            )
    options: dict[str, Any] = {
        option: props[key].upper() if option == "security_protocol" else props[key]
        for key, option in COMMAND_CONFIG_KEYS.items()
        if props.get(key)
    }
    credentials = dict(JAAS_CREDENTIAL.findall(props.get("sasl.jaas.config", "")))
    if "username" in credentials:
        options["sasl_username"] = credentials["username"]
    if "password" in credentials:
        options["sasl_password"] = credentials["password"]
    if props.get("ssl.endpoint.identification.algorithm", None) == "":
        options["ssl_check_hostname"] = False
    return options


def resolve_connection(params: dict[str, Any]) -> dict[str, Any]:
    """params with command_config's settings for the options not given explicitly."""
    if not params.get("command_config"):
        return params
    from_file = command_config_options(params["command_config"])
    given = {key: value for key, value in params.items() if value is not None}
    if params.get("ssl_check_hostname") is True and "ssl_check_hostname" in from_file:
        given.pop("ssl_check_hostname")  # the option's default, not a choice
    return {**params, **from_file, **given}


def require_kafka(module: Any) -> None:
    """Fail with a readable message when kafka-python is not importable."""
    if KAFKA_IMPORT_ERROR is not None:
        module.fail_json(
            msg="kafka-python >= 3.0 is required on the host running this module "
            "(the kafka role installs it into pipeline_admin_venv)",
            exception=KAFKA_IMPORT_ERROR,
        )


def bootstrap_list(params: dict[str, Any]) -> list[str]:
    """The host:port entries of bootstrap_servers (blanks and spaces dropped)."""
    return [server.strip() for server in params["bootstrap_servers"].split(",") if server.strip()]


def is_sasl(protocol: str) -> bool:
    return protocol.startswith("SASL_")


def connection_settings(params: dict[str, Any]) -> dict[str, Any]:
    """KafkaAdminClient settings of the connection options; ValueError when they do not add up.
    Modules without the security options (params.get) connect with PLAINTEXT, as before."""
    protocol = params.get("security_protocol") or "PLAINTEXT"
    settings: dict[str, Any] = {"security_protocol": protocol}
    if params.get("ssl_cafile"):
        settings["ssl_cafile"] = params["ssl_cafile"]
    if protocol in TLS_PROTOCOLS:
        settings.update(tls_settings(params))
    if is_sasl(protocol):
        missing = [key for key in ("sasl_username", "sasl_password") if not params.get(key)]
        if missing:
            raise ValueError(f"security_protocol {protocol} needs {' and '.join(missing)}")
        settings.update(
            sasl_mechanism=params.get("sasl_mechanism") or "SCRAM-SHA-512",
            sasl_plain_username=params["sasl_username"],
            sasl_plain_password=params["sasl_password"],
        )
    return settings


def tls_settings(params: dict[str, Any]) -> dict[str, Any]:
    """The client certificate options of a TLS listener (mutual TLS), checked by loading them:
    kafka-python loads them again for each connection, retries a failure until its bootstrap
    timeout and then reports only that timeout."""
    certfile, keyfile = params.get("ssl_certfile"), params.get("ssl_keyfile")
    if keyfile and not certfile:
        raise ValueError("ssl_keyfile needs ssl_certfile (the certificate chain of that key)")
    try:
        tls_context(params)
    except (OSError, ssl.SSLError) as exc:
        files = " and ".join(f"{key} {params[key]}" for key in TLS_FILES if params.get(key))
        raise ValueError(f"cannot use {files}: {exc}") from exc
    settings: dict[str, Any] = {"ssl_check_hostname": params.get("ssl_check_hostname") is not False}
    if certfile:
        settings["ssl_certfile"] = certfile
    if keyfile:
        settings["ssl_keyfile"] = keyfile
    return settings


def tls_context(params: dict[str, Any]) -> ssl.SSLContext:
    """The TLS client context of the connection options, as kafka-python builds its own: the
    brokers verified with ssl_cafile (else the system's CAs), their name checked unless
    ssl_check_hostname is false, the client certificate (ssl_certfile, key inside it unless
    ssl_keyfile) presented when given."""
    context = ssl.create_default_context(cafile=params.get("ssl_cafile"))
    context.check_hostname = params.get("ssl_check_hostname") is not False
    if params.get("ssl_certfile"):
        context.load_cert_chain(params["ssl_certfile"], params.get("ssl_keyfile"))
    return context


def admin_client(module: Any) -> Any:
    """An admin client for the module's bootstrap_servers and security options, or fail_json with
    the reason."""
    require_kafka(module)
    timeout_ms = module.params["request_timeout"] * 1000
    try:
        module.params.update(resolve_connection(module.params))
        settings = connection_settings(module.params)
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    try:
        return KafkaAdminClient(
            bootstrap_servers=bootstrap_list(module.params),
            client_id="ansible-kafka-pipeline",
            request_timeout_ms=timeout_ms,
            # request_timeout bounds the first connection too (kafka-python: 30 s of retries).
            bootstrap_timeout_ms=timeout_ms,
            **settings,
        )
    except KafkaError as exc:
        module.fail_json(
            msg=f"cannot reach Kafka at {module.params['bootstrap_servers']}: {exc}"
            f"{login_hint(module.params) or tls_hint(module.params)}",
            exception=traceback.format_exc(),
        )
    return None  # unreachable: fail_json exits


def retry_connection(call: Callable[[], T], attempts: int = 3, wait_s: float = 1.0) -> T:
    """call(), tried again (up to `attempts` in all) when a broker's connection fails. kafka-python
    sends an admin request to a broker of its last metadata, which can still list one that has just
    stopped (seen: ECONNREFUSED right after a ZooKeeper-mode broker stopped); that broker then waits
    out its reconnect backoff, so the next try goes to another."""
    for attempt in range(1, attempts + 1):
        try:
            return call()
        except KafkaConnectionError:
            if attempt == attempts:
                raise
            time.sleep(wait_s)
    raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises


def login_hint(params: dict[str, Any]) -> str:
    """Why a SCRAM login of the module's own user fails, when it does ("" otherwise): kafka-python
    retries a refused login until its bootstrap timeout and then reports only that timeout."""
    protocol = params.get("security_protocol") or "PLAINTEXT"
    mechanism = params.get("sasl_mechanism") or ""
    if not is_sasl(protocol) or not mechanism.startswith("SCRAM-"):
        return ""
    try:
        refusal = scram_login_refusal(
            params, params["sasl_username"], params["sasl_password"], mechanism
        )
    except KafkaError as exc:
        return f" ({exc})"
    return f" (the login as {params['sasl_username']} is refused: {refusal})" if refusal else ""


def tls_hint(params: dict[str, Any]) -> str:
    """Why the TLS connection fails, when it does ("" otherwise): a broker that refuses the
    client's certificate (or its absence) closes the connection with a TLS alert, which
    kafka-python retries until its bootstrap timeout and then reports only that timeout."""
    if (params.get("security_protocol") or "PLAINTEXT") not in TLS_PROTOCOLS:
        return ""
    try:
        refusal = tls_refusal(params)
    except KafkaError as exc:
        return f" ({exc})"
    if not refusal:
        return ""
    if "ALERT" not in refusal.upper():  # not the broker's refusal (our own check failed)
        return f" (TLS refused: {refusal})"
    if params.get("ssl_certfile"):
        why = f"the broker does not accept the client certificate {params['ssl_certfile']}"
        return f" (TLS refused: {refusal}: {why}; is it signed by a CA the broker trusts?)"
    return f" (TLS refused: {refusal}: the listener requires a client certificate, ssl_certfile)"


def tls_refusal(params: dict[str, Any]) -> str | None:
    """Open one TLS connection at the first reachable bootstrap server and send one ApiVersions
    request (with TLS 1.3 a broker checks the client's certificate only after the handshake):
    None when the broker answers, else the TLS error. Raises KafkaError when no server is
    reachable. Call require_kafka() (or admin_client()) first."""
    reasons = []
    for server in bootstrap_list(params):
        host, _, port = server.rpartition(":")
        try:
            sock = socket.create_connection(
                (host.strip("[]"), int(port)), timeout=float(params["request_timeout"])
            )
        except (OSError, ValueError) as exc:
            reasons.append(f"{server}: {exc}")
            continue
        try:
            sock = tls_context(params).wrap_socket(sock, server_hostname=host.strip("[]"))
            parser = KafkaProtocol(client_id="ansible-kafka-pipeline")
            _exchange(sock, parser, ApiVersionsRequest(version=0))
        except ssl.SSLError as exc:
            return str(exc)
        except (OSError, KafkaError) as exc:
            return f"{type(exc).__name__}: {exc}"
        finally:
            sock.close()
        return None
    raise KafkaError(f"no bootstrap server reachable for a TLS connection ({'; '.join(reasons)})")


def sasl_login_protocol(params: dict[str, Any]) -> str:
    """The SASL protocol of a login at bootstrap_servers: security_protocol when it is a SASL one,
    else its SASL counterpart (SSL: SASL_SSL; PLAINTEXT: SASL_PLAINTEXT)."""
    protocol = params.get("security_protocol") or "PLAINTEXT"
    if is_sasl(protocol):
        return protocol
    return "SASL_SSL" if protocol == "SSL" else "SASL_PLAINTEXT"


def _exchange(sock: socket.socket, parser: Any, request: Any) -> Any:
    """Send one request on a blocking socket and return its decoded response."""
    parser.send_request(request)
    sock.sendall(parser.send_bytes())
    while True:
        data = sock.recv(65536)
        if not data:
            raise KafkaError("the broker closed the connection")
        responses = parser.receive_bytes(data)
        if responses:
            return responses[0][1]


# A second copy of this one-shot SCRAM login (with _exchange) is the application's
# files/tweet_pipeline/src/tweet_pipeline/kafka_login.py, on purpose: this one ships inside the Ansible
# modules (AnsiballZ carries module_utils only), that one inside the application's wheel on the clients'
# hosts. Neither can import the other, so a change to the exchange goes into both.
def _scram_login(sock: socket.socket, username: str, password: str, mechanism: str) -> str | None:
    """One SCRAM exchange (SaslHandshake v1, then SaslAuthenticate v1 frames, as kafka-python's
    own connections do): None when accepted, else the broker's refusal."""
    parser = KafkaProtocol(client_id="ansible-kafka-pipeline")
    handshake = _exchange(sock, parser, SaslHandshakeRequest(mechanism=mechanism, version=1))
    error = broker_error(handshake.error_code, None)
    if error and not handshake.mechanisms:
        raise KafkaError(f"{error}: this listener does not take SASL logins")
    if error:
        raise KafkaError(f"{error}: this listener takes {', '.join(handshake.mechanisms)}")
    scram = ScramClient(username, password, mechanism)
    steps = (
        (scram.first_message, scram.process_server_first_message),
        (scram.final_message, scram.process_server_final_message),
    )
    try:
        for message, receive in steps:
            request = SaslAuthenticateRequest(auth_bytes=message(), version=1)
            answer = _exchange(sock, parser, request)
            if answer.error_code:
                return str(broker_error(answer.error_code, answer.error_message))
            receive(answer.auth_bytes)
    except (KeyError, ValueError) as exc:  # a malformed or unverifiable SCRAM answer
        raise KafkaError(f"the broker's SCRAM answer does not verify: {exc}") from exc
    return None


def scram_login_refusal(
    params: dict[str, Any], username: str, password: str, mechanism: str
) -> str | None:
    """Log in once as username with a SCRAM mechanism at the first reachable bootstrap server, over
    sasl_login_protocol(params) (ssl_cafile for SASL_SSL), on one short connection.

    Returns None when the broker accepts the password, the broker's refusal when it does not
    (wrong password, no credential of that mechanism, unknown user). Raises KafkaError when no
    login could be tried: nothing reachable, no SASL listener there, mechanism not enabled.
    Call require_kafka() (or admin_client()) first."""
    protocol = sasl_login_protocol(params)
    timeout = float(params["request_timeout"])
    reasons = []
    for server in bootstrap_list(params):
        host, _, port = server.rpartition(":")
        try:
            sock = socket.create_connection((host.strip("[]"), int(port)), timeout=timeout)
        except (OSError, ValueError) as exc:
            reasons.append(f"{server}: {exc}")
            continue
        try:
            if protocol == "SASL_SSL":
                sock = tls_context(params).wrap_socket(sock, server_hostname=host.strip("[]"))
            return _scram_login(sock, username, password, mechanism)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaError(f"{protocol} login at {server} failed: {exc}") from exc
        except KafkaError as exc:
            raise KafkaError(f"{protocol} login at {server} failed: {exc}") from exc
        finally:
            sock.close()
    raise KafkaError(f"no bootstrap server reachable for a {protocol} login ({'; '.join(reasons)})")


def broker_error(error_code: int, error_message: str | None) -> str | None:
    """The broker's error for one resource of a response ("InvalidConfigurationError: <its
    message>"), or None when its error code is 0. Admin responses carry an error per resource
    (topic, config resource...): a request can succeed while the broker refuses what it asks."""
    if not error_code:
        return None
    name = for_code(error_code).__name__ if for_code is not None else f"error {error_code}"
    return f"{name}: {error_message}" if error_message else f"{name} (error code {error_code})"


def describe_topics(admin: Any, names: list[str] | None = None) -> dict[str, dict[str, Any]]:
    """Topics by name: partition count, replication factor and replica health."""
    return summarize_topics(admin.describe_topics(names))


def summarize_topics(described: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Topics by name from a metadata answer (admin.describe_topics); skips topics in error."""
    result: dict[str, dict[str, Any]] = {}
    for topic in described:
        if topic["error_code"] != 0:
            continue
        partitions = topic["partitions"]
        result[topic["name"]] = {
            "partitions": len(partitions),
            "replication_factor": max((len(p["replica_nodes"]) for p in partitions), default=0),
            "under_replicated": sum(
                1 for p in partitions if len(p["isr_nodes"]) < len(p["replica_nodes"])
            ),
            "offline": sum(1 for p in partitions if p["leader_id"] < 0),
            "internal": topic["is_internal"],
        }
    return result


MIN_INSYNC_REPLICAS = "min.insync.replicas"


def topic_min_insync_replicas(admin: Any, names: list[str]) -> dict[str, int]:
    """Each topic's effective min.insync.replicas: its own setting, else the broker's default (the
    broker resolves that for a topic resource). Raises KafkaError when a topic has no answer."""
    if not names:
        return {}
    described = admin.describe_configs(
        [
            ConfigResource(ConfigResourceType.TOPIC, name, configs=[MIN_INSYNC_REPLICAS])
            for name in names
        ],
        config_filter="all",
    ).get("topic", {})
    result: dict[str, int] = {}
    for name in names:
        entry = described.get(name, {}).get(MIN_INSYNC_REPLICAS)
        if entry is None or entry.get("value") is None:
            # The client drops the per-resource error; a topic deleted meanwhile lands here.
            raise KafkaError(f"no {MIN_INSYNC_REPLICAS} in the broker's answer for topic {name}")
        result[name] = int(entry["value"])
    return result


def partition_health(
    described: list[dict[str, Any]], min_isr: dict[str, int], leaving_broker: int | None = None
) -> dict[str, Any]:
    """Replica health of every partition of a metadata answer (internal topics included).

    Returns "topic-partition" lists: under_replicated_partitions (ISR smaller than the replica
    set), under_min_isr_partitions (ISR below the topic's min.insync.replicas: acks=all writes
    fail), offline_partitions (no leader), at_risk_partitions (leaving_broker is in the ISR and
    the ISR without it would be under min.insync.replicas, or empty), and under_min_isr_by_topic.
    """
    lists: dict[str, list[str]] = {
        "under_replicated_partitions": [],
        "under_min_isr_partitions": [],
        "offline_partitions": [],
        "at_risk_partitions": [],
    }
    under_min_isr_by_topic: dict[str, int] = {}
    for topic in sorted(described, key=lambda t: str(t["name"])):
        if topic["error_code"] != 0:
            continue
        name = topic["name"]
        under_min_isr_by_topic[name] = 0
        for partition in sorted(topic["partitions"], key=lambda p: int(p["partition_index"])):
            label = f"{name}-{partition['partition_index']}"
            isr = set(partition["isr_nodes"])
            if len(isr) < len(partition["replica_nodes"]):
                lists["under_replicated_partitions"].append(label)
            if len(isr) < min_isr[name]:
                lists["under_min_isr_partitions"].append(label)
                under_min_isr_by_topic[name] += 1
            if partition["leader_id"] < 0:
                lists["offline_partitions"].append(label)
            if leaving_broker in isr and (len(isr) - 1 < min_isr[name] or len(isr) == 1):
                lists["at_risk_partitions"].append(label)
    return {**lists, "under_min_isr_by_topic": under_min_isr_by_topic}
