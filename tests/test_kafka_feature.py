"""The kafka_feature module: its parsers on real outputs of Kafka 4.3.1's kafka-features.sh, and the
module against a real KRaft broker of 4.3.1 formatted at metadata.version 3.9 (as a cluster upgraded
from Kafka 3.9 has it): check mode changes nothing, the upgrade raises every feature of the release,
a rerun and an older release change nothing.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Broker, load_by_path
from test_kafka_topic import run_task

load_by_path(
    "ansible.module_utils.kafka_tools", ROOT / "plugins" / "module_utils" / "kafka_tools.py"
)
feature = load_by_path("kafka_feature", ROOT / "plugins" / "modules" / "kafka_feature.py")

# `kafka-features.sh describe` of 4.3.1 against a cluster formatted with --release-version 3.9.
DESCRIBE_4_3_1 = (
    "Feature: eligible.leader.replicas.version          SupportedMinVersion: 0                "
    "SupportedMaxVersion: 1                FinalizedVersionLevel: 0                Epoch: 13\n"
    "Feature: group.version                             SupportedMinVersion: 0                "
    "SupportedMaxVersion: 1                FinalizedVersionLevel: 0                Epoch: 13\n"
    "Feature: kraft.version                             SupportedMinVersion: 0                "
    "SupportedMaxVersion: 1                FinalizedVersionLevel: 0                Epoch: 13\n"
    "Feature: metadata.version                          SupportedMinVersion: 3.3-IV3          "
    "SupportedMaxVersion: 4.3-IV0          FinalizedVersionLevel: 3.9-IV0          Epoch: 13\n"
    "Feature: transaction.version                       SupportedMinVersion: 0                "
    "SupportedMaxVersion: 2                FinalizedVersionLevel: 0                Epoch: 13\n"
)
# The same line as Kafka 3.9 prints it: tab-separated.
DESCRIBE_3_9_LINE = (
    "Feature: metadata.version\tSupportedMinVersion: 3.0-IV1\tSupportedMaxVersion: 3.9-IV0\t"
    "FinalizedVersionLevel: 3.9-IV0\tEpoch: 5\n"
)
# `kafka-features.sh version-mapping --release-version 4.3` of 4.3.1.
MAPPING_4_3 = (
    "metadata.version=30 (4.3)\nkraft.version=1\ntransaction.version=2\ngroup.version=1\n"
    "eligible.leader.replicas.version=1\nshare.version=1\nstreams.version=1\n"
)


def test_parses_the_describe_output_of_4_x_and_3_9() -> None:
    levels = feature.parse_describe("OpenJDK warning: something\n" + DESCRIBE_4_3_1)
    assert levels == {
        "eligible.leader.replicas.version": "0",
        "group.version": "0",
        "kraft.version": "0",
        "metadata.version": "3.9-IV0",
        "transaction.version": "0",
    }
    assert feature.parse_describe(DESCRIBE_3_9_LINE) == {"metadata.version": "3.9-IV0"}
    with pytest.raises(feature.FeatureOutputError, match="no metadata.version"):
        feature.parse_describe("Feature: group.version  FinalizedVersionLevel: 1\n")


def test_parses_the_version_mapping_and_finds_what_to_raise() -> None:
    target = feature.parse_version_mapping(MAPPING_4_3)
    assert target["metadata.version"] == 30 and target["transaction.version"] == 2
    finalized = feature.finalized_levels(feature.parse_describe(DESCRIBE_4_3_1), 21)
    assert finalized["metadata.version"] == 21
    assert feature.below(finalized, target) == [
        "eligible.leader.replicas.version", "group.version", "kraft.version", "metadata.version",
        "share.version", "streams.version", "transaction.version",
    ]  # fmt: skip
    # A feature the release leaves at 0 is never requested; one already higher is not lowered.
    assert feature.below({"metadata.version": 30, "group.version": 2}, {"metadata.version": 30,
                         "group.version": 1, "share.version": 0}) == []  # fmt: skip
    with pytest.raises(feature.FeatureOutputError, match="no metadata.version"):
        feature.parse_version_mapping("kraft.version=1\n")


@pytest.fixture(scope="module")
def broker_at_3_9(kafka_dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A 4.3.1 broker whose storage was formatted at metadata.version 3.9."""
    broker = Broker(tmp_path_factory.mktemp("kafka-at-3.9"), home=kafka_dist, release_version="3.9")
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def feature_task(broker: Broker, release: str) -> dict[str, Any]:
    return {
        "kafka_feature": {
            "kafka_home": str(broker.home),
            "bootstrap_servers": broker.bootstrap,
            "release_version": release,
        }
    }


def test_raises_the_features_of_a_release_once(broker_at_3_9: Broker, tmp_path: Path) -> None:
    checked = run_task(tmp_path, feature_task(broker_at_3_9, "4.3"), "--check", "--diff")
    assert checked["changed"] is True, checked
    assert checked["metadata_version"] == {"before": "3.9-IV0", "after": "4.3"}
    assert "metadata.version=21" in checked["diff"]["before"]
    assert "metadata.version=30" in checked["diff"]["after"]

    upgraded = run_task(tmp_path, feature_task(broker_at_3_9, "4.3"))
    assert upgraded["changed"] is True, upgraded
    assert upgraded["before"]["metadata.version"] == 21  # check mode changed nothing
    assert upgraded["metadata_version"] == {"before": "3.9-IV0", "after": "4.3-IV0"}
    assert upgraded["after"]["metadata.version"] == 30
    assert upgraded["after"]["transaction.version"] == 2 and upgraded["after"]["group.version"] == 1

    again = run_task(tmp_path, feature_task(broker_at_3_9, "4.3"))
    assert again["changed"] is False, again
    assert again["after"] == upgraded["after"]

    older = run_task(tmp_path, feature_task(broker_at_3_9, "4.0"))
    assert older["changed"] is False, older
    assert "metadata.version" in older["newer"]
    assert older["after"]["metadata.version"] == 30


def test_an_unknown_release_fails_with_kafkas_reason(broker_at_3_9: Broker, tmp_path: Path) -> None:
    failed = run_task(tmp_path, feature_task(broker_at_3_9, "9.9"))
    assert failed.get("failed") is True, failed
    assert "version-mapping 9.9 failed" in failed["msg"]
    assert "9.9" in failed["msg"] and "Supported" in failed["msg"], failed["msg"]
