"""Dead-letter envelopes (producer and consumer) that always fit in one Kafka request.

An envelope is a JSON object: the error, where the record came from, its key, its size, and as
much of its value as fits (``value_text`` if UTF-8, else ``value_b64``). If the whole envelope
would exceed ``limit`` bytes the value is cut (``"truncated": true``; ``value_bytes`` keeps the
original size); a *minimal* envelope carries no value at all, for a dead-letter topic that
rejects even the cut one. The error, the coordinates and the sizes are always there, so the
original can be found again (in the source topic, or from the tweet id).
"""

from __future__ import annotations

import base64
import json
from typing import Any, Literal

from kafka.errors import (
    CorruptRecordError,
    InvalidRecordError,
    InvalidTimestampError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)

from tweet_pipeline.envelope import (
    HEADER_ERROR,
    HEADER_RECEIVED_AT,
    HEADER_SOURCE,
    HEADER_SOURCE_OFFSET,
    HEADER_SOURCE_PARTITION,
    HEADER_SOURCE_TOPIC,
    now_ms,
)
from tweet_pipeline.spool import SpooledTweet

HEADER_STAGE = "x-dead-letter-stage"
# Room left in a request for the record batch framing, the key and the headers.
RECORD_OVERHEAD = 4096
_MAX_ERROR = 1000
_MAX_KEY = 1024

Reason = Literal["too_large", "invalid_record"]
Headers = list[tuple[str, bytes]]


def record_error_reason(error: BaseException) -> Reason | None:
    """The reason if Kafka refused this record for what it is (retrying cannot help)."""
    if isinstance(error, MessageSizeTooLargeError | RecordListTooLargeError):
        return "too_large"
    if isinstance(error, InvalidRecordError | CorruptRecordError | InvalidTimestampError):
        return "invalid_record"
    return None


def _encode(envelope: dict[str, Any]) -> bytes:
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _fit_text(envelope: dict[str, Any], text: str, limit: int) -> bytes:
    """The envelope with the longest prefix of `text` (as value_text) that fits in `limit`."""
    lo, hi = 0, len(text)
    best = _encode({**envelope, "value_text": "", "truncated": True})
    while lo <= hi:
        mid = (lo + hi) // 2
        data = _encode({**envelope, "value_text": text[:mid], "truncated": True})
        if len(data) <= limit:
            best, lo = data, mid + 1
        else:
            hi = mid - 1
    return best


def fit_envelope(
    envelope: dict[str, Any], value: bytes | None, limit: int, minimal: bool = False
) -> bytes:
    """Add as much of `value` to `envelope` as keeps the JSON within `limit` bytes."""
    envelope = {**envelope, "error": str(envelope.get("error", ""))[:_MAX_ERROR]}
    envelope["value_bytes"] = None if value is None else len(value)
    if value is None or minimal:
        return _encode({**envelope, "truncated": bool(value)})
    try:
        text: str | None = value.decode("utf-8")
    except UnicodeDecodeError:
        text = None
    if text is not None:
        whole = _encode({**envelope, "value_text": text, "truncated": False})
        return whole if len(whole) <= limit else _fit_text(envelope, text, limit)
    b64 = base64.b64encode(value).decode()
    whole = _encode({**envelope, "value_b64": b64, "truncated": False})
    if len(whole) <= limit:
        return whole
    room = max(0, limit - len(_encode({**envelope, "value_b64": "", "truncated": True})))
    cut = base64.b64encode(value[: room // 4 * 3]).decode()
    return _encode({**envelope, "value_b64": cut, "truncated": True})


def _key_b64(key: bytes | None) -> str | None:
    return base64.b64encode(key[:_MAX_KEY]).decode() if key is not None else None


def dlq_key(key: bytes | None) -> bytes | None:
    """The dead letter's Kafka key: the original one, cut so it cannot make the record too big."""
    return key[:_MAX_KEY] if key is not None else None


def envelope_limit(max_request_size: int) -> int:
    return max(512, max_request_size - RECORD_OVERHEAD)


def consumer_dead_letter(
    record: Any, error: str, limit: int, minimal: bool = False
) -> tuple[bytes, Headers]:
    """The DLQ value (JSON envelope) and headers for a malformed ConsumerRecord."""
    envelope: dict[str, Any] = {
        "error": error,
        "source": {
            "topic": record.topic,
            "partition": record.partition,
            "offset": record.offset,
            "timestamp": record.timestamp,
        },
        "key_b64": _key_b64(record.key),
        "dead_lettered_at": now_ms(),
    }
    headers = [
        (HEADER_ERROR, error.encode("utf-8")[:1024]),
        (HEADER_SOURCE_TOPIC, record.topic.encode()),
        (HEADER_SOURCE_PARTITION, str(record.partition).encode()),
        (HEADER_SOURCE_OFFSET, str(record.offset).encode()),
    ]
    return fit_envelope(envelope, record.value, limit, minimal), headers


def producer_dead_letter(
    tweet: SpooledTweet,
    *,
    topic: str,
    reason: Reason,
    error: str,
    limit: int,
    minimal: bool = False,
) -> tuple[bytes, Headers]:
    """The DLQ value and headers for a spooled tweet that `topic` can never accept."""
    envelope: dict[str, Any] = {
        "error": error,
        "reason": reason,
        "id": tweet.key.decode("utf-8", "replace")[:_MAX_KEY],
        "source": {
            "stage": "producer",
            "topic": topic,
            "origin": tweet.source,
            "received_at": tweet.received_at_ms,
        },
        "key_b64": _key_b64(tweet.key),
        "dead_lettered_at": now_ms(),
    }
    headers = [
        (HEADER_ERROR, f"{reason}: {error}".encode()[:1024]),
        (HEADER_SOURCE_TOPIC, topic.encode()),
        (HEADER_STAGE, b"producer"),
        (HEADER_RECEIVED_AT, str(tweet.received_at_ms).encode()),
        (HEADER_SOURCE, tweet.source.encode()),
    ]
    return fit_envelope(envelope, tweet.value, limit, minimal), headers
