"""The /metrics endpoint: HTTP, or HTTPS only, optionally behind HTTP basic auth.

What the Prometheus exporters' web config offers, with the standard library (`wsgiref`'s server
in a thread per connection, `ssl`) and prometheus_client's WSGI app:

* TLS (``tls_cert_file`` + ``tls_key_file``): every connection is TLS 1.2+; a plaintext request
  is dropped at the handshake. Each connection first checks the two files (mtime, size, inode)
  and loads them into a new `ssl.SSLContext` when they changed, so a rotated certificate is
  served without a restart. A pair that does not load (e.g. the certificate replaced before its
  key) is logged and the previous context stays in use until the files change again.
* Basic auth (``basic_auth_user`` + ``basic_auth_password_file``): a request without the right
  ``Authorization: Basic`` header gets 401 with ``WWW-Authenticate: Basic realm="metrics"``.
  The password file is read again when it changes, as the configuration reads it (one line,
  stripped, not accessible by others); while it cannot be read every request gets 401.

The TLS handshake runs in the connection's thread (never in the accepting one), with a timeout.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging
import os
import socket
import ssl
import threading
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from prometheus_client import CollectorRegistry, make_wsgi_app

from tweet_pipeline.credentials import read_password_file

if TYPE_CHECKING:
    from tweet_pipeline.config import MetricsConfig

log = logging.getLogger(__name__)

T = TypeVar("T")
REALM = "metrics"
_TIMEOUT_S = 10.0  # a connection idle this long (handshake, request) is closed
_FileStamp = tuple[int, int, int, int] | None  # mtime, size, inode, device; None: no file
_Stamp = tuple[_FileStamp, ...]


def server_tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """A server context for the certificate chain and key: TLS 1.2 or later, no client
    certificates. Raises OSError (ssl.SSLError included) when the files do not load."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context


class FileReloader(Generic[T]):
    """A value built from files, built again when one of them changed (mtime, size or inode,
    checked on each `get`). A failed build is logged once per change of the files; `get` then
    returns the last value built (``keep_last=True``) or None."""

    def __init__(
        self, paths: Iterable[str], build: Callable[[], T], what: str, *, keep_last: bool
    ) -> None:
        self._paths = tuple(paths)
        self._build = build
        self._what = what
        self._keep_last = keep_last
        self._lock = threading.Lock()
        self._stamp: _Stamp | None = None
        self._value: T | None = None

    def _stamp_now(self) -> _Stamp:
        stamps: list[_FileStamp] = []
        for path in self._paths:
            try:
                st = os.stat(path)
            except OSError:
                stamps.append(None)
            else:
                stamps.append((st.st_mtime_ns, st.st_size, st.st_ino, st.st_dev))
        return tuple(stamps)

    def get(self) -> T | None:
        with self._lock:
            stamp = self._stamp_now()  # before reading: a change while reading is seen next time
            if stamp != self._stamp:
                reloaded = self._stamp is not None
                self._stamp = stamp
                try:
                    self._value = self._build()
                except (OSError, ValueError) as exc:  # ssl.SSLError, SecretFileError
                    log.warning("metrics: cannot load the %s: %s", self._what, exc)
                    if not self._keep_last:
                        self._value = None
                else:
                    if reloaded:
                        log.info("metrics: %s reloaded", self._what)
            return self._value


class BasicAuth:
    """WSGI middleware: 401 unless the request carries `user` and the file's password."""

    def __init__(self, app: WSGIApplication, user: str, password_file: str) -> None:
        self._app = app
        self._user = user.encode()
        self._password = FileReloader(
            [password_file],
            lambda: read_password_file(password_file).encode(),
            f"basic auth password file {password_file!r}",
            keep_last=False,
        )
        self._password.get()  # a problem with the file is logged now, not at the first scrape

    def authorized(self, header: str) -> bool:
        password = self._password.get()
        scheme, _, encoded = header.strip().partition(" ")
        if password is None or scheme.lower() != "basic":
            return False
        try:
            user, colon, given = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except (binascii.Error, ValueError):  # not base64, or not ASCII
            return False
        user_ok = hmac.compare_digest(user, self._user)
        password_ok = hmac.compare_digest(given, password)  # both compared: constant time
        return bool(colon) and user_ok and password_ok

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if self.authorized(environ.get("HTTP_AUTHORIZATION", "")):
            return self._app(environ, start_response)
        body = b"401 Unauthorized\n"
        start_response(
            "401 Unauthorized",
            [
                ("WWW-Authenticate", f'Basic realm="{REALM}"'),
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
            ],
        )
        return [body]


class _SilentHandler(WSGIRequestHandler):
    timeout = _TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        """No access log (as prometheus_client's server)."""


class MetricsServer(ThreadingMixIn, WSGIServer):
    """wsgiref's server, a daemon thread per connection; TLS per connection when `tls` is set."""

    daemon_threads = True
    tls: FileReloader[ssl.SSLContext] | None = None

    def finish_request(self, request: Any, client_address: Any) -> None:
        if self.tls is None:
            super().finish_request(request, client_address)
            return
        context = self.tls.get()
        assert context is not None  # start() loaded it once; later failures keep that one
        request.settimeout(_TIMEOUT_S)
        try:
            tls_socket = context.wrap_socket(request, server_side=True)  # the handshake
        except OSError as exc:  # plaintext HTTP, an untrusting client, a timeout...
            log.debug("metrics: TLS handshake with %s failed: %s", client_address, exc)
            return
        try:
            super().finish_request(tls_socket, client_address)
        finally:
            self.shutdown_request(tls_socket)

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("metrics: request from %s failed", client_address, exc_info=True)


def start(
    config: MetricsConfig, registry: CollectorRegistry, *, poll_interval: float = 0.5
) -> MetricsServer:
    """Listen on config.host:config.port and serve in a daemon thread; `shutdown()` (which
    takes up to `poll_interval` seconds) and `server_close()` stop it."""
    app: WSGIApplication = make_wsgi_app(registry)
    if config.basic_auth_user and config.basic_auth_password_file:
        app = BasicAuth(app, config.basic_auth_user, config.basic_auth_password_file)
    tls = None
    if config.tls_cert_file and config.tls_key_file:
        cert_file, key_file = config.tls_cert_file, config.tls_key_file
        tls = FileReloader(
            [cert_file, key_file],
            lambda: server_tls_context(cert_file, key_file),
            f"TLS certificate {cert_file!r} and key {key_file!r}",
            keep_last=True,
        )
        if tls.get() is None:
            server_tls_context(cert_file, key_file)  # raises the error just logged

    # IPv4 or IPv6 by the address, as prometheus_client's start_http_server
    family, *_ = socket.getaddrinfo(
        config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]

    class Server(MetricsServer):
        address_family = family

    server = Server((config.host, config.port), _SilentHandler)
    server.tls = tls
    server.set_app(app)
    threading.Thread(
        target=server.serve_forever, args=(poll_interval,), name="metrics", daemon=True
    ).start()
    return server
