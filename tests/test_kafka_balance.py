"""The reassignment planner (plugins/module_utils/kafka_balance.py) on generated clusters, and the
kafka_reassignment_plan module on a fake admin client and on the session's one-node broker."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import ROOT, Broker, load_by_path
from test_kafka_topic import run_task

# Under the names the module imports them by (Ansible ships plugins/module_utils as these).
balance = load_by_path(
    "ansible.module_utils.kafka_balance", ROOT / "plugins" / "module_utils" / "kafka_balance.py"
)
load_by_path(
    "ansible.module_utils.kafka_admin", ROOT / "plugins" / "module_utils" / "kafka_admin.py"
)
plan_module = load_by_path(
    "kafka_reassignment_plan", ROOT / "plugins" / "modules" / "kafka_reassignment_plan.py"
)
plan_balance, moves, to_reassignment_json = (
    balance.plan_balance, balance.moves, balance.to_reassignment_json
)  # fmt: skip

Assignment = dict[tuple[str, int], list[int]]
RACKS: dict[int, str | None] = dict(zip(range(1, 10), "abcabcabc"))  # racks of brokers 1-9


def round_robin(topics: list[tuple[str, int, int]], brokers: list[int]) -> Assignment:
    """Kafka-like placement: partition after partition (over all topics), the replicas on the
    next brokers of the list, the first on the broker after the previous partition's first."""
    assignment: Assignment = {}
    offset = 0
    for topic, partitions, rf in topics:
        for p in range(partitions):
            assignment[topic, p] = [brokers[(offset + j) % len(brokers)] for j in range(rf)]
            offset += 1
    return assignment


def spread(counts: dict[int, int]) -> int:
    return max(counts.values()) - min(counts.values())


def replicas_of(
    assignment: Assignment, brokers: list[int], topic: str | None = None
) -> dict[int, int]:
    counts = Counter(b for (t, _), r in assignment.items() if topic in (None, t) for b in r)
    return {b: counts[b] for b in brokers}


def leaders_of(assignment: Assignment, brokers: list[int]) -> dict[int, int]:
    counts = Counter(r[0] for r in assignment.values())
    return {b: counts[b] for b in brokers}


def fewest_changes(before: Counter[int] | dict[int, int], brokers: list[int], total: int) -> int:
    """The fewest items (replicas or leaderships) to move so that `brokers` hold `total` within 1
    of each other and nothing is left elsewhere: the larger shares to the brokers holding most."""
    share, extra = divmod(total, len(brokers))
    ranked = sorted(brokers, key=lambda b: (-before.get(b, 0), b))
    goal = {b: share + (i < extra) for i, b in enumerate(ranked)}
    return sum(max(0, goal[b] - before.get(b, 0)) for b in brokers)


def fewest_leader_changes(old: Assignment, new: Assignment, brokers: list[int]) -> int:
    """The fewest first replicas of `old` to change for leaders within 1 with the replica sets of
    `new`: a min-cost flow (networkx), partition -> broker (cost 1 unless its first replica) ->
    sink, each broker taking at least the smaller share (edges of a prohibitive negative cost)
    and at most the larger one. networkx is pinned in requirements.txt for this check."""
    import networkx
    low, extra = divmod(len(new), len(brokers))
    graph = networkx.DiGraph()
    graph.add_node("sink", demand=len(new))
    for key, replicas in new.items():
        graph.add_node(key, demand=-1)
        for b in replicas:
            graph.add_edge(key, b, capacity=1, weight=int(b != old[key][0]))
    for b in brokers:
        graph.add_edge(b, ("low", b), capacity=low, weight=-len(new) - 1)
        graph.add_edge(("low", b), "sink", capacity=low, weight=0)
        graph.add_edge(b, "sink", capacity=int(extra > 0), weight=0)
    return int(networkx.min_cost_flow_cost(graph)) + (len(new) + 1) * low * len(brokers)


def rack_duplicates(assignment: Assignment) -> int:
    """Partitions with two replicas in one rack."""
    return sum(1 for r in assignment.values() if len({RACKS[b] for b in r}) < len(r))


def check_plan(
    old: Assignment,
    brokers: list[int],
    racks: dict[int, str | None] | None = None,
    topic_spread: bool = True,
) -> Assignment:
    """plan_balance's answer, after checking requirements a-d and f (and the determinism)."""
    frozen = json.dumps(sorted(old.items()))
    new: Assignment = plan_balance(old, brokers, racks)
    assert json.dumps(sorted(old.items())) == frozen, "the input was modified"
    # Determinism: same input, and the same partitions listed in another order.
    assert plan_balance(old, brokers, racks) == new
    assert plan_balance(dict(reversed(list(old.items()))), list(reversed(brokers)), racks) == new
    # a. same partitions, replication factors kept, no broker twice, only target brokers.
    assert new.keys() == old.keys()
    for key, replicas in new.items():
        assert len(replicas) == len(old[key]) == len(set(replicas)), (key, old[key], replicas)
        assert set(replicas) <= set(brokers), (key, replicas)
    # c. replicas per broker within 1; each topic's too.
    after = replicas_of(new, brokers)
    assert spread(after) <= 1, after
    if topic_spread:
        for topic in {t for t, _ in old}:
            assert spread(replicas_of(new, brokers, topic)) <= 1, (
                topic,
                replicas_of(new, brokers, topic),
            )
    # d. no more moves than the counts require.
    held = Counter(b for r in old.values() for b in r)
    assert moves(old, new) == fewest_changes(held, brokers, sum(held.values()))
    # f. preferred leaders within 1, changing the fewest first replicas the new replica lists
    # allow; no more than the counts require when no broker leaves (a leaving broker's
    # replicas go where the replica counts and the racks say, its leaderships with them).
    assert spread(leaders_of(new, brokers)) <= 1, leaders_of(new, brokers)
    first_changed = sum(1 for k in old if old[k][0] != new[k][0])
    assert first_changed == fewest_leader_changes(old, new, brokers)
    required = fewest_changes(Counter(r[0] for r in old.values()), brokers, len(old))
    if set(held) <= set(brokers):
        assert first_changed == required
    else:
        assert required <= first_changed <= required + max(3, required // 5)
    # Reordering leaves every kept broker but the old and the new first replica in its place.
    for key, replicas in new.items():
        for i, b in enumerate(old[key]):
            if b in replicas and b not in (old[key][0], replicas[0]):
                assert replicas[i] == b, (key, old[key], replicas)
    return new


TOPICS = [("twitter", 50, 3), ("twitter.dlq", 12, 3), ("metrics", 3, 3)]
MIXED = [("twitter", 50, 3), ("__consumer_offsets", 50, 1), ("events", 7, 2), ("small", 1, 1)]


@pytest.mark.parametrize(
    "topics, before, after",
    [
        (TOPICS, [1, 2, 3], [1, 2, 3, 4]),
        (TOPICS, [1, 2, 3, 4], [1, 2, 3]),
        (TOPICS, [1, 2, 3], [1, 2, 3, 4, 5]),
        (MIXED, [1, 2, 3], [1, 2, 3, 4, 5]),
        (MIXED, [1, 2, 3, 4, 5], [1, 2, 4]),
        ([("twitter", 50, 3)], [1, 2, 3], [1, 2, 3, 4, 5, 6]),
        ([("twitter", 50, 3)], [1, 2, 3, 4, 5, 6], [1, 2, 3, 4, 5, 6, 7, 8, 9]),
        ([("twitter", 50, 3), ("__consumer_offsets", 50, 3)], [1, 2, 3, 4, 5, 6], [2, 3, 4, 5, 6]),
        ([("twitter", 50, 2)], [1, 2], [1, 2, 3]),
        ([("twitter", 50, 1)], [1, 2, 3], [4]),
    ],
)
def test_generated_clusters(
    topics: list[tuple[str, int, int]], before: list[int], after: list[int]
) -> None:
    old = round_robin(topics, before)
    new = check_plan(old, after)
    for gone in set(before) - set(after):  # b. decommissioned brokers are empty
        assert all(gone not in r for r in new.values())
    assert moves(old, new) > 0


@pytest.mark.parametrize("partitions", [1, 7, 12, 50])
def test_one_new_broker_gets_its_share_and_nothing_else_moves(partitions: int) -> None:
    old = round_robin([("twitter", partitions, 3)], [1, 2, 3])
    new = check_plan(old, [1, 2, 3, 4])
    share = 3 * partitions // 4  # brokers 1-3 keep the larger shares: fewer moves
    assert moves(old, new) == replicas_of(new, [4])[4] == share
    extra = 3 * partitions % 4
    assert replicas_of(new, [1, 2, 3]) == {b: share + (b <= extra) for b in (1, 2, 3)}


def test_decommissioning_moves_exactly_the_leaving_brokers_replicas() -> None:
    old = round_robin([("twitter", 50, 3), ("__consumer_offsets", 50, 3)], [1, 2, 3, 4])
    on_4 = replicas_of(old, [4])[4]
    new = check_plan(old, [1, 2, 3])
    assert moves(old, new) == on_4 == 75
    assert replicas_of(new, [1, 2, 3, 4]) == {1: 100, 2: 100, 3: 100, 4: 0}


@pytest.mark.parametrize(
    "topics, brokers",
    [
        ([("twitter", 50, 3)], [1, 2, 3]),
        ([("twitter", 50, 3), ("__consumer_offsets", 50, 3)], [1, 2, 3, 4]),
        ([("twitter", 48, 3), ("twitter.dlq", 6, 3)], [1, 2, 3, 4, 5, 6]),
        ([("twitter", 10, 1), ("twitter.dlq", 10, 1)], [1, 2, 3]),
    ],
)
def test_a_balanced_cluster_is_left_alone(
    topics: list[tuple[str, int, int]], brokers: list[int]
) -> None:
    old = round_robin(topics, brokers)
    assert spread(replicas_of(old, brokers)) <= 1 and spread(leaders_of(old, brokers)) <= 1
    new = plan_balance(old, brokers)
    assert new == old and moves(old, new) == 0
    assert to_reassignment_json(old, new) == {"version": 1, "partitions": []}
    # The racks change nothing either: no move is needed, none is made for them.
    assert plan_balance(old, brokers, RACKS) == old


def test_unbalanced_leaders_are_reordered_without_moving_data() -> None:
    old = {("twitter", p): [1, 2, 3] for p in range(30)}
    new = check_plan(old, [1, 2, 3])
    assert moves(old, new) == 0
    assert leaders_of(new, [1, 2, 3]) == {1: 10, 2: 10, 3: 10}
    assert sum(1 for k in old if old[k] != new[k]) == 20


def test_leaders_of_single_replica_partitions_follow_their_replica() -> None:
    old = {("__consumer_offsets", p): [1 + p % 3] for p in range(50)}
    old.update({("twitter", p): [1, 2, 3] for p in range(3)})
    new = check_plan(old, [1, 2, 3], topic_spread=False)
    # Leaders 20/17/16: only the twitter partitions can lead elsewhere; two of them do.
    assert leaders_of(new, [1, 2, 3]) == {1: 18, 2: 18, 3: 17}
    assert moves(old, new) == 0
    assert sorted(new[k][0] for k in old if old[k] != new[k] and k[0] == "twitter") == [2, 3]
    assert all(new[k] == old[k] for k in old if k[0] == "__consumer_offsets")


@pytest.mark.parametrize(
    "before, after, blind_duplicates",
    [
        ([1, 2, 3], [1, 2, 3, 4, 5, 6], False),
        ([1, 2, 3, 4, 5, 6], list(range(1, 10)), True),
        (list(range(1, 10)), [1, 2, 3, 4, 5, 6], True),
    ],
)
def test_racks_are_spread_when_they_can_be(
    before: list[int], after: list[int], blind_duplicates: bool
) -> None:
    """Rack-aware clusters (racks a, b, c) grown by one broker per rack, or shrunk by one broker
    per rack: every partition keeps its replicas in distinct racks. Blind to the racks, the plan
    puts two replicas of a partition in one rack (in the first case, by chance, it does not)."""
    old = round_robin([("twitter", 50, 3), ("twitter.dlq", 10, 2), ("__consumer_offsets", 50, 3)],
                      before)  # fmt: skip
    assert rack_duplicates(old) == 0
    assert rack_duplicates(check_plan(old, after, RACKS)) == 0
    assert (rack_duplicates(plan_balance(old, after)) > 0) is blind_duplicates


def test_racks_the_balance_cannot_keep_apart() -> None:
    """Leaving broker 6 (rack c) leaves rack c one broker for 50 partitions: the balance comes
    first, and only the partitions rack c cannot hold share a rack."""
    old = round_robin([("twitter", 50, 3)], [1, 2, 3, 4, 5, 6])
    new = check_plan(old, [1, 2, 3, 4, 5], RACKS)
    assert replicas_of(new, [3])[3] == 30
    assert rack_duplicates(new) == 50 - 30


def test_brokers_without_a_rack_count_as_racks_of_their_own() -> None:
    old = round_robin([("twitter", 50, 3)], [1, 2, 3])
    racks: dict[int, str | None] = {1: "a", 2: "b", 3: "c", 4: None, 5: None, 6: None}
    new = check_plan(old, [1, 2, 3, 4, 5, 6], racks)
    assert all(len({racks[b] or b for b in r}) == 3 for r in new.values())


@pytest.mark.parametrize("seed", range(12))
def test_random_clusters(seed: int) -> None:
    """Arbitrary (unbalanced) assignments: random brokers, replication factors, racks; some
    brokers leave, some join."""
    rng = random.Random(seed)
    current = rng.sample(range(1, 10), rng.randint(2, 6))
    old: Assignment = {}
    for t in range(rng.randint(1, 4)):
        rf = rng.randint(1, len(current))
        for p in range(rng.randint(1, 40)):
            old[f"topic{t}", p] = rng.sample(current, rf)
    rf_max = max(len(r) for r in old.values())
    target = rng.sample(range(1, 10), rng.randint(rf_max, 8))
    racks: dict[int, str | None] | None = (
        {b: rng.choice("ab") for b in range(1, 10)} if seed % 2 else None
    )
    new = check_plan(old, sorted(target), racks, topic_spread=False)
    assert all(b in target for r in new.values() for b in r)


def test_replication_factor_above_the_broker_count() -> None:
    old = {("twitter", 0): [1, 2, 3], ("twitter", 1): [2, 3]}
    with pytest.raises(ValueError, match=r"twitter-0 has replication factor 3.*2 target broker"):
        plan_balance(old, [1, 2])
    with pytest.raises(ValueError, match="twitter-0 lists a broker twice"):
        plan_balance({("twitter", 0): [1, 1]}, [1, 2])


def test_reassignment_json_lists_only_the_changed_partitions() -> None:
    old = {("b", 0): [1, 2], ("a", 10): [1, 2], ("a", 2): [2, 3], ("a", 1): [3, 1]}
    new = {("b", 0): [2, 1], ("a", 10): [1, 4], ("a", 2): [2, 3], ("a", 1): [3, 1]}
    assert moves(old, new) == 1  # the order of b-0 moves no data
    assert to_reassignment_json(old, new) == {
        "version": 1,
        "partitions": [
            {"topic": "a", "partition": 10, "replicas": [1, 4], "log_dirs": ["any", "any"]},
            {"topic": "b", "partition": 0, "replicas": [2, 1], "log_dirs": ["any", "any"]},
        ],
    }


class FakeAdmin:
    """Answers like kafka-python 3's KafkaAdminClient.describe_cluster/describe_topics."""

    def __init__(self, assignment: Assignment, brokers: dict[int, str | None],
                 fenced: tuple[int, ...] = ()) -> None:  # fmt: skip
        self.assignment, self.brokers, self.fenced = assignment, brokers, fenced
        self.asked: list[list[str] | None] = []

    def describe_cluster(self) -> dict[str, Any]:
        return {
            "cluster_id": "test",
            "controller_id": 1,
            "brokers": [
                {"broker_id": b, "host": f"kafka{b}", "port": 9092, "rack": rack,
                 "is_fenced": b in self.fenced}
                for b, rack in self.brokers.items()
            ],
        }  # fmt: skip

    def describe_topics(self, names: list[str] | None = None) -> list[dict[str, Any]]:
        self.asked.append(names)
        topics = sorted({t for t, _ in self.assignment})
        return [
            {"error_code": 0 if name in topics else 3, "name": name,
             "is_internal": name.startswith("__"),
             "partitions": [
                 {"error_code": 0, "partition_index": p, "leader_id": r[0], "replica_nodes": r,
                  "isr_nodes": r, "offline_replicas": []}
                 for (t, p), r in sorted(self.assignment.items()) if t == name
             ]}
            for name in (names if names is not None else topics)
        ]  # fmt: skip


def test_module_plans_a_new_broker() -> None:
    old = round_robin([("twitter", 50, 3), ("__consumer_offsets", 50, 3)], [1, 2, 3])
    admin = FakeAdmin(old, {1: "a", 2: "b", 3: "c", 4: "a"})
    result = plan_module.plan(admin, [1, 2, 3, 4], [], True)
    assert admin.asked == [None]  # every topic, the internal ones too
    assert result["changed"] is True and result["brokers_not_registered"] == []
    assert result["moves"] == 75
    assert result["replicas_per_broker_before"] == {1: 100, 2: 100, 3: 100, 4: 0}
    assert result["replicas_per_broker_after"] == {1: 75, 2: 75, 3: 75, 4: 75}
    assert spread(result["leaders_per_broker_after"]) <= 1
    assert sum(result["leaders_per_broker_after"].values()) == 100
    partitions = result["reassignment"]["partitions"]
    assert result["partitions_changed"] == len(partitions) > 0
    new = {**old, **{(p["topic"], p["partition"]): p["replicas"] for p in partitions}}
    assert new == plan_balance(old, [1, 2, 3, 4], {1: "a", 2: "b", 3: "c", 4: "a"})
    assert json.loads(json.dumps(result["reassignment"])) == result["reassignment"]


def test_module_plans_chosen_topics_with_or_without_racks() -> None:
    old = round_robin([("twitter", 6, 2), ("other", 4, 1)], [1, 2])
    racks: dict[int, str | None] = {1: "a", 2: "a", 3: "b"}
    admin = FakeAdmin(old, racks)
    twitter = {k: r for k, r in old.items() if k[0] == "twitter"}
    result = plan_module.plan(admin, [1, 2, 3], ["twitter"], False)
    assert admin.asked == [["twitter"]]
    assert result["replicas_per_broker_before"] == {1: 6, 2: 6, 3: 0}
    assert result["moves"] == moves(twitter, plan_balance(twitter, [1, 2, 3])) == 4
    assert result["reassignment"] == to_reassignment_json(twitter, plan_balance(twitter, [1, 2, 3]))
    with_racks = plan_module.plan(admin, [1, 2, 3], ["twitter"], True)
    assert with_racks["reassignment"] == to_reassignment_json(
        twitter, plan_balance(twitter, [1, 2, 3], racks)
    )
    with pytest.raises(plan_module.PlanError, match="missing: UnknownTopicOrPartitionError"):
        plan_module.plan(admin, [1, 2, 3], ["twitter", "missing"], True)


def test_module_with_nothing_to_do() -> None:
    old = round_robin([("twitter", 30, 3)], [1, 2, 3])
    result = plan_module.plan(FakeAdmin(old, {1: None, 2: None, 3: None}), [1, 2, 3], [], True)
    assert result["changed"] is False and result["moves"] == result["partitions_changed"] == 0
    assert result["reassignment"] == {"version": 1, "partitions": []}
    assert result["leaders_per_broker_after"] == {1: 10, 2: 10, 3: 10}


def test_module_refuses_brokers_the_cluster_does_not_have() -> None:
    old = round_robin([("twitter", 3, 3)], [1, 2, 3])
    admin = FakeAdmin(old, {1: None, 2: None, 3: None, 4: None}, fenced=(4,))
    with pytest.raises(plan_module.PlanError, match=r"brokers \[4, 5\] are not registered") as err:
        plan_module.plan(admin, [1, 2, 3, 4, 5], [], True)
    assert err.value.result == {"brokers_not_registered": [4, 5]}
    with pytest.raises(plan_module.PlanError, match="replication factor 3") as err:
        plan_module.plan(admin, [1, 2], [], True)
    assert err.value.result == {"brokers_not_registered": []}


def test_module_on_a_real_broker(kafka_broker: Broker, unique_topic: str, tmp_path: Path) -> None:
    """The session's one-node broker: the metadata answers as the module reads them."""
    task = {"kafka_topic": {"name": unique_topic, "partitions": 2, "replication_factor": 1,
                            "bootstrap_servers": kafka_broker.bootstrap}}  # fmt: skip
    run_task(tmp_path, task)
    params = {"bootstrap_servers": kafka_broker.bootstrap, "topics": [unique_topic]}
    result = run_task(tmp_path, {"kafka_reassignment_plan": {**params, "brokers": [1]}}, "--check")
    assert result.get("failed") is not True, result
    assert (result["changed"], result["moves"], result["partitions_changed"]) == (False, 0, 0)
    assert result["replicas_per_broker_before"] == result["replicas_per_broker_after"] == {"1": 2}
    assert result["leaders_per_broker_after"] == {"1": 2}
    failed = run_task(tmp_path, {"kafka_reassignment_plan": {**params, "brokers": [1, 2]}})
    assert failed["failed"] is True and failed["brokers_not_registered"] == [2], failed
