"""Secrets read from files only the service can read: the X bearer token (or the environment),
the Kafka SASL password, the metrics endpoint's basic auth password.

The deployment writes each secret to a root-owned file with mode 0640 and the service user's
group, and points the configuration at it (``bearer_token_file`` with ``bearer_token_env = ""``,
never read the environment; ``kafka.sasl_password_file``; ``metrics.basic_auth_password_file``,
which the metrics server reads again when it changes). A file any "other" bit is set on is
refused. A secret is never part of a problem message, so ``--check`` and config errors cannot
print it.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from pathlib import Path

from tweet_pipeline.toml_tables import Table

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # one line of printable ASCII, no spaces
# What a secret file must hold: a pattern, and the same in words for the error.
_ONE_WORD = (_TOKEN, "one token on one line, without spaces")
# A password may hold spaces; only control characters (a second line...) cannot be meant.
_ONE_LINE = (re.compile(r"^[^\x00-\x1f\x7f]+$"), "the password on one line")


class SecretFileError(ValueError):
    """A secret file that cannot be used; the message names the path, never the secret."""


def read_secret_file(path: str, form: tuple[re.Pattern[str], str] = _ONE_WORD) -> str:
    """The secret in `path` (e.g. 0640 root:svc), stripped. `form`: what the secret must match,
    and that in words. Raises `SecretFileError` with a message for "<key> <message>"."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        text = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SecretFileError(f"cannot be read ({reason}: {path!r})") from None
    if mode & stat.S_IRWXO:
        raise SecretFileError(f"must not be accessible by others (mode {mode & 0o777:o}: {path!r})")
    if not text:
        raise SecretFileError(f"is empty ({path!r})")
    pattern, words = form
    if not pattern.match(text):
        raise SecretFileError(f"must hold {words} ({path!r})")
    return text


def read_password_file(path: str) -> str:
    """A password file (one line, spaces allowed), as `read_secret_file` reads it."""
    return read_secret_file(path, _ONE_LINE)


def _secret_from_file(
    table: Table,
    key: str,
    path: str,
    form: tuple[re.Pattern[str], str] = _ONE_WORD,
) -> str | None:
    """`read_secret_file`, its problem reported as one of `table`'s (named by `key`)."""
    try:
        return read_secret_file(path, form)
    except SecretFileError as exc:
        table.error(key, str(exc))
        return None


def bearer_token(table: Table, env: Mapping[str, str]) -> str | None:
    """From $bearer_token_env (if that key is not empty and the variable is set), else the file."""
    raw_env = table.raw("bearer_token_env")
    env_name = table.default("bearer_token_env") if raw_env is None else raw_env
    if not isinstance(env_name, str) or (env_name and not _ENV_NAME.match(env_name)):
        # Not echoed: a token pasted here by mistake must not end up in a terminal or log.
        table.error("bearer_token_env", "must be an environment variable name or empty")
        env_name = ""
    token_file = table.optional_string("bearer_token_file")
    token = env.get(env_name, "").strip() if env_name else ""
    if token:
        if not _TOKEN.match(token):
            table.error("bearer_token_env", f"${env_name} must hold one token without spaces")
            return None
        return token
    if token_file:
        return _secret_from_file(table, "bearer_token_file", token_file)
    where = f"set ${env_name} or " if env_name else ""
    table.problems.append(
        f"{table.name('bearer_token_file')}: no bearer token: {where}"
        f"{table.name('bearer_token_file')}"
    )
    return None


def sasl_password(table: Table, protocol: str, password_file: str | None) -> str | None:
    """The password of sasl_username, from sasl_password_file: required with a SASL protocol
    (and only read then)."""
    if not protocol.startswith("SASL_"):
        return None
    if not password_file:
        table.error("sasl_password_file", f"is required with security_protocol {protocol}")
        return None
    return _secret_from_file(table, "sasl_password_file", password_file, _ONE_LINE)


def basic_auth_password(table: Table, key: str, password_file: str) -> str | None:
    """The password of an HTTP basic auth user (metrics endpoint), from `password_file`."""
    return _secret_from_file(table, key, password_file, _ONE_LINE)
