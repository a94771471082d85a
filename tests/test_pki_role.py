"""The pki role without containers: two fake hosts on the local connection, each with its own pki_dir.

The CA is made on the controller (pki_ca_dir), each host's key and CSR on the "host" (its pki_dir),
and the role is run the way the other roles will include it. The certificates are checked with the
cryptography package and `openssl verify`.
"""

from __future__ import annotations

import base64
import datetime
import itertools
import json
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import run_playbook

HOSTS = ("host-a", "host-b")
PLAYBOOK = """\
- name: Certificates for the fake hosts
  hosts: all
  gather_facts: false
  roles:
    - role: pki
  post_tasks:
    - name: Show the fact the including roles read
      ansible.builtin.debug:
        msg: "PKI_CERT_CHANGED={{ pki_cert_changed }}"
"""


class Lab:
    """Two fake hosts (local connection) with their own pki_dir, and the controller's pki_ca_dir."""

    def __init__(self, root: Path, **all_vars: Any) -> None:
        self.root = root
        self.ca_dir = root / "controller-ca"
        self.playbook = root / "pki.yml"
        self.playbook.write_text(PLAYBOOK)
        self.inventory = root / "hosts.yml"
        self.all_vars: dict[str, Any] = {
            "ansible_connection": "local",
            "ansible_python_interpreter": sys.executable,
            "pki_ca_dir": str(self.ca_dir),
            "pki_host_packages": [],
            "pki_cert_name": "kafka",
            "pki_cert_group": "root",
            "pki_cert_organizational_unit": "kafka",
            **all_vars,
        }
        self.host_vars: dict[str, dict[str, Any]] = {
            "host-a": {
                "pki_cert_dns_names": ["host-a.example.internal"],
                "pki_cert_ip_addresses": ["10.0.0.11"],
                "pki_cert_bundle": True,
            },
            "host-b": {"pki_cert_dns_names": [], "pki_cert_ip_addresses": ["10.0.0.12", "fd00::12"]},
        }
        self.write_inventory()

    def write_inventory(self) -> None:
        hosts = {host: {"pki_dir": str(self.pki_dir(host)), **self.host_vars[host]} for host in HOSTS}
        self.inventory.write_text(yaml.safe_dump({"all": {"vars": self.all_vars, "hosts": hosts}}))

    def pki_dir(self, host: str) -> Path:
        return self.root / host / "tls"

    def run(self, *args: str) -> str:
        run = run_playbook(self.playbook, *args, inventory=self.inventory)
        assert run.rc == 0, run.output
        return run.output

    def file(self, host: str, name: str) -> bytes:
        return (self.pki_dir(host) / name).read_bytes()

    def snapshot(self) -> dict[str, bytes]:
        return {f"{host}/{name}": self.file(host, name) for host in HOSTS for name in ("kafka.key", "kafka.crt")}


def recap(output: str) -> dict[str, dict[str, int]]:
    counts = {}
    for host in HOSTS:
        match = re.search(re.escape(host) + r"\s+:\s+(.*)", output.rsplit("PLAY RECAP", maxsplit=1)[-1])
        assert match, output
        counts[host] = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}
    return counts


def failure_messages(output: str) -> list[str]:
    """The msg of every failed task or loop item, as the YAML callback prints it, continuation lines joined."""
    messages = []
    lines = output.splitlines()
    for number, line in enumerate(lines):
        if not line.startswith(("fatal:", "failed:")):
            continue
        record = list(itertools.takewhile(lambda text: text.startswith(" "), lines[number + 1:]))
        for index, text in enumerate(record):
            match = re.match(r"(\s+)msg: ?(.*)", text)
            if not match:
                continue
            parts = [match.group(2)]
            for more in record[index + 1:]:
                if len(more) - len(more.lstrip()) <= len(match.group(1)):
                    break
                parts.append(more.strip())
            messages.append(" ".join(parts))
            break
    return messages


def leaf(pem: bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificates(pem)[0]


def key_bodies(*pems: bytes) -> list[str]:
    """The base64 lines of private keys that carry private data. An EC key's PEM ends with its public
    key, which a certificate shown in the output may hold in the same alignment: for a plain key, the
    lines that encode its secret number; for an encrypted one, every line."""
    lines = []
    for pem in pems:
        body = [line for line in pem.decode().splitlines() if line and not line.startswith("-----")]
        if b"ENCRYPTED" in pem:
            lines += body
            continue
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        secret = key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
        start = base64.b64decode("".join(body)).index(secret)
        lines += body[start // 48:(start + len(secret) - 1) // 48 + 1]
    return lines


def scalar_forms(*pems: bytes) -> list[str]:
    """An EC private key's secret number in hex and base64 (each of the three alignments)."""
    forms = []
    for pem in pems:
        key = serialization.load_pem_private_key(pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        secret = key.private_numbers().private_value.to_bytes((key.curve.key_size + 7) // 8, "big")
        forms += [secret.hex(), secret.hex().upper()]
        forms += [base64.b64encode(secret[shift:])[4:36].decode() for shift in range(3)]
    return forms


def assert_no_key_material(output: str, *key_pems: bytes) -> None:
    assert "PRIVATE KEY" not in output, "a private key marker is in the output"
    leaked = [line for line in key_bodies(*key_pems) if line in output]
    assert not leaked, f"private key lines in the output: {leaked}"
    plain = [pem for pem in key_pems if b"ENCRYPTED" not in pem]
    assert not [form for form in scalar_forms(*plain) if form in output], "a private key's secret is in the output"


def sans(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return ext.get_values_for_type(x509.DNSName), [str(ip) for ip in ext.get_values_for_type(x509.IPAddress)]


def public_der(key: Any) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def openssl_verify(ca: Path, cert: Path) -> None:
    proc = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(cert)], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0 and ": OK" in proc.stdout, proc.stdout + proc.stderr


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_issue_keep_reissue_and_rotate(tmp_path: Path) -> None:
    lab = Lab(tmp_path)

    # First run, verbose and with diffs: the CA and a certificate per host, no key in the output.
    output = lab.run("-vvv", "--diff")
    assert "PKI_CERT_CHANGED=True" in output
    first = lab.snapshot()
    ca_key = (lab.ca_dir / "ca.key").read_bytes()
    assert_no_key_material(output, ca_key, first["host-a/kafka.key"], first["host-b/kafka.key"])

    # The CA: only on the controller, its key 0600 in a 0700 directory, no host key beside it.
    assert sorted(p.name for p in lab.ca_dir.iterdir()) == ["ca.crt", "ca.key"]
    assert mode(lab.ca_dir) == 0o700 and mode(lab.ca_dir / "ca.key") == 0o600
    ca = x509.load_pem_x509_certificate((lab.ca_dir / "ca.crt").read_bytes())
    assert ca.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kafka-pipeline CA"
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert isinstance(ca.public_key(), ec.EllipticCurvePublicKey) and ca.public_key().curve.name == "secp256r1"
    ca_body = key_bodies(ca_key)
    host_bodies = key_bodies(first["host-a/kafka.key"], first["host-b/kafka.key"])
    assert not any(line in (lab.ca_dir / "ca.crt").read_text() for line in host_bodies)

    expected = {
        "host-a": (["host-a", "host-a.example.internal"], ["10.0.0.11"]),
        "host-b": (["host-b"], ["10.0.0.12", "fd00::12"]),
    }
    for host in HOSTS:
        tls = lab.pki_dir(host)
        bundle = ["kafka.pem", "kafka.pem.d"] if host == "host-a" else []
        # .kafka.record: what the last full pass decided and left (the next run compares it first).
        assert sorted(p.name for p in tls.iterdir()) == sorted(
            [".kafka.record", "ca.crt", "kafka.crt", "kafka.key", *bundle]
        )
        assert mode(tls) == 0o755
        assert mode(tls / "kafka.key") == 0o640 and (tls / "kafka.key").stat().st_gid == 0
        assert mode(tls / "kafka.crt") == 0o644 and mode(tls / "ca.crt") == 0o644
        key_pem = lab.file(host, "kafka.key")
        assert key_pem.startswith(b"-----BEGIN PRIVATE KEY-----"), "not PKCS#8"
        key = serialization.load_pem_private_key(key_pem, password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
        # No trace of the CA key on the host.
        for path in tls.iterdir():
            if path.is_file():
                assert not any(line in path.read_text() for line in ca_body), path

        chain = x509.load_pem_x509_certificates(lab.file(host, "kafka.crt"))
        assert [c.subject for c in chain] == [chain[0].subject, ca.subject] and chain[1] == ca
        assert lab.file(host, "ca.crt") == (lab.ca_dir / "ca.crt").read_bytes()
        cert = chain[0]
        openssl_verify(lab.ca_dir / "ca.crt", tls / "kafka.crt")
        assert cert.issuer == ca.subject
        assert cert.subject.rfc4514_string() == f"CN={host},OU=kafka,O=kafka-pipeline"
        assert sans(cert) == expected[host]
        assert public_der(cert) == public_der(key)
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert set(eku) == {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}
        assert not cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        assert abs(lifetime - datetime.timedelta(days=825)) < datetime.timedelta(minutes=5)
        # The bundle: key, certificate, CA, in that order, readable by the group only.
        if bundle:
            assert lab.file(host, "kafka.pem") == key_pem + lab.file(host, "kafka.crt")
            assert mode(tls / "kafka.pem") == 0o640

    # A no-op rerun: nothing changed, no certificate reissued, and the records spared the full pass
    # (its tasks, issue.yml, not even loaded: no key, request or signature step).
    output = lab.run()
    assert all(counts["changed"] == 0 for counts in recap(output).values()), output
    assert "PKI_CERT_CHANGED=False" in output and "PKI_CERT_CHANGED=True" not in output
    assert lab.snapshot() == first
    full_pass = r"TASK \[pki : Make or check the key and the certificates, in full\][^\n]*\n(?:[^\n]*\n)?skipping"
    assert re.search(full_pass, output), output
    assert "Sign the request with the CA" not in output and "issue.yml" not in output, output

    # Drift the record does not describe: host-b's key readable by all. The full pass puts it back.
    (lab.pki_dir("host-b") / "kafka.key").chmod(0o644)
    output = lab.run()
    counts = recap(output)
    assert counts["host-b"]["changed"] > 0 and counts["host-a"]["changed"] == 0, output
    assert re.search(r"included: \S*/pki/tasks/issue\.yml for host-b\n", output), output
    assert mode(lab.pki_dir("host-b") / "kafka.key") == 0o640
    assert lab.snapshot() == first

    # A new name for host-a: its certificate is reissued with the same key; host-b is untouched.
    lab.host_vars["host-a"]["pki_cert_dns_names"].append("kafka-a.example.internal")
    lab.write_inventory()
    output = lab.run()
    counts = recap(output)
    assert counts["host-a"]["changed"] > 0 and counts["host-b"]["changed"] == 0, output
    second = lab.snapshot()
    assert second["host-a/kafka.key"] == first["host-a/kafka.key"]
    assert second["host-a/kafka.crt"] != first["host-a/kafka.crt"]
    assert second["host-b/kafka.crt"] == first["host-b/kafka.crt"]
    assert sans(leaf(second["host-a/kafka.crt"]))[0] == [
        "host-a", "host-a.example.internal", "kafka-a.example.internal"
    ]
    openssl_verify(lab.ca_dir / "ca.crt", lab.pki_dir("host-a") / "kafka.crt")

    # Rotation (an extra var, so the string "true"): a new key and certificate on every host, no key shown.
    output = lab.run("-e", "pki_rotate=true", "-vvv", "--diff")
    rotated = lab.snapshot()
    for host in HOSTS:
        assert rotated[f"{host}/kafka.key"] != second[f"{host}/kafka.key"]
        assert rotated[f"{host}/kafka.crt"] != second[f"{host}/kafka.crt"]
        key = serialization.load_pem_private_key(rotated[f"{host}/kafka.key"], password=None)
        assert public_der(leaf(rotated[f"{host}/kafka.crt"])) == public_der(key)
        openssl_verify(lab.ca_dir / "ca.crt", lab.pki_dir(host) / "kafka.crt")
    assert lab.file("host-a", "kafka.pem") == rotated["host-a/kafka.key"] + rotated["host-a/kafka.crt"]
    assert_no_key_material(
        output, ca_key, second["host-a/kafka.key"], second["host-b/kafka.key"],
        rotated["host-a/kafka.key"], rotated["host-b/kafka.key"],
    )
    assert (lab.ca_dir / "ca.key").read_bytes() == ca_key


def make_ca(directory: Path, passphrase: bytes) -> tuple[Path, Path, x509.Certificate, ec.EllipticCurvePrivateKey]:
    """Your own CA, made outside the role: certificate and encrypted key files."""
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Our Own Root CA")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    directory.mkdir()
    cert_file, key_file = directory / "own-ca.crt", directory / "own-ca.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    ))
    return cert_file, key_file, cert, key


def test_your_own_ca_your_own_certificate_and_renewal(tmp_path: Path) -> None:
    """host-a: signed by your own CA (its key with a passphrase), first for 20 days, then renewed with
    its key when a run's renewal window (30 days) reaches its expiry; host-b: certificate and key provided."""
    passphrase = "correct-horse-battery-0"
    ca_file, ca_key_file, ca, ca_key = make_ca(tmp_path / "own-ca", passphrase.encode())

    provided_key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    provided = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "host-b")])).issuer_name(ca.subject)
        .public_key(provided_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=10))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("host-b")]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    provided_cert_file, provided_key_file = tmp_path / "host-b.crt", tmp_path / "host-b.key"
    provided_cert_file.write_bytes(provided.public_bytes(serialization.Encoding.PEM))
    provided_key_pem = provided_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    provided_key_file.write_bytes(provided_key_pem)

    lab = Lab(tmp_path, pki_ca_cert_file=str(ca_file), pki_ca_key_file=str(ca_key_file), pki_ca_passphrase=passphrase)
    lab.host_vars["host-a"].update(pki_cert_valid_days=20, pki_cert_renew_days=5)
    lab.host_vars["host-b"].update(
        pki_cert_source="provided",
        pki_provided_cert_file=str(provided_cert_file),
        pki_provided_key_file=str(provided_key_file),
    )
    lab.write_inventory()
    output = lab.run("-vvv", "--diff")
    assert_no_key_material(output, ca_key_file.read_bytes(), provided_key_pem, lab.file("host-a", "kafka.key"))
    assert passphrase not in output

    assert not lab.ca_dir.exists(), "a CA was generated"
    assert sorted(p.name for p in (tmp_path / "own-ca").iterdir()) == ["own-ca.crt", "own-ca.key"]
    for host in HOSTS:
        assert lab.file(host, "ca.crt") == ca_file.read_bytes()
        openssl_verify(ca_file, lab.pki_dir(host) / "kafka.crt")
        assert leaf(lab.file(host, "kafka.crt")).issuer == ca.subject
        assert mode(lab.pki_dir(host) / "kafka.key") == 0o640
    assert leaf(lab.file("host-a", "kafka.crt")).subject.rfc4514_string() == "CN=host-a,OU=kafka,O=kafka-pipeline"
    assert lab.file("host-b", "kafka.key") == provided_key_pem
    assert leaf(lab.file("host-b", "kafka.crt")) == provided
    short = leaf(lab.file("host-a", "kafka.crt"))
    assert short.not_valid_after_utc - now < datetime.timedelta(days=21)

    # The defaults again (825 days, renewed 30 days before expiry): host-a's certificate expires within
    # the window, so it is reissued, with the same key; host-b's files stay.
    before = lab.snapshot()
    del lab.host_vars["host-a"]["pki_cert_valid_days"], lab.host_vars["host-a"]["pki_cert_renew_days"]
    lab.write_inventory()
    counts = recap(lab.run())
    assert counts["host-a"]["changed"] > 0 and counts["host-b"]["changed"] == 0
    after = lab.snapshot()
    assert after["host-a/kafka.key"] == before["host-a/kafka.key"]
    renewed = leaf(after["host-a/kafka.crt"])
    assert renewed.not_valid_after_utc - now > datetime.timedelta(days=824)
    assert renewed.subject == short.subject and renewed.serial_number != short.serial_number
    openssl_verify(ca_file, lab.pki_dir("host-a") / "kafka.crt")
    assert after["host-b/kafka.crt"] == before["host-b/kafka.crt"]


@pytest.mark.parametrize(
    ("extra_vars", "named"),
    [
        ({"pki_cert_valid_days": -1}, "pki_cert_valid_days"),
        ({"pki_cert_dns_names": "host-a.example.internal"}, "pki_cert_dns_names"),
        ({"pki_cert_renew_days": 900}, "pki_cert_renew_days"),
    ],
)
def test_bad_settings_fail_before_any_change(tmp_path: Path, extra_vars: dict[str, Any], named: str) -> None:
    lab = Lab(tmp_path)
    run = run_playbook(lab.playbook, "-e", json.dumps(extra_vars), inventory=lab.inventory)
    assert run.rc != 0
    assert any(named in message for message in failure_messages(run.output)), run.output
    for counts in recap(run.output).values():
        assert counts["changed"] == 0 and counts["failed"] == 1, run.output
    assert not lab.ca_dir.exists()
    assert not any(lab.pki_dir(host).exists() for host in HOSTS)
