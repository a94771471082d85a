"""Logging for the console scripts: one stderr handler, secrets redacted, rate-limited warnings.

At ``--log-level DEBUG`` tweepy logs every request's headers (``'Authorization': 'Bearer ...'``)
and other libraries may log URLs or exceptions that carry a token. `RedactSecrets` sits on the
root handler, so it sees every record of every logger, and replaces both the known secret values
(added once the configuration is loaded) and anything shaped like ``Bearer <token>``.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterable

REDACTED = "[REDACTED]"
_BEARER = re.compile(r"(Bearer\s+)[A-Za-z0-9\-._~+/%=]+", re.IGNORECASE)
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class RedactSecrets(logging.Filter):
    """Rewrites each record's message, exception text and stack so no secret reaches a handler."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets: set[str] = set()
        self._formatter = logging.Formatter()
        self.add(*secrets)

    def add(self, *secrets: str) -> None:
        for secret in secrets:
            if len(secret) >= 4:  # never "redact" trivial strings out of every line
                self._secrets |= {
                    secret,
                    urllib.parse.quote(secret, safe=""),
                    urllib.parse.unquote(secret),
                }

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, REDACTED)
        return _BEARER.sub(rf"\g<1>{REDACTED}", text)

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a bad format string: show it raw, redacted
            message = f"{record.msg!s} {record.args!r}"
        record.msg, record.args = self.redact(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def setup_logging(level: str, secrets: Iterable[str] = ()) -> RedactSecrets:
    """Log to stderr at `level` through a redacting handler; returns the filter (add secrets)."""
    redactor = RedactSecrets(secrets)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(redactor)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("kafka").setLevel(max(logging.WARNING, root.level))
    return redactor


class RateLimitedLog:
    """At most `burst` messages per `period_s`; then one line saying how many were suppressed."""

    def __init__(self, logger: logging.Logger, burst: int = 10, period_s: float = 60.0) -> None:
        self.logger = logger
        self.burst = burst
        self.period_s = period_s
        self._lock = threading.Lock()
        self._window_start = float("-inf")
        self._count = 0
        self._suppressed = 0

    def warning(self, message: str, *args: object) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._window_start >= self.period_s:
                if self._suppressed:
                    self.logger.warning("%d similar messages suppressed", self._suppressed)
                self._window_start, self._count, self._suppressed = now, 0, 0
            if self._count >= self.burst:
                self._suppressed += 1
                return
            self._count += 1
        self.logger.warning(message, *args)
