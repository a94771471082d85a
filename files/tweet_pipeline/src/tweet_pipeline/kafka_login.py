"""A SASL login tried once before a Kafka client is made, so that a refused login says so at once.

kafka-python (3.0) retries a login the broker refuses until its bootstrap timeout (30 s) and then
raises only "Unable to bootstrap": a wrong password looks like an unreachable cluster, and each
connection attempt takes 30 s. `check_login` logs in once over one short connection, as the
client will (SaslHandshake, then SCRAM in SaslAuthenticate frames, over TLS for SASL_SSL), and
raises `LoginRefusedError` with the broker's words when the broker refuses (or its certificate
does not verify). Anything else (no broker reachable, a broker that stops answering) is left
for the client to meet and report as before.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import time
from typing import Any

from kafka.errors import KafkaError, SaslAuthenticationFailedError, for_code
from kafka.net.sasl.scram import ScramClient
from kafka.protocol.parser import KafkaProtocol
from kafka.protocol.sasl import SaslAuthenticateRequest, SaslHandshakeRequest

from tweet_pipeline.config import KafkaConfig

log = logging.getLogger("tweet_pipeline.kafka_login")

CHECK_TIMEOUT_S = 10.0


class LoginRefusedError(SaslAuthenticationFailedError):  # type: ignore[misc]
    """The brokers refuse the configured login, or its TLS: retrying alone cannot help."""


def connect(kafka: KafkaConfig, client: Any, **kwargs: Any) -> Any:
    """client(**kwargs) (KafkaProducer, KafkaConsumer) once check_login(kafka) passed."""
    check_login(kafka)
    return client(**kwargs)


def check_login(kafka: KafkaConfig, timeout_s: float = CHECK_TIMEOUT_S) -> None:
    """Raise LoginRefusedError when a broker refuses the SCRAM login (wrong password, unknown user,
    mechanism not enabled) or its certificate does not verify. No SCRAM login (none, or Amazon MSK's
    IAM one, which the client signs with the host's AWS credentials): nothing to check."""
    if not kafka.scram:
        return
    refusal = login_refusal(kafka, timeout_s)
    if refusal is not None:
        raise LoginRefusedError(
            f"cannot log in to Kafka as {kafka.sasl_username!r} ({kafka.sasl_mechanism} over "
            f"{kafka.security_protocol}): {refusal}"
        )


def login_refusal(kafka: KafkaConfig, timeout_s: float) -> str | None:
    """The first answer of a bootstrap server to the login: None when it accepts it, else its
    refusal. None too when no server answers within timeout_s (the client reports that)."""
    deadline = time.monotonic() + timeout_s
    for server in kafka.bootstrap_servers:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        host, _, port = server.rpartition(":")
        try:
            refusal = _login_at(kafka, host.strip("[]"), int(port), left)
        except ssl.SSLCertVerificationError as exc:  # the same check the client makes
            return f"the certificate of {server} does not verify against ssl_cafile: {exc}"
        except (OSError, KafkaError, ValueError) as exc:
            log.debug("login check at %s not possible: %s", server, exc)
            continue
        if refusal is None:
            log.debug("%s accepts the login of %r", server, kafka.sasl_username)
        return refusal
    return None


def _login_at(kafka: KafkaConfig, host: str, port: int, timeout_s: float) -> str | None:
    with contextlib.ExitStack() as stack:
        sock = stack.enter_context(socket.create_connection((host, port), timeout=timeout_s))
        if kafka.security_protocol == "SASL_SSL":
            sock = stack.enter_context(tls_context(kafka).wrap_socket(sock, server_hostname=host))
        return _scram_login(sock, kafka)


def tls_context(kafka: KafkaConfig) -> ssl.SSLContext:
    """The TLS client context kafka-python builds from the same settings."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if kafka.ssl_cafile:
        context.load_verify_locations(kafka.ssl_cafile)
    else:
        context.load_default_certs()
    if kafka.ssl_certfile:
        context.load_cert_chain(kafka.ssl_certfile)
    return context


# A second copy of this one-shot SCRAM login (with _exchange) is _scram_login in the repository's
# plugins/module_utils/kafka_admin.py, on purpose: that one ships inside the Ansible modules
# (AnsiballZ carries module_utils only), this one inside the application's wheel on the clients'
# hosts. Neither can import the other, so a change to the exchange goes into both.
def _scram_login(sock: socket.socket, kafka: KafkaConfig) -> str | None:
    parser = KafkaProtocol(client_id=kafka.client_id)
    mechanism = kafka.sasl_mechanism
    handshake = _exchange(sock, parser, SaslHandshakeRequest(mechanism=mechanism, version=1))
    if handshake.error_code:
        return f"{_error(handshake.error_code, None)}: the listener takes {handshake.mechanisms}"
    scram = ScramClient(kafka.sasl_username, kafka.sasl_password, mechanism)
    steps = (
        (scram.first_message, scram.process_server_first_message),
        (scram.final_message, scram.process_server_final_message),
    )
    try:
        for message, receive in steps:
            request = SaslAuthenticateRequest(auth_bytes=message(), version=1)
            answer = _exchange(sock, parser, request)
            if answer.error_code:
                return _error(answer.error_code, answer.error_message)
            receive(answer.auth_bytes)
    except (KeyError, ValueError) as exc:  # the broker's SCRAM proof does not verify
        return f"the broker's SCRAM answer does not verify: {exc}"
    return None


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


def _error(code: int, message: str | None) -> str:
    name = for_code(code).__name__
    return f"{name}: {message}" if message else name
