"""TOML configuration snippets for the tests."""

from __future__ import annotations

from pathlib import Path


def producer_toml(
    bootstrap: str,
    topic: str,
    spool: Path,
    *,
    replay: Path | None = None,
    rate: float = 0.0,
    loop: bool = False,
    metrics_port: int | None = None,
    extra_producer: str = "",
    source: str = "",
    extra_spool: str = "",
) -> str:
    replay_path = f'path = "{replay}"' if replay else ""
    metrics = (
        f'[metrics]\nhost = "127.0.0.1"\nport = {metrics_port}\n'
        if metrics_port
        else "[metrics]\nenabled = false\n"
    )
    source = (
        source
        or f"""
[source]
type = "replay"

[source.replay]
{replay_path}
rate = {rate}
loop = {"true" if loop else "false"}
"""
    )
    return f"""
[kafka]
bootstrap_servers = ["{bootstrap}"]

[producer]
topic = "{topic}"
retry_backoff_s = 0.2
retry_backoff_max_s = 1.0
max_block_ms = 2000
{extra_producer or "shutdown_timeout_s = 5"}
{source}
[spool]
path = "{spool}"
{extra_spool}

{metrics}
"""


def consumer_toml(
    bootstrap: str,
    topic: str,
    group: str,
    *,
    sinks: str,
    metrics_port: int | None = None,
    extra: str = "",
) -> str:
    metrics = (
        f'[metrics]\nhost = "127.0.0.1"\nport = {metrics_port}\n'
        if metrics_port
        else "[metrics]\nenabled = false\n"
    )
    return f"""
[kafka]
bootstrap_servers = ["{bootstrap}"]

[consumer]
topic = "{topic}"
group_id = "{group}"
dlq_topic = "{topic}.dlq"
commit_interval_s = 0.5
commit_max_records = 50
lag_interval_s = 0.2
retry_backoff_s = 0.2
session_timeout_ms = 6000
{extra}

{sinks}

{metrics}
"""
