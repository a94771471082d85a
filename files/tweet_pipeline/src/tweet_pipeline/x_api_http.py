"""The HTTP side of the X API double: one handler class per double, one `_Stream` per stream
connection (see `tweet_pipeline.x_api_double` for the behaviour)."""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler
from typing import TYPE_CHECKING, Any

from tweet_pipeline.x_rules import RuleRequestError, invalid_request

if TYPE_CHECKING:
    from tweet_pipeline.x_api_double import Step, XApiDouble

log = logging.getLogger("tweet_x_api_double")

STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"
STATE_PATH = "/_double/state"
ERROR_401 = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
ERROR_429 = {
    "title": "Too Many Requests",
    "detail": "Too Many Requests",
    "type": "about:blank",
    "status": 429,
}
NOT_FOUND = {"title": "Not Found Error", "type": "about:blank"}


class _Stream:
    """Serves one stream connection according to its script step."""

    def __init__(self, api: XApiDouble, handler: BaseHTTPRequestHandler, number: int) -> None:
        self.api = api
        self.handler = handler
        self.number = number
        self.sent = 0

    def chunk(self, data: bytes) -> None:
        self.handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.handler.wfile.flush()

    def serve(self, step: Step) -> None:
        api, interval = self.api, 1.0 / self.api.rate if self.api.rate > 0 else 0.0
        next_tweet = next_keepalive = time.monotonic()
        next_keepalive += api.keepalive_s
        while not api.stopping.is_set():
            quota_left = step.tweets is None or self.sent < step.tweets
            if step.end != "hold" and (not quota_left or api.peek() is None):
                break
            now = time.monotonic()
            if quota_left and now >= next_tweet and api.rules.rules() and self._send_one():
                next_tweet = max(next_tweet + interval, now) if interval else now
                next_keepalive = now + api.keepalive_s
                continue
            if now >= next_keepalive:
                self.chunk(b"\r\n")
                next_keepalive = now + api.keepalive_s
            wake = min(next_keepalive, next_tweet if quota_left else next_keepalive)
            api.stopping.wait(min(max(wake - now, 0.005), 0.1))
        self.finish(step.end)

    def _send_one(self) -> bool:
        tweet = self.api.claim()
        if tweet is None:
            return False
        try:
            self.chunk(self.api.line(tweet))
        except OSError:
            self.api.give_back(tweet)
            raise
        self.api.delivered(tweet)
        self.sent += 1
        log.debug("connection %d: tweet %s", self.number, tweet.id)
        return True

    def finish(self, end: str) -> None:
        log.info(
            "stream connection %d: %d tweets written, ending (%s)", self.number, self.sent, end
        )
        if end == "drop":
            tweet = self.api.peek()
            if tweet is not None:  # half of the next line: the client sees a torn message
                line = self.api.line(tweet)
                self.chunk(line[: len(line) // 2])
            self.handler.close_connection = True
            with contextlib.suppress(OSError):
                self.handler.connection.shutdown(socket.SHUT_RDWR)
        elif end == "close":
            self.handler.wfile.write(b"0\r\n\r\n")
            self.handler.wfile.flush()
            self.handler.close_connection = True


def make_handler(api: XApiDouble) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        server_version = "tweet-x-api-double"

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("%s " + format, self.address_string(), *args)

        def _respond(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

        def _done(self, status: int, body: Any = None) -> None:
            api.record({"method": self.command, "path": self.path, "status": status, "body": body})
            log.info("%s %s -> %d", self.command, self.path.split("?")[0], status)

        def _check_auth(self) -> bool:
            if api.authorized(self.headers.get("Authorization")):
                return True
            self._respond(401, ERROR_401)
            self._done(401)
            log.warning("refused a request without the expected bearer token")
            return False

        def do_GET(self) -> None:
            path, _, query = self.path.partition("?")
            if path == STATE_PATH:
                self._respond(200, api.state())
                return
            if not path.startswith("/2/"):
                self._respond(404, NOT_FOUND)
                return
            if not self._check_auth():
                return
            if path == RULES_PATH:
                ids = urllib.parse.parse_qs(query).get("ids")
                self._respond(200, api.rules.get(ids[0].split(",") if ids else None))
                self._done(200)
            elif path == STREAM_PATH:
                self._stream()
            else:
                self._respond(404, NOT_FOUND)
                self._done(404)

        def do_POST(self) -> None:
            path, _, query = self.path.partition("?")
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            if path != RULES_PATH:
                self._respond(404, NOT_FOUND)
                return
            if not self._check_auth():
                return
            dry_run = urllib.parse.parse_qs(query).get("dry_run") == ["true"]
            try:
                request = json.loads(raw)
                body = api.rules.post(request, dry_run=dry_run)
            except (json.JSONDecodeError, UnicodeDecodeError, RuleRequestError) as exc:
                self._respond(400, invalid_request(str(exc)))
                self._done(400)
                return
            self._respond(200, body)
            self._done(200, request)
            summary = body["meta"]["summary"]
            log.info(
                "rules%s: %s; now %d",
                " (dry run)" if dry_run else "",
                summary,
                len(api.rules.rules()),
            )

        def _stream(self) -> None:
            number, step = api.next_step()
            if step.status != 200:
                body = (
                    ERROR_429 if step.status == 429 else {"title": "Error", "status": step.status}
                )
                reset = str(int(time.time()) + 900)
                headers = (
                    {
                        "x-rate-limit-limit": "50",
                        "x-rate-limit-remaining": "0",
                        "x-rate-limit-reset": reset,
                    }
                    if step.status == 429
                    else {}
                )
                self._respond(step.status, body, headers)
                self._done(step.status)
                log.info("stream connection %d: answered %d (scripted)", number, step.status)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Connection", "close")
            self.end_headers()
            self._done(200)
            log.info("stream connection %d opened", number)
            self.close_connection = True
            try:
                _Stream(api, self, number).serve(step)
            except OSError as exc:  # the client went away
                log.info("stream connection %d: client gone (%s)", number, type(exc).__name__)

    return Handler
