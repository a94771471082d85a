"""The lab's plain commands work from a new shell: no variable exported by hand.

scripts/lab up used to pass the Kafka archive and the metadata mode in environment variables, so a
later `ansible-playbook site.yml` in a new shell stopped in preflight. The lab inventory now finds
the archive in the controller's cache and keeps the mode that `scripts/lab up` recorded.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

from conftest import ROOT, VENV_BIN


def new_shell_env(**extra: str) -> dict[str, str]:
    """What a user's new login shell has: HOME and a PATH, nothing the project exported."""
    return {"HOME": os.environ["HOME"], "PATH": f"{VENV_BIN}:/usr/bin:/bin", **extra}


def lab_var(name: str, inventory: Path | None = None, **env: str) -> object:
    """The value the lab inventory gives `name` on kafka1, where the kafka role's defaults apply."""
    play = [
        {
            "hosts": "kafka1",
            "gather_facts": False,
            "tasks": [
                {"ansible.builtin.import_role": {"name": "kafka", "tasks_from": "validate"}},
                {"ansible.builtin.debug": {"var": name}},
            ],
        }
    ]
    playbook = ROOT / ".cache" / f"lab-var-{os.getpid()}.yml"
    playbook.parent.mkdir(exist_ok=True)
    playbook.write_text(json.dumps(play))
    cmd = [str(VENV_BIN / "ansible-playbook"), str(playbook)]
    if inventory is not None:
        cmd += ["-i", str(inventory)]
    try:
        proc = subprocess.run(
            cmd,
            cwd=ROOT,
            env={**new_shell_env(ANSIBLE_CALLBACK_RESULT_FORMAT="json"), **env},
            capture_output=True,
            text=True,
        )
    finally:
        playbook.unlink()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    shown = proc.stdout.split('"' + name + '": ', 1)[1]
    return json.JSONDecoder().raw_decode(shown)[0]


def test_preflight_passes_in_a_new_shell() -> None:
    """`ansible-playbook site.yml` starts with preflight: it must pass with no variable exported."""
    subprocess.run([str(ROOT / "scripts" / "build-kafka-dist")], check=True, capture_output=True)
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "playbooks/preflight.yml"],
        cwd=ROOT,
        env=new_shell_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "failed=0" in proc.stdout and "kafka_archive_local_path" not in proc.stdout


def test_lab_archive_is_the_one_build_kafka_dist_makes() -> None:
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-kafka-dist")], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert lab_var("kafka_archive_local_path") == built


def test_lab_keeps_the_mode_scripts_lab_recorded(tmp_path: Path) -> None:
    inventory = tmp_path / "inventories" / "lab"
    shutil.copytree(ROOT / "inventories" / "lab", inventory)
    assert lab_var("kafka_metadata_mode", inventory) == "kraft"
    (tmp_path / ".lab").mkdir()
    (tmp_path / ".lab" / "metadata_mode").write_text("zookeeper\n")
    assert lab_var("kafka_metadata_mode", inventory) == "zookeeper"
    # An explicit choice in the environment still wins (the molecule scenarios use it).
    assert lab_var("kafka_metadata_mode", inventory, KAFKA_METADATA_MODE="kraft") == "kraft"


def test_zookeeper_layout_is_one_switch() -> None:
    """KAFKA_METADATA_MODE=zookeeper: the brokers form the ensemble and run the 3.9 release."""
    built = subprocess.run(
        [str(ROOT / "scripts" / "build-kafka-dist"), "zookeeper"], check=True, capture_output=True, text=True
    ).stdout.strip()
    assert lab_var("kafka_archive_local_path", KAFKA_METADATA_MODE="zookeeper") == built
    assert "3.9" in Path(built).name

    def zookeeper_hosts(**env: str) -> list[str]:
        proc = subprocess.run(
            [str(VENV_BIN / "ansible-inventory"), "--list"],
            cwd=ROOT, env=new_shell_env(**env), capture_output=True, text=True, check=True,
        )
        return sorted(json.loads(proc.stdout).get("zookeeper", {}).get("hosts", []))

    assert zookeeper_hosts(KAFKA_METADATA_MODE="zookeeper") == ["kafka1", "kafka2", "kafka3"]
    assert zookeeper_hosts(KAFKA_METADATA_MODE="kraft") == []
