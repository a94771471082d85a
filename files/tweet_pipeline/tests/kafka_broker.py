"""The one launcher of a real single-node KRaft Kafka broker for every Python test suite.

Used by the package's tests (`from tests.kafka_broker import ...`) and by the repository's tests
(tests/conftest.py loads this file by path): the two suites run in different venvs, so this module
uses the standard library only.

TLS (SSL and SASL_SSL listeners, mutual TLS): `CertificateAuthority` makes a throwaway CA and
its certificates with the openssl command line tool, as PEM files Kafka reads directly
(ssl.keystore.type=PEM) and Python's ssl module too; `tls_properties` gives the broker settings.

The Kafka version is the kafka role's (kafka_kraft_version and kafka_scala_version in
roles/kafka/defaults/main.yml); the distribution archive is $KAFKA_DIST_ARCHIVE, else the one
scripts/build-kafka-dist assembles (or finds in its cache) for that version.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import shutil
import socket
import struct
import subprocess
import tarfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
KAFKA_DEFAULTS = ROOT / "roles" / "kafka" / "defaults" / "main.yml"
BUILD_KAFKA_DIST = ROOT / "scripts" / "build-kafka-dist"

# Kafka 3.x reads log4j 1 configuration, Kafka 4.x log4j 2: each ignores the other's property.
LOG4J = """\
log4j.rootLogger=WARN, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
"""
LOG4J2 = """\
rootLogger.level=WARN
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
"""

# The broker settings every test broker has; a suite may add or override some (`properties`).
BASE_PROPERTIES = {
    "process.roles": "broker,controller",
    "node.id": "1",
    "controller.listener.names": "CONTROLLER",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "inter.broker.listener.name": "PLAINTEXT",
    "num.partitions": "1",
    "auto.create.topics.enable": "true",
    "offsets.topic.replication.factor": "1",
    "offsets.topic.num.partitions": "3",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "group.initial.rebalance.delay.ms": "0",
    "log.flush.interval.messages": "1",
}


# Extensions of the test certificates (openssl x509 -extfile). Every leaf certificate may serve and
# authenticate as a client: the tests use one broker identity for both roles, like the nodes do.
CA_EXTENSIONS = """\
basicConstraints = critical, CA:true
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""
LEAF_EXTENSIONS = """\
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
"""


def openssl(*args: str) -> None:
    """Run the openssl command line tool; its own words when it fails."""
    done = subprocess.run(["openssl", *args], check=False, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"openssl {args[0]} failed: {done.stderr.strip()[-2000:]}")


def openssl_subject(dn: str) -> str:
    """openssl's -subj form of an RFC 2253 name: "CN=a,OU=b,O=c" -> "/O=c/OU=b/CN=a".

    RFC 2253 (what Kafka matches ssl.principal.mapping.rules against) lists the most specific
    part first, -subj the most general: the parts are reversed. No escaped commas."""
    return "/" + "/".join(reversed([part.strip() for part in dn.split(",")]))


class CertificateAuthority:
    """A throwaway CA in `directory` (ca.pem, its key beside it) that issues test identities.

    Each identity is ONE PEM file holding an unencrypted PKCS#8 private key, its certificate and
    the CA certificate (the chain): Kafka reads it as ssl.keystore.location with
    ssl.keystore.type=PEM and no ssl.key.password, kafka-python as ssl_certfile. Keys are EC
    P-256 (fast to make; Kafka's PEM keystore and Python's ssl take them)."""

    def __init__(self, directory: Path, name: str = "kafka-pipeline test CA") -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.cert = directory / "ca.pem"
        self._key = self._new_key("ca")
        csr = self._request("ca", f"CN={name}")
        self._sign(csr, CA_EXTENSIONS, self.cert, "-signkey", str(self._key))

    def issue(self, name: str, dn: str, hosts: tuple[str, ...] = ()) -> Path:
        """<directory>/<name>.pem: key + certificate + CA certificate for the RFC 2253 name `dn`
        ("CN=client1,OU=kafka,O=kafka-pipeline"); `hosts` (DNS names or IP addresses) become its
        subjectAltName, which a client checks the server's name against."""
        key = self._new_key(name)
        cert = self.directory / f"{name}.crt"
        serial = str(uuid.uuid4().int >> 64)  # unique within the CA (RFC 5280), no serial file
        signer = ("-CA", str(self.cert), "-CAkey", str(self._key), "-set_serial", serial)
        self._sign(
            self._request(name, dn), LEAF_EXTENSIONS + subject_alt_name(hosts), cert, *signer
        )
        pem = self.directory / f"{name}.pem"
        pem.write_text(key.read_text() + cert.read_text() + self.cert.read_text())
        pem.chmod(0o600)
        return pem

    def _new_key(self, name: str) -> Path:
        key = self.directory / f"{name}.key"
        # genpkey writes PKCS#8 ("BEGIN PRIVATE KEY"): the key format Kafka's PEM keystore reads.
        openssl(
            "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", str(key)
        )
        return key

    def _request(self, name: str, dn: str) -> Path:
        csr = self.directory / f"{name}.csr"
        key = self.directory / f"{name}.key"
        openssl("req", "-new", "-key", str(key), "-subj", openssl_subject(dn), "-out", str(csr))
        return csr

    def _sign(self, csr: Path, extensions: str, cert: Path, *signer: str) -> None:
        """Sign a request for 7 days (the longest test session is far shorter)."""
        extfile = csr.with_suffix(".ext")
        extfile.write_text(extensions)
        openssl(
            "x509",
            "-req",
            "-in",
            str(csr),
            *signer,
            "-days",
            "7",
            "-extfile",
            str(extfile),
            "-out",
            str(cert),
        )


def subject_alt_name(hosts: tuple[str, ...]) -> str:
    """The subjectAltName line of an openssl extension file ("" without hosts)."""
    if not hosts:
        return ""
    names = [f"IP:{host}" if is_ip_address(host) else f"DNS:{host}" for host in hosts]
    return f"subjectAltName = {', '.join(names)}\n"


def is_ip_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class BrokerTls:
    """What a broker with TLS listeners needs: the CA (its truststore), its own identity (its
    keystore) and the listeners that require a client certificate (mutual TLS)."""

    ca: CertificateAuthority
    keystore: Path
    mtls_listeners: tuple[str, ...] = ()

    @classmethod
    def create(cls, directory: Path, mtls_listeners: tuple[str, ...] = ()) -> BrokerTls:
        """A new CA and a broker certificate for localhost and 127.0.0.1."""
        ca = CertificateAuthority(directory)
        hosts = ("localhost", "127.0.0.1")
        broker = ca.issue("broker", "CN=localhost,OU=broker,O=kafka-pipeline-test", hosts)
        return cls(ca, broker, mtls_listeners)

    def properties(self) -> dict[str, str]:
        """Broker settings of every SSL/SASL_SSL listener: PEM keystore and truststore files
        (the keystore's key unencrypted, so no ssl.key.password); each of mtls_listeners
        requires a client certificate the CA signed."""
        settings = {
            "ssl.keystore.type": "PEM",
            "ssl.keystore.location": str(self.keystore),
            "ssl.truststore.type": "PEM",
            "ssl.truststore.location": str(self.ca.cert),
        }
        for listener in self.mtls_listeners:
            settings[f"listener.name.{listener.lower()}.ssl.client.auth"] = "required"
        return settings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kafka_version() -> tuple[str, str]:
    """(version, scala version) of the kafka role's defaults: its KRaft-mode release."""
    text = KAFKA_DEFAULTS.read_text()
    found = {}
    for key in ("kafka_kraft_version", "kafka_scala_version"):
        match = re.search(rf"^{key}:\s*[\"']?([^\"'\s#]+)", text, re.MULTILINE)
        if not match:
            raise RuntimeError(f"{key} not found in {KAFKA_DEFAULTS}")
        found[key] = match.group(1)
    return found["kafka_kraft_version"], found["kafka_scala_version"]


def kafka_archive() -> Path:
    """$KAFKA_DIST_ARCHIVE, else scripts/build-kafka-dist's archive of the role's version."""
    if os.environ.get("KAFKA_DIST_ARCHIVE"):
        archive = Path(os.environ["KAFKA_DIST_ARCHIVE"])
    else:
        version, scala = kafka_version()
        archive = Path(
            subprocess.run(
                [str(BUILD_KAFKA_DIST), version, scala],
                check=True,
                stdout=subprocess.PIPE,
                text=True,
            ).stdout.strip()
        )
    if not archive.is_file():
        raise RuntimeError(
            f"Kafka distribution archive not found at {archive}. Build it with "
            "scripts/build-kafka-dist (from the repository root) or set KAFKA_DIST_ARCHIVE."
        )
    return archive


def unpack_kafka(workdir: Path) -> Path:
    """Unpack the distribution into workdir; return its home, kafka_<scala>-<version>."""
    archive = kafka_archive()
    with tarfile.open(archive) as tar:
        tar.extractall(workdir, filter="data")
    version, scala = kafka_version()
    home = workdir / f"kafka_{scala}-{version}"
    if not (home / "libs").is_dir():
        found = sorted(p.name for p in workdir.iterdir())
        raise RuntimeError(
            f"{archive} does not hold {home.name}/libs (found {found}): it is not the Kafka "
            f"{version} (Scala {scala}) of roles/kafka/defaults/main.yml"
        )
    return home


def api_versions_ok(port: int, timeout: float = 3.0) -> bool:
    """True once the broker answers an ApiVersions request (v0, which every version accepts).

    A KRaft broker processes requests only once it has caught up with the metadata and been
    unfenced, so an answer means it is ready for clients.
    """
    client_id = b"kafka-broker-probe"
    request = struct.pack(">hhih", 18, 0, 1, len(client_id)) + client_id
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            data = b""
            while len(data) < 10:  # size, correlation id, error code
                chunk = sock.recv(64)
                if not chunk:
                    return False
                data += chunk
    except OSError:
        return False
    _size, correlation_id, error_code = struct.unpack(">iih", data[:10])
    return bool(correlation_id == 1 and error_code == 0)


class KafkaBroker:
    """Format and run one broker+controller; `stop()`/`start()` simulate an outage.

    home: an unpacked distribution (default: unpack the archive into workdir);
    properties: broker settings added to or overriding BASE_PROPERTIES;
    listeners: extra client listeners, name -> security protocol (for example
    {"SASL": "SASL_PLAINTEXT"}), each on a free port of its own (`listener_ports`,
    `bootstrap_of(name)`) beside the PLAINTEXT one that `bootstrap` names;
    scram_credentials: SCRAM credentials written at format time, as kafka-storage's --add-scram
    takes them (for example "SCRAM-SHA-512=[name=admin,password=secret]");
    tls: the CA and certificate of SSL and SASL_SSL listeners (`BrokerTls.create`), kept as
    `tls` (`broker.tls.ca.issue(...)` makes client certificates); `properties` override its
    settings;
    release_version: the metadata.version to format the storage at (kafka-storage's
    --release-version, for example "3.9"), as a cluster made by an older release has it; default the
    distribution's latest.
    """

    def __init__(
        self,
        workdir: Path,
        home: Path | None = None,
        properties: dict[str, str] | None = None,
        listeners: dict[str, str] | None = None,
        scram_credentials: list[str] | None = None,
        tls: BrokerTls | None = None,
        release_version: str | None = None,
    ) -> None:
        self.workdir = workdir
        self.tls = tls
        self.home = home or unpack_kafka(workdir)
        self.java = shutil.which("java") or "java"
        self.port = free_port()
        self.controller_port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self.listener_ports = {name: free_port() for name in listeners or {}}
        self.data = workdir / "data"
        self.config = workdir / "server.properties"
        self.log4j = workdir / "log4j.properties"
        self.log4j2 = workdir / "log4j2.properties"
        self.log = workdir / "broker.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.log4j.write_text(LOG4J)
        self.log4j2.write_text(LOG4J2)
        settings = {
            **BASE_PROPERTIES,
            "controller.quorum.voters": f"1@127.0.0.1:{self.controller_port}",
            "listeners": f"PLAINTEXT://127.0.0.1:{self.port},"
            f"CONTROLLER://127.0.0.1:{self.controller_port}",
            "advertised.listeners": f"PLAINTEXT://127.0.0.1:{self.port}",
            "log.dirs": str(self.data),
        }
        for name, protocol in (listeners or {}).items():
            endpoint = f",{name}://{self.bootstrap_of(name)}"
            settings["listeners"] += endpoint
            settings["advertised.listeners"] += endpoint
            settings["listener.security.protocol.map"] += f",{name}:{protocol}"
        settings.update(tls.properties() if tls else {})
        settings.update(properties or {})
        self.config.write_text("".join(f"{key}={value}\n" for key, value in settings.items()))
        # A base64url UUID, not starting with "-" (the tool would read it as an option), as Kafka's.
        cluster_id = "-"
        while cluster_id.startswith("-"):
            cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        formatted = subprocess.run(
            self._command(
                [
                    "kafka.tools.StorageTool",
                    "format",
                    "-t",
                    cluster_id,
                    "-c",
                    str(self.config),
                    *(arg for value in scram_credentials or [] for arg in ("--add-scram", value)),
                    *(["--release-version", release_version] if release_version else []),
                ]
            ),
            check=False,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if formatted.returncode != 0:
            raise RuntimeError(f"formatting the storage failed: {formatted.stderr[-3000:]}")

    def bootstrap_of(self, listener: str) -> str:
        """host:port of an extra listener (see `listeners`)."""
        return f"127.0.0.1:{self.listener_ports[listener]}"

    def _command(self, args: list[str]) -> list[str]:
        return [
            self.java,
            "-Xmx512m",
            "-Xms128m",
            "-XX:+UseSerialGC",
            "-XX:TieredStopAtLevel=1",
            "-Djava.awt.headless=true",
            f"-Dlog4j.configuration=file:{self.log4j}",
            f"-Dlog4j2.configurationFile={self.log4j2}",
            "-cp",
            f"{self.home / 'libs'}/*",
            *args,
        ]

    def start(self, timeout: float = 90.0) -> None:
        assert self.process is None, "broker already running"
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self._command(["kafka.Kafka", str(self.config)]), stdout=log, stderr=log
            )
        try:
            self.wait_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"broker exited: {self.log.read_text()[-3000:]}")
            if api_versions_ok(self.port):
                return
            time.sleep(0.3)
        raise RuntimeError(f"broker not ready after {timeout}s: see {self.log}")

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.terminate()
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        self.process = None
