"""X API v2 filtered stream source through `tweepy.StreamingClient`.

tweepy's own reconnect loop sleeps fixed, hard-coded times (60 s after a 429). We let tweepy make
each connection and parse the stream, but stop its loop at the first error (the ``on_*``
callbacks call ``disconnect()`` before tweepy would sleep) and reconnect here with the backoff
X documents, with every step configurable:

* network errors and dropped connections: linear, + ``backoff_network_step_s`` up to
  ``backoff_network_max_s``;
* HTTP errors: exponential from ``backoff_http_initial_s`` up to ``backoff_http_max_s``;
* HTTP 429 (and 420): exponential from ``backoff_rate_limit_initial_s`` (capped like HTTP
  errors, but never below the initial wait).
A successful connection resets all three.

``api_base_url`` sends tweepy's requests to another base URL (see `tweet_pipeline.transport`).

A tweet that cannot be spooled (the spool raised) is not swallowed by tweepy's loop: it is logged
with its id and counted (``errors_total{kind="ingest"}``), the stream stops and `run()` raises
`IngestError`, so the process exits non-zero and systemd restarts it instead of streaming on into
a broken spool. (A full spool is not an error here: the producer rejects and counts the tweet.)
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import requests
import tweepy

from tweet_pipeline.config import X_API_BASE_URL, StreamConfig
from tweet_pipeline.envelope import now_ms
from tweet_pipeline.logs import RateLimitedLog
from tweet_pipeline.metrics import ProducerMetrics
from tweet_pipeline.spool import NewTweet
from tweet_pipeline.transport import redirect

log = logging.getLogger(__name__)

Ingest = Callable[[list[NewTweet]], None]


class IngestError(RuntimeError):
    """A streamed tweet could not be spooled; the stream was stopped."""

    def __init__(self, tweet_id: str, error: BaseException) -> None:
        super().__init__(f"could not spool tweet {tweet_id}: {error!r}")
        self.tweet_id = tweet_id


class Backoff:
    """The three X reconnect schedules."""

    def __init__(self, config: StreamConfig) -> None:
        self.config = config
        self.reset()

    def reset(self) -> None:
        self._network = 0.0
        self._http = self.config.backoff_http_initial_s
        self._rate = self.config.backoff_rate_limit_initial_s

    def next(self, reason: str) -> float:
        c = self.config
        if reason == "rate_limit":
            cap = max(c.backoff_http_max_s, c.backoff_rate_limit_initial_s)
            delay, self._rate = self._rate, min(self._rate * 2, cap)
            return delay
        if reason == "http":
            delay, self._http = self._http, min(self._http * 2, c.backoff_http_max_s)
            return delay
        self._network = min(self._network + c.backoff_network_step_s, c.backoff_network_max_s)
        return self._network


class _Client(tweepy.StreamingClient):  # type: ignore[misc]
    """tweepy's StreamingClient that hands tweets over and reports why a connection ended."""

    def __init__(
        self,
        bearer_token: str,
        on_tweet: Callable[[dict[str, Any]], None],
        on_connected: Callable[[], None],
        timeout_s: float,
    ) -> None:
        super().__init__(bearer_token, wait_on_rate_limit=False, max_retries=1)
        self._on_tweet = on_tweet
        self._on_connected = on_connected
        self.timeout_s = timeout_s
        self.end_reason = "closed"

    def _connect(self, method: str, endpoint: str, **kwargs: Any) -> None:
        kwargs.setdefault("timeout", self.timeout_s)
        super()._connect(method, endpoint, **kwargs)

    def on_connect(self) -> None:
        log.info("stream connected")
        self._on_connected()

    def on_data(self, raw_data: bytes) -> None:
        try:
            message = json.loads(raw_data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            log.warning("stream sent a line that is not JSON: %.200r", raw_data)
            return
        if isinstance(message, dict) and isinstance(message.get("data"), dict):
            tweet = dict(message["data"])
            if message.get("matching_rules"):
                tweet["matching_rules"] = message["matching_rules"]
            self._on_tweet(tweet)
        elif isinstance(message, dict) and message.get("errors"):
            log.warning("stream error message: %s", message["errors"])

    def on_request_error(self, status_code: int) -> None:
        log.error("stream HTTP error %d", status_code)
        self.end_reason = "rate_limit" if status_code in (420, 429) else "http"
        self.disconnect()

    def on_connection_error(self) -> None:
        log.error("stream connection error or timeout")
        self.end_reason = "network"
        self.disconnect()

    def on_closed(self, response: requests.Response) -> None:
        log.warning("stream closed by the server")
        self.end_reason = "closed"
        self.disconnect()

    def on_exception(self, exception: Exception) -> None:
        log.error("stream failed: %r", exception)
        self.end_reason = "http"


class StreamSource:
    def __init__(
        self,
        config: StreamConfig,
        ingest: Ingest,
        metrics: ProducerMetrics,
    ) -> None:
        self.config = config
        self.ingest = ingest
        self.metrics = metrics
        self.backoff = Backoff(config)
        self.stop_event = threading.Event()
        self.failure: IngestError | None = None
        self._bad_input = RateLimitedLog(log)
        self.client = _Client(
            config.bearer_token, self._on_tweet, self.backoff.reset, config.timeout_s
        )
        redirect(self.client.session, config.api_base_url)
        if config.api_base_url != X_API_BASE_URL:
            log.info("X API requests go to %s", config.api_base_url)

    def stop(self) -> None:
        self.stop_event.set()
        self.client.disconnect()

    def _on_tweet(self, tweet: dict[str, Any]) -> None:
        tweet_id = tweet.get("id")
        if not isinstance(tweet_id, str | int) or isinstance(tweet_id, bool):
            self.metrics.errors.labels("bad_input").inc()
            self._bad_input.warning("stream sent a tweet without an id: %.200s", tweet)
            return
        value = json.dumps(tweet, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            self.ingest([NewTweet(str(tweet_id).encode(), value, now_ms(), "stream")])
        except Exception as exc:
            self.metrics.errors.labels("ingest").inc()
            log.exception("could not spool tweet %s; stopping the stream", tweet_id)
            self.failure = IngestError(str(tweet_id), exc)
            self.stop_event.set()
            self.client.disconnect()

    def sync_rules(self) -> None:
        """Make the stream's rules equal to the configured ones (retrying with backoff)."""
        wanted = {(r.value, r.tag) for r in self.config.rules}
        while not self.stop_event.is_set():
            try:
                current = self.client.get_rules().data or []
                stale = [r.id for r in current if (r.value, r.tag) not in wanted]
                have = {(r.value, r.tag) for r in current}
                if stale:
                    self.client.delete_rules(stale)
                missing = [
                    tweepy.StreamRule(value=v, tag=t)
                    for v, t in sorted(wanted - have, key=lambda rule: (rule[0], rule[1] or ""))
                ]
                if missing:
                    self.client.add_rules(missing)
                log.info(
                    "stream rules: %d kept, %d deleted, %d added",
                    len(have & wanted),
                    len(stale),
                    len(missing),
                )
                self.backoff.reset()
                return
            except tweepy.TooManyRequests:
                reason = "rate_limit"
            except (tweepy.TweepyException, requests.RequestException) as exc:
                log.error("cannot sync stream rules: %s", exc)
                reason = "http" if isinstance(exc, tweepy.HTTPException) else "network"
            self.metrics.errors.labels("rules").inc()
            self.stop_event.wait(self.backoff.next(reason))

    def run(self) -> None:
        if self.config.sync_rules:
            self.sync_rules()
        params: dict[str, list[str]] = {}
        if self.config.tweet_fields:
            params["tweet_fields"] = self.config.tweet_fields
        if self.config.expansions:
            params["expansions"] = self.config.expansions
        while not self.stop_event.is_set():
            self.client.end_reason = "closed"
            self.client.filter(**params)
            if self.stop_event.is_set():
                break
            reason = self.client.end_reason
            self.metrics.reconnects.labels(reason).inc()
            self.metrics.errors.labels(f"stream_{reason}").inc()
            delay = self.backoff.next(reason)
            log.info("reconnecting the stream in %.2fs (%s)", delay, reason)
            self.stop_event.wait(delay)
        if self.failure is not None:
            raise self.failure
