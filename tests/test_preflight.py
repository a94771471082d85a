"""site.yml rejects bad settings in its preflight play, naming the variable, before any host changes."""

from __future__ import annotations

import json
import re

import pytest

from conftest import ROOT, run_playbook

INVENTORY = ROOT / "tests" / "inventories" / "validation"


def site(*extra_vars: dict[str, object]) -> tuple[int, str]:
    args = [arg for ev in extra_vars for arg in ("-e", json.dumps(ev))]
    run = run_playbook(ROOT / "site.yml", *args, inventory=INVENTORY)
    return run.rc, run.output


def recap(output: str) -> dict[str, int]:
    match = re.search(r"broker1\s+:\s+(.*)", output.split("PLAY RECAP")[-1])
    assert match, output
    return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", match.group(1))}


def test_valid_settings_pass_the_preflight() -> None:
    """The control: valid settings get past validation and only then fail, on the unreachable host."""
    rc, output = site()
    assert rc != 0
    assert recap(output)["unreachable"] == 1, output
    assert "Preflight" in output and recap(output)["failed"] == 0, output


@pytest.mark.parametrize(
    ("extra_vars", "named"),
    [
        ({"kafka_metadata_mode": "banana"}, "kafka_metadata_mode"),
        ({"kafka_version": "4.0.0", "kafka_metadata_mode": "zookeeper"}, "kafka_metadata_mode"),
        ({"kafka_topics_replication_factor": 3}, "kafka_topics_replication_factor"),
        ({"kafka_default_replication_factor": 2}, "kafka_default_replication_factor"),
        ({"kafka_archive_source": "local", "kafka_archive_local_path": "/nonexistent.tgz"},
         "kafka_archive_local_path"),
        ({"zookeeper_4lw_whitelist": ["ruok", "banana"]}, "zookeeper_4lw_whitelist"),
        ({"kafka_topics_list": [{"name": "twitter", "partitions": "many", "replication_factor": 1}]},
         "partitions"),
    ],
)
def test_bad_settings_fail_before_any_change(extra_vars: dict[str, object], named: str) -> None:
    rc, output = site(extra_vars)
    assert rc != 0
    failures = [line for line in output.splitlines() if "fatal:" in line or "msg" in line]
    assert named in output, output
    counts = recap(output)
    assert counts["failed"] == 1 and counts["changed"] == 0, output
    # Stopped by validation: no host was contacted.
    assert counts["unreachable"] == 0, failures
    assert "Gathering Facts" not in output, output
