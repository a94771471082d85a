"""Generate examples/producer.toml and examples/consumer.toml from the declarations in `config`.

    python -m tweet_pipeline.examples            # rewrite the examples next to the package
    python -m tweet_pipeline.examples --check    # exit 1 if they are stale (tests do this too)
    python -m tweet_pipeline.examples --print producer

Every key is shown with its declared default, unless the declaration gives an example value
(then marked "example"); keys with no default and an example are shown commented out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from dataclasses import MISSING, fields
from pathlib import Path
from typing import Any

from tweet_pipeline.config import (
    ConsoleSinkConfig,
    ConsumerKafkaConfig,
    ConsumerMetricsConfig,
    ConsumerSettings,
    FileSinkConfig,
    ProducerKafkaConfig,
    ProducerMetricsConfig,
    ProducerSettings,
    ReplayConfig,
    S3SinkConfig,
    SourceSettings,
    SpoolConfig,
    StreamConfig,
)

# (TOML table, its declaration, a comment above the table)
Layout = list[tuple[str, type, str]]

PRODUCER: Layout = [
    ("kafka", ProducerKafkaConfig, ""),
    ("producer", ProducerSettings, ""),
    ("source", SourceSettings, ""),
    ("source.stream", StreamConfig, 'The X API v2 filtered stream (source.type = "stream").'),
    ("source.replay", ReplayConfig, 'A newline-delimited JSON file (source.type = "replay").'),
    ("spool", SpoolConfig, ""),
    ("metrics", ProducerMetricsConfig, ""),
]
CONSUMER: Layout = [
    ("kafka", ConsumerKafkaConfig, ""),
    ("consumer", ConsumerSettings, ""),
    (
        "sinks.console",
        ConsoleSinkConfig,
        "Enable one or more sinks; a sink table present is enabled unless `enabled = false`.",
    ),
    ("sinks.file", FileSinkConfig, ""),
    ("sinks.s3", S3SinkConfig, ""),
    ("metrics", ConsumerMetricsConfig, ""),
]
HEADERS = {
    "producer": [
        'tweet-producer configuration: every key, with its default unless marked "example".',
        "Generated from tweet_pipeline/config.py by `python -m tweet_pipeline.examples`: do not",
        "edit. Secrets are not kept here: the bearer token comes from $TWITTER_BEARER_TOKEN (see",
        "bearer_token_env) or from bearer_token_file, the Kafka password from",
        "kafka.sasl_password_file, the metrics password from metrics.basic_auth_password_file.",
    ],
    "consumer": [
        'tweet-consumer configuration: every key, with its default unless marked "example".',
        "Generated from tweet_pipeline/config.py by `python -m tweet_pipeline.examples`: do not",
        "edit. S3 credentials come from the standard AWS chain (instance profile, AWS_*",
        "environment variables), never from this file; the Kafka password comes from",
        "kafka.sasl_password_file, the metrics password from metrics.basic_auth_password_file.",
    ],
}
LAYOUTS = {"producer": PRODUCER, "consumer": CONSUMER}
EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
_COMMENT_COLUMN = 34


def toml_value(value: Any) -> str:
    """A TOML literal for a declared value (None is written as "": the loaders read it so)."""
    if value is None or isinstance(value, Path):
        value = "" if value is None else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, dict):
        items = ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items())
        return f"{{ {items} }}"
    if isinstance(value, list):
        parts = [toml_value(v) for v in value]
        multiline = any(isinstance(v, dict) for v in value)
        return (
            "[\n" + "".join(f"  {p},\n" for p in parts) + "]"
            if multiline
            else ("[" + ", ".join(parts) + "]")
        )
    raise TypeError(f"no TOML form for {value!r}")


def _line(text: str, comment: str) -> str:
    if not comment:
        return text
    return f"{text.ljust(_COMMENT_COLUMN - 1)} # {comment}"


def render(component: str) -> str:
    lines = [f"# {line}" for line in HEADERS[component]]
    for name, declaration, comment in LAYOUTS[component]:
        lines.append("")
        if comment:
            lines.append(f"# {comment}")
        lines.append(f"[{name}]")
        for f in fields(declaration):
            if not f.metadata.get("toml", True):
                continue
            if f.default is not MISSING:
                default: Any = f.default
            elif f.default_factory is not MISSING:
                default = f.default_factory()
            else:
                raise ValueError(f"{declaration.__name__}.{f.name} declares no default")
            doc = f.metadata.get("doc", "")
            example = f.metadata.get("example")
            if example is None:
                lines.append(_line(f"{f.name} = {toml_value(default)}", doc))
            elif default is None:
                lines.append(_line(f"# {f.name} = {toml_value(example)}", f"example; {doc}"))
            else:
                shown = f"default {toml_value(default)}" if default not in ("", []) else ""
                note = "; ".join(part for part in ("example", shown, doc) if part)
                value = toml_value(example)
                if "\n" in value:  # a multi-line list: the comment goes above it
                    lines.append(f"# {f.name}: {note}")
                    lines.append(f"{f.name} = {value}")
                else:
                    lines.append(_line(f"{f.name} = {value}", note))
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tweet_pipeline.examples", description=__doc__)
    parser.add_argument("--dir", type=Path, default=EXAMPLES_DIR, help="examples directory")
    parser.add_argument("--check", action="store_true", help="exit 1 if an example is stale")
    parser.add_argument("--print", choices=sorted(LAYOUTS), help="print one example and exit")
    args = parser.parse_args(argv)
    if args.print:
        sys.stdout.write(render(args.print))
        return 0
    stale = []
    for component in LAYOUTS:
        path = args.dir / f"{component}.toml"
        text = render(component)
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(str(path))
        else:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"stale (run python -m tweet_pipeline.examples): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
