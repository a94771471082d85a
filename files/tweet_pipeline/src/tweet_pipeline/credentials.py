"""The X bearer token: from the environment or from a file only the service can read.

The deployment writes the token to a root-owned file with mode 0640 and the service user's
group, sets ``bearer_token_file`` to it and ``bearer_token_env = ""`` (never read the
environment). A file any "other" bit is set on is refused. The token is never part of a problem
message, so ``--check`` and config errors cannot print it.
"""

from __future__ import annotations

import re
import stat
from collections.abc import Mapping
from pathlib import Path

from tweet_pipeline.toml_tables import Table

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_TOKEN = re.compile(r"^[\x21-\x7e]+$")  # one line of printable ASCII, no spaces


def _secret_from_file(table: Table, key: str, path: str) -> str | None:
    """Read a secret file (e.g. 0640 root:svc); the secret itself never appears in a message."""
    file = Path(path)
    try:
        mode = file.stat().st_mode
        text = file.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        table.error(key, f"cannot be read ({reason}: {path!r})")
        return None
    if mode & stat.S_IRWXO:
        table.error(key, f"must not be accessible by others (mode {mode & 0o777:o}: {path!r})")
        return None
    if not text:
        table.error(key, f"is empty ({path!r})")
        return None
    if not _TOKEN.match(text):
        table.error(key, f"must hold one token on one line, without spaces ({path!r})")
        return None
    return text


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
