"""The /metrics endpoint over real sockets: HTTPS only with tls_*, basic auth, reloads, config."""

from __future__ import annotations

import base64
import datetime
import http.client
import ipaddress
import logging
import os
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests.kafka_broker import free_port
from tweet_pipeline import metrics_server
from tweet_pipeline.config import MetricsConfig, load_consumer_config, load_producer_config
from tweet_pipeline.metrics import ProducerMetrics, serve
from tweet_pipeline.metrics_server import REALM, MetricsServer
from tweet_pipeline.toml_tables import ConfigError

METRIC = "tweet_producer_received_total"
USER = "prometheus"
PASSWORD = "s3cret pass"  # a password may hold spaces


@dataclass
class CA:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey
    pem: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def _builder(subject: str, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey) -> Any:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def make_ca(directory: Path, name: str) -> CA:
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder(name, _name(name), key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    pem = directory / f"{name}.pem"
    pem.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return CA(cert, key, pem)


def issue(ca: CA, cert_file: Path, key_file: Path) -> int:
    """Write a server certificate for 127.0.0.1 and its new key in place; its serial number."""
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        _builder("metrics", ca.cert.subject, key.public_key())
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()),
            critical=False,
        )
        .sign(ca.key, hashes.SHA256())
    )
    key_file.write_bytes(_key_pem(key))
    key_file.chmod(0o600)
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return int(cert.serial_number)


def write_secret(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)
    return path


@dataclass
class Endpoint:
    server: MetricsServer
    port: int
    ca: CA
    cert_file: Path
    key_file: Path
    password_file: Path
    serial: int

    def client_context(self, ca: CA | None = None) -> ssl.SSLContext:
        return ssl.create_default_context(cafile=str((ca or self.ca).pem))

    def get(
        self, authorization: str | None = None, context: ssl.SSLContext | None = None
    ) -> tuple[http.client.HTTPResponse, str, int]:
        """GET /metrics over HTTPS: the response, its body, the served certificate's serial."""
        conn = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=context or self.client_context(), timeout=5
        )
        try:
            headers = {"Authorization": authorization} if authorization else {}
            conn.request("GET", "/metrics", headers=headers)
            assert conn.sock is not None
            der = conn.sock.getpeercert(binary_form=True)
            assert der is not None
            response = conn.getresponse()
            return (
                response,
                response.read().decode(),
                x509.load_der_x509_certificate(der).serial_number,
            )
        finally:
            conn.close()


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def config_text(tmp_path: Path, metrics: str) -> Path:
    path = tmp_path / "p.toml"
    path.write_text(f'[spool]\npath = "{tmp_path / "s.db"}"\n[metrics]\n{metrics}\n')
    return path


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[Endpoint]:
    """The producer's metrics served with TLS and basic auth."""
    ca = make_ca(tmp_path, "metrics-ca")
    cert_file, key_file = tmp_path / "metrics.crt", tmp_path / "metrics.key"
    serial = issue(ca, cert_file, key_file)
    password_file = write_secret(tmp_path / "metrics-password", PASSWORD + "\n")
    port = free_port()
    cfg = load_producer_config(
        config_text(
            tmp_path,
            f'host = "127.0.0.1"\nport = {port}\n'
            f'tls_cert_file = "{cert_file}"\ntls_key_file = "{key_file}"\n'
            f'basic_auth_user = "{USER}"\nbasic_auth_password_file = "{password_file}"\n',
        ),
        env={},
    )
    assert PASSWORD in cfg.secrets()  # redacted from the logs like the other secrets
    metrics = ProducerMetrics()
    metrics.received.inc(3)
    server = metrics_server.start(cfg.metrics, metrics.registry, poll_interval=0.02)
    try:
        yield Endpoint(server, port, ca, cert_file, key_file, password_file, serial)
    finally:
        server.shutdown()
        server.server_close()


def http_get(port: int, authorization: str | None = None) -> tuple[int, str]:
    """GET /metrics in plaintext HTTP: status and body."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        conn.request("GET", "/metrics", headers={"Authorization": authorization or ""})
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def test_plaintext_http_to_the_tls_endpoint_fails(endpoint: Endpoint) -> None:
    with pytest.raises((OSError, http.client.HTTPException)):
        http_get(endpoint.port, basic(USER, PASSWORD))
    response, _, _ = endpoint.get(basic(USER, PASSWORD))  # and the server still serves HTTPS
    assert response.status == 200


def test_https_with_the_ca_and_credentials_serves_the_metrics(endpoint: Endpoint) -> None:
    response, body, serial = endpoint.get(basic(USER, PASSWORD))
    assert response.status == 200
    assert f"{METRIC} 3.0" in body
    assert serial == endpoint.serial
    # TLS 1.2 or later only
    tls12 = endpoint.client_context()
    tls12.maximum_version = ssl.TLSVersion.TLSv1_2
    assert endpoint.get(basic(USER, PASSWORD), tls12)[0].status == 200
    assert endpoint.server.tls is not None
    context = endpoint.server.tls.get()
    assert context is not None and context.minimum_version == ssl.TLSVersion.TLSv1_2


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        basic(USER, "wrong"),
        basic("someone", PASSWORD),
        basic(USER, PASSWORD + "x"),
        "Bearer " + PASSWORD,
        "Basic not-base64!",
        "Basic " + base64.b64encode(USER.encode()).decode(),  # no colon
    ],
    ids=[
        "none",
        "wrong-password",
        "wrong-user",
        "longer-password",
        "bearer",
        "bad-b64",
        "no-colon",
    ],
)
def test_requests_without_the_right_credentials_get_401(
    endpoint: Endpoint, authorization: str | None
) -> None:
    response, body, _ = endpoint.get(authorization)
    assert response.status == 401
    assert response.getheader("WWW-Authenticate") == f'Basic realm="{REALM}"'
    assert METRIC not in body


def test_a_client_that_does_not_trust_the_ca_fails_verification(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    other = make_ca(tmp_path, "other-ca")
    with pytest.raises(ssl.SSLCertVerificationError):
        endpoint.get(basic(USER, PASSWORD), endpoint.client_context(other))


def test_a_rotated_certificate_is_served_on_the_next_connection(endpoint: Endpoint) -> None:
    assert endpoint.get(basic(USER, PASSWORD))[2] == endpoint.serial
    time.sleep(0.05)  # the new files' mtimes differ from the old ones' (coarse kernel clock)
    rotated = issue(endpoint.ca, endpoint.cert_file, endpoint.key_file)  # written in place
    response, body, serial = endpoint.get(basic(USER, PASSWORD))
    assert serial == rotated != endpoint.serial
    assert response.status == 200 and METRIC in body


def test_a_half_rotated_pair_keeps_the_previous_certificate(
    endpoint: Endpoint, tmp_path: Path
) -> None:
    """The certificate replaced, its key not yet: the old pair is served until the key follows."""
    time.sleep(0.05)
    new_cert, new_key = tmp_path / "new.crt", tmp_path / "new.key"
    rotated = issue(endpoint.ca, new_cert, new_key)
    endpoint.cert_file.write_bytes(new_cert.read_bytes())
    assert endpoint.get(basic(USER, PASSWORD))[2] == endpoint.serial
    endpoint.key_file.write_bytes(new_key.read_bytes())
    assert endpoint.get(basic(USER, PASSWORD))[2] == rotated


def test_a_changed_password_file_is_honoured(endpoint: Endpoint) -> None:
    assert endpoint.get(basic(USER, PASSWORD))[0].status == 200
    time.sleep(0.05)
    write_secret(endpoint.password_file, "rotated-password\n")
    assert endpoint.get(basic(USER, PASSWORD))[0].status == 401
    assert endpoint.get(basic(USER, "rotated-password"))[0].status == 200
    endpoint.password_file.unlink()  # unreadable: nobody gets in
    assert endpoint.get(basic(USER, "rotated-password"))[0].status == 401


def test_serve_logs_https(endpoint: Endpoint, caplog: pytest.LogCaptureFixture) -> None:
    """`serve()` as the apps call it, with the endpoint's settings on another port."""
    cfg = load_producer_config(config_text(endpoint.cert_file.parent, ""), env={}).metrics
    port = free_port()
    tls = replace(
        cfg,
        host="127.0.0.1",
        port=port,
        tls_cert_file=str(endpoint.cert_file),
        tls_key_file=str(endpoint.key_file),
    )
    with caplog.at_level(logging.INFO, logger="tweet_pipeline.metrics"):
        server = serve(tls, ProducerMetrics().registry)
    assert server is not None
    try:
        assert f"metrics on https://127.0.0.1:{port}/metrics" in caplog.text
        assert replace(endpoint, server=server, port=port).get()[0].status == 200  # no auth
    finally:
        server.shutdown()
        server.server_close()


def test_plain_http_without_tls_or_auth(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    port = free_port()
    cfg = MetricsConfig(port=port, host="127.0.0.1")
    metrics = ProducerMetrics()
    with caplog.at_level(logging.INFO, logger="tweet_pipeline.metrics"):
        server = serve(cfg, metrics.registry)
    assert server is not None
    assert f"metrics on http://127.0.0.1:{port}/metrics" in caplog.text
    try:
        status, body = http_get(port)
        assert status == 200 and METRIC in body
    finally:
        server.shutdown()
        server.server_close()
    assert serve(MetricsConfig(port=port, enabled=False), metrics.registry) is None


@pytest.fixture
def pki(tmp_path: Path) -> dict[str, Path]:
    ca = make_ca(tmp_path, "ca")
    issue(ca, tmp_path / "m.crt", tmp_path / "m.key")
    issue(ca, tmp_path / "other.crt", tmp_path / "other.key")
    write_secret(tmp_path / "pw", "pw\n")
    (tmp_path / "pw-open").write_text("pw\n")
    (tmp_path / "pw-open").chmod(0o644)
    return {"dir": tmp_path}


@pytest.mark.parametrize(
    ("metrics", "expected"),
    [
        (
            'tls_cert_file = "{d}/m.crt"',
            "metrics.tls_key_file is required with metrics.tls_cert_file",
        ),
        (
            'tls_cert_file = "{d}/m.crt"\ntls_key_file = ""',
            "metrics.tls_key_file is required with metrics.tls_cert_file",
        ),
        (
            'tls_key_file = "{d}/m.key"',
            "metrics.tls_cert_file is required with metrics.tls_key_file",
        ),
        (
            'basic_auth_user = "prometheus"',
            "metrics.basic_auth_password_file is required with metrics.basic_auth_user",
        ),
        (
            'basic_auth_password_file = "{d}/pw"',
            "metrics.basic_auth_user is required with metrics.basic_auth_password_file",
        ),
        (
            'tls_cert_file = "{d}/missing.crt"\ntls_key_file = "{d}/m.key"',
            "metrics.tls_cert_file cannot be read (No such file or directory: '{d}/missing.crt')",
        ),
        (
            'tls_cert_file = "{d}/m.crt"\ntls_key_file = "{d}/missing.key"',
            "metrics.tls_key_file cannot be read (No such file or directory: '{d}/missing.key')",
        ),
        (
            'tls_cert_file = "{d}/m.crt"\ntls_key_file = "{d}/other.key"',
            "metrics.tls_cert_file must be a PEM certificate (chain) whose private key is "
            "metrics.tls_key_file",
        ),
        (
            'tls_cert_file = "{d}/pw"\ntls_key_file = "{d}/m.key"',
            "metrics.tls_cert_file must be a PEM certificate (chain)",
        ),
        (
            'basic_auth_user = "p"\nbasic_auth_password_file = "{d}/missing"',
            "metrics.basic_auth_password_file cannot be read (No such file or directory",
        ),
        (
            'basic_auth_user = "p"\nbasic_auth_password_file = "{d}/pw-open"',
            "metrics.basic_auth_password_file must not be accessible by others (mode 644",
        ),
        (
            'basic_auth_user = "a:b"\nbasic_auth_password_file = "{d}/pw"',
            "metrics.basic_auth_user must not contain ':'",
        ),
    ],
    ids=[
        "cert-only",
        "cert-and-empty-key",
        "key-only",
        "user-only",
        "password-file-only",
        "cert-missing",
        "key-missing",
        "key-mismatch",
        "cert-not-pem",
        "password-file-missing",
        "password-file-open",
        "user-with-colon",
    ],
)
def test_metrics_config_errors_name_the_key(
    pki: dict[str, Path], metrics: str, expected: str
) -> None:
    d = pki["dir"]
    path = config_text(d, metrics.format(d=d))
    with pytest.raises(ConfigError) as info:
        load_producer_config(path, env={})
    assert any(p.startswith(expected.format(d=d)) for p in info.value.problems), info.value


def test_metrics_config_loads_tls_and_auth_for_both_apps(pki: dict[str, Path]) -> None:
    d = pki["dir"]
    text = (
        f'tls_cert_file = "{d}/m.crt"\ntls_key_file = "{d}/m.key"\n'
        f'basic_auth_user = "prometheus"\nbasic_auth_password_file = "{d}/pw"\n'
    )
    producer = load_producer_config(config_text(d, text), env={}).metrics
    assert producer.tls and producer.basic_auth and producer.basic_auth_password == "pw"
    assert producer.port == 8000
    consumer_path = d / "c.toml"
    consumer_path.write_text(f"[sinks.console]\n[metrics]\n{text}")
    consumer = load_consumer_config(consumer_path).metrics
    assert consumer.tls and consumer.basic_auth and consumer.port == 8001
    empty = 'tls_cert_file = ""\ntls_key_file = ""\nbasic_auth_user = ""\n'
    unset = load_producer_config(config_text(d, empty), env={}).metrics
    assert not unset.tls and not unset.basic_auth and unset.tls_cert_file is None


def test_check_names_the_missing_password_file(pki: dict[str, Path]) -> None:
    d = pki["dir"]
    path = config_text(d, f'basic_auth_user = "p"\nbasic_auth_password_file = "{d}/nope"')
    result = subprocess.run(
        [sys.executable, "-m", "tweet_pipeline.producer", "--config", str(path), "--check"],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2
    assert (
        f"config error: metrics.basic_auth_password_file cannot be read "
        f"(No such file or directory: '{d}/nope')"
    ) in result.stderr.splitlines()
