"""The record scheme shared by producer and consumer (documented in README.md).

Kafka record written by the producer:
  key      tweet id (UTF-8)
  value    the X API v2 tweet object as JSON, unchanged (plus ``matching_rules`` for the stream)
  headers  ``x-received-at``: when the producer took the tweet (ms since the epoch, ASCII)
           ``x-source``: ``stream`` or ``replay``
  timestamp  the Kafka CreateTime, i.e. when the producer published the record

Sink record written by the consumer (one JSON object per line):
  {"tweet": {...}, "kafka": {"topic", "partition", "offset", "timestamp", "key"},
   "received_at": <ms or null>, "consumed_at": <ms>}
so end-to-end latency is ``consumed_at - received_at``, broker latency ``consumed_at -
kafka.timestamp``.

Dead-letter envelopes are built in `tweet_pipeline.deadletter`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

HEADER_RECEIVED_AT = "x-received-at"
HEADER_SOURCE = "x-source"
HEADER_ERROR = "x-error"
HEADER_SOURCE_TOPIC = "x-source-topic"
HEADER_SOURCE_PARTITION = "x-source-partition"
HEADER_SOURCE_OFFSET = "x-source-offset"

Headers = Sequence[tuple[str, bytes]]


class MalformedTweetError(ValueError):
    """A record that is not a tweet: it goes to the dead-letter topic."""


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def parse_tweet(value: bytes | None) -> dict[str, Any]:
    """Decode a tweet object; raise `MalformedTweetError` with the reason if it is not one."""
    if value is None:
        raise MalformedTweetError("empty value (tombstone)")
    try:
        tweet = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedTweetError(f"not JSON: {exc}") from None
    if not isinstance(tweet, dict):
        raise MalformedTweetError(f"not a JSON object: {type(tweet).__name__}")
    for key in ("id", "text"):
        if key not in tweet:
            raise MalformedTweetError(f"missing field {key!r}")
    if not isinstance(tweet["id"], str | int) or isinstance(tweet["id"], bool):
        raise MalformedTweetError("field 'id' must be a string")
    if not isinstance(tweet["text"], str):
        raise MalformedTweetError("field 'text' must be a string")
    return tweet


def header(headers: Headers | None, name: str) -> bytes | None:
    for key, value in headers or ():
        if key == name:
            return value
    return None


def received_at(headers: Headers | None) -> int | None:
    raw = header(headers, HEADER_RECEIVED_AT)
    try:
        return int(raw) if raw is not None else None
    except ValueError:
        return None


def sink_record(tweet: dict[str, Any], record: Any) -> dict[str, Any]:
    """Wrap a tweet with the Kafka metadata of the ConsumerRecord it came in."""
    key = record.key.decode("utf-8", "replace") if record.key is not None else None
    return {
        "tweet": tweet,
        "kafka": {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
            "key": key,
        },
        "received_at": received_at(record.headers),
        "consumed_at": now_ms(),
    }
