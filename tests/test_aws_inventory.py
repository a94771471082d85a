"""The AWS dynamic inventory finds what provisioning tagged: its filters repeat the roles' facts.

An inventory plugin file cannot be templated, so inventories/aws/aws_ec2.yml writes the region, the
Project tag and the Environment tag out. Their owners are pipeline_project (roles/pipeline, which
aws_common_project takes), aws_common_environment and aws_common_region (roles/aws_common): this
test fails when the file and the roles drift apart.
"""

from __future__ import annotations

from typing import Any

import yaml
from conftest import ROOT

INVENTORY = ROOT / "inventories" / "aws"


def load(path: str) -> dict[str, Any]:
    data = yaml.safe_load((ROOT / path).read_text())
    assert isinstance(data, dict), path
    return data


PIPELINE = load("roles/pipeline/defaults/main.yml")
AWS_COMMON = load("roles/aws_common/defaults/main.yml")
PLUGIN = load("inventories/aws/aws_ec2.yml")


def test_the_project_tag_is_pipeline_project() -> None:
    # aws_common_project takes pipeline_project: the tag provisioning writes is the pipeline role's.
    assert AWS_COMMON["aws_common_project"] == "{{ pipeline_project }}"
    assert PLUGIN["filters"]["tag:Project"] == PIPELINE["pipeline_project"]


def test_the_environment_tag_is_aws_common_environment() -> None:
    assert PLUGIN["filters"]["tag:Environment"] == AWS_COMMON["aws_common_environment"]


def test_the_region_is_aws_common_region() -> None:
    assert PLUGIN["regions"] == [AWS_COMMON["aws_common_region"]]


def test_the_consumers_s3_region_is_the_hosts_own() -> None:
    """The consumers' bucket region is not a third copy: the region the inventory found them in."""
    group_vars = load("inventories/aws/group_vars/all/aws.yml")
    assert group_vars["consumer_s3_region"] == "{{ aws_region }}"
    assert PLUGIN["compose"]["aws_region"] == "placement.region"
