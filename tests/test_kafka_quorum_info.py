"""The kafka_quorum_info module: its parser on real outputs of Kafka 3.9.1 and 4.3.1, and the module
against a real KRaft broker.

The outputs below were captured from `kafka-metadata-quorum.sh describe --status/--replication` of
the assembled 3.9.1 and 4.3.1 distributions, on clusters of three combined broker+controller nodes
started with files/tweet_pipeline/tests/kafka_broker.py (plus node 4, a broker only: an observer):
static voters (controller.quorum.voters) on both versions; on 4.3.1 also a dynamic quorum
(kraft.version 1, `--initial-controllers`) healthy and with voter 3 stopped for 20 s.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Broker, load_by_path
from test_kafka_topic import run_task

# The module file itself, for its parser, and the module_utils it imports, under the name Ansible
# ships it by (plain Python files: nothing but ansible-core to import).
kafka_tools = load_by_path(
    "ansible.module_utils.kafka_tools", ROOT / "plugins" / "module_utils" / "kafka_tools.py"
)
quorum_info = load_by_path("kafka_quorum_info", ROOT / "plugins" / "modules" / "kafka_quorum_info.py")

KAFKA_3_9_1_STATUS = (
    "ClusterId:              sMhU039yRpS7xWwTUHrXmg\n"
    "LeaderId:               3\n"
    "LeaderEpoch:            1\n"
    "HighWatermark:          24\n"
    "MaxFollowerLag:         0\n"
    "MaxFollowerLagTimeMs:   393\n"
    'CurrentVoters:          [{"id": 1, "directoryId": null, '
    '"endpoints": ["CONTROLLER://127.0.0.1:33455"]}, {"id": 2, "directoryId": null, '
    '"endpoints": ["CONTROLLER://127.0.0.1:32863"]}, {"id": 3, "directoryId": null, '
    '"endpoints": ["CONTROLLER://127.0.0.1:50597"]}]\n'
    'CurrentObservers:       [{"id": 4, "directoryId": "BqGH6BCbQEIPAA5wGdxPIA"}]\n'
)
KAFKA_3_9_1_REPLICATION = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTi"
    "mestamp\tStatus  \t\n"
    "3     \tAAAAAAAAAAAAAAAAAAAAAA\t26          \t0  \t1795884249814     \t1795884249814 "
    "       \tLeader  \t\n"
    "1     \tAAAAAAAAAAAAAAAAAAAAAA\t26          \t0  \t1795884249368     \t1795884249368 "
    "       \tFollower\t\n"
    "2     \tAAAAAAAAAAAAAAAAAAAAAA\t26          \t0  \t1795884249376     \t1795884249376 "
    "       \tFollower\t\n"
    "4     \tBqGH6BCbQEIPAA5wGdxPIA\t26          \t0  \t1795884249369     \t1795884249369 "
    "       \tObserver\t\n"
)
KAFKA_4_3_1_STATIC_STATUS = (
    "ClusterId:              0jaTW34ZRP2nwwmK86l7ZA\n"
    "LeaderId:               1\n"
    "LeaderEpoch:            1\n"
    "HighWatermark:          34\n"
    "MaxFollowerLag:         0\n"
    "MaxFollowerLagTimeMs:   0\n"
    'CurrentVoters:          [{"id": 1, '
    '"endpoints": ["CONTROLLER://127.0.0.1:48603"]}, {"id": 2, '
    '"endpoints": ["CONTROLLER://127.0.0.1:38681"]}, {"id": 3, '
    '"endpoints": ["CONTROLLER://127.0.0.1:43571"]}]\n'
    'CurrentObservers:       [{"id": 4, "directoryId": "N9QFeFNcb2SfMJdsAYznDw"}]\n'
)
KAFKA_4_3_1_STATIC_REPLICATION = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTi"
    "mestamp\tStatus  \t\n"
    "1     \tAAAAAAAAAAAAAAAAAAAAAA\t37          \t0  \t1795884171913     \t1795884171913 "
    "       \tLeader  \t\n"
    "2     \tAAAAAAAAAAAAAAAAAAAAAA\t37          \t0  \t1795884171679     \t1795884171679 "
    "       \tFollower\t\n"
    "3     \tAAAAAAAAAAAAAAAAAAAAAA\t37          \t0  \t1795884171679     \t1795884171679 "
    "       \tFollower\t\n"
    "4     \tN9QFeFNcb2SfMJdsAYznDw\t37          \t0  \t1795884171680     \t1795884171680 "
    "       \tObserver\t\n"
)
KAFKA_4_3_1_DYNAMIC_STATUS = (
    "ClusterId:              9cmQZGziRq24UguNZbbaYA\n"
    "LeaderId:               3\n"
    "LeaderEpoch:            1\n"
    "HighWatermark:          36\n"
    "MaxFollowerLag:         0\n"
    "MaxFollowerLagTimeMs:   480\n"
    'CurrentVoters:          [{"id": 1, "directoryId": "A9KOXyGLTqSv1evaovyMSQ", '
    '"endpoints": ["CONTROLLER://127.0.0.1:36113"]}, {"id": 2, '
    '"directoryId": "OaH3v5g1RoOsWz6hz9u5og", '
    '"endpoints": ["CONTROLLER://127.0.0.1:56961"]}, {"id": 3, '
    '"directoryId": "rdWe1ukISsafUnxn2tXB4g", '
    '"endpoints": ["CONTROLLER://127.0.0.1:41381"]}]\n'
    "CurrentObservers:       []\n"
)
KAFKA_4_3_1_DYNAMIC_REPLICATION = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTi"
    "mestamp\tStatus  \t\n"
    "3     \trdWe1ukISsafUnxn2tXB4g\t40          \t0  \t1795884341205     \t1795884341205 "
    "       \tLeader  \t\n"
    "1     \tA9KOXyGLTqSv1evaovyMSQ\t40          \t0  \t1795884341051     \t1795884341051 "
    "       \tFollower\t\n"
    "2     \tOaH3v5g1RoOsWz6hz9u5og\t40          \t0  \t1795884341048     \t1795884341048 "
    "       \tFollower\t\n"
)
KAFKA_4_3_1_VOTER3_DOWN_STATUS = (
    "ClusterId:              9cmQZGziRq24UguNZbbaYA\n"
    "LeaderId:               1\n"
    "LeaderEpoch:            2\n"
    "HighWatermark:          86\n"
    "MaxFollowerLag:         87\n"
    "MaxFollowerLagTimeMs:   -1\n"
    'CurrentVoters:          [{"id": 1, "directoryId": "A9KOXyGLTqSv1evaovyMSQ", '
    '"endpoints": ["CONTROLLER://127.0.0.1:36113"]}, {"id": 2, '
    '"directoryId": "OaH3v5g1RoOsWz6hz9u5og", '
    '"endpoints": ["CONTROLLER://127.0.0.1:56961"]}, {"id": 3, '
    '"directoryId": "rdWe1ukISsafUnxn2tXB4g", '
    '"endpoints": ["CONTROLLER://127.0.0.1:41381"]}]\n'
    "CurrentObservers:       []\n"
)
KAFKA_4_3_1_VOTER3_DOWN_REPLICATION = (
    "NodeId\tDirectoryId           \tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTi"
    "mestamp\tStatus  \t\n"
    "1     \tA9KOXyGLTqSv1evaovyMSQ\t89          \t0  \t1795884365297     \t1795884365297 "
    "       \tLeader  \t\n"
    "2     \tOaH3v5g1RoOsWz6hz9u5og\t89          \t0  \t1795884364905     \t1795884364905 "
    "       \tFollower\t\n"
    "3     \trdWe1ukISsafUnxn2tXB4g\t-1          \t90 \t-1                \t-1            "
    "       \tFollower\t\n"
)

# Kafka 3.7 and earlier printed the voters and observers as bare ids, and the replication table
# had no DirectoryId column (the example of Kafka's documentation, "Metadata Quorum Tool").
KAFKA_3_7_STATUS = (
    "ClusterId:              fMCL8kv1SWm87L_Md-I2hg\n"
    "LeaderId:               3002\n"
    "LeaderEpoch:            2\n"
    "HighWatermark:          10\n"
    "MaxFollowerLag:         0\n"
    "MaxFollowerLagTimeMs:   -1\n"
    "CurrentVoters:          [3000,3001,3002]\n"
    "CurrentObservers:       [0,1,2]\n"
)
KAFKA_3_7_REPLICATION = (
    "NodeId\tLogEndOffset\tLag\tLastFetchTimestamp\tLastCaughtUpTimestamp\tStatus  \t\n"
    "3002  \t10          \t0  \t1669327447208     \t1669327447208        \tLeader  \t\n"
    "0     \t10          \t0  \t1669327446803     \t1669327446803        \tObserver\t\n"
)


def row(
    node_id: int, offset: int, lag: int, fetch: int, caught_up: int, status: str
) -> dict[str, Any]:
    return {"node_id": node_id, "log_end_offset": offset, "lag": lag, "last_fetch_timestamp": fetch,
            "last_caught_up_timestamp": caught_up, "status": status}  # fmt: skip


def voter(node_id: int, directory_id: str = "", port: int | None = None) -> dict[str, Any]:
    """A voter_details entry; port: its one endpoint, CONTROLLER://127.0.0.1:<port>."""
    endpoints = [] if port is None else [f"CONTROLLER://127.0.0.1:{port}"]
    return {"id": node_id, "directory_id": directory_id, "endpoints": endpoints}


def status(
    cluster_id: str,
    leader: tuple[int, int],
    watermark: int,
    lag: tuple[int, int],
    voters: list[dict[str, Any]],
    observers: list[int],
) -> dict[str, Any]:
    """A parsed status: leader (id, epoch), lag (records, ms), voters (voter_details entries)."""
    return {
        "cluster_id": cluster_id,
        "leader_id": leader[0],
        "leader_epoch": leader[1],
        "high_watermark": watermark,
        "max_follower_lag": lag[0],
        "max_follower_lag_time_ms": lag[1],
        "voters": [entry["id"] for entry in voters],
        "voter_details": voters,
        "observers": observers,
    }


CLUSTER_3_9_1 = "sMhU039yRpS7xWwTUHrXmg"
CLUSTER_4_3_1 = "0jaTW34ZRP2nwwmK86l7ZA"
CLUSTER_DYNAMIC = "9cmQZGziRq24UguNZbbaYA"
CLUSTER_DOCS = "fMCL8kv1SWm87L_Md-I2hg"
VOTERS_3_9_1 = [voter(1, port=33455), voter(2, port=32863), voter(3, port=50597)]
VOTERS_4_3_1_STATIC = [voter(1, port=48603), voter(2, port=38681), voter(3, port=43571)]
VOTERS_DYNAMIC = [
    voter(1, "A9KOXyGLTqSv1evaovyMSQ", 36113),
    voter(2, "OaH3v5g1RoOsWz6hz9u5og", 56961),
    voter(3, "rdWe1ukISsafUnxn2tXB4g", 41381),
]
VOTERS_DOCS = [voter(3000), voter(3001), voter(3002)]


@pytest.mark.parametrize(
    ("status_text", "expected"),
    [
        pytest.param(
            KAFKA_3_9_1_STATUS,
            status(CLUSTER_3_9_1, (3, 1), 24, (0, 393), VOTERS_3_9_1, [4]),
            id="3.9.1 static voters, directoryId null",
        ),
        pytest.param(
            KAFKA_4_3_1_STATIC_STATUS,
            status(CLUSTER_4_3_1, (1, 1), 34, (0, 0), VOTERS_4_3_1_STATIC, [4]),
            id="4.3.1 static voters, no directoryId",
        ),
        pytest.param(
            KAFKA_4_3_1_DYNAMIC_STATUS,
            status(CLUSTER_DYNAMIC, (3, 1), 36, (0, 480), VOTERS_DYNAMIC, []),
            id="4.3.1 dynamic quorum",
        ),
        pytest.param(
            KAFKA_4_3_1_VOTER3_DOWN_STATUS,
            status(CLUSTER_DYNAMIC, (1, 2), 86, (87, -1), VOTERS_DYNAMIC, []),
            id="4.3.1 voter 3 down",
        ),
        pytest.param(
            KAFKA_3_7_STATUS,
            status(CLUSTER_DOCS, (3002, 2), 10, (0, -1), VOTERS_DOCS, [0, 1, 2]),
            id="3.7 ids only",
        ),
    ],
)
def test_parse_status(status_text: str, expected: dict[str, Any]) -> None:
    assert quorum_info.parse_status(status_text) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(
            '[{"id": 1, "directoryId": "jXv-5Sm0QtG9sOx0xB1Z7w", '
            '"endpoints": ["CONTROLLER://pl-kafka1:9093"]}, '
            '{"id": 2, "directoryId": "OaH3v5g1RoOsWz6hz9u5og", '
            '"endpoints": ["CONTROLLER://pl-kafka2:9093", "SSL_CONTROLLER://pl-kafka2:9094"]}]',
            [
                {"id": 1, "directory_id": "jXv-5Sm0QtG9sOx0xB1Z7w",
                 "endpoints": ["CONTROLLER://pl-kafka1:9093"]},
                {"id": 2, "directory_id": "OaH3v5g1RoOsWz6hz9u5og",
                 "endpoints": ["CONTROLLER://pl-kafka2:9093", "SSL_CONTROLLER://pl-kafka2:9094"]},
            ],
            id="directory ids, two listeners",
        ),
        pytest.param(
            '[{"id": 1, "directoryId": null, "endpoints": ["CONTROLLER://pl-kafka1:9093"]}, '
            '{"id": 2, "endpoints": ["CONTROLLER://pl-kafka2:9093"]}, {"id": 3}]',
            [
                {"id": 1, "directory_id": "", "endpoints": ["CONTROLLER://pl-kafka1:9093"]},
                {"id": 2, "directory_id": "", "endpoints": ["CONTROLLER://pl-kafka2:9093"]},
                {"id": 3, "directory_id": "", "endpoints": []},
            ],
            id="directoryId null or missing, endpoints missing",
        ),
        pytest.param(
            "[1,2,3]",
            [{"id": n, "directory_id": "", "endpoints": []} for n in (1, 2, 3)],
            id="3.7 ids only",
        ),
        pytest.param("[]", [], id="no voters"),
    ],
)  # fmt: skip
def test_voter_details(value: str, expected: list[dict[str, Any]]) -> None:
    assert quorum_info.voter_details(value) == expected


@pytest.mark.parametrize(
    ("replication_text", "expected"),
    [
        pytest.param(
            KAFKA_3_9_1_REPLICATION,
            [row(3, 26, 0, 1795884249814, 1795884249814, "Leader"),
             row(1, 26, 0, 1795884249368, 1795884249368, "Follower"),
             row(2, 26, 0, 1795884249376, 1795884249376, "Follower"),
             row(4, 26, 0, 1795884249369, 1795884249369, "Observer")],
            id="3.9.1",
        ),
        pytest.param(
            KAFKA_4_3_1_STATIC_REPLICATION,
            [row(1, 37, 0, 1795884171913, 1795884171913, "Leader"),
             row(2, 37, 0, 1795884171679, 1795884171679, "Follower"),
             row(3, 37, 0, 1795884171679, 1795884171679, "Follower"),
             row(4, 37, 0, 1795884171680, 1795884171680, "Observer")],
            id="4.3.1 static",
        ),
        pytest.param(
            KAFKA_4_3_1_DYNAMIC_REPLICATION,
            [row(3, 40, 0, 1795884341205, 1795884341205, "Leader"),
             row(1, 40, 0, 1795884341051, 1795884341051, "Follower"),
             row(2, 40, 0, 1795884341048, 1795884341048, "Follower")],
            id="4.3.1 dynamic",
        ),
        pytest.param(
            KAFKA_4_3_1_VOTER3_DOWN_REPLICATION,
            [row(1, 89, 0, 1795884365297, 1795884365297, "Leader"),
             row(2, 89, 0, 1795884364905, 1795884364905, "Follower"),
             row(3, -1, 90, -1, -1, "Follower")],
            id="4.3.1 voter 3 down",
        ),
        pytest.param(
            KAFKA_3_7_REPLICATION,
            [row(3002, 10, 0, 1669327447208, 1669327447208, "Leader"),
             row(0, 10, 0, 1669327446803, 1669327446803, "Observer")],
            id="3.7 no DirectoryId column",
        ),
    ],
)  # fmt: skip
def test_parse_replication(replication_text: str, expected: list[dict[str, Any]]) -> None:
    assert quorum_info.parse_replication(replication_text) == expected


@pytest.mark.parametrize(
    ("parse", "text", "message"),
    [
        ("parse_status", KAFKA_4_3_1_STATIC_STATUS.replace("LeaderId", "Leader"), "no LeaderId"),
        ("parse_status", KAFKA_3_7_STATUS.replace("[0,1,2]", "0,1,2"), "cannot read the node list"),
        (
            "parse_status",
            KAFKA_3_7_STATUS.replace("[3000,", '[{"node": 3000},'),
            "cannot read the node list",
        ),
        ("parse_status", KAFKA_3_7_STATUS.replace("3002\n", "three\n", 1), "is not one"),
        (
            "parse_status",
            KAFKA_4_3_1_DYNAMIC_STATUS.replace('"A9KOXyGLTqSv1evaovyMSQ"', "7"),
            "cannot read the voter",
        ),
        ("voter_details", '[{"directoryId": "A9KOXyGLTqSv1evaovyMSQ"}]', "cannot read the voter"),
        ("voter_details", '[{"id": "one"}]', "cannot read the voter"),
        ("voter_details", '[{"id": 1, "endpoints": "CONTROLLER://h:1"}]', "cannot read the voter"),
        ("voter_details", '[{"id": 1, "endpoints": [9093]}]', "cannot read the voter"),
        ("voter_details", "[[1]]", "cannot read the voter"),
        ("voter_details", '{"id": 1}', "cannot read the node list"),
        ("parse_replication", "", "no replication table"),
        ("parse_replication", KAFKA_3_7_REPLICATION.replace("Lag\t", ""), "no column Lag"),
        ("parse_replication", KAFKA_3_7_REPLICATION + "7\t1\n", "does not match the header"),
    ],
)
def test_unknown_output_is_an_error(parse: str, text: str, message: str) -> None:
    with pytest.raises(quorum_info.QuorumOutputError, match=message):
        getattr(quorum_info, parse)(text)


def test_lines_before_the_table_are_skipped() -> None:
    warning = (
        "OpenJDK 64-Bit Server VM warning: Sharing is only supported for boot loader classes\n"
    )
    assert quorum_info.parse_replication(
        warning + KAFKA_3_7_REPLICATION
    ) == quorum_info.parse_replication(KAFKA_3_7_REPLICATION)


def test_tool_error_is_the_exception_line() -> None:
    stderr = (
        "[2026-11-28 16:46:50,105] WARN [AdminClient clientId=adminclient-1] Connection to node "
        "-1 (/127.0.0.1:1) could not be established. (org.apache.kafka.clients.NetworkClient)\n"
        "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment."
        "\njava.util.concurrent.ExecutionException: org.apache.kafka.common.errors.Timeout\n"
        "\tat java.base/java.util.concurrent.CompletableFuture.reportGet(CompletableFuture.java)\n"
    )
    assert kafka_tools.tool_error("", stderr) == (
        "org.apache.kafka.common.errors.TimeoutException: Timed out waiting for a node assignment."
    )
    assert (
        kafka_tools.tool_error("usage: kafka-metadata-quorum ...", "")
        == "usage: kafka-metadata-quorum ..."
    )


def quorum_task(broker: Broker, **params: Any) -> dict[str, Any]:
    return {
        "kafka_quorum_info": {
            "kafka_home": str(broker.home),
            "bootstrap_servers": broker.bootstrap,
            **params,
        }
    }


def test_reports_the_quorum_of_a_real_broker(kafka_broker: Broker, tmp_path: Path) -> None:
    """The session broker (node 1, broker and only controller); check mode reads it the same way."""
    for flags in ((), ("--check",)):
        result = run_task(tmp_path, quorum_task(kafka_broker), *flags)
        assert result.get("failed") is not True, result
        assert result["changed"] is False
        assert result["leader_id"] == 1, result
        assert result["voters"] == [1] and result["observers"] == [], result
        # A static voter (controller.quorum.voters): no directory id.
        assert result["voter_details"] == [voter(1, port=kafka_broker.controller_port)], result
        assert result["leader_epoch"] >= 1 and result["high_watermark"] > 0, result
        assert result["max_follower_lag"] == 0, result
        (leader,) = result["replication"]
        assert leader["node_id"] == 1 and leader["status"] == "Leader" and leader["lag"] == 0, (
            leader
        )
        assert leader["log_end_offset"] >= result["high_watermark"], result
        assert leader["last_fetch_timestamp"] > 0, leader


def test_reads_the_quorum_from_the_controllers(kafka_broker: Broker, tmp_path: Path) -> None:
    """bootstrap_controller: the same answer from the controller listener (--bootstrap-controller), as a
    ZooKeeper -> KRaft migration asks it while its brokers do not answer quorum requests."""
    task = quorum_task(
        kafka_broker,
        bootstrap_servers=f"127.0.0.1:{kafka_broker.controller_port}",
        bootstrap_controller=True,
    )
    result = run_task(tmp_path, task)
    assert result.get("failed") is not True, result
    assert result["leader_id"] == 1 and result["voters"] == [1], result
    assert [row["node_id"] for row in result["replication"]] == [1], result


def test_unreachable_broker_fails_with_the_tools_error(
    kafka_broker: Broker, tmp_path: Path
) -> None:
    task = quorum_task(kafka_broker, bootstrap_servers="127.0.0.1:1", timeout=5)
    result = run_task(tmp_path, task)
    assert result.get("failed") is True, result
    assert "describe --status against 127.0.0.1:1 failed" in result["msg"], result
    assert "TimeoutException" in result["msg"], result


def test_missing_tool_fails_clearly(tmp_path: Path) -> None:
    result = run_task(
        tmp_path,
        {
            "kafka_quorum_info": {
                "kafka_home": str(tmp_path / "nowhere"),
                "bootstrap_servers": "x:9092",
            }
        },
    )
    assert result.get("failed") is True, result
    assert (
        "bin/kafka-metadata-quorum.sh not found" in result["msg"] and "nowhere" in result["msg"]
    ), result
