"""The ingest REST API's OpenAPI definition (roles/aws_kinesis_ingest), rendered as the role renders it:
every method requires IAM authorization (SigV4-signed requests), so API Gateway refuses anonymous
callers. The AWS emulator keeps no authorization from an imported definition, so the definition
itself is what is checked here; molecule/aws checks the policy callers need.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from conftest import ROOT, VENV_BIN

ROLE = ROOT / "roles" / "aws_kinesis_ingest"


def rendered_definition(tmp_path: Path) -> dict[str, Any]:
    var_files = [ROOT / "roles" / "pipeline" / "defaults" / "main.yml",
                 ROOT / "roles" / "aws_common" / "defaults" / "main.yml",
                 ROLE / "defaults" / "main.yml"]  # fmt: skip
    play = {
        "hosts": "localhost",
        "gather_facts": False,
        "vars_files": [str(path) for path in var_files],
        "vars": {"aws_kinesis_ingest_api_role_arn": "arn:aws:iam::123456789012:role/api"},
        "tasks": [{
            "ansible.builtin.debug": {
                "msg": "{{ lookup('ansible.builtin.template', '"
                + str(ROLE / "templates" / "openapi.yml.j2") + "') | from_yaml }}"},
        }],
    }  # fmt: skip
    playbook = tmp_path / "definition.yml"
    playbook.write_text(yaml.safe_dump([play]))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
           "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json",
           "ANSIBLE_CALLBACKS_ENABLED": "ansible.builtin.junit"}  # fmt: skip
    proc = subprocess.run(
        [str(VENV_BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
         "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = json.loads(proc.stdout)["plays"][0]["tasks"][0]["hosts"]["localhost"]["msg"]
    assert isinstance(result, dict), result
    return result


def test_every_method_requires_iam_authorization(tmp_path: Path) -> None:
    definition = rendered_definition(tmp_path)
    schemes = definition["components"]["securitySchemes"]
    iam = [name for name, scheme in schemes.items()
           if scheme.get("x-amazon-apigateway-authtype") == "awsSigv4"
           and scheme.get("type") == "apiKey" and scheme.get("name") == "Authorization"]  # fmt: skip
    assert iam, schemes
    methods = [(path, verb, spec) for path, item in definition["paths"].items()
               for verb, spec in item.items()]  # fmt: skip
    assert [(path, verb) for path, verb, _ in methods] == [("/records", "post")]
    for path, verb, spec in methods:
        assert spec.get("security") == [{iam[0]: []}], (path, verb, spec.get("security"))
        assert spec["x-amazon-apigateway-integration"]["uri"].endswith(":kinesis:action/PutRecord")
