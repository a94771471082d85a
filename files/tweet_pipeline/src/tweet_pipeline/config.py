"""Producer and consumer configuration: TOML file + environment variables for secrets.

Every key is documented in README.md. Loading validates everything and raises one
`ConfigError` listing each bad value; the CLIs print them as ``config error: ...`` and exit 2.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tweet_pipeline.credentials import bearer_token
from tweet_pipeline.settings import (
    ConfigError,
    Table,
    host_port_list,
    path_value,
    read_toml,
    topic_name,
)

_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_URL = re.compile(r"^https?://[^\s/]+(/\S*)?$")
_BASE_URL = re.compile(r"^https?://[^\s/?#]+(/[^\s?#]*)?$")
_FIELD = re.compile(r"^[a-z_.]+$")

X_API_BASE_URL = "https://api.twitter.com"


@dataclass(frozen=True)
class KafkaConfig:
    bootstrap_servers: list[str]
    client_id: str
    security_protocol: str = "PLAINTEXT"
    ssl_cafile: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.ssl_cafile:
            kwargs["ssl_cafile"] = self.ssl_cafile
        return kwargs


@dataclass(frozen=True)
class MetricsConfig:
    enabled: bool = True
    host: str = "0.0.0.0"
    port: int = 9108


@dataclass(frozen=True)
class StreamRuleConfig:
    value: str
    tag: str | None = None


@dataclass(frozen=True)
class StreamConfig:
    bearer_token: str = field(repr=False)
    rules: list[StreamRuleConfig]
    sync_rules: bool = True
    tweet_fields: list[str] = field(default_factory=list)
    expansions: list[str] = field(default_factory=list)
    timeout_s: float = 21.0
    backoff_network_step_s: float = 0.25
    backoff_network_max_s: float = 16.0
    backoff_http_initial_s: float = 5.0
    backoff_http_max_s: float = 320.0
    backoff_rate_limit_initial_s: float = 60.0
    api_base_url: str = X_API_BASE_URL


@dataclass(frozen=True)
class ReplayConfig:
    path: Path | None  # None: the sample bundled with the package
    rate: float = 0.0
    loop: bool = False


@dataclass(frozen=True)
class ProducerSettings:
    topic: str = "twitter"
    acks: Literal[0, 1, "all"] = "all"
    compression: Literal["gzip", "none"] = "gzip"
    linger_ms: int = 5
    delivery_timeout_ms: int = 120_000
    request_timeout_ms: int = 30_000
    max_block_ms: int = 10_000
    batch_records: int = 500
    retry_backoff_s: float = 1.0
    retry_backoff_max_s: float = 30.0
    shutdown_timeout_s: float = 10.0
    dlq_topic: str = "twitter.dlq"
    max_request_size: int = 1_048_576


@dataclass(frozen=True)
class SpoolConfig:
    path: Path
    fsync: Literal["always", "normal"] = "always"
    max_records: int = 1_000_000
    max_bytes: int = 1_073_741_824  # 0: no byte limit


@dataclass(frozen=True)
class ProducerConfig:
    kafka: KafkaConfig
    producer: ProducerSettings
    source: Literal["stream", "replay"]
    stream: StreamConfig | None
    replay: ReplayConfig | None
    spool: SpoolConfig
    metrics: MetricsConfig

    def secrets(self) -> list[str]:
        return [self.stream.bearer_token] if self.stream and self.stream.bearer_token else []


@dataclass(frozen=True)
class ConsumerSettings:
    topic: str = "twitter"
    group_id: str = "tweet-consumers"
    dlq_topic: str = "twitter.dlq"
    auto_offset_reset: Literal["earliest", "latest"] = "earliest"
    max_poll_records: int = 500
    commit_interval_s: float = 5.0
    commit_max_records: int = 1000
    lag_interval_s: float = 10.0
    retry_backoff_s: float = 1.0
    session_timeout_ms: int = 10_000
    retry_backoff_max_s: float = 30.0


@dataclass(frozen=True)
class ConsoleSinkConfig:
    format: Literal["text", "json"] = "text"


@dataclass(frozen=True)
class FileSinkConfig:
    path: Path
    max_bytes: int = 100 * 1024 * 1024
    backup_count: int = 5
    fsync: bool = True


@dataclass(frozen=True)
class S3SinkConfig:
    bucket: str
    prefix: str = "tweets"
    endpoint_url: str | None = None
    region: str = "us-east-1"


@dataclass(frozen=True)
class ConsumerConfig:
    kafka: KafkaConfig
    consumer: ConsumerSettings
    console: ConsoleSinkConfig | None
    file: FileSinkConfig | None
    s3: S3SinkConfig | None
    metrics: MetricsConfig

    def secrets(self) -> list[str]:
        return []  # S3 credentials come from the AWS chain, never from this file


def _kafka(table: Table, client_id: str) -> KafkaConfig:
    protocol = table.string("security_protocol", "PLAINTEXT", choices=("PLAINTEXT", "SSL"))
    cafile = table.optional_string("ssl_cafile")
    if cafile and not Path(cafile).is_file():
        table.error("ssl_cafile", f"is not a readable file (got {cafile!r})")
    return KafkaConfig(
        bootstrap_servers=host_port_list(table, "bootstrap_servers", ["localhost:9092"]),
        client_id=table.string("client_id", client_id, nonempty=True),
        security_protocol=protocol,
        ssl_cafile=cafile,
    )


def _metrics(table: Table, port: int) -> MetricsConfig:
    return MetricsConfig(
        enabled=table.boolean("enabled", True),
        host=table.string("host", "0.0.0.0", nonempty=True),
        port=table.integer("port", port, minimum=1, maximum=65535),
    )


def _acks(table: Table) -> Literal[0, 1, "all"]:
    raw = table.raw("acks")
    if raw is None or raw in ("all", -1):
        return "all"
    if raw in (0, 1, "0", "1") and not isinstance(raw, bool):
        return 0 if int(raw) == 0 else 1
    table.error("acks", f"must be one of 0, 1, all (got {raw!r})")
    return "all"


def _base_url(table: Table) -> str:
    url = table.string(
        "api_base_url",
        X_API_BASE_URL,
        pattern=_BASE_URL,
        hint="an http(s) URL without query, e.g. http://127.0.0.1:8080",
    )
    return url.rstrip("/")


def _stream(table: Table, env: Mapping[str, str]) -> StreamConfig:
    token = bearer_token(table, env)
    rules: list[StreamRuleConfig] = []
    raw_rules = table.raw("rules") or []
    if not isinstance(raw_rules, list):
        table.error("rules", f"must be a list of {{value, tag}} tables (got {raw_rules!r})")
        raw_rules = []
    for index, rule in enumerate(raw_rules):
        value = rule.get("value") if isinstance(rule, dict) else None
        tag = rule.get("tag") if isinstance(rule, dict) else None
        extra = set(rule) - {"value", "tag"} if isinstance(rule, dict) else set()
        if not isinstance(value, str) or not value.strip() or len(value) > 1024:
            table.error(f"rules[{index}].value", f"must be a non-empty string (got {value!r})")
        elif tag is not None and not isinstance(tag, str):
            table.error(f"rules[{index}].tag", f"must be a string (got {tag!r})")
        elif extra:
            table.error(f"rules[{index}]", f"has unknown keys {sorted(extra)}")
        else:
            rules.append(StreamRuleConfig(value=value, tag=tag))
    sync_rules = table.boolean("sync_rules", True)
    if sync_rules and not raw_rules:
        table.error("rules", "must list at least one rule when sync_rules is true")
    fields = {"pattern": _FIELD, "hint": "X API field names"}
    return StreamConfig(
        bearer_token=token or "",
        rules=rules,
        sync_rules=sync_rules,
        tweet_fields=table.string_list(
            "tweet_fields",
            ["id", "text", "author_id", "created_at", "lang", "public_metrics", "entities"],
            **fields,  # type: ignore[arg-type]
        ),
        expansions=table.string_list("expansions", [], **fields),  # type: ignore[arg-type]
        timeout_s=table.number("timeout_s", 21.0, minimum=1.0),
        backoff_network_step_s=table.number("backoff_network_step_s", 0.25, minimum=0.0),
        backoff_network_max_s=table.number("backoff_network_max_s", 16.0, minimum=0.0),
        backoff_http_initial_s=table.number("backoff_http_initial_s", 5.0, minimum=0.0),
        backoff_http_max_s=table.number("backoff_http_max_s", 320.0, minimum=0.0),
        backoff_rate_limit_initial_s=table.number(
            "backoff_rate_limit_initial_s", 60.0, minimum=0.0
        ),
        api_base_url=_base_url(table),
    )


def _replay(table: Table) -> ReplayConfig:
    raw = table.optional_string("path")
    path = None
    if raw:
        path = Path(raw)
        if not path.is_file():
            table.error("path", f"is not a readable file (got {raw!r})")
    return ReplayConfig(
        path=path,
        rate=table.number("rate", 0.0, minimum=0.0),
        loop=table.boolean("loop", False),
    )


def load_producer_config(path: Path, env: Mapping[str, str] | None = None) -> ProducerConfig:
    env = os.environ if env is None else env
    problems: list[str] = []
    root = Table(read_toml(path), "", problems)
    kafka = _kafka(root.table("kafka"), "tweet-producer")
    p = root.table("producer")
    settings = ProducerSettings(
        topic=topic_name(p, "topic", "twitter"),
        acks=_acks(p),
        compression=p.string("compression", "gzip", choices=("gzip", "none")),  # type: ignore[arg-type]
        linger_ms=p.integer("linger_ms", 5, minimum=0, maximum=60_000),
        delivery_timeout_ms=p.integer("delivery_timeout_ms", 120_000, minimum=1000),
        request_timeout_ms=p.integer("request_timeout_ms", 30_000, minimum=100),
        max_block_ms=p.integer("max_block_ms", 10_000, minimum=100),
        batch_records=p.integer("batch_records", 500, minimum=1, maximum=100_000),
        retry_backoff_s=p.number("retry_backoff_s", 1.0, minimum=0.0),
        retry_backoff_max_s=p.number("retry_backoff_max_s", 30.0, minimum=0.0),
        shutdown_timeout_s=p.number("shutdown_timeout_s", 10.0, minimum=0.0),
        dlq_topic=topic_name(p, "dlq_topic", "twitter.dlq"),
        max_request_size=p.integer(
            "max_request_size", 1_048_576, minimum=16_384, maximum=16 * 1024 * 1024
        ),
    )
    if settings.dlq_topic == settings.topic:
        p.error("dlq_topic", f"must differ from producer.topic (got {settings.dlq_topic!r})")
    src = root.table("source")
    kind = src.string("type", "replay", choices=("stream", "replay"))
    stream_table = src.table("stream")
    replay_table = src.table("replay")
    stream = _stream(stream_table, env) if kind == "stream" else None
    replay = _replay(replay_table) if kind == "replay" else None
    if kind != "stream":
        stream_table.finish = lambda: None  # type: ignore[method-assign]
    if kind != "replay":
        replay_table.finish = lambda: None  # type: ignore[method-assign]
    sp = root.table("spool")
    spool = SpoolConfig(
        path=path_value(sp, "path", "/var/lib/tweet-pipeline/spool.db"),
        fsync=sp.string("fsync", "always", choices=("always", "normal")),  # type: ignore[arg-type]
        max_records=sp.integer("max_records", 1_000_000, minimum=1),
        max_bytes=sp.integer("max_bytes", 1_073_741_824, minimum=0),
    )
    metrics = _metrics(root.table("metrics"), 9108)
    root.finish()
    if problems:
        raise ConfigError(problems)
    return ProducerConfig(kafka, settings, kind, stream, replay, spool, metrics)  # type: ignore[arg-type]


def _sink_enabled(sinks: Table, name: str) -> Table | None:
    if not sinks.has(name):
        return None
    table = sinks.table(name)
    if table.boolean("enabled", True):
        return table
    table.finish = lambda: None  # type: ignore[method-assign]  # a disabled sink's keys are not read
    return None


def load_consumer_config(path: Path, env: Mapping[str, str] | None = None) -> ConsumerConfig:
    del env  # secrets for S3 come from the standard AWS chain (env, instance profile)
    problems: list[str] = []
    root = Table(read_toml(path), "", problems)
    kafka = _kafka(root.table("kafka"), "tweet-consumer")
    c = root.table("consumer")
    settings = ConsumerSettings(
        topic=topic_name(c, "topic", "twitter"),
        group_id=c.string("group_id", "tweet-consumers", nonempty=True),
        dlq_topic=topic_name(c, "dlq_topic", "twitter.dlq"),
        auto_offset_reset=c.string(  # type: ignore[arg-type]
            "auto_offset_reset", "earliest", choices=("earliest", "latest")
        ),
        max_poll_records=c.integer("max_poll_records", 500, minimum=1, maximum=100_000),
        commit_interval_s=c.number("commit_interval_s", 5.0, minimum=0.0),
        commit_max_records=c.integer("commit_max_records", 1000, minimum=1),
        lag_interval_s=c.number("lag_interval_s", 10.0, minimum=0.1),
        retry_backoff_s=c.number("retry_backoff_s", 1.0, minimum=0.0),
        session_timeout_ms=c.integer("session_timeout_ms", 10_000, minimum=1000),
        retry_backoff_max_s=c.number("retry_backoff_max_s", 30.0, minimum=0.0),
    )
    if settings.dlq_topic == settings.topic:
        c.error("dlq_topic", f"must differ from consumer.topic (got {settings.dlq_topic!r})")
    sinks = root.table("sinks")
    console = file = s3 = None
    if (t := _sink_enabled(sinks, "console")) is not None:
        console = ConsoleSinkConfig(
            format=t.string("format", "text", choices=("text", "json")),  # type: ignore[arg-type]
        )
    if (t := _sink_enabled(sinks, "file")) is not None:
        file = FileSinkConfig(
            path=path_value(t, "path", "/var/lib/tweet-pipeline/tweets.jsonl"),
            max_bytes=t.integer("max_bytes", 100 * 1024 * 1024, minimum=1024),
            backup_count=t.integer("backup_count", 5, minimum=1, maximum=1000),
            fsync=t.boolean("fsync", True),
        )
    if (t := _sink_enabled(sinks, "s3")) is not None:
        if not t.has("bucket"):
            t.error("bucket", "is required")
        s3 = S3SinkConfig(
            bucket=t.string("bucket", "", pattern=_BUCKET, hint="an S3 bucket name"),
            prefix=t.string("prefix", "tweets").strip("/"),
            endpoint_url=t.optional_string("endpoint_url"),
            region=t.string("region", "us-east-1", nonempty=True),
        )
        if s3.endpoint_url and not _URL.match(s3.endpoint_url):
            t.error("endpoint_url", f"must be an http(s) URL (got {s3.endpoint_url!r})")
    if console is None and file is None and s3 is None:
        problems.append("sinks must enable at least one of console, file, s3")
    metrics = _metrics(root.table("metrics"), 9109)
    root.finish()
    if problems:
        raise ConfigError(problems)
    return ConsumerConfig(kafka, settings, console, file, s3, metrics)
