"""A local stand-in for api.twitter.com serving recorded X API v2 payloads (test-only).

tweepy hard-codes https://api.twitter.com; `ForwardAdapter` is mounted on the client's
`requests.Session` for that prefix and sends each request to this server instead, so
tweepy's own code (StreamingClient, rules endpoints, stream parsing) runs unchanged.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import requests
from requests.adapters import HTTPAdapter

PAYLOADS = Path(__file__).parent / "payloads"
STREAM_PATH = "/2/tweets/search/stream"
RULES_PATH = "/2/tweets/search/stream/rules"


def payload(name: str) -> bytes:
    return (PAYLOADS / name).read_bytes()


@dataclass
class Connection:
    """One scripted stream connection: a status, then (for 200) lines and how it ends."""

    status: int = 200
    lines: list[bytes] = field(default_factory=list)
    end: str = "hold"  # hold (keep-alives until shutdown), drop (socket cut), close (clean end)
    body: bytes = b""


class ForwardAdapter(HTTPAdapter):
    def __init__(self, target: str) -> None:
        super().__init__()
        self.target = target

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        assert request.url is not None
        request.url = request.url.replace("https://api.twitter.com", self.target, 1)
        return super().send(request, **kwargs)


class FakeXApi:
    def __init__(self, script: list[Connection]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self.connections: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _record(self, body: bytes) -> None:
                with api.lock:
                    api.requests.append(
                        {
                            "method": self.command,
                            "path": self.path,
                            "auth": self.headers.get("Authorization"),
                            "body": json.loads(body) if body else None,
                        }
                    )

            def _json(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                self._record(b"")
                if self.path.startswith(RULES_PATH):
                    self._json(200, payload("rules_get.json"))
                elif self.path.startswith(STREAM_PATH):
                    api.serve_stream(self)
                else:
                    self._json(404, b'{"title": "Not Found"}')

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self._record(body)
                request = json.loads(body)
                name = "rules_add.json" if "add" in request else "rules_delete.json"
                self._json(200, payload(name))

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeXApi:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.server.shutdown()
        self.server.server_close()

    def mount(self, session: requests.Session) -> None:
        session.mount("https://api.twitter.com", ForwardAdapter(self.url))

    def serve_stream(self, handler: BaseHTTPRequestHandler) -> None:
        with self.lock:
            step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
            self.connections.append((time.monotonic(), step.status))
        if step.status != 200:
            handler.send_response(step.status)
            handler.send_header("Content-Type", "application/json")
            handler.send_header("Content-Length", str(len(step.body)))
            handler.send_header("x-rate-limit-remaining", "0")
            handler.end_headers()
            handler.wfile.write(step.body)
            return
        handler.send_response(200)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()

        def chunk(data: bytes) -> None:
            handler.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            handler.wfile.flush()

        try:
            for line in step.lines:
                chunk(line.rstrip(b"\n") + b"\r\n")
                time.sleep(0.02)
            if step.end == "drop":
                chunk(b'{"data": {"id": "186')  # half a message, then the connection is cut
                handler.close_connection = True
                handler.connection.close()
                return
            if step.end == "close":
                handler.wfile.write(b"0\r\n\r\n")
                handler.close_connection = True
                return
            while not self.stopping.is_set():
                chunk(b"\r\n")  # keep-alive, as X sends every 20 s
                time.sleep(0.1)
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
