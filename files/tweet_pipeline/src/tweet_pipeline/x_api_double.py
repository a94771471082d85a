"""`tweet-x-api-double`: a deployable stand-in for the X API v2 filtered stream.

The producer reaches it through ``[source.stream] api_base_url = "http://host:port"``; tweepy's
own code runs unchanged. Endpoints:

* ``GET/POST /2/tweets/search/stream/rules``: rules kept in memory, answered in X's shapes
  (`tweet_pipeline.x_rules`);
* ``GET /2/tweets/search/stream``: the tweets as X streams them, one ``{"data": ...,
  "matching_rules": [...]}`` line each (``\\r\\n``-terminated, chunked), paced at ``--rate``
  tweets/s, with a keep-alive ``\\r\\n`` whenever nothing was sent for ``--keepalive-s``. Tweets
  flow only while at least one rule is set (as on X); a tweet without ``matching_rules`` in the
  input reports every rule currently set;
* ``GET /_double/state``: JSON for tests (no token needed, none shown).

Each stream connection follows a script; the service's default is the *fault sequence*:

1. connection 1 streams the first ``--drop-after`` tweets (default: a third of ``--count``),
   writes the first half of the next tweet's line, and cuts the socket (no terminating chunk);
2. connection 2 answers HTTP 429 with X's error JSON and ``x-rate-limit-*`` headers;
3. connection 3 (and any later one) streams every tweet not yet fully written, starting with the
   one that was cut in half (it was never delivered, so it is not a repeat), then holds the
   connection open with keep-alives.

A tweet counts as *delivered* once its whole line was written to the socket; a write that fails
puts it back at the head of the queue, so no tweet is sent complete twice and none is skipped.

``--expect-token-file``: every ``/2/`` request must carry ``Authorization: Bearer <that token>``
(401 with X's error JSON otherwise); without it any bearer token is accepted, none is not. The
token is never logged (and the log handler redacts it anyway).
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import signal
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Sequence
from dataclasses import dataclass
from http.server import ThreadingHTTPServer
from pathlib import Path
from types import FrameType
from typing import Any, Literal

from tweet_pipeline import __version__
from tweet_pipeline.logs import setup_logging
from tweet_pipeline.replay import sample_path
from tweet_pipeline.x_api_http import make_handler
from tweet_pipeline.x_rules import RuleStore

log = logging.getLogger("tweet_x_api_double")

_KEPT_REQUESTS = 500


@dataclass(frozen=True)
class Step:
    """One scripted stream connection: an HTTP status; for 200, how many tweets and the end."""

    status: int = 200
    tweets: int | None = None  # None: every tweet left
    end: Literal["hold", "drop", "close"] = "hold"  # keep-alives / socket cut / clean end


def fault_sequence(count: int, drop_after: int | None = None) -> list[Step]:
    first = max(1, count // 3) if drop_after is None else drop_after
    return [Step(tweets=first, end="drop"), Step(status=429), Step(tweets=None, end="hold")]


@dataclass(frozen=True)
class _Tweet:
    id: str
    message: dict[str, Any]  # {"data": {...}} plus "matching_rules" if the input had them


def load_tweets(lines: Sequence[bytes]) -> list[_Tweet]:
    """Tweet objects or stream messages ({"data": tweet, ...}), one per line."""
    tweets: list[_Tweet] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        obj = json.loads(line)
        message = obj if isinstance(obj, dict) and isinstance(obj.get("data"), dict) else None
        if message is None and isinstance(obj, dict):
            message = {"data": obj}
        if message is None or not isinstance(message["data"].get("id"), str | int):
            raise ValueError(f"line {number} is not a tweet object with an id")
        tweets.append(_Tweet(str(message["data"]["id"]), message))
    return tweets


class XApiDouble:
    def __init__(
        self,
        tweets: Sequence[_Tweet],
        script: Sequence[Step],
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: float = 0.0,
        keepalive_s: float = 5.0,
        token: str | None = None,
        rules: list[dict[str, Any]] | None = None,
    ) -> None:
        if not script:
            raise ValueError("the script needs at least one step")
        self.script = list(script)
        self.rate = rate
        self.keepalive_s = keepalive_s
        self.token = token
        self.rules = RuleStore(rules)
        self.requests: deque[dict[str, Any]] = deque(maxlen=_KEPT_REQUESTS)
        self._queue: deque[_Tweet] = deque(tweets)
        self._delivered: list[str] = []
        self._stream_statuses: list[int] = []
        self._statuses: list[int] = []  # every /2/ response, in order
        self.connections: list[tuple[float, int]] = []  # (monotonic time, status) per stream
        self._responses: Counter[int] = Counter()
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.server = ThreadingHTTPServer((host, port), make_handler(self))
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> XApiDouble:
        self._thread.start()
        log.info(
            "X API double on %s: %d tweets, %s tweets/s, token %s",
            self.url,
            len(self._queue),
            self.rate or "unlimited",
            "required" if self.token else "not checked",
        )
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> XApiDouble:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def state(self) -> dict[str, Any]:
        with self._lock:
            return {
                "rules": self.rules.rules(),
                "delivered_ids": list(self._delivered),
                "pending": len(self._queue),
                "connections": len(self._stream_statuses),
                "stream_statuses": list(self._stream_statuses),
                "statuses": list(self._statuses),
                "responses": {str(k): v for k, v in sorted(self._responses.items())},
                "rules_added": self.rules.added,
                "rules_deleted": self.rules.deleted,
                "requests": [
                    {k: r[k] for k in ("method", "path", "status")} for r in self.requests
                ],
            }

    # -- used by the handler -----------------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        if not header or not header.startswith("Bearer ") or not header[7:].strip():
            return False
        if self.token is None:
            return True
        return hmac.compare_digest(header[7:].strip().encode(), self.token.encode())

    def record(self, entry: dict[str, Any]) -> None:
        with self._lock:
            self.requests.append(entry)
            self._statuses.append(entry["status"])
            self._responses[entry["status"]] += 1

    def next_step(self) -> tuple[int, Step]:
        with self._lock:
            number = len(self._stream_statuses) + 1
            step = self.script[min(number, len(self.script)) - 1]
            self._stream_statuses.append(step.status)
            self.connections.append((time.monotonic(), step.status))
            return number, step

    def claim(self) -> _Tweet | None:
        with self._lock:
            return self._queue.popleft() if self._queue else None

    def give_back(self, tweet: _Tweet) -> None:
        with self._lock:
            self._queue.appendleft(tweet)

    def delivered(self, tweet: _Tweet) -> None:
        with self._lock:
            self._delivered.append(tweet.id)

    def peek(self) -> _Tweet | None:
        with self._lock:
            return self._queue[0] if self._queue else None

    def line(self, tweet: _Tweet) -> bytes:
        message = dict(tweet.message)
        if "matching_rules" not in message:
            message["matching_rules"] = self.rules.matching_rules()
        return json.dumps(message, ensure_ascii=False, separators=(",", ":")).encode() + b"\r\n"


# -- console script ---------------------------------------------------------------------------
def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="tweet-x-api-double",
        description="Serve the X API v2 filtered stream and its rules endpoints locally, "
        "with a scripted fault sequence (drop, 429, resume).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080)
    parser.add_argument(
        "--tweets",
        type=Path,
        default=None,
        help="NDJSON of X API v2 tweet objects (default: the bundled sample)",
    )
    parser.add_argument(
        "--count",
        type=int,
        default=None,
        help="tweets to stream in total (default: every tweet in the file)",
    )
    parser.add_argument("--rate", type=float, default=10.0, help="tweets/s, 0 = unpaced")
    parser.add_argument(
        "--drop-after",
        type=int,
        default=None,
        help="tweets on connection 1 before the drop (default: count / 3)",
    )
    parser.add_argument("--keepalive-s", type=float, default=5.0)
    parser.add_argument(
        "--expect-token-file",
        type=Path,
        default=None,
        help="file holding the bearer token every request must carry",
    )
    parser.add_argument(
        "--rules",
        type=Path,
        default=None,
        help="JSON list of {value, tag} rules set at start (default: none)",
    )
    parser.add_argument(
        "--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR")
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser.parse_args(argv)


def _build(args: argparse.Namespace) -> XApiDouble:
    path = args.tweets or sample_path()
    tweets = load_tweets(path.read_bytes().splitlines())
    count = len(tweets) if args.count is None else args.count
    if not 1 <= count <= len(tweets):
        raise ValueError(f"--count must be between 1 and {len(tweets)} (tweets in {path})")
    if args.rate < 0 or args.keepalive_s <= 0:
        raise ValueError("--rate must be >= 0 and --keepalive-s > 0")
    token = None
    if args.expect_token_file is not None:
        token = args.expect_token_file.read_text(encoding="utf-8").strip()
        if not token:
            raise ValueError(f"{args.expect_token_file} is empty")
    rules = json.loads(args.rules.read_text()) if args.rules else None
    return XApiDouble(
        tweets[:count],
        fault_sequence(count, args.drop_after),
        host=args.host,
        port=args.port,
        rate=args.rate,
        keepalive_s=args.keepalive_s,
        token=token,
        rules=rules,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    redactor = setup_logging(args.log_level)
    try:
        double = _build(args)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"tweet-x-api-double: {exc!s}", file=sys.stderr)
        return 2
    if double.token:
        redactor.add(double.token)
    stop = threading.Event()

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("got %s, shutting down", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    double.start()
    while not stop.wait(0.5):
        pass
    double.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
