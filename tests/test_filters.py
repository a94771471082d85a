"""The filter plugins: to_toml (read back unchanged by tomllib, the apps' parser), from_toml, host_addresses,
s3_tls_only_policy, record_argv and record_current."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, load_by_path

spec = importlib.util.spec_from_file_location("toml_filter", ROOT / "plugins" / "filter" / "toml.py")
assert spec and spec.loader
toml_filter = importlib.util.module_from_spec(spec)
spec.loader.exec_module(toml_filter)


def test_round_trip() -> None:
    config = {
        "kafka": {"bootstrap_servers": ["kafka1:9092", "kafka2:9092"], "client_id": "p"},
        "producer": {"acks": "all", "linger_ms": 5, "retry_backoff_s": 1.5, "idempotent": True},
        "source": {
            "type": "stream",
            "stream": {"rules": [{"value": 'kafka "quoted" lang:en', "tag": "k"}]},
            "replay": {"path": "", "rate": 0.0, "loop": False},
        },
        "sinks": {"console": {}, "file": {"path": "/var/lib/x.jsonl"}},
    }
    rendered = toml_filter.to_toml(config)
    assert tomllib.loads(rendered) == config
    assert "[sinks.console]" in rendered
    assert toml_filter.from_toml(rendered) == config


def test_from_toml_names_a_parse_error() -> None:
    with pytest.raises(Exception, match="from_toml: .*line 1"):
        toml_filter.from_toml("[kafka\nx = 1")


def test_none_values_are_left_out() -> None:
    assert tomllib.loads(toml_filter.to_toml({"a": {"x": None, "y": 1}})) == {"a": {"y": 1}}


def test_refuses_what_toml_cannot_hold() -> None:
    with pytest.raises(Exception, match="to_toml"):
        toml_filter.to_toml({"a": {"x": float("nan")}})
    with pytest.raises(Exception, match="to_toml"):
        toml_filter.to_toml(["not", "a", "mapping"])


def test_host_addresses_prefer_pipeline_host_address() -> None:
    spec = importlib.util.spec_from_file_location("host_addresses_filter", ROOT / "plugins" / "filter" / "host_addresses.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    hostvars = {"kafka1": {}, "kafka2": {"pipeline_host_address": "10.0.2.15"}}
    assert module.host_addresses(["kafka1", "kafka2"], hostvars) == ["kafka1", "10.0.2.15"]
    assert module.host_addresses(["kafka2"], hostvars, 9092) == ["10.0.2.15:9092"]


def test_s3_tls_only_policy_denies_every_request_without_tls() -> None:
    policies = load_by_path("aws_policies_filter", ROOT / "plugins" / "filter" / "aws_policies.py")
    policy = json.loads(policies.s3_tls_only_policy("tweets-archive"))
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny" and statement["Principal"] == "*"
    assert statement["Action"] == "s3:*"
    assert statement["Resource"] == ["arn:aws:s3:::tweets-archive", "arn:aws:s3:::tweets-archive/*"]
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


def test_record_follows_the_files_the_spec_and_the_absent_paths(tmp_path: Path) -> None:
    """record_argv's script, run for real: current after a write; not after a file's edit, a mode's change, a
    link pointed elsewhere, a new spec or an absent path appearing; the snippet after a check sees the files
    as "$1"..."""
    records = load_by_path("records_filter", ROOT / "plugins" / "filter" / "records.py")
    conf, data, link = tmp_path / "app.conf", tmp_path / "data", tmp_path / "current"
    conf.write_text("a=1\n")
    data.mkdir()
    link.symlink_to(data)
    record, gone = tmp_path / ".record", tmp_path / "gone"

    def run(spec: str, mode: str, then: str = "") -> str:
        argv = records.record_argv(spec, str(record), [str(conf), str(data), str(link)], [str(gone)], mode, then)
        return subprocess.run(argv, check=True, capture_output=True, text=True).stdout

    assert not records.record_current(run("s1", "check")), "no record yet"
    assert run("s1", "write") == ""
    assert records.record_current(run("s1", "check"))
    assert run("s1", "check", 'echo "then $1"').split("@@")[2].strip() == f"then {conf}"
    assert not records.record_current(run("s2", "check")), "a new spec"
    conf.write_text("a=2\n")
    assert not records.record_current(run("s1", "check")), "an edited file"
    run("s1", "write")
    data.chmod(0o700)
    assert not records.record_current(run("s1", "check")), "a changed mode"
    run("s1", "write")
    link.unlink()
    (tmp_path / "data2").mkdir()
    link.symlink_to(tmp_path / "data2")
    assert not records.record_current(run("s1", "check")), "a link pointed elsewhere"
    run("s1", "write")
    gone.write_text("")
    assert not records.record_current(run("s1", "check")), "a path that must be absent"
    with pytest.raises(ValueError, match="mode"):
        records.record_argv("s", "r", [], [], "read")


@pytest.mark.parametrize(
    ("role", "pass_file", "files_var", "at_least", "also"),
    [
        ("kafka", "configure_files.yml", "kafka_config_record_files", 10, ["java_properties.py"]),
        ("jmx_exporter", "files.yml", "jmx_exporter_record_files", 5, []),
        ("kafka", "install_files.yml", "kafka_install_record_files", 3, []),
        ("zookeeper", "configure_files.yml", "zookeeper_config_record_files", 7, ["java_properties.py"]),
    ],
)
def test_a_record_lists_every_path_its_full_pass_writes(
    role: str, pass_file: str, files_var: str, at_least: int, also: list[str]
) -> None:
    """Each path a task of a role's full pass writes (and any shared file it installs, `also`) is in the
    record's file list, or drift of that file would go unseen on a rerun."""
    tasks = yaml.safe_load((ROOT / "roles" / role / "tasks" / pass_file).read_text())
    record_files = yaml.safe_load((ROOT / "roles" / role / "vars/main.yml").read_text())[files_var]
    targets = []
    for task in tasks:
        for module, args in task.items():
            if module in (
                "ansible.builtin.file",
                "ansible.builtin.copy",
                "ansible.builtin.template",
                "community.crypto.openssl_pkcs12",
            ):
                target = args.get("dest") or args.get("path")
                loop = task.get("loop")
                if target != "{{ item }}":
                    targets.append(target)
                else:
                    targets.extend(loop if isinstance(loop, list) else [loop])
    assert len(targets) >= at_least, targets
    for target in targets:
        for expression in re.findall(r"\{\{(.*?)\}\}", target):
            for name in re.findall(r"[a-z_]+", expression):
                assert name in record_files, f"{name} ({target}) is not in {files_var}"
        suffix = re.sub(r"\{\{.*?\}\}", "", target)
        assert suffix in record_files, f"{suffix} ({target}) is not in {files_var}"
    for name in also:
        assert name in record_files
