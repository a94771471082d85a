"""Unit tests without Kafka: spool, file-sink rotation, envelope, backoff, S3 keys, sample."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from tweet_pipeline.config import (
    ConsoleSinkConfig,
    FileSinkConfig,
    S3SinkConfig,
    StreamConfig,
)
from tweet_pipeline.envelope import MalformedTweetError, dead_letter, parse_tweet, sink_record
from tweet_pipeline.replay import sample_path, tweet_from_line
from tweet_pipeline.sinks import ConsoleSink, JsonLinesFileSink, S3Sink
from tweet_pipeline.spool import NewTweet, Spool
from tweet_pipeline.stream import Backoff


def tweets(n: int, start: int = 0) -> list[NewTweet]:
    return [
        NewTweet(str(i).encode(), f'{{"id":"{i}"}}'.encode(), i, "replay")
        for i in range(start, start + n)
    ]


def test_spool_is_ordered_durable_and_never_reuses_seq(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.append(tweets(5))
    batch = spool.peek(10)
    assert [t.key for t in batch] == [b"0", b"1", b"2", b"3", b"4"]
    assert [t.key for t in spool.peek(2, after_seq=batch[1].seq)] == [b"2", b"3"]
    spool.remove([batch[0].seq, batch[1].seq])
    assert spool.depth() == 3
    spool.close()
    with pytest.raises(RuntimeError, match="closed"):
        spool.append(tweets(1))

    reopened = Spool(tmp_path / "s.db", fsync="normal")
    assert reopened.depth() == 3
    reopened.remove([t.seq for t in reopened.peek(10)])
    reopened.append(tweets(1, start=9))
    (last,) = reopened.peek(10)
    assert last.key == b"9" and last.seq > batch[-1].seq
    reopened.remove([last.seq, last.seq])  # removing twice counts once
    assert reopened.depth() == 0
    reopened.close()


def record(i: int) -> dict[str, object]:
    return {"tweet": {"id": str(i), "text": "x" * 100}, "kafka": {"partition": 0, "offset": i}}


def test_file_sink_rotates_by_size_and_keeps_n_files(tmp_path: Path) -> None:
    path = tmp_path / "out" / "tweets.jsonl"
    sink = JsonLinesFileSink(FileSinkConfig(path=path, max_bytes=2000, backup_count=3))
    for i in range(100):
        sink.write(record(i))
    sink.close()
    files = sorted(p.name for p in path.parent.iterdir())
    assert files == ["tweets.jsonl", "tweets.jsonl.1", "tweets.jsonl.2", "tweets.jsonl.3"]
    assert all((path.parent / f).stat().st_size <= 2000 for f in files)
    ids = [
        json.loads(line)["tweet"]["id"]
        for name in ["tweets.jsonl.3", "tweets.jsonl.2", "tweets.jsonl.1", "tweets.jsonl"]
        for line in (path.parent / name).read_text().splitlines()
    ]
    assert ids == [str(i) for i in range(100 - len(ids), 100)]  # the newest, contiguous
    assert len(ids) < 100  # older files were deleted
    # Appending after a restart continues the current file.
    sink = JsonLinesFileSink(FileSinkConfig(path=path, max_bytes=2000, backup_count=3))
    sink.write(record(100))
    sink.close()
    assert json.loads(path.read_text().splitlines()[-1])["tweet"]["id"] == "100"


@pytest.mark.parametrize("tail", [b'{"tweet": {"id": "torn', b"no newline at all"])
def test_file_sink_cuts_a_line_torn_by_a_crash(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "tweets.jsonl"
    whole = (json.dumps(record(1)) + "\n").encode() if tail.startswith(b"{") else b""
    path.write_bytes(whole + tail)
    sink = JsonLinesFileSink(FileSinkConfig(path=path, max_bytes=10_000, backup_count=1))
    sink.write(record(2))
    sink.close()
    ids = [json.loads(line)["tweet"]["id"] for line in path.read_text().splitlines()]
    assert ids == (["1", "2"] if whole else ["2"])


def test_console_sink_prints_one_line_per_tweet() -> None:
    out = io.StringIO()
    sink = ConsoleSink(ConsoleSinkConfig(format="text"), stream=out)
    sink.write(
        {
            "tweet": {"id": "7", "text": "two\nlines", "author_id": "9", "lang": "en"},
            "kafka": {"partition": 1, "offset": 42},
        }
    )
    assert out.getvalue() == "[1:42] 7 @9 (en): two lines\n"
    out = io.StringIO()
    ConsoleSink(ConsoleSinkConfig(format="json"), stream=out).write(record(1))
    assert json.loads(out.getvalue())["tweet"]["id"] == "1"


def test_s3_object_keys_use_a_date_prefix() -> None:
    sink = S3Sink(S3SinkConfig(bucket="b", prefix="raw/tweets"), client=object())
    key = sink.object_key(dt.datetime(2024, 11, 20, 9, 5, 1, tzinfo=dt.UTC))
    assert key.startswith("raw/tweets/2024/11/20/09/20241120T090501000000-")
    assert key.endswith(".jsonl")


def test_parse_tweet_reasons() -> None:
    assert parse_tweet(b'{"id": "1", "text": "hi"}')["id"] == "1"
    for value, reason in [
        (None, "empty value"),
        (b"nope", "not JSON"),
        (b'"str"', "not a JSON object"),
        (b'{"text": "t"}', "missing field 'id'"),
        (b'{"id": "1"}', "missing field 'text'"),
        (b'{"id": true, "text": "t"}', "field 'id' must be a string"),
        (b'{"id": "1", "text": 5}', "field 'text' must be a string"),
    ]:
        with pytest.raises(MalformedTweetError, match=reason):
            parse_tweet(value)


def test_envelopes() -> None:
    rec = SimpleNamespace(
        topic="t",
        partition=2,
        offset=9,
        timestamp=1000,
        key=b"1",
        value=b"\xff",
        headers=[("x-received-at", b"900")],
    )
    out = sink_record({"id": "1", "text": "x"}, rec)
    assert out["received_at"] == 900 and out["kafka"]["offset"] == 9 and out["kafka"]["key"] == "1"
    value, headers = dead_letter(rec, "not JSON")
    envelope = json.loads(value)
    assert envelope["value_b64"] == "/w==" and envelope["source"]["partition"] == 2
    assert ("x-source-offset", b"9") in headers


def test_backoff_schedules() -> None:
    cfg = StreamConfig(
        bearer_token="t",
        rules=[],
        backoff_network_step_s=0.25,
        backoff_network_max_s=0.6,
        backoff_http_initial_s=5,
        backoff_http_max_s=20,
        backoff_rate_limit_initial_s=60,
    )
    b = Backoff(cfg)
    assert [b.next("network") for _ in range(4)] == [0.25, 0.5, 0.6, 0.6]
    assert [b.next("http") for _ in range(4)] == [5, 10, 20, 20]
    assert [b.next("rate_limit") for _ in range(2)] == [60, 60]  # never below the initial
    b = Backoff(StreamConfig(bearer_token="t", rules=[]))  # X's documented defaults
    assert [b.next("rate_limit") for _ in range(4)] == [60, 120, 240, 320]
    b.reset()
    assert b.next("rate_limit") == 60 and b.next("closed") == 0.25


def test_bundled_sample() -> None:
    lines = sample_path().read_bytes().splitlines()
    assert len(lines) >= 1200 and sample_path().stat().st_size < 1024 * 1024
    parsed = [tweet_from_line(line, "replay") for line in lines]
    assert all(p is not None for p in parsed)
    assert len({p.key for p in parsed if p}) == len(lines)
    assert tweet_from_line(b"[]", "replay") is None
