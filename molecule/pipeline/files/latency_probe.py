#!/usr/bin/env python3
"""Publishes one tweet every INTERVAL seconds until STOP_FILE exists, each with acks=all, and prints
the send-to-acknowledgement latencies as JSON: {"sent", "failed", "p50_ms", "p99_ms", "max_ms",
"max_at", "worst": [[ms, "HH:MM:SS"], ...] (the five highest)}. Run with the Python of the tweet app's venv
(kafka-python, tweet_pipeline). It connects as the producer service does: with the Kafka settings of the
producer's configuration file (brokers, TLS, SCRAM login), so it needs the host's producer.

usage: latency_probe.py PRODUCER_CONFIG TOPIC MARKER INTERVAL STOP_FILE
"""

import json
import os
import sys
import time
from pathlib import Path

from kafka import KafkaProducer
from tweet_pipeline.config import load_producer_config

config_path, topic, marker, interval, stop_file = sys.argv[1:6]
client = load_producer_config(Path(config_path)).kafka.client_kwargs()
client["client_id"] = f"latency-probe-{marker}"
producer = KafkaProducer(
    **client, acks="all", retries=2**31 - 1,
    delivery_timeout_ms=300_000, request_timeout_ms=30_000, linger_ms=0,
)
latencies: list[tuple[float, float]] = []
failed = 0
i = 0
while not os.path.exists(stop_file):
    tweet = {"id": f"{marker}-{i:06d}", "text": "latency probe", "author_id": "42",
             "created_at": "2026-11-26T00:00:00.000Z", "lang": "en"}
    started = time.monotonic()
    try:
        producer.send(topic, json.dumps(tweet).encode(), key=tweet["id"].encode()).get(timeout=300)
        latencies.append(((time.monotonic() - started) * 1000, time.time()))
    except Exception:  # noqa: BLE001 - counted: the test asserts there are none
        failed += 1
    i += 1
    time.sleep(float(interval))
producer.close()
ordered = sorted(ms for ms, _ in latencies)
worst = max(latencies, default=(0.0, 0.0))
print(json.dumps({
    "sent": i, "failed": failed,
    "p50_ms": round(ordered[len(ordered) // 2], 1) if ordered else None,
    "p99_ms": round(ordered[int(len(ordered) * 0.99)], 1) if ordered else None,
    "max_ms": round(worst[0], 1), "max_at": time.strftime("%H:%M:%S", time.gmtime(worst[1])),
    "worst": [[round(ms, 1), time.strftime("%H:%M:%S", time.gmtime(at))]
              for ms, at in sorted(latencies, reverse=True)[:5]],
}))
