#!/usr/bin/env python3
"""Publishes each line of stdin, as it is (no envelope, no JSON check), to TOPIC with the Kafka login
of the producer service (the [kafka] table of its configuration file): records no producer of this
project would send. Run with the Python of the tweet app's venv; prints the count sent.

usage: publish_raw.py PRODUCER_CONFIG TOPIC < lines
"""

import sys
from pathlib import Path

from kafka import KafkaProducer
from tweet_pipeline.config import load_producer_config

config_path, topic = sys.argv[1:3]
client = load_producer_config(Path(config_path)).kafka.client_kwargs()
client["client_id"] = "verify-raw"
producer = KafkaProducer(**client, acks="all")
lines = [line.rstrip("\n").encode() for line in sys.stdin if line.strip()]
for line in lines:
    producer.send(topic, line).get(timeout=60)
producer.close()
print(len(lines))
