"""Configuration validation: one clear message per bad value, exit code 2 from the CLIs."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tests.kafka_broker import CertificateAuthority
from tweet_pipeline import examples
from tweet_pipeline.config import (
    ConsoleSinkConfig,
    ConsumerSettings,
    FileSinkConfig,
    ProducerSettings,
    ReplayConfig,
    SpoolConfig,
    load_consumer_config,
    load_producer_config,
)
from tweet_pipeline.kafka_login import check_login
from tweet_pipeline.toml_tables import ConfigError, Table

EXAMPLES = Path(__file__).parents[1] / "examples"


def producer_problems(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> list[str]:
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_producer_config(path, env=env or {})
    return info.value.problems


def consumer_problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_consumer_config(path)
    return info.value.problems


def test_example_configs_load(tmp_path: Path) -> None:
    producer = load_producer_config(EXAMPLES / "producer.toml", env={"TWITTER_BEARER_TOKEN": "t"})
    assert producer.source == "stream"
    assert producer.stream is not None and producer.stream.bearer_token == "t"
    assert producer.producer.acks == "all" and producer.producer.compression == "gzip"
    assert producer.stream.api_base_url == "https://api.twitter.com"
    assert producer.producer.dlq_topic == "twitter.dlq"
    assert producer.producer.max_request_size == 1_048_576
    assert (producer.spool.max_records, producer.spool.max_bytes) == (1_000_000, 1_073_741_824)
    consumer = load_consumer_config(EXAMPLES / "consumer.toml")
    assert consumer.console and consumer.file and consumer.s3
    assert consumer.consumer.dlq_topic == "twitter.dlq"
    assert consumer.consumer.retry_backoff_max_s == 30.0


def test_defaults_for_a_minimal_replay_config(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[spool]\npath = "spool.db"\n')
    cfg = load_producer_config(path, env={})
    assert cfg.source == "replay" and cfg.replay is not None and cfg.replay.path is None
    assert cfg.producer.topic == "twitter" and cfg.producer.acks == "all"
    assert cfg.metrics.port == 8000  # the Ansible roles' pipeline_producer_metrics_port
    assert cfg.spool.path.is_absolute()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[producer]\nacks = "banana"', "producer.acks must be one of 0, 1, all (got 'banana')"),
        ("[producer]\nacks = 2", "producer.acks must be one of 0, 1, all (got 2)"),
        (
            '[producer]\ncompression = "snappy"',
            "producer.compression must be one of gzip, none (got 'snappy')",
        ),
        ('[producer]\nlinger_ms = "5"', "producer.linger_ms must be an integer (got '5')"),
        ("[producer]\nlinger_ms = -1", "producer.linger_ms must be >= 0 (got -1)"),
        ("[producer]\nbatch_size = 100", "producer.batch_size must be >= 1024 (got 100)"),
        (
            "[producer]\nretry_backoff_s = true",
            "producer.retry_backoff_s must be a number (got True)",
        ),
        ('[producer]\ntopic = "bad topic!"', "producer.topic must be a Kafka topic name"),
        (
            '[kafka]\nbootstrap_servers = ["nohostport"]',
            "kafka.bootstrap_servers must contain only",
        ),
        ('[kafka]\nbootstrap_servers = ["h:99999"]', "kafka.bootstrap_servers has a port out of"),
        ("[kafka]\nbootstrap_servers = []", "kafka.bootstrap_servers must list at least one"),
        ("[metrics]\nport = 70000", "metrics.port must be <= 65535 (got 70000)"),
        ('[metrics]\nenabled = "yes"', "metrics.enabled must be true or false (got 'yes')"),
        (
            '[source]\ntype = "firehose"',
            "source.type must be one of stream, replay (got 'firehose')",
        ),
        ('[source.replay]\npath = "/nonexistent.ndjson"', "source.replay.path is not a readable"),
        ("[source.replay]\nrate = -3", "source.replay.rate must be >= 0.0 (got -3.0)"),
        ('[spool]\nfsync = "sometimes"', "spool.fsync must be one of always, normal"),
        ("[producer]\nlinger = 5", "producer.linger is not a known setting"),
        ('[producer]\ndlq_topic = "twitter"', "producer.dlq_topic must differ from producer"),
        ("[producer]\nmax_request_size = 100", "producer.max_request_size must be >= 16384"),
        ("[spool]\nmax_records = 0", "spool.max_records must be >= 1 (got 0)"),
        ("[spool]\nmax_bytes = -1", "spool.max_bytes must be >= 0 (got -1)"),
        ('kafka = "x"', "kafka must be a table (got 'x')"),
    ],
)
def test_producer_bad_values(tmp_path: Path, text: str, expected: str) -> None:
    problems = producer_problems(
        tmp_path, text + '\n[spool]\npath = "s.db"\n' if "[spool]" not in text else text
    )
    assert any(p.startswith(expected) for p in problems), problems


def test_all_problems_are_reported_at_once(tmp_path: Path) -> None:
    problems = producer_problems(
        tmp_path, '[producer]\nacks = "x"\nlinger_ms = -1\n[metrics]\nport = 0'
    )
    assert len(problems) == 3


STREAM = '[source]\ntype = "stream"\n[source.stream]\nrules = [{ value = "kafka" }]\n'


def test_stream_needs_a_bearer_token(tmp_path: Path) -> None:
    problems = producer_problems(tmp_path, STREAM)
    assert problems == [
        "source.stream.bearer_token_file: no bearer token: set $TWITTER_BEARER_TOKEN "
        "or source.stream.bearer_token_file"
    ]


def test_bearer_token_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("from-file\n")
    secret.chmod(0o600)
    path = tmp_path / "p.toml"
    path.write_text(STREAM + f'bearer_token_file = "{secret}"\n')
    cfg = load_producer_config(path, env={})
    assert cfg.stream is not None and cfg.stream.bearer_token == "from-file"
    assert "from-file" not in repr(cfg)
    # The environment variable wins over the file.
    cfg = load_producer_config(path, env={"TWITTER_BEARER_TOKEN": "from-env"})
    assert cfg.stream is not None and cfg.stream.bearer_token == "from-env"
    secret.chmod(0o644)
    problems = producer_problems(tmp_path, STREAM + f'bearer_token_file = "{secret}"\n')
    assert problems == [
        f"source.stream.bearer_token_file must not be accessible by others (mode 644: '{secret}')"
    ]
    problems = producer_problems(tmp_path, STREAM + 'bearer_token_file = "/nonexistent"\n')
    assert problems[0].startswith("source.stream.bearer_token_file cannot be read")


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400, 0o440])
def test_bearer_token_file_for_the_service_user_only(tmp_path: Path, mode: int) -> None:
    """The deployment: a root-owned 0640 file (group = service user), no environment."""
    secret = tmp_path / "x-bearer-token"
    secret.write_text("file-token\n")
    secret.chmod(mode)
    path = tmp_path / "p.toml"
    path.write_text(STREAM + f'bearer_token_env = ""\nbearer_token_file = "{secret}"\n')
    cfg = load_producer_config(path, env={"TWITTER_BEARER_TOKEN": "from-env"})
    assert cfg.stream is not None and cfg.stream.bearer_token == "file-token"
    assert cfg.secrets() == ["file-token"]


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o641, 0o602])
def test_bearer_token_file_accessible_by_others_is_refused(tmp_path: Path, mode: int) -> None:
    secret = tmp_path / "x-bearer-token"
    secret.write_text("file-token\n")
    secret.chmod(mode)
    problems = producer_problems(
        tmp_path, STREAM + f'bearer_token_env = ""\nbearer_token_file = "{secret}"\n'
    )
    assert problems == [
        f"source.stream.bearer_token_file must not be accessible by others "
        f"(mode {mode:o}: '{secret}')"
    ]


def test_empty_bearer_token_env_never_reads_the_environment(tmp_path: Path) -> None:
    problems = producer_problems(
        tmp_path, STREAM + 'bearer_token_env = ""\n', env={"TWITTER_BEARER_TOKEN": "t"}
    )
    assert problems == [
        "source.stream.bearer_token_file: no bearer token: source.stream.bearer_token_file"
    ]


def test_bad_tokens_are_refused_without_being_shown(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("two words-secret\n")
    secret.chmod(0o600)
    text = STREAM + f'bearer_token_env = ""\nbearer_token_file = "{secret}"\n'
    problems = producer_problems(tmp_path, text)
    assert problems == [
        f"source.stream.bearer_token_file must hold one token on one line, without spaces "
        f"('{secret}')"
    ]
    secret.write_text("")
    assert producer_problems(tmp_path, text) == [
        f"source.stream.bearer_token_file is empty ('{secret}')"
    ]
    pasted = STREAM + 'bearer_token_env = "AAAA%2Bpasted-token"\n'
    problems = producer_problems(tmp_path, pasted)
    assert "source.stream.bearer_token_env must be an environment variable name or empty" in (
        problems
    )
    assert not any("pasted" in p for p in problems)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("http://x-api-double:8080/", "http://x-api-double:8080"),
        ("https://gateway.example.com/x-api/", "https://gateway.example.com/x-api"),
    ],
)
def test_api_base_url(tmp_path: Path, url: str, expected: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(STREAM + f'api_base_url = "{url}"\n')
    cfg = load_producer_config(path, env={"TWITTER_BEARER_TOKEN": "t"})
    assert cfg.stream is not None and cfg.stream.api_base_url == expected


@pytest.mark.parametrize("url", ["localhost:8080", "ftp://h", "http://h/x?y=1", "http://"])
def test_api_base_url_must_be_an_http_url(tmp_path: Path, url: str) -> None:
    problems = producer_problems(
        tmp_path, STREAM + f'api_base_url = "{url}"\n', env={"TWITTER_BEARER_TOKEN": "t"}
    )
    assert problems == [
        f"source.stream.api_base_url must be an http(s) URL without query, e.g. "
        f"http://127.0.0.1:8080 (got '{url}')"
    ]


def test_stream_rules_are_validated(tmp_path: Path) -> None:
    text = '[source]\ntype = "stream"\n[source.stream]\nrules = [{ value = "" }, { tag = 1 }]\n'
    problems = producer_problems(tmp_path, text, env={"TWITTER_BEARER_TOKEN": "t"})
    assert problems == [
        "source.stream.rules[0].value must be a non-empty string (got '')",
        "source.stream.rules[1].value must be a non-empty string (got None)",
    ]
    text = '[source]\ntype = "stream"\n'
    problems = producer_problems(tmp_path, text, env={"TWITTER_BEARER_TOKEN": "t"})
    assert problems == ["source.stream.rules must list at least one rule when sync_rules is true"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "sinks must enable at least one of console, file, s3"),
        ("[sinks.console]\nenabled = false", "sinks must enable at least one of console, file, s3"),
        ('[sinks.console]\nformat = "xml"', "sinks.console.format must be one of text, json"),
        ("[sinks.file]\nmax_bytes = 10", "sinks.file.max_bytes must be >= 1024 (got 10)"),
        ("[sinks.file]\nbackup_count = 0", "sinks.file.backup_count must be >= 1 (got 0)"),
        ("[sinks.s3]\nprefix = 'x'", "sinks.s3.bucket is required"),
        ('[sinks.s3]\nbucket = "Bad_Bucket"', "sinks.s3.bucket must be an S3 bucket name"),
        (
            '[sinks.s3]\nbucket = "ok-bucket"\nendpoint_url = "localhost:5000"',
            "sinks.s3.endpoint_url must be an http(s) URL (got 'localhost:5000')",
        ),
        (
            '[sinks.console]\n[consumer]\nauto_offset_reset = "middle"',
            "consumer.auto_offset_reset must be one of earliest, latest (got 'middle')",
        ),
        (
            '[sinks.console]\n[consumer]\ndlq_topic = "twitter"',
            "consumer.dlq_topic must differ from consumer.topic (got 'twitter')",
        ),
        (
            "[sinks.console]\n[consumer]\nmax_poll_records = 0",
            "consumer.max_poll_records must be >= 1 (got 0)",
        ),
        ("[sinks.console]\ncolour = true", "sinks.console.colour is not a known setting"),
        (
            "[sinks.console]\n[consumer]\nretry_backoff_max_s = -1",
            "consumer.retry_backoff_max_s must be >= 0.0 (got -1.0)",
        ),
    ],
)
def test_consumer_bad_values(tmp_path: Path, text: str, expected: str) -> None:
    problems = consumer_problems(tmp_path, text)
    assert any(p.startswith(expected) for p in problems), problems


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_producer_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[kafka\n")
    with pytest.raises(ConfigError, match="is not valid TOML"):
        load_consumer_config(bad)


@pytest.mark.parametrize("module", ["tweet_pipeline.producer", "tweet_pipeline.consumer"])
def test_cli_exits_2_with_one_line_per_problem(tmp_path: Path, module: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text('[producer]\nacks = "banana"\n[consumer]\nmax_poll_records = 0\n[x]\n')
    result = subprocess.run(
        [sys.executable, "-m", module, "--config", str(path)],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env={**os.environ},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines and all(line.startswith("config error: ") for line in lines)
    assert "config error: x is not a known setting" in lines
    if module.endswith("producer"):
        assert "config error: producer.acks must be one of 0, 1, all (got 'banana')" in lines


def test_cli_check_accepts_a_valid_config(tmp_path: Path) -> None:
    for script, example in (
        ("tweet-producer", "producer.toml"),
        ("tweet-consumer", "consumer.toml"),
    ):
        exe = Path(sys.executable).parent / script
        result = subprocess.run(
            [str(exe), "--config", str(EXAMPLES / example), "--check"],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
            env={**os.environ, "TWITTER_BEARER_TOKEN": "t"},
        )
        assert result.returncode == 0, result.stderr
        assert "configuration is valid" in result.stderr


def test_cli_check_reads_the_token_file_and_never_prints_it(tmp_path: Path) -> None:
    """`tweet-producer --check` as the deployment runs it (as root, token in a 0640 file)."""
    secret = tmp_path / "x-bearer-token"
    secret.write_text("AAAA%2Bcheck-token%3D\n")
    path = tmp_path / "p.toml"
    path.write_text(
        STREAM + f'bearer_token_env = ""\nbearer_token_file = "{secret}"\n[spool]\npath = "s.db"\n'
    )
    exe = Path(sys.executable).parent / "tweet-producer"

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), "--config", str(path), "--check"],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
            env={"PATH": os.environ["PATH"], "TWITTER_BEARER_TOKEN": "ignored"},
        )

    for mode, status in ((0o640, 0), (0o600, 0), (0o644, 2)):
        secret.chmod(mode)
        result = check()
        assert result.returncode == status, result.stderr
        assert "check-token" not in result.stdout + result.stderr
    assert "must not be accessible by others" in result.stderr
    secret.unlink()
    result = check()
    assert result.returncode == 2 and "bearer_token_file cannot be read" in result.stderr


def _leaves(data: dict[str, object], prefix: str = "") -> set[str]:
    names: set[str] = set()
    for key, value in data.items():
        name = f"{prefix}{key}"
        names |= _leaves(value, name + ".") if isinstance(value, dict) else {name}
    return names


@pytest.mark.parametrize(
    ("example", "variant"),
    [("producer.toml", ""), ("producer.toml", "replay"), ("consumer.toml", "")],
)
def test_examples_list_every_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, example: str, variant: str
) -> None:
    """Every setting the loader reads is in the example (so the README's reference is whole)."""
    text = (EXAMPLES / example).read_text()
    if variant:
        text = text.replace('type = "stream"', f'type = "{variant}"', 1)
    path = tmp_path / example
    path.write_text(text)
    read: set[str] = set()
    tables: set[str] = set()
    get, table = Table._get, Table.table

    def recording_get(self: Table, key: str) -> object:
        read.add(self.name(key))
        return get(self, key)

    def recording_table(self: Table, key: str, declaration: type | None = None) -> Table:
        tables.add(self.name(key))
        return table(self, key, declaration)

    monkeypatch.setattr(Table, "_get", recording_get)
    monkeypatch.setattr(Table, "table", recording_table)
    if example.startswith("producer"):
        load_producer_config(path, env={"TWITTER_BEARER_TOKEN": "t"})
    else:
        load_consumer_config(path)
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    missing = sorted(read - tables - _leaves(data))
    assert not missing, f"{example} lacks {missing}"


@pytest.mark.parametrize("component", ["producer", "consumer"])
def test_examples_are_generated_from_the_declarations(component: str) -> None:
    """examples/*.toml are the output of `python -m tweet_pipeline.examples` (run it to fix)."""
    text = (EXAMPLES / f"{component}.toml").read_text(encoding="utf-8")
    assert text == examples.render(component), (
        f"examples/{component}.toml is stale: run python -m tweet_pipeline.examples"
    )


def test_examples_check_command(tmp_path: Path) -> None:
    assert examples.main(["--check"]) == 0
    (tmp_path / "producer.toml").write_text("# old\n")
    assert examples.main(["--check", "--dir", str(tmp_path)]) == 1
    assert examples.main(["--dir", str(tmp_path)]) == 0
    assert examples.main(["--check", "--dir", str(tmp_path)]) == 0


def test_loader_defaults_are_the_declared_ones(tmp_path: Path) -> None:
    """An empty table yields the dataclass defaults: the loader has no defaults of its own."""
    path = tmp_path / "c.toml"
    path.write_text("[sinks.console]\n[sinks.file]\n")
    cfg = load_consumer_config(path)
    assert cfg.consumer == ConsumerSettings()
    assert cfg.console == ConsoleSinkConfig()
    assert cfg.file == FileSinkConfig()
    path.write_text("")
    producer = load_producer_config(path, env={})
    assert producer.producer == ProducerSettings()
    assert producer.replay == ReplayConfig()
    assert producer.spool == SpoolConfig()


# --- Kafka security: SASL (SCRAM) and TLS --------------------------------------------------------

PASSWORD = "p4ss word-7q"  # a space: passwords may hold one


def secret_file(tmp_path: Path, text: str = PASSWORD + "\n", mode: int = 0o640) -> Path:
    path = tmp_path / "kafka-password"
    path.write_text(text)
    path.chmod(mode)
    return path


def sasl_kafka(password_file: Path, protocol: str = "SASL_SSL", extra: str = "") -> str:
    return (
        f'[kafka]\nsecurity_protocol = "{protocol}"\nsasl_username = "tweet-producer"\n'
        f'sasl_password_file = "{password_file}"\n{extra}'
    )


def test_sasl_ssl_settings_reach_the_client(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "tls")
    client = ca.issue("client", "CN=tweet-producer,OU=apps,O=kafka-pipeline")
    tls = f'ssl_cafile = "{ca.cert}"\nssl_certfile = "{client}"\n'
    path = tmp_path / "p.toml"
    path.write_text(sasl_kafka(secret_file(tmp_path), extra=tls))
    cfg = load_producer_config(path, env={})
    assert cfg.kafka.client_kwargs() == {
        "bootstrap_servers": ["localhost:9092"],
        "client_id": "tweet-producer",
        "security_protocol": "SASL_SSL",
        "ssl_cafile": str(ca.cert),
        "ssl_certfile": str(client),
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "tweet-producer",
        "sasl_plain_password": PASSWORD,
    }
    assert cfg.secrets() == [PASSWORD]
    assert PASSWORD not in repr(cfg)


def test_the_consumer_reads_the_same_settings(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    extra = 'sasl_mechanism = "SCRAM-SHA-256"\n[sinks.console]\n'
    path.write_text(sasl_kafka(secret_file(tmp_path), "SASL_PLAINTEXT", extra))
    cfg = load_consumer_config(path)
    kwargs = cfg.kafka.client_kwargs()
    assert kwargs["sasl_mechanism"] == "SCRAM-SHA-256" and "ssl_cafile" not in kwargs, kwargs
    assert kwargs["sasl_plain_password"] == PASSWORD
    assert cfg.secrets() == [PASSWORD]


def test_without_sasl_the_password_file_is_not_read(tmp_path: Path) -> None:
    """PLAINTEXT and SSL send no password: the SASL keys are accepted and left alone."""
    path = tmp_path / "p.toml"
    path.write_text(sasl_kafka(tmp_path / "missing", "SSL"))
    cfg = load_producer_config(path, env={})
    assert cfg.kafka.sasl_password == "" and cfg.secrets() == []
    assert "sasl_mechanism" not in cfg.kafka.client_kwargs()


def test_an_msk_iam_login_needs_no_user_and_no_password(tmp_path: Path) -> None:
    """Amazon MSK's IAM login: kafka-python signs it with the host's AWS credentials; the password
    file is not read, the CA is the host's public bundle (no ssl_cafile), no SCRAM check runs."""
    path = tmp_path / "p.toml"
    path.write_text(
        '[kafka]\nsecurity_protocol = "SASL_SSL"\nsasl_mechanism = "AWS_MSK_IAM"\n'
        f'sasl_password_file = "{tmp_path / "missing"}"\n'
    )
    cfg = load_producer_config(path, env={})
    assert cfg.kafka.client_kwargs() == {
        "bootstrap_servers": ["localhost:9092"],
        "client_id": "tweet-producer",
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "AWS_MSK_IAM",
    }
    assert not cfg.kafka.scram and cfg.secrets() == []
    check_login(cfg.kafka)  # nothing to check: it would otherwise try localhost:9092


@pytest.mark.parametrize(
    ("kafka", "expected"),
    [
        (
            'security_protocol = "SASL_PLAINTEXT"\nsasl_mechanism = "AWS_MSK_IAM"',
            ["kafka.security_protocol must be SASL_SSL with AWS_MSK_IAM"],
        ),
        (
            'security_protocol = "TLS"',
            ["kafka.security_protocol must be one of PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL "
             "(got 'TLS')"],
        ),
        (
            'security_protocol = "SASL_SSL"',
            ["kafka.sasl_username is required with security_protocol SASL_SSL",
             "kafka.sasl_password_file is required with security_protocol SASL_SSL"],
        ),
        (
            'security_protocol = "SASL_PLAINTEXT"\nsasl_mechanism = "PLAIN"\n'
            'sasl_username = "u"\nsasl_password_file = "/nonexistent"',
            ["kafka.sasl_mechanism must be one of SCRAM-SHA-512, SCRAM-SHA-256, AWS_MSK_IAM "
             "(got 'PLAIN')",
             "kafka.sasl_password_file cannot be read (No such file or directory: "
             "'/nonexistent')"],
        ),
        (
            'ssl_cafile = "/nonexistent/ca.pem"',
            ["kafka.ssl_cafile is not a readable file (got '/nonexistent/ca.pem')"],
        ),
        (
            'ssl_certfile = "/nonexistent/client.pem"',
            ["kafka.ssl_certfile must be a PEM file with the certificate and its key (No such "
             "file or directory: '/nonexistent/client.pem')"],
        ),
    ],
)  # fmt: skip
def test_kafka_security_bad_values(tmp_path: Path, kafka: str, expected: list[str]) -> None:
    assert producer_problems(tmp_path, f"[kafka]\n{kafka}\n") == expected


def test_a_certificate_without_its_key_is_refused(tmp_path: Path) -> None:
    ca = CertificateAuthority(tmp_path / "tls")
    problems = producer_problems(tmp_path, f'[kafka]\nssl_certfile = "{ca.cert}"\n')
    assert len(problems) == 1, problems
    assert problems[0].startswith("kafka.ssl_certfile must be a PEM file with the certificate and")
    assert str(ca.cert) in problems[0]


@pytest.mark.parametrize("mode", [0o644, 0o604, 0o641])
def test_a_password_file_others_can_access_is_refused(tmp_path: Path, mode: int) -> None:
    password_file = secret_file(tmp_path, mode=mode)
    problems = producer_problems(tmp_path, sasl_kafka(password_file))
    assert problems == [
        f"kafka.sasl_password_file must not be accessible by others "
        f"(mode {mode:o}: '{password_file}')"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "is empty"),
        ("  \n", "is empty"),
        ("first\nsecond\n", "must hold the password on one line"),
    ],
)
def test_bad_password_files_are_refused_without_being_shown(
    tmp_path: Path, text: str, problem: str
) -> None:
    password_file = secret_file(tmp_path, text, mode=0o600)
    problems = producer_problems(tmp_path, sasl_kafka(password_file))
    assert problems == [f"kafka.sasl_password_file {problem} ('{password_file}')"]


def test_cli_check_reads_the_password_file_and_never_prints_it(tmp_path: Path) -> None:
    """`--check` as the deployment runs it: a missing or exposed password file fails it."""
    password_file = secret_file(tmp_path, "check-Secret-41\n")
    path = tmp_path / "c.toml"
    path.write_text(sasl_kafka(password_file, extra="[sinks.console]\n"))
    exe = Path(sys.executable).parent / "tweet-consumer"

    def check() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(exe), "--config", str(path), "--check", "--log-level", "DEBUG"],
            capture_output=True,
            check=False,
            text=True,
            timeout=60,
        )

    for mode, status in ((0o640, 0), (0o600, 0), (0o644, 2)):
        password_file.chmod(mode)
        result = check()
        assert result.returncode == status, result.stderr
        assert "check-Secret-41" not in result.stdout + result.stderr
    assert "kafka.sasl_password_file must not be accessible by others" in result.stderr
    password_file.unlink()
    result = check()
    assert result.returncode == 2, result.stderr
    assert "config error: kafka.sasl_password_file cannot be read" in result.stderr
