"""Unit tests without Kafka: spool, file-sink rotation, envelopes, backoff, S3 keys, sample,
log redaction, the transport redirect, replay's bad lines."""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import logging
import sqlite3
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
import requests
from kafka.errors import (
    InvalidRecordError,
    KafkaTimeoutError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
)
from requests.adapters import HTTPAdapter

from tweet_pipeline.config import (
    ConsoleSinkConfig,
    FileSinkConfig,
    ProducerKafkaConfig,
    ProducerSettings,
    ReplayConfig,
    S3SinkConfig,
    StreamConfig,
)
from tweet_pipeline.deadletter import consumer_dead_letter, fit_envelope, record_error_reason
from tweet_pipeline.envelope import MalformedTweetError, parse_tweet, sink_record
from tweet_pipeline.logs import REDACTED, RateLimitedLog, RedactSecrets, setup_logging
from tweet_pipeline.publisher import producer_kwargs
from tweet_pipeline.replay import ReplaySource, sample_path, tweet_from_line
from tweet_pipeline.sinks import ConsoleSink, JsonLinesFileSink, S3Sink
from tweet_pipeline.spool import NewTweet, Spool, is_disk_full
from tweet_pipeline.stream import Backoff
from tweet_pipeline.transport import ForwardAdapter, redirect


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
    value, headers = consumer_dead_letter(rec, "not JSON", limit=10_000)
    envelope = json.loads(value)
    assert envelope["value_b64"] == "/w==" and envelope["source"]["partition"] == 2
    assert envelope["truncated"] is False and envelope["value_bytes"] == 1
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


# -- spool limits and a full disk (item 8) -------------------------------------------------------
def test_spool_limits_take_the_prefix_that_fits(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_records=5)
    assert spool.append(tweets(3)) == 3
    assert spool.append(tweets(4, start=3)) == 2  # only 2 more fit
    assert spool.full_reason() == "max_records" and spool.append(tweets(1, start=9)) == 0
    assert [t.key for t in spool.peek(10)] == [b"0", b"1", b"2", b"3", b"4"]
    spool.close()

    by_bytes = Spool(tmp_path / "b.db", max_bytes=30)
    big = [NewTweet(b"k", b"v" * 40, 1, "stream"), NewTweet(b"l", b"w", 1, "stream")]
    assert by_bytes.append(big) == 1  # below the limit before it: taken, even if it overshoots
    assert by_bytes.size_bytes() == 41 and by_bytes.full_reason() == "max_bytes"
    assert by_bytes.append(big[1:]) == 0
    by_bytes.close()


def test_spool_wait_for_room_wakes_on_remove(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db", max_records=2)
    spool.append(tweets(2))
    assert not spool.wait_for_room(0.01)
    first = spool.peek(1)[0]
    remover = threading.Timer(0.05, spool.remove, [[first.seq]])
    remover.start()
    assert spool.wait_for_room(10)  # returns when the remove happened, not after 10 s
    remover.join()
    assert spool.depth() == 1 and spool.full_reason() is None
    spool.close()


def test_a_full_disk_rolls_back_and_the_spool_keeps_working(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "s.db")
    spool.append(tweets(3))
    # A real SQLITE_FULL without filling a disk: cap the database's size in pages.
    (pages,) = spool._conn().execute("PRAGMA page_count").fetchone()
    spool._conn().execute(f"PRAGMA max_page_count = {pages + 2}")
    big = [NewTweet(b"big", b"x" * 100_000, 1, "stream")]
    with pytest.raises(sqlite3.OperationalError) as info:
        spool.append(big)
    assert is_disk_full(info.value) and "full" in str(info.value)
    assert not spool._conn().in_transaction  # rolled back: not wedged
    assert spool.depth() == 3 and [t.key for t in spool.peek(10)] == [b"0", b"1", b"2"]
    assert spool.append(tweets(1, start=3)) == 1  # small ones still fit
    spool.remove([t.seq for t in spool.peek(10)])
    assert spool.depth() == 0 and spool.size_bytes() == 0
    spool.close()
    reopened = Spool(tmp_path / "s.db")
    assert reopened.depth() == 0  # nothing half-written survived
    reopened.close()


# -- dead-letter envelopes -----------------------------------------------------------------------
def test_fit_envelope_cuts_the_value_and_keeps_the_rest() -> None:
    base = {"error": "too big", "id": "1", "source": {"topic": "t"}}
    text = ("ü" * 5000 + '"\n\\') * 20
    value = text.encode()
    whole = fit_envelope(base, value, limit=10**7)
    assert json.loads(whole)["value_text"] == text and json.loads(whole)["truncated"] is False
    cut = fit_envelope(base, value, limit=4000)
    envelope = json.loads(cut)
    assert len(cut) <= 4000 and len(cut) > 3900  # as much as fits
    assert text.startswith(envelope["value_text"]) and envelope["truncated"] is True
    assert envelope["value_bytes"] == len(value) and envelope["error"] == "too big"
    binary = bytes(range(256)) * 100
    packed = json.loads(fit_envelope(base, binary, limit=3000))
    assert binary.startswith(base64.b64decode(packed["value_b64"])) and packed["truncated"]
    minimal = json.loads(fit_envelope(base, value, limit=3000, minimal=True))
    assert "value_text" not in minimal and minimal["value_bytes"] == len(value)


def test_record_error_reasons() -> None:
    assert record_error_reason(MessageSizeTooLargeError()) == "too_large"
    assert record_error_reason(RecordListTooLargeError()) == "too_large"
    assert record_error_reason(InvalidRecordError()) == "invalid_record"
    assert record_error_reason(KafkaTimeoutError()) is None


# -- secrets never in logs (item 4) --------------------------------------------------------------
def test_redaction_covers_messages_arguments_exceptions_and_encodings() -> None:
    secret = "AAAA%2Bs3cr3t%3Dtoken"
    redactor = RedactSecrets([secret])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(redactor)
    logger = logging.getLogger("test-redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("Headers: %s", {"Authorization": f"Bearer {secret}"})
        logger.warning("decoded %s and quoted %s", "AAAA+s3cr3t=token", secret)
        logger.warning("other header Authorization: Bearer someone-elses.token")
        try:
            raise ValueError(f"bad token {secret}")
        except ValueError:
            logger.exception("failed")
    finally:
        logger.removeHandler(handler)
    out = stream.getvalue()
    assert "s3cr3t" not in out and "someone-elses" not in out
    assert f"'Authorization': 'Bearer {REDACTED}'" in out
    assert f"bad token {REDACTED}" in out and "ValueError" in out


def test_setup_logging_redacts_every_logger(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    saved = (root.handlers[:], root.level)
    try:
        redactor = setup_logging("DEBUG")
        redactor.add("tok-123456")
        logging.getLogger("tweepy.client").debug("Headers: {'Authorization': 'Bearer tok-123456'}")
        logging.getLogger("urllib3").debug("token=%s", "tok-123456")
    finally:
        root.handlers[:], _ = saved
        root.setLevel(saved[1])
    err = capsys.readouterr().err
    assert "tok-123456" not in err and err.count(REDACTED) == 2


def test_rate_limited_log() -> None:
    logger = logging.getLogger("test-rate-limited")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    logger.propagate = False
    try:
        limited = RateLimitedLog(logger, burst=3, period_s=3600)
        for i in range(10):
            limited.warning("bad line %d", i)
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == ["bad line 0", "bad line 1", "bad line 2"]


# -- replay's bad lines (item 9) ------------------------------------------------------------------
def test_replay_logs_each_bad_line_with_its_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "in.ndjson"
    good = sample_path().read_bytes().splitlines()[:2]
    path.write_bytes(b"\n".join([good[0], b"not json", b"", b"[1, 2]", good[1]]) + b"\n")
    taken: list[NewTweet] = []
    bad: list[int] = []
    source = ReplaySource(ReplayConfig(path=path), taken.extend, lambda: bad.append(1))
    with caplog.at_level(logging.WARNING, logger="tweet_pipeline.replay"):
        source.run()
    assert len(taken) == 2 and len(bad) == 2
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert messages == [
        f"{path} line 2 is not a tweet object, skipped: 'not json'",
        f"{path} line 4 is not a tweet object, skipped: '[1, 2]'",
    ]


# -- the transport redirect (item 1) --------------------------------------------------------------
def test_redirect_rewrites_only_the_x_prefix_and_is_off_by_default() -> None:
    adapter = ForwardAdapter("http://127.0.0.1:8080/")
    url = "https://api.twitter.com/2/tweets/search/stream?tweet.fields=id"
    assert adapter.target(url) == "http://127.0.0.1:8080/2/tweets/search/stream?tweet.fields=id"
    gateway = ForwardAdapter("https://gw.example.com/x")
    assert gateway.target(url).startswith("https://gw.example.com/x/2/tweets/search/stream?")
    assert adapter.target("https://example.com/2/x") == "https://example.com/2/x"

    default = requests.Session()
    redirect(default, "https://api.twitter.com")
    assert type(default.get_adapter(url)) is HTTPAdapter  # X's own URL: nothing mounted
    session = requests.Session()
    redirect(session, "http://127.0.0.1:8080")
    assert isinstance(session.get_adapter(url), ForwardAdapter)
    assert type(session.get_adapter("https://example.com/")) is HTTPAdapter


# -- the producer's rate (issue 13) ---------------------------------------------------------------
def test_the_kafka_producer_gets_the_batch_size_setting() -> None:
    kwargs = producer_kwargs(ProducerKafkaConfig(), ProducerSettings(batch_size=131_072))
    assert kwargs["batch_size"] == 131_072
    assert producer_kwargs(ProducerKafkaConfig(), ProducerSettings())["batch_size"] == 65_536
    small_requests = ProducerSettings(max_request_size=16_384)  # a batch fits one request
    assert producer_kwargs(ProducerKafkaConfig(), small_requests)["batch_size"] == 16_384


def test_kafka_python_checksums_batches_with_the_native_crc32c() -> None:
    """Without the crc32c wheel kafka-python falls back to its pure-Python CRC-32C (a tenth of
    the producer's CPU at full speed, in bench_latency's profile)."""
    import crc32c  # noqa: PLC0415 - the dependency itself is what is checked
    from kafka.record import util  # noqa: PLC0415

    assert util.calc_crc32c.__defaults__ == (crc32c.crc32c,)
    assert util.calc_crc32c(b"123456789") == 0xE3069283  # the CRC-32C check value
