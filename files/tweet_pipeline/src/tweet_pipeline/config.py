"""Producer and consumer settings: declared here once, read from TOML (secrets from files/env).

Each setting is a field of a frozen dataclass below, declared with `setting(default, doc)`: the
dataclass field is the key's one owner. The loaders (`load_producer_config`,
`load_consumer_config`) read each TOML table with its dataclass as declaration, so a key read
without an explicit default gets the declared one (`tweet_pipeline.toml_tables.Table`); the
example files (examples/*.toml) are generated from the same declarations by
``python -m tweet_pipeline.examples`` and a test fails when they are stale.

Loading validates everything and raises one `ConfigError` listing each bad value; the CLIs print
them as ``config error: ...`` and exit 2.
"""

from __future__ import annotations

import copy
import os
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tweet_pipeline.credentials import basic_auth_password, bearer_token, sasl_password
from tweet_pipeline.metrics_server import server_tls_context
from tweet_pipeline.toml_tables import (
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
SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SCRAM_MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256")
# Amazon MSK's IAM login: the host's AWS credentials sign it (kafka-python, botocore); no password.
MSK_IAM_MECHANISM = "AWS_MSK_IAM"
SASL_MECHANISMS = (*SCRAM_MECHANISMS, MSK_IAM_MECHANISM)


def setting(default: Any, doc: str = "", *, example: Any = None, toml: bool = True) -> Any:
    """A declared setting: its default, a one-line doc, and optionally an example value.

    The example (if any) is what examples/*.toml show instead of the default (marked
    "example"); a setting with default None and an example is shown commented out.
    ``toml=False`` marks a field that is not a TOML key (derived, e.g. the bearer token).
    """
    metadata = {"doc": doc, "example": example, "toml": toml}
    if isinstance(default, list | dict):
        return field(default_factory=lambda: copy.deepcopy(default), metadata=metadata)
    return field(default=default, metadata=metadata)


@dataclass(frozen=True)
class KafkaConfig:
    client_id: str  # declared per component: ProducerKafkaConfig, ConsumerKafkaConfig
    bootstrap_servers: list[str] = setting(["localhost:9092"], "host:port list")
    security_protocol: str = setting("PLAINTEXT", "PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
    ssl_cafile: str | None = setting(
        None, "CA bundle for SSL and SASL_SSL", example="/etc/ssl/certs/kafka-ca.pem"
    )
    ssl_certfile: str | None = setting(
        None,
        "mutual TLS: client certificate chain + key, PEM",
        example="/etc/kafka-pipeline/tls/client.pem",
    )
    sasl_mechanism: str = setting(
        "SCRAM-SHA-512",
        "SCRAM-SHA-512, SCRAM-SHA-256 or AWS_MSK_IAM (SASL_*; AWS_MSK_IAM: SASL_SSL, no password)",
    )
    sasl_username: str | None = setting(None, "required with SCRAM", example="tweet-pipeline")
    sasl_password_file: str | None = setting(
        None,
        "0600/0640 file with the password (SCRAM)",
        example="/etc/kafka-pipeline/secrets/kafka-password",
    )
    sasl_password: str = field(default="", repr=False, metadata={"toml": False})

    @property
    def sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    @property
    def scram(self) -> bool:
        """A SCRAM login (user and password), as opposed to no login or an IAM one."""
        return self.sasl and self.sasl_mechanism in SCRAM_MECHANISMS

    def client_kwargs(self) -> dict[str, Any]:
        """The settings of every kafka-python client (producer, consumer, dead-letter producer)."""
        kwargs: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap_servers,
            "client_id": self.client_id,
            "security_protocol": self.security_protocol,
        }
        if self.ssl_cafile:
            kwargs["ssl_cafile"] = self.ssl_cafile
        if self.ssl_certfile:
            kwargs["ssl_certfile"] = self.ssl_certfile
        if self.sasl:
            kwargs["sasl_mechanism"] = self.sasl_mechanism
        if self.scram:
            kwargs["sasl_plain_username"] = self.sasl_username
            kwargs["sasl_plain_password"] = self.sasl_password
        return kwargs

    def secrets(self) -> list[str]:
        return [self.sasl_password] if self.sasl_password else []


@dataclass(frozen=True)
class ProducerKafkaConfig(KafkaConfig):
    client_id: str = setting("tweet-producer", "client id (broker logs, quotas)")


@dataclass(frozen=True)
class ConsumerKafkaConfig(KafkaConfig):
    client_id: str = setting("tweet-consumer", "client id (broker logs, quotas)")


@dataclass(frozen=True)
class MetricsConfig:
    port: int  # declared per component: ProducerMetricsConfig, ConsumerMetricsConfig
    enabled: bool = setting(True, "serve /metrics (Prometheus)")
    host: str = setting("0.0.0.0", "address to listen on")
    tls_cert_file: str | None = setting(
        None,
        "with tls_key_file: HTTPS only (TLS 1.2+); PEM chain, reloaded when it changes",
        example="/etc/kafka-pipeline/tls/metrics.crt",
    )
    tls_key_file: str | None = setting(
        None, "PEM private key of tls_cert_file", example="/etc/kafka-pipeline/tls/metrics.key"
    )
    basic_auth_user: str | None = setting(
        None, "with basic_auth_password_file: HTTP basic auth required", example="prometheus"
    )
    basic_auth_password_file: str | None = setting(
        None,
        "0600/0640 file with the password; reread when it changes",
        example="/etc/kafka-pipeline/secrets/metrics-password",
    )
    basic_auth_password: str = field(default="", repr=False, metadata={"toml": False})

    @property
    def tls(self) -> bool:
        return bool(self.tls_cert_file and self.tls_key_file)

    @property
    def basic_auth(self) -> bool:
        return bool(self.basic_auth_user and self.basic_auth_password_file)

    def secrets(self) -> list[str]:
        return [self.basic_auth_password] if self.basic_auth_password else []


@dataclass(frozen=True)
class ProducerMetricsConfig(MetricsConfig):
    port: int = setting(8000, "port of /metrics")


@dataclass(frozen=True)
class ConsumerMetricsConfig(MetricsConfig):
    port: int = setting(8001, "port of /metrics")


@dataclass(frozen=True)
class StreamRuleConfig:
    value: str
    tag: str | None = None


X_API_BASE_URL = "https://api.twitter.com"

EXAMPLE_RULES = [
    {"value": "(kafka OR #apachekafka) lang:en -is:retweet", "tag": "kafka"},
    {"value": "#python -is:retweet", "tag": "python"},
]


@dataclass(frozen=True)
class SourceSettings:
    """The [source] table (its sub-tables are `StreamConfig` and `ReplayConfig`)."""

    type: Literal["stream", "replay"] = setting(
        "replay", "stream (X API v2 filtered stream) or replay", example="stream"
    )


@dataclass(frozen=True)
class StreamConfig:
    bearer_token: str = field(default="", repr=False, metadata={"toml": False})
    rules: list[StreamRuleConfig] = setting(
        [], "filtered-stream rules ({ value, tag })", example=EXAMPLE_RULES
    )
    bearer_token_env: str = setting(
        "TWITTER_BEARER_TOKEN", 'environment variable of the token; "" = never read it'
    )
    bearer_token_file: str | None = setting(
        None,
        "0600/0640 file; the environment wins",
        example="/etc/kafka-pipeline/secrets/producer/x-bearer-token",
    )
    api_base_url: str = setting(
        X_API_BASE_URL, "X's; or a gateway/proxy, or http://host:port (double)"
    )
    sync_rules: bool = setting(True, "make the stream's rules equal to `rules`")
    tweet_fields: list[str] = setting(
        ["id", "text", "author_id", "created_at", "lang", "public_metrics", "entities"],
        "X API tweet.fields",
    )
    expansions: list[str] = setting([], "X API expansions")
    timeout_s: float = setting(21.0, "read timeout (X sends a keep-alive every 20 s)")
    backoff_network_step_s: float = setting(0.25, "network errors: linear backoff ...")
    backoff_network_max_s: float = setting(16.0, "... up to this")
    backoff_http_initial_s: float = setting(5.0, "HTTP errors: exponential backoff ...")
    backoff_http_max_s: float = setting(320.0, "... up to this")
    backoff_rate_limit_initial_s: float = setting(60.0, "HTTP 429: exponential from here")


@dataclass(frozen=True)
class ReplayConfig:
    path: Path | None = setting(
        None, "NDJSON file or named pipe; empty = the sample bundled with the package"
    )
    rate: float = setting(0.0, "records per second, 0 = full speed")
    loop: bool = setting(False, "start over at the end (otherwise drain the spool and exit 0)")


@dataclass(frozen=True)
class ProducerSettings:
    topic: str = setting("twitter", "topic of the tweets")
    acks: Literal[0, 1, "all"] = setting("all", '0, 1 or "all" (all: idempotent producer)')
    compression: Literal["gzip", "none"] = setting("gzip", "gzip or none")
    linger_ms: int = setting(5, "how long a batch waits for more records")
    batch_size: int = setting(
        65_536, "bytes per partition batch (larger: fewer requests); at most max_request_size"
    )
    delivery_timeout_ms: int = setting(120_000, "give a send up after this (then retried)")
    request_timeout_ms: int = setting(30_000, "one request's timeout")
    max_block_ms: int = setting(10_000, "how long send() waits for metadata when Kafka is down")
    batch_records: int = setting(500, "spool records read per round (in flight: twice that)")
    retry_backoff_s: float = setting(1.0, "publisher backoff after a failure, doubling ...")
    retry_backoff_max_s: float = setting(30.0, "... up to this")
    shutdown_timeout_s: float = setting(
        10.0, "on SIGTERM: publish what is spooled for at most this long"
    )
    dlq_topic: str = setting("twitter.dlq", "tweets Kafka can never accept go here")
    max_request_size: int = setting(
        1_048_576, "bytes; a bigger record is dead-lettered (envelope cut to fit)"
    )


@dataclass(frozen=True)
class SpoolConfig:
    path: Path = setting(Path("/var/lib/kafka-pipeline/spool.db"), "SQLite spool file")
    fsync: Literal["always", "normal"] = setting(
        "always", "always (each commit) or normal (survives crashes, not power loss)"
    )
    max_records: int = setting(
        1_000_000, "full at this many tweets: stream refuses new ones, replay waits"
    )
    max_bytes: int = setting(1_073_741_824, "... or this many key+value bytes (0 = no limit)")


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
        token = [self.stream.bearer_token] if self.stream and self.stream.bearer_token else []
        return token + self.kafka.secrets() + self.metrics.secrets()


@dataclass(frozen=True)
class ConsumerSettings:
    topic: str = setting("twitter", "topic of the tweets")
    group_id: str = setting("tweet-consumers", "consumer group")
    dlq_topic: str = setting("twitter.dlq", "malformed records go here")
    auto_offset_reset: Literal["earliest", "latest"] = setting(
        "earliest", "earliest or latest (for a group without committed offsets)"
    )
    max_poll_records: int = setting(500, "records per poll")
    commit_interval_s: float = setting(
        5.0, "checkpoint (flush sinks, then commit) at least this often ..."
    )
    commit_max_records: int = setting(
        1000, "... and every this many records (= max records per S3 object)"
    )
    lag_interval_s: float = setting(10.0, "how often the lag gauge is refreshed")
    retry_backoff_s: float = setting(1.0, "a failing sink/DLQ is retried after this, doubling ...")
    retry_backoff_max_s: float = setting(30.0, "... up to this (consumption is paused meanwhile)")
    session_timeout_ms: int = setting(10_000, "group session timeout")


@dataclass(frozen=True)
class ConsoleSinkConfig:
    enabled: bool = setting(True)
    format: Literal["text", "json"] = setting("text", "text (one human line per tweet) or json")


@dataclass(frozen=True)
class FileSinkConfig:
    enabled: bool = setting(True)
    path: Path = setting(Path("/var/lib/kafka-pipeline/tweets.jsonl"), "JSON-lines file")
    max_bytes: int = setting(100 * 1024 * 1024, "rotate at this size ...")
    backup_count: int = setting(5, "... keeping tweets.jsonl.1 .. .N")
    fsync: bool = setting(True, "fsync at each checkpoint, before offsets are committed")


@dataclass(frozen=True)
class S3SinkConfig:
    enabled: bool = setting(True)
    bucket: str = setting("", "required", example="my-tweets-bucket")
    prefix: str = setting("tweets", "objects: prefix/YYYY/MM/DD/HH/<time>-<id>.jsonl")
    endpoint_url: str | None = setting(None, "empty = AWS; set for an S3-compatible endpoint")
    region: str = setting("us-east-1", "AWS region of the bucket")


@dataclass(frozen=True)
class ConsumerConfig:
    kafka: KafkaConfig
    consumer: ConsumerSettings
    console: ConsoleSinkConfig | None
    file: FileSinkConfig | None
    s3: S3SinkConfig | None
    metrics: MetricsConfig

    def secrets(self) -> list[str]:
        # S3 credentials come from the AWS chain, never from this file.
        return self.kafka.secrets() + self.metrics.secrets()


def _kafka(table: Table) -> KafkaConfig:
    protocol = table.string("security_protocol", choices=SECURITY_PROTOCOLS)
    cafile = table.optional_string("ssl_cafile")
    if cafile and not Path(cafile).is_file():
        table.error("ssl_cafile", f"is not a readable file (got {cafile!r})")
    mechanism = table.string("sasl_mechanism", choices=SASL_MECHANISMS)
    scram = protocol.startswith("SASL_") and mechanism in SCRAM_MECHANISMS
    if mechanism == MSK_IAM_MECHANISM and protocol == "SASL_PLAINTEXT":
        table.error("security_protocol", f"must be SASL_SSL with {MSK_IAM_MECHANISM}")
    username = table.optional_string("sasl_username")
    if scram and not username:
        table.error("sasl_username", f"is required with security_protocol {protocol}")
    password_file = table.optional_string("sasl_password_file")
    return KafkaConfig(
        bootstrap_servers=host_port_list(table, "bootstrap_servers"),
        client_id=table.string("client_id", nonempty=True),
        security_protocol=protocol,
        ssl_cafile=cafile,
        ssl_certfile=_client_certificate(table),
        sasl_mechanism=mechanism,
        sasl_username=username,
        sasl_password_file=password_file,
        sasl_password=(sasl_password(table, protocol, password_file) if scram else None) or "",
    )


def _client_certificate(table: Table) -> str | None:
    """ssl_certfile, checked by loading it as the client will: kafka-python loads it again for
    each connection and only reports, after its bootstrap timeout, that none succeeded."""
    certfile = table.optional_string("ssl_certfile")
    if not certfile:
        return None
    try:
        ssl.create_default_context().load_cert_chain(certfile)
    except OSError as exc:  # ssl.SSLError is an OSError
        reason = exc.strerror or str(exc)
        table.error(
            "ssl_certfile",
            f"must be a PEM file with the certificate and its key ({reason}: {certfile!r})",
        )
        return None
    return certfile


def _metrics(table: Table) -> MetricsConfig:
    cert_file, key_file = _both_or_neither(table, "tls_cert_file", "tls_key_file")
    if cert_file and key_file and _metrics_tls_invalid(table, cert_file, key_file):
        cert_file = key_file = None
    user, password_file = _both_or_neither(table, "basic_auth_user", "basic_auth_password_file")
    password = None
    if user and ":" in user:
        table.error("basic_auth_user", f"must not contain ':' (got {user!r})")
    if password_file:
        password = basic_auth_password(table, "basic_auth_password_file", password_file)
    return MetricsConfig(
        enabled=table.boolean("enabled"),
        host=table.string("host", nonempty=True),
        port=table.integer("port", minimum=1, maximum=65535),
        tls_cert_file=cert_file,
        tls_key_file=key_file,
        basic_auth_user=user,
        basic_auth_password_file=password_file,
        basic_auth_password=password or "",
    )


def _both_or_neither(table: Table, first: str, second: str) -> tuple[str | None, str | None]:
    """Two optional settings that only mean something together ("" = not set)."""
    values = table.optional_string(first), table.optional_string(second)
    if bool(values[0]) != bool(values[1]):
        missing, given = (second, first) if values[0] else (first, second)
        table.error(missing, f"is required with {table.name(given)}")
    return values


def _metrics_tls_invalid(table: Table, cert_file: str, key_file: str) -> bool:
    """Report (and return True) unless the metrics server can load the certificate and key."""
    unreadable = False
    for key, path in (("tls_cert_file", cert_file), ("tls_key_file", key_file)):
        try:
            Path(path).read_bytes()
        except OSError as exc:
            table.error(key, f"cannot be read ({exc.strerror or exc}: {path!r})")
            unreadable = True
    if unreadable:
        return True
    try:
        server_tls_context(cert_file, key_file)
    except OSError as exc:  # ssl.SSLError is an OSError
        table.error(
            "tls_cert_file",
            f"must be a PEM certificate (chain) whose private key is "
            f"{table.name('tls_key_file')} ({exc.strerror or exc}: {cert_file!r}, {key_file!r})",
        )
        return True
    return False


def _acks(table: Table) -> Literal[0, 1, "all"]:
    raw = table.raw("acks")
    if raw is None:
        return table.default("acks")  # type: ignore[no-any-return]
    if raw in ("all", -1):
        return "all"
    if raw in (0, 1, "0", "1") and not isinstance(raw, bool):
        return 0 if int(raw) == 0 else 1
    table.error("acks", f"must be one of 0, 1, all (got {raw!r})")
    return table.default("acks")  # type: ignore[no-any-return]


def _base_url(table: Table) -> str:
    url = table.string(
        "api_base_url",
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
    raw_env = table.raw("bearer_token_env")
    sync_rules = table.boolean("sync_rules")
    if sync_rules and not raw_rules:
        table.error("rules", "must list at least one rule when sync_rules is true")
    fields = {"pattern": _FIELD, "hint": "X API field names"}
    return StreamConfig(
        bearer_token=token or "",
        rules=rules,
        bearer_token_env=raw_env if isinstance(raw_env, str) else table.default("bearer_token_env"),
        bearer_token_file=table.optional_string("bearer_token_file"),
        sync_rules=sync_rules,
        tweet_fields=table.string_list("tweet_fields", **fields),  # type: ignore[arg-type]
        expansions=table.string_list("expansions", **fields),  # type: ignore[arg-type]
        timeout_s=table.number("timeout_s", minimum=1.0),
        backoff_network_step_s=table.number("backoff_network_step_s", minimum=0.0),
        backoff_network_max_s=table.number("backoff_network_max_s", minimum=0.0),
        backoff_http_initial_s=table.number("backoff_http_initial_s", minimum=0.0),
        backoff_http_max_s=table.number("backoff_http_max_s", minimum=0.0),
        backoff_rate_limit_initial_s=table.number("backoff_rate_limit_initial_s", minimum=0.0),
        api_base_url=_base_url(table),
    )


def _replay(table: Table) -> ReplayConfig:
    raw = table.optional_string("path")
    path = None
    if raw:
        path = Path(raw)
        # A named pipe too: tweets another process writes as they come (read to its writer's close).
        if not (path.is_file() or path.is_fifo()):
            table.error("path", f"is not a readable file or named pipe (got {raw!r})")
    return ReplayConfig(
        path=path,
        rate=table.number("rate", minimum=0.0),
        loop=table.boolean("loop"),
    )


def load_producer_config(path: Path, env: Mapping[str, str] | None = None) -> ProducerConfig:
    env = os.environ if env is None else env
    problems: list[str] = []
    root = Table(read_toml(path), "", problems)
    kafka = _kafka(root.table("kafka", ProducerKafkaConfig))
    p = root.table("producer", ProducerSettings)
    settings = ProducerSettings(
        topic=topic_name(p, "topic"),
        acks=_acks(p),
        compression=p.string("compression", choices=("gzip", "none")),  # type: ignore[arg-type]
        linger_ms=p.integer("linger_ms", minimum=0, maximum=60_000),
        batch_size=p.integer("batch_size", minimum=1024, maximum=16 * 1024 * 1024),
        delivery_timeout_ms=p.integer("delivery_timeout_ms", minimum=1000),
        request_timeout_ms=p.integer("request_timeout_ms", minimum=100),
        max_block_ms=p.integer("max_block_ms", minimum=100),
        batch_records=p.integer("batch_records", minimum=1, maximum=100_000),
        retry_backoff_s=p.number("retry_backoff_s", minimum=0.0),
        retry_backoff_max_s=p.number("retry_backoff_max_s", minimum=0.0),
        shutdown_timeout_s=p.number("shutdown_timeout_s", minimum=0.0),
        dlq_topic=topic_name(p, "dlq_topic"),
        max_request_size=p.integer("max_request_size", minimum=16_384, maximum=16 * 1024 * 1024),
    )
    if settings.dlq_topic == settings.topic:
        p.error("dlq_topic", f"must differ from producer.topic (got {settings.dlq_topic!r})")
    src = root.table("source", SourceSettings)
    kind = src.string("type", choices=("stream", "replay"))
    stream_table = src.table("stream", StreamConfig)
    replay_table = src.table("replay", ReplayConfig)
    stream = _stream(stream_table, env) if kind == "stream" else None
    replay = _replay(replay_table) if kind == "replay" else None
    if kind != "stream":
        stream_table.finish = lambda: None  # type: ignore[method-assign]
    if kind != "replay":
        replay_table.finish = lambda: None  # type: ignore[method-assign]
    sp = root.table("spool", SpoolConfig)
    spool = SpoolConfig(
        path=path_value(sp, "path"),
        fsync=sp.string("fsync", choices=("always", "normal")),  # type: ignore[arg-type]
        max_records=sp.integer("max_records", minimum=1),
        max_bytes=sp.integer("max_bytes", minimum=0),
    )
    metrics = _metrics(root.table("metrics", ProducerMetricsConfig))
    root.finish()
    if problems:
        raise ConfigError(problems)
    return ProducerConfig(kafka, settings, kind, stream, replay, spool, metrics)  # type: ignore[arg-type]


def _sink_enabled(sinks: Table, name: str, declaration: type) -> Table | None:
    if not sinks.has(name):
        return None
    table = sinks.table(name, declaration)
    if table.boolean("enabled"):
        return table
    table.finish = lambda: None  # type: ignore[method-assign]  # a disabled sink's keys are not read
    return None


def load_consumer_config(path: Path, env: Mapping[str, str] | None = None) -> ConsumerConfig:
    del env  # secrets for S3 come from the standard AWS chain (env, instance profile)
    problems: list[str] = []
    root = Table(read_toml(path), "", problems)
    kafka = _kafka(root.table("kafka", ConsumerKafkaConfig))
    c = root.table("consumer", ConsumerSettings)
    settings = ConsumerSettings(
        topic=topic_name(c, "topic"),
        group_id=c.string("group_id", nonempty=True),
        dlq_topic=topic_name(c, "dlq_topic"),
        auto_offset_reset=c.string(  # type: ignore[arg-type]
            "auto_offset_reset", choices=("earliest", "latest")
        ),
        max_poll_records=c.integer("max_poll_records", minimum=1, maximum=100_000),
        commit_interval_s=c.number("commit_interval_s", minimum=0.0),
        commit_max_records=c.integer("commit_max_records", minimum=1),
        lag_interval_s=c.number("lag_interval_s", minimum=0.1),
        retry_backoff_s=c.number("retry_backoff_s", minimum=0.0),
        session_timeout_ms=c.integer("session_timeout_ms", minimum=1000),
        retry_backoff_max_s=c.number("retry_backoff_max_s", minimum=0.0),
    )
    if settings.dlq_topic == settings.topic:
        c.error("dlq_topic", f"must differ from consumer.topic (got {settings.dlq_topic!r})")
    sinks = root.table("sinks")
    console = file = s3 = None
    if (t := _sink_enabled(sinks, "console", ConsoleSinkConfig)) is not None:
        console = ConsoleSinkConfig(
            format=t.string("format", choices=("text", "json")),  # type: ignore[arg-type]
        )
    if (t := _sink_enabled(sinks, "file", FileSinkConfig)) is not None:
        file = FileSinkConfig(
            path=path_value(t, "path"),
            max_bytes=t.integer("max_bytes", minimum=1024),
            backup_count=t.integer("backup_count", minimum=1, maximum=1000),
            fsync=t.boolean("fsync"),
        )
    if (t := _sink_enabled(sinks, "s3", S3SinkConfig)) is not None:
        if not t.has("bucket"):
            t.error("bucket", "is required")
        s3 = S3SinkConfig(
            bucket=t.string("bucket", pattern=_BUCKET, hint="an S3 bucket name"),
            prefix=t.string("prefix").strip("/"),
            endpoint_url=t.optional_string("endpoint_url"),
            region=t.string("region", nonempty=True),
        )
        if s3.endpoint_url and not _URL.match(s3.endpoint_url):
            t.error("endpoint_url", f"must be an http(s) URL (got {s3.endpoint_url!r})")
    if console is None and file is None and s3 is None:
        problems.append("sinks must enable at least one of console, file, s3")
    metrics = _metrics(root.table("metrics", ConsumerMetricsConfig))
    root.finish()
    if problems:
        raise ConfigError(problems)
    return ConsumerConfig(kafka, settings, console, file, s3, metrics)
