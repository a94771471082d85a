"""Partition reassignment planner: spreads replicas and preferred leaders evenly over brokers.

Pure and deterministic (no I/O): the kafka_reassignment_plan module feeds it the cluster's current
assignment and turns its answer into kafka-reassign-partitions.sh's JSON.
"""

from __future__ import annotations

from collections import Counter, deque
from typing import Any

Partition = tuple[str, int]
Assignment = dict[Partition, list[int]]


def plan_balance(
    assignment: Assignment, brokers: list[int], racks: dict[int, str | None] | None = None
) -> Assignment:
    """The new replica list of every partition of `assignment` (same keys) over `brokers`.

    Every replica on a broker outside `brokers` moves; replica counts per broker end within 1 of
    each other, each topic's too where the moves allow it, with as few replica moves as that takes
    (a balanced assignment comes back unchanged). A replica that moves takes the place of the one
    it replaces in the list; its destination is, where it can be, a broker of a rack the
    partition's other replicas do not use. Then the lists are reordered (no data moves) so the
    preferred leaders (first replicas) are spread within 1 too, changing as few as it can.

    Raises ValueError when a partition lists a broker twice or has more replicas than `brokers`.
    """
    targets = sorted(set(brokers))
    new = {key: list(replicas) for key, replicas in assignment.items()}
    for (topic, partition), replicas in sorted(new.items()):
        if len(set(replicas)) != len(replicas):
            raise ValueError(f"{topic}-{partition} lists a broker twice: {replicas}")
        if len(replicas) > len(targets):
            raise ValueError(
                f"{topic}-{partition} has replication factor {len(replicas)}, more than the "
                f"{len(targets)} target broker(s) {targets}: no assignment can hold it"
            )
    first = {key: replicas[0] for key, replicas in assignment.items() if replicas}
    _move_replicas(new, targets, racks or {})
    _balance_leaders(new, targets, first)
    return new


def _shares(held: Counter[int], targets: list[int], total: int) -> dict[int, int]:
    """`total` shared out over `targets` within 1, the larger shares to the brokers that hold the
    most already (fewest changes)."""
    share, extra = divmod(total, len(targets)) if targets else (0, 0)
    ranked = sorted(targets, key=lambda b: (-held[b], b))
    return {b: share + (i < extra) for i, b in enumerate(ranked)}


def _move_replicas(new: Assignment, targets: list[int], racks: dict[int, str | None]) -> None:
    """Move replicas, one at a time, from the broker furthest above its share (brokers leaving
    first) to a broker below its share, until every broker holds its share. A moved replica takes
    the place of the one it replaces in the list, the first place (the lead) included."""
    load = Counter(b for replicas in new.values() for b in replicas)
    goal = _shares(load, targets, sum(load.values()))
    leaders = Counter(replicas[0] for replicas in new.values() if replicas)
    leader_goal = _shares(leaders, targets, sum(leaders.values()))
    per_topic = Counter((topic, b) for (topic, _), replicas in new.items() for b in replicas)
    topic_total = Counter(topic for (topic, _), replicas in new.items() for _ in replicas)

    def rack(b: int) -> Any:
        return racks.get(b) or ("broker", b)  # no rack: a rack of its own

    def lead(replicas: list[int], source: int, dest: int) -> int:
        """0 best: a staying broker keeps its leads (the leader phase hands them out with the
        fewest changes); a leaving broker's go first, while `dest` leads too few."""
        if replicas[0] != source:
            return 0 if source in goal else 1
        if leaders[source] > leader_goal.get(source, 0) and leaders[dest] < leader_goal[dest]:
            return 1 if source in goal else 0
        return 2

    def score(key: Partition, source: int, dest: int) -> tuple[Any, ...]:
        """Lowest best: fewer racks used twice in the partition, fewer brokers outside the
        topic's share, the lead handed on only where it helps, the topic's counts closer, the
        destination furthest below its share."""
        replicas, topic = new[key], key[0]
        others = {rack(b) for b in replicas if b != source}
        low, high = topic_total[topic] // len(goal), -(-topic_total[topic] // len(goal))
        s, d = per_topic[topic, source], per_topic[topic, dest]
        return (
            (rack(dest) in others) - (rack(source) in others),
            (source in goal and s <= low) + (d >= high) - (s > high) - (d < low),
            lead(replicas, source, dest),
            d - s,
            load[dest] - goal[dest],
            key,
            dest,
        )

    added: dict[int, set[Partition]] = {b: set() for b in targets}  # replicas the plan adds

    def move(key: Partition, source: int, dest: int) -> None:
        replicas = new[key]
        if replicas[0] == source:
            leaders[source] -= 1
            leaders[dest] += 1
        replicas[replicas.index(source)] = dest
        load[source] -= 1
        load[dest] += 1
        per_topic[key[0], source] -= 1
        per_topic[key[0], dest] += 1
        added.get(source, set()).discard(key)
        added[dest].add(key)

    def reroute(key: Partition, source: int) -> bool:
        """Move a replica that no broker below its share can take to a broker at its share, which
        hands a replica the plan adds to it on to another, and so on to a broker below its share:
        as many moves as a direct one. The chain keeps to the replica's topic where it can (a 0-1
        breadth-first search). False when there is no such chain."""
        cost = {b: 0 for b in targets if b not in new[key]}
        previous: dict[int, tuple[int, Partition]] = {}
        queue, done = deque(cost), set()
        while queue:
            b = queue.popleft()
            if b in done:
                continue
            done.add(b)
            for partition in sorted(added[b]):
                step = int(partition[0] != key[0])
                for other in targets:
                    if other in new[partition] or cost[b] + step >= cost.get(other, cost[b] + 2):
                        continue
                    cost[other], previous[other] = cost[b] + step, (b, partition)
                    queue.appendleft(other) if step == 0 else queue.append(other)
        sinks = [b for b in done if load[b] < goal[b]]
        if not sinks:
            return False
        b = min(sinks, key=lambda b: (cost[b], per_topic[key[0], b], b))
        links = []
        while b in previous:
            links.append((previous[b][1], previous[b][0], b))
            b = previous[b][0]
        move(key, source, b)
        for partition, frm, to in reversed(links):
            move(partition, frm, to)
        return True

    while True:
        over = [b for b in load if load[b] > goal.get(b, 0)]
        if not over:
            return
        source = min(over, key=lambda b: (b in goal, goal.get(b, 0) - load[b], b))
        held = sorted(k for k, replicas in new.items() if source in replicas)
        under = [b for b in targets if load[b] < goal[b]]
        candidates = [score(key, source, b) for key in held for b in under if b not in new[key]]
        if candidates:
            *_, key, dest = min(candidates)
            move(key, source, dest)
        elif not reroute(held[0], source):
            # Only a leaving broker's partitions can all hold every broker below its share.
            # Its replica then goes to a broker at its share, which sheds one later.
            free = [b for b in targets if b not in new[held[0]]]
            move(held[0], source, min(free, key=lambda b: (load[b] - goal[b], b)))


def _balance_leaders(new: Assignment, targets: list[int], first: dict[Partition, int]) -> None:
    """Spread the first replicas within 1, changing the fewest from `first` (the leaders before
    the plan): a min-cost flow. Leadership shifts along the cheapest chain of partitions from a
    broker leading too many to one leading too few (each link: a partition led by a broker of
    the chain that has the next one as a replica), first down to the larger share, then up to the
    smaller one, until none is left or no chain helps. Then each new leader swaps places with the
    partition's first replica."""
    leader = {key: replicas[0] for key, replicas in new.items() if replicas}
    if not leader:
        return
    count = Counter({b: 0 for b in targets})
    count.update(leader.values())
    per_topic = Counter((key[0], b) for key, b in leader.items())
    low = len(leader) // len(targets)
    high = low + (len(leader) % len(targets) > 0)

    def cheapest_chain(sources: list[int], sinks: list[int]) -> list[tuple[Partition, int]]:
        """Links (partition, new leader) of the cheapest chain from a source to a sink (Bellman-
        Ford over the brokers; a link costs +1 when it changes a first replica that was unchanged,
        -1 when it restores one). Empty when no source reaches a sink."""
        edges: dict[tuple[int, int], tuple[int, int, Partition]] = {}
        for key, b in sorted(leader.items()):
            for t in new[key]:
                option = ((t != first[key]) - (b != first[key]),
                          per_topic[key[0], t] - per_topic[key[0], b], key)  # fmt: skip
                if t != b and option < edges.get((b, t), (2,)):
                    edges[b, t] = option
        cost = dict.fromkeys(sources, 0)
        previous: dict[int, tuple[int, Partition]] = {}
        for _ in count:
            relaxed = False
            for (b, t), (step, _, key) in sorted(edges.items()):
                if b in cost and cost[b] + step < cost.get(t, len(count) + 1):
                    cost[t], previous[t], relaxed = cost[b] + step, (b, key), True
            if not relaxed:
                break
        reached = [t for t in sinks if t in cost]
        if not reached:
            return []
        t = min(reached, key=lambda t: (cost[t], count[t], t))
        links: list[tuple[Partition, int]] = []
        while t in previous and len(links) < len(count):
            b, key = previous[t]
            links.append((key, t))
            t = b
        return links

    for share in (high, low):
        while True:
            sources = [b for b in sorted(count) if count[b] > share]
            sinks = [b for b in sorted(count) if count[b] < share]
            links = cheapest_chain(sources, sinks) if sources and sinks else []
            if not links:
                break
            for key, dest in links:
                source = leader[key]
                leader[key] = dest
                count[source] -= 1
                count[dest] += 1
                per_topic[key[0], source] -= 1
                per_topic[key[0], dest] += 1
    for key, b in leader.items():
        replicas = new[key]
        i = replicas.index(b)
        replicas[0], replicas[i] = b, replicas[0]  # the other replicas keep their places


def moves(old: Assignment, new: Assignment) -> int:
    """Replicas the plan copies: those on a broker that did not hold the partition before."""
    return sum(len(set(new[key]) - set(old[key])) for key in new)


def to_reassignment_json(old: Assignment, new: Assignment) -> dict[str, Any]:
    """kafka-reassign-partitions.sh's --reassignment-json-file for the partitions whose replica
    list changed (a new order too), by topic then partition."""
    return {
        "version": 1,
        "partitions": [
            {
                "topic": topic,
                "partition": partition,
                "replicas": list(new[topic, partition]),
                "log_dirs": ["any"] * len(new[topic, partition]),
            }
            for topic, partition in sorted(new)
            if new[topic, partition] != old[topic, partition]
        ],
    }
