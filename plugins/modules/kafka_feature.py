#!/usr/bin/python
"""Ansible module: raise a KRaft cluster's finalized feature levels (metadata.version and the
features that follow it) to those of a Kafka release, never lower them."""

from __future__ import annotations

DOCUMENTATION = r"""
module: kafka_feature
short_description: Raises a KRaft cluster's metadata.version (and the features of its release)
description:
  - Reads the cluster's finalized feature levels (C(kafka-features.sh describe)) and the levels of
    I(release_version) (C(kafka-features.sh version-mapping)); when any finalized level is below the
    release's, runs C(kafka-features.sh upgrade --release-version) - with C(--dry-run) in check
    mode, so Kafka itself checks the step without taking it.
  - Only raises levels. A feature already at or above the release's level is left as it is; when
    metadata.version is newer than I(release_version), nothing changes and the result says so in
    I(newer). A downgrade is a decision for a person, with Kafka's own tool.
  - Raise the levels only after every broker and controller runs the new release; before that,
    going back to the old release is still possible, after it often is not.
  - Needs the C(kafka-features.sh) of Kafka 4.0 or later (C(version-mapping)).
options:
  release_version:
    description: The Kafka release whose feature levels the cluster should have, for example C(4.3).
    type: str
    required: true
extends_documentation_fragment: [kafka_tool]
author: kafka-pipeline
"""

EXAMPLES = r"""
- name: Finalize the upgrade to Kafka 4.3 (after every node runs it)
  kafka_feature:
    kafka_home: /opt/kafka
    bootstrap_servers: kafka1:9091
    command_config: /etc/kafka-pipeline/kafka-admin.properties
    release_version: "4.3"
"""

RETURN = r"""
before:
  description: Finalized level of each feature the cluster supports before the task (0 - none).
  returned: success
  type: dict
  sample: {metadata.version: 21, group.version: 0, kraft.version: 0, transaction.version: 0}
after:
  description: The same after the task (in check mode, what it would be).
  returned: success
  type: dict
target:
  description: The feature levels of I(release_version), as version-mapping gives them.
  returned: success
  type: dict
  sample: {metadata.version: 27, group.version: 1, kraft.version: 0, transaction.version: 2}
metadata_version:
  description:
    - The finalized metadata.version's name before and after, for example C(3.9-IV0); in check mode
      I(after) is I(release_version) as given.
  returned: success
  type: dict
  sample: {before: 3.9-IV0, after: 4.3-IV0}
newer:
  description: Features whose finalized level is above the release's (left as they are).
  returned: success
  type: list
  elements: str
"""

import re
from typing import Any

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.kafka_tools import (
    KAFKA_TOOL_ARGS,
    check_tool,
    run_tool,
    timed_command_config,
)

TOOL = "bin/kafka-features.sh"
METADATA_VERSION = "metadata.version"
# One "Key: value" field of a describe line.
DESCRIBE_FIELD = re.compile(r"([A-Za-z]+):\s*(\S+)")


class FeatureOutputError(ValueError):
    """The tool's output is not in a format this module knows."""


def parse_describe(text: str) -> dict[str, str]:
    """Feature -> FinalizedVersionLevel of `describe`: one line per feature, "Key: value" fields
    separated by tabs (3.9) or padded with spaces (4.x)."""
    levels: dict[str, str] = {}
    for line in text.splitlines():
        if not line.startswith("Feature:"):
            continue  # a JVM warning, or a notice of the tool
        fields = dict(DESCRIBE_FIELD.findall(line))
        if "Feature" not in fields or "FinalizedVersionLevel" not in fields:
            raise FeatureOutputError(f"cannot read the feature line {line!r}")
        levels[fields["Feature"]] = fields["FinalizedVersionLevel"]
    if METADATA_VERSION not in levels:
        raise FeatureOutputError(
            f"no {METADATA_VERSION} in the describe output: {text.strip()[:500]!r}"
        )
    return levels


def parse_version_mapping(text: str) -> dict[str, int]:
    """Feature -> level of `version-mapping` ("metadata.version=27 (4.3)", "group.version=1")."""
    levels: dict[str, int] = {}
    for line in text.splitlines():
        name, sep, value = line.partition("=")
        if not sep or " " in name.strip():
            continue
        try:
            levels[name.strip()] = int(value.split()[0])
        except (IndexError, ValueError) as exc:
            raise FeatureOutputError(f"cannot read the version-mapping line {line!r}") from exc
    if METADATA_VERSION not in levels:
        raise FeatureOutputError(
            f"no {METADATA_VERSION} in the version-mapping output: {text.strip()[:500]!r}"
        )
    return levels


def finalized_levels(described: dict[str, str], metadata_level: int) -> dict[str, int]:
    """The describe output's levels as numbers (metadata.version's name is given as its level)."""
    levels = {}
    for name, value in described.items():
        if name == METADATA_VERSION:
            levels[name] = metadata_level
            continue
        try:
            levels[name] = int(value)
        except ValueError as exc:
            raise FeatureOutputError(f"the level {value!r} of {name} is not a number") from exc
    return levels


def below(finalized: dict[str, int], target: dict[str, int]) -> list[str]:
    """Features the release puts above their finalized level (a level of 0 is never requested)."""
    return sorted(
        name for name, level in target.items() if level > 0 and finalized.get(name, 0) < level
    )


def main() -> None:
    module = AnsibleModule(
        argument_spec={
            **KAFKA_TOOL_ARGS,
            "release_version": {"type": "str", "required": True},
        },
        supports_check_mode=True,
    )
    params = module.params
    check_tool(module, TOOL)
    command_config = timed_command_config(module, "features-admin.properties")
    connection = [
        "--bootstrap-server",
        params["bootstrap_servers"],
        "--command-config",
        command_config,
    ]
    against = f"against {params['bootstrap_servers']}"
    release = params["release_version"]

    def mapping(version: str) -> dict[str, int]:
        out = run_tool(
            module,
            TOOL,
            # A local lookup, but 4.2's parser requires the connection arguments for every command.
            [*connection, "version-mapping", "--release-version", version],
            f"version-mapping {version}",
        )
        return parse_version_mapping(out)

    def describe() -> tuple[dict[str, int], str]:
        described = parse_describe(
            run_tool(module, TOOL, [*connection, "describe"], f"describe {against}")
        )
        name = described[METADATA_VERSION]
        return finalized_levels(described, mapping(name)[METADATA_VERSION]), name

    try:
        target = mapping(release)
        before, before_name = describe()
        raise_ = below(before, target)
        newer = sorted(name for name, level in target.items() if before.get(name, 0) > level)
        result: dict[str, Any] = {
            "before": before,
            "target": target,
            "newer": newer,
            "changed": bool(raise_) and METADATA_VERSION not in newer,
        }
        if not result["changed"]:
            module.exit_json(
                **result,
                after=before,
                metadata_version={"before": before_name, "after": before_name},
            )
        upgrade = [*connection, "upgrade", "--release-version", release]
        if module.check_mode:
            run_tool(
                module,
                TOOL,
                [*upgrade, "--dry-run"],
                f"upgrade --release-version {release} --dry-run {against}",
            )
            after = {**before, **{name: target[name] for name in raise_}}
            after_name = release
        else:
            run_tool(module, TOOL, upgrade, f"upgrade --release-version {release} {against}")
            after, after_name = describe()
    except FeatureOutputError as exc:
        module.fail_json(msg=f"cannot read the output of {TOOL}: {exc}")
    module.exit_json(
        **result,
        after=after,
        metadata_version={"before": before_name, "after": after_name},
        diff={
            "before": "".join(f"{name}={before[name]}\n" for name in sorted(before)),
            "after": "".join(f"{name}={after[name]}\n" for name in sorted(after)),
        },
    )


if __name__ == "__main__":
    main()
