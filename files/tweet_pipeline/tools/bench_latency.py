#!/usr/bin/env python3
"""Latency and throughput of the real producer and consumer against a local Kafka broker.

    .venv/bin/python tools/bench_latency.py [--bootstrap HOST:PORT] [--rate R ...] [--seconds S]
        [--records N] [--compression gzip] [--fsync always] [--profile] [--java]

Without --bootstrap it starts a single-node broker from $KAFKA_DIST_ARCHIVE (tests/kafka_broker.py)
with Kafka's default log flush policy (the test suites' broker fsyncs every message; a deployed
broker does not) and stops it at the end.

Latency: a `tweet-consumer` process (JSON-lines file sink, the application's defaults) reads the
topic while, for each rate, a `tweet-producer` process replays R*S tweets at R tweets/s (replay
source -> spool -> publisher). Latency is the sink record's ``consumed_at - received_at``: intake
into the producer to the consumer's sink write, as the lab measures it (scripts/bench-pipeline).

Throughput: the producer (in this process, no consumer running) replays --records tweets at full
speed into a topic of their own; the rate is tweets / time until the spool is drained. With
--profile its threads (source, publisher, kafka-python's sender) run under cProfile and the
summary is printed. With --java, Kafka's ProducerPerformance sends as many records of the same
average size (same acks and compression) from the distribution's bin/ directory, as reference.

Figures only: nothing here passes or fails on a number.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import json
import os
import pstats
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

APP_ROOT = Path(__file__).resolve().parents[1]  # files/tweet_pipeline
sys.path.insert(0, str(APP_ROOT))  # tests.kafka_broker

from kafka import KafkaAdminClient  # noqa: E402
from kafka.admin import NewTopic  # noqa: E402

from tests.kafka_broker import KafkaBroker, unpack_kafka  # noqa: E402
from tweet_pipeline.config import load_producer_config  # noqa: E402
from tweet_pipeline.metrics import ProducerMetrics  # noqa: E402
from tweet_pipeline.producer import ProducerApp  # noqa: E402
from tweet_pipeline.replay import sample_path  # noqa: E402

DEFAULT_RATES = (10.0, 100.0, 1000.0)
# Kafka's default (never flush on a message count): the test broker's "1" fsyncs every record.
BROKER_PROPERTIES = {"log.flush.interval.messages": str(2**63 - 1)}


def percentile(values: list[float], pct: float) -> float:
    """Nearest-rank percentile (the same rule as scripts/bench-pipeline)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


def write_dataset(path: Path, marker: str, count: int) -> int:
    """`count` sample tweets with ids <marker>-<n>; returns the average line size in bytes."""
    sample = [json.loads(line) for line in sample_path().read_text("utf-8").splitlines() if line]
    size = 0
    with path.open("w", encoding="utf-8") as out:
        for index in range(count):
            line = json.dumps(dict(sample[index % len(sample)], id=f"{marker}-{index:07d}"))
            size += len(line.encode()) + 1
            out.write(line + "\n")
    return size // max(1, count)


def producer_toml(
    bootstrap: str,
    topic: str,
    replay: Path,
    spool: Path,
    *,
    rate: float,
    compression: str,
    args: argparse.Namespace,
) -> str:
    return f"""
[kafka]
bootstrap_servers = ["{bootstrap}"]
client_id = "bench-producer"
[producer]
topic = "{topic}"
acks = "all"
compression = "{compression}"
[source]
type = "replay"
[source.replay]
path = "{replay}"
rate = {rate}
loop = false
[spool]
path = "{spool}"
fsync = "{args.fsync}"
[metrics]
enabled = false
"""


def consumer_toml(bootstrap: str, topic: str, sink: Path) -> str:
    return f"""
[kafka]
bootstrap_servers = ["{bootstrap}"]
client_id = "bench-consumer"
[consumer]
topic = "{topic}"
group_id = "bench-{uuid.uuid4().hex[:8]}"
dlq_topic = "{topic}.dlq"
[sinks.console]
enabled = false
[sinks.file]
path = "{sink}"
[metrics]
enabled = false
"""


def create_topic(
    bootstrap: str, name: str, partitions: int, configs: dict[str, str] | None = None
) -> None:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs or {})])
    finally:
        admin.close()


Row = tuple[int, int, int]  # received_at, Kafka CreateTime (the publisher's send()), consumed_at


def sink_rows(sink: Path, marker: str) -> dict[str, Row]:
    """tweet id -> its Row, from the first sink line of each `marker` tweet."""
    rows: dict[str, Row] = {}
    prefix = marker + "-"
    for path in sorted(sink.parent.glob(sink.name + "*")):
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                if prefix not in line:
                    continue
                record = json.loads(line)
                if record["tweet"]["id"].startswith(prefix):
                    times = (
                        record["received_at"],
                        record["kafka"]["timestamp"],
                        record["consumed_at"],
                    )
                    rows.setdefault(record["tweet"]["id"], times)
    return rows


def wait_for_sink(sink: Path, marker: str, count: int, timeout: float) -> dict[str, Row]:
    deadline = time.monotonic() + timeout
    while True:
        rows = sink_rows(sink, marker) if sink.exists() else {}
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def run_producer(config: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tweet_pipeline.producer", "--config", str(config)],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        sys.exit(f"bench: the producer failed:\n{done.stderr[-3000:]}")


@contextlib.contextmanager
def consumer_process(config: Path, log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tweet_pipeline.consumer", "--config", str(config)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def latency(bootstrap: str, work: Path, args: argparse.Namespace) -> None:
    topic = f"bench-latency-{uuid.uuid4().hex[:8]}"
    # LogAppendTime: the record's timestamp is the broker's append, so the legs split there.
    configs = {"message.timestamp.type": "LogAppendTime"} if args.log_append_time else None
    create_topic(bootstrap, topic, args.partitions, configs)
    sink = work / "sink" / "tweets.jsonl"
    consumer_config = work / "consumer.toml"
    consumer_config.write_text(consumer_toml(bootstrap, topic, sink))

    def one_run(marker: str, rate: float, count: int) -> dict[str, Row]:
        replay = work / f"{marker}.ndjson"
        write_dataset(replay, marker, count)
        config = work / f"{marker}.toml"
        config.write_text(
            producer_toml(
                bootstrap,
                topic,
                replay,
                work / f"{marker}.db",
                rate=rate,
                compression=args.compression[0],
                args=args,
            )
        )
        run_producer(config)
        return wait_for_sink(sink, marker, count, timeout=120)

    with consumer_process(consumer_config, work / "consumer.log") as consumer:
        # Warm-up: the consumer joins its group and gets its partitions before anything counts.
        if len(one_run("warmup", 20.0, 20)) < 20:
            sys.exit(
                f"bench: the consumer never wrote the warm-up tweets (see {work}/consumer.log)"
            )
        # intake->sink, then its two legs: intake->send() (spool, publisher) and send()->sink
        # (linger, broker, fetch, consumer), or with --log-append-time intake->broker append and
        # append->sink. Percentiles of each leg do not add up.
        split = "append" if args.log_append_time else "send"
        print(
            f"{'rate/s':>8} {'tweets':>7} {'p50 ms':>7} {'p99 ms':>7} {'max ms':>7}"
            f"   {f'intake->{split} p50/p99':>23}   {f'{split}->sink p50/p99':>20}"
        )
        for rate in args.rate or DEFAULT_RATES:
            count = max(1, round(rate * args.seconds))
            rows = one_run(f"rate{rate:g}-{uuid.uuid4().hex[:6]}", rate, count)
            if consumer.poll() is not None:
                sys.exit(f"bench: the consumer exited (see {work}/consumer.log)")
            values = [float(consumed - received) for received, _, consumed in rows.values()]
            to_send = [float(sent - received) for received, sent, _ in rows.values()]
            to_sink = [float(consumed - sent) for _, sent, consumed in rows.values()]
            if not values:
                print(f"{rate:8g} {0:7d}  nothing arrived")
                continue
            print(
                f"{rate:8g} {len(values):7d} {percentile(values, 50):7.0f} "
                f"{percentile(values, 99):7.0f} {max(values):7.0f}"
                f"   {percentile(to_send, 50):10.0f}/{percentile(to_send, 99):<10.0f}"
                f"   {percentile(to_sink, 50):9.0f}/{percentile(to_sink, 99):<8.0f}"
                + f"   max: tweet #{slowest(rows)}"
                + ("" if len(values) == count else f"   (only {len(values)} of {count})")
            )


def slowest(rows: dict[str, Row]) -> int:
    """The replay index (the id's suffix) of the tweet with the longest intake->sink time: #0 is
    the first tweet of a fresh producer process, which also waits for its connection."""
    tweet_id = max(rows, key=lambda key: rows[key][2] - rows[key][0])
    return int(tweet_id.rsplit("-", 1)[1])


class ThreadProfiles:
    """cProfile in every thread started meanwhile (cProfile sees only the thread it runs in)."""

    def __init__(self) -> None:
        self.profiles: list[cProfile.Profile] = []
        self._original: Callable[[threading.Thread], None] = threading.Thread.run

    def __enter__(self) -> ThreadProfiles:
        original, profiles = self._original, self.profiles

        def profiled(thread: threading.Thread) -> None:
            profile = cProfile.Profile()
            profiles.append(profile)
            profile.runcall(original, thread)

        threading.Thread.run = profiled  # type: ignore[method-assign,assignment]
        return self

    def __exit__(self, *exc: object) -> None:
        threading.Thread.run = self._original  # type: ignore[method-assign,assignment]

    def summary(self, top: int) -> str:
        out = io.StringIO()
        stats = pstats.Stats(*self.profiles, stream=out) if self.profiles else None
        if stats is None:
            return "no threads profiled"
        stats.sort_stats("tottime").print_stats(top)
        return out.getvalue()


def throughput(
    bootstrap: str, work: Path, args: argparse.Namespace, compression: str
) -> tuple[float, int]:
    """(tweets/s of the producer at full speed, average record size)."""
    topic = f"bench-throughput-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, args.partitions)
    replay = work / f"{topic}.ndjson"
    size = write_dataset(replay, "full", args.records)
    config = work / f"{topic}.toml"
    config.write_text(
        producer_toml(
            bootstrap,
            topic,
            replay,
            work / f"{topic}.db",
            rate=0.0,
            compression=compression,
            args=args,
        )
    )
    app = ProducerApp(load_producer_config(config), ProducerMetrics())
    profiles = ThreadProfiles()
    with profiles if args.profile else contextlib.nullcontext():
        started = time.monotonic()
        status = app.run()
        seconds = time.monotonic() - started
    if status != 0:
        sys.exit(f"bench: the producer exited with {status}")
    rate = args.records / seconds
    if args.profile:
        print(profiles.summary(args.profile_top))
    return rate, size


def throughputs(bootstrap: str, work: Path, home: Path | None, args: argparse.Namespace) -> None:
    """Each codec --repeat times after a warm-up, the Java producer right after each Python run
    (the machine's load drifts), then the medians and their ratio."""
    for compression in args.compression:
        python: list[float] = []
        java: list[float] = []
        # Unreported warm-up: a process's first run also pays for connections, metadata and
        # lazy imports (it ran 20-25 % slower than the next ones).
        throughput(
            bootstrap, work, argparse.Namespace(**{**vars(args), "records": 2000}), compression
        )
        for _ in range(args.repeat):
            rate, size = throughput(bootstrap, work, args, compression)
            python.append(rate)
            line = f"{compression:>6}: python producer {rate:6.0f} tweets/s"
            if home is not None:
                java.append(java_producer(home, bootstrap, size, args, compression))
                line += f", java ProducerPerformance ({size} B records) {java[-1]:6.0f} records/s"
            print(line, flush=True)
        summary = f"{compression:>6}: median python {statistics.median(python):6.0f} tweets/s"
        if java:
            ratio = statistics.median(python) / statistics.median(java)
            summary += f", java {statistics.median(java):6.0f} records/s, python/java {ratio:.2f}"
        print(summary, flush=True)


def java_producer(
    home: Path, bootstrap: str, size: int, args: argparse.Namespace, compression: str
) -> float:
    """Kafka's ProducerPerformance: records/s for --records records of `size` bytes."""
    topic = f"bench-java-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, args.partitions)
    done = subprocess.run(
        [
            str(home / "bin" / "kafka-producer-perf-test.sh"),
            *("--topic", topic, "--num-records", str(args.records)),
            *("--record-size", str(size), "--throughput", "-1"),
            "--producer-props",
            f"bootstrap.servers={bootstrap}",
            "acks=all",
            f"compression.type={compression}",
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "KAFKA_HEAP_OPTS": "-Xmx512m"},
    )
    return float(re.findall(r"([\d.]+) records/sec", done.stdout)[-1])


def java_end_to_end(home: Path, bootstrap: str, work: Path, args: argparse.Namespace) -> str:
    """Kafka's EndToEndLatency (one record at a time: send, wait until consumed): its output."""
    topic = f"bench-e2e-{uuid.uuid4().hex[:8]}"
    create_topic(bootstrap, topic, args.partitions)
    config = work / "e2e.properties"
    config.write_text(f"compression.type={args.compression[0]}\n")
    size = write_dataset(work / "e2e-size.ndjson", "size", 100)
    done = subprocess.run(
        [
            str(home / "bin" / "kafka-e2e-latency.sh"),
            *("--bootstrap-server", bootstrap, "--topic", topic),
            *("--num-records", str(args.e2e_records), "--producer-acks", "all"),
            *("--record-size", str(size), "--command-config", str(config)),
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "KAFKA_HEAP_OPTS": "-Xmx512m"},
    )
    return "\n".join(line for line in done.stdout.splitlines() if not line[:1].isdigit())


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--bootstrap", help="an existing broker (default: start one)")
    parser.add_argument("--rate", type=float, action="append", help="tweets/s (repeatable)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each rate's run")
    parser.add_argument("--records", type=int, default=20000, help="tweets of the full-speed run")
    parser.add_argument("--partitions", type=int, default=1)
    parser.add_argument(
        "--compression",
        action="append",
        help="the producer's compression (repeatable: the full-speed run measures each; the "
        "latency runs use the first); default gzip",
    )
    parser.add_argument("--repeat", type=int, default=1, help="full-speed runs per codec")
    parser.add_argument("--fsync", choices=["always", "normal"], default="always")
    parser.add_argument(
        "--log-append-time",
        action="store_true",
        help="split latency at the broker's append (topic timestamps: LogAppendTime)",
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--profile", action="store_true", help="cProfile the full-speed run")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--java", action="store_true", help="Kafka's ProducerPerformance and EndToEndLatency too"
    )
    parser.add_argument("--e2e-records", type=int, default=2000, help="EndToEndLatency's records")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    args.compression = args.compression or ["gzip"]
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        work = Path(tmp)
        broker: Any = None
        home: Path | None = None
        bootstrap = args.bootstrap
        if bootstrap is None:
            home = unpack_kafka(work)
            (work / "broker").mkdir()
            broker = KafkaBroker(work / "broker", home=home, properties=BROKER_PROPERTIES)
            broker.start()
            bootstrap = broker.bootstrap
        try:
            print(
                f"broker {bootstrap}, {args.partitions} partition(s), acks=all, "
                f"compression={','.join(args.compression)}, spool fsync={args.fsync}"
            )
            if not args.skip_latency:
                latency(bootstrap, work, args)
                if args.java:
                    home = home or unpack_kafka(work)
                    print("java EndToEndLatency:", java_end_to_end(home, bootstrap, work, args))
            if not args.skip_throughput:
                if args.java:
                    home = home or unpack_kafka(work)
                throughputs(bootstrap, work, home if args.java else None, args)
        finally:
            if broker is not None:
                broker.stop()


if __name__ == "__main__":
    main()
