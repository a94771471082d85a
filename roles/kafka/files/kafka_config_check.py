#!/usr/bin/env python3
"""Checks a rendered Kafka configuration file before it replaces the live one (the template tasks'
validate). Standard library only: it runs with the host's python3, beside java_properties.py (the
common role's files/: the .properties reader and the log4j check it shares with the zookeeper role's
checker). Exit status 0: valid; 1: not, with the reason on stderr.

  kafka_config_check.py server --kafka-home DIR [--extra-keys k1,k2] FILE
      server.properties, parsed by Kafka itself: `kafka.tools.StorageTool info -c FILE` builds the
      broker's KafkaConfig (every type, range and cross-setting check the broker makes at start-up)
      and then only reads meta.properties in the log dirs. It writes nothing. Its exit status is 1
      both for a rejected configuration (an exception, on stderr) and for a storage state it reports
      ("Found problem: ... is not formatted", on stdout): only the first is a rejection here.
      Verified with Kafka 3.9 and 4.0.
  kafka_config_check.py log4j FILE     log4j.properties of Kafka 3.x (reload4j).
  kafka_config_check.py log4j2 FILE    log4j2.yaml of Kafka 4.x (block-style YAML only).
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

from java_properties import LEVELS, log4j_problems, read_properties

# The role variable behind each server.properties entry the role renders, for the messages.
ROLE_VARIABLES = {
    "log.dirs": "kafka_data_dirs",
    "num.partitions": "kafka_num_partitions",
    "default.replication.factor": "kafka_default_replication_factor",
    "offsets.topic.replication.factor": "kafka_default_replication_factor",
    "transaction.state.log.replication.factor": "kafka_default_replication_factor",
    "min.insync.replicas": "kafka_min_insync_replicas",
    "transaction.state.log.min.isr": "kafka_min_insync_replicas",
    "auto.create.topics.enable": "kafka_auto_create_topics",
    "log.retention.hours": "kafka_log_retention_hours",
    "log.retention.ms": "kafka_log_retention_hours",  # Kafka checks the hours converted to ms
    "node.id": "kafka_node_id",
    "broker.id": "kafka_node_id",
    "zookeeper.connect": "the pipeline_zookeeper_group hosts, pipeline_zookeeper_port, kafka_zookeeper_chroot",
    "controller.quorum.voters": "pipeline_kafka_controller_port",
    "controller.quorum.bootstrap.servers": "pipeline_kafka_controller_port",
    "listeners": "pipeline_kafka_port / pipeline_kafka_controller_port",
    "advertised.listeners": "kafka_advertised_host / pipeline_kafka_port",
}


class Invalid(Exception):
    pass


# --- server.properties ----------------------------------------------------------------------------


def check_server(path: str, kafka_home: str, extra_keys: set[str]) -> None:
    command = ["java", "-Xmx256m", "-XX:+UseSerialGC", "-cp", f"{kafka_home}/libs/*",
               "kafka.tools.StorageTool", "info", "-c", path]
    try:
        run = subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise Invalid(f"cannot run Kafka's configuration parser ({' '.join(command[:1] + command[5:])}): {exc}")
    if run.returncode == 0:
        return
    exception = next((line for line in run.stderr.splitlines() if line.startswith("Exception in thread")), None)
    if exception is None and "Found problem:" in run.stdout:
        return  # the configuration parsed; the log dirs are not formatted yet (or not created): not ours
    if exception is None:
        tail = "\n".join((run.stderr or run.stdout).strip().splitlines()[-5:])
        raise Invalid(f"Kafka's configuration parser failed (exit status {run.returncode}):\n{tail}")
    message = re.sub(r'^Exception in thread "[^"]*" ', "", exception)
    message = re.sub(r"^[\w.$]+\.(\w+Exception): ", r"\1: ", message)
    key = re.search(r"configuration [`\"]?([\w.-]+)|^\w+: (?:requirement failed: )?(?:The )?([a-z]+\.[\w.-]+)", message)
    name = next((group for group in key.groups() if group), None) if key else None
    hint = ""
    if name in extra_keys:
        hint = f" (set through kafka_server_properties_extra['{name}'])"
    elif name in ROLE_VARIABLES:
        hint = f" (role variable: {ROLE_VARIABLES[name]})"
    raise Invalid(f"Kafka rejects this server.properties: {message}{hint}")


# --- log4j.properties -----------------------------------------------------------------------------


def check_log4j(path: str) -> None:
    props, _ = read_properties(Path(path).read_text())
    problems = log4j_problems(props)
    if problems:
        raise Invalid("invalid log4j configuration:\n  " + "\n  ".join(problems))


# --- log4j2.yaml ----------------------------------------------------------------------------------

KEY = re.compile(r"""^("(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s'"#\-\[\]{}&*!|>%@`][^#]*?|-[^\s][^#]*?)\s*:(?:\s+|$)(.*)$""")


def yaml_lines(text: str) -> list[tuple[int, str, int]]:
    lines = []
    for number, raw in enumerate(text.splitlines(), 1):
        if "\t" in raw[: len(raw) - len(raw.lstrip())]:
            raise Invalid(f"line {number}: tab in indentation")
        content = raw.strip()
        if not content or content.startswith("#") or content in ("---", "..."):
            continue
        lines.append((len(raw) - len(raw.lstrip()), content, number))
    return lines


def yaml_scalar(text: str, number: int) -> Any:
    if text.startswith('"'):
        match = re.match(r'("(?:[^"\\]|\\.)*")\s*(#.*)?$', text)
        if not match:
            raise Invalid(f"line {number}: bad double-quoted string")
        return json.loads(match.group(1))
    if text.startswith("'"):
        match = re.match(r"'((?:[^']|'')*)'\s*(#.*)?$", text)
        if not match:
            raise Invalid(f"line {number}: bad single-quoted string")
        return match.group(1).replace("''", "'")
    value = re.split(r"\s+#", text, maxsplit=1)[0].strip()
    if value in ("[]", "{}"):
        return [] if value == "[]" else {}
    if value[:1] in tuple("[]{}&*!|>%@`"):
        raise Invalid(f"line {number}: '{value[:1]}' (flow style, anchor, tag or block scalar) is not supported here")
    return value


def yaml_node(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][1] == "-" or lines[i][1].startswith("- "):
        return yaml_sequence(lines, i, indent)
    return yaml_mapping(lines, i, indent)


def yaml_value_after(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[Any, int]:
    """The block under a "key:" or "-" with nothing after it: more indented, or a sequence at the same indent."""
    if i < len(lines) and (lines[i][0] > indent or (lines[i][0] == indent and lines[i][1].startswith("-"))):
        return yaml_node(lines, i, lines[i][0])
    return None, i


def yaml_mapping(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[dict[str, Any], int]:
    result: dict[str, Any] = {}
    while i < len(lines) and lines[i][0] >= indent:
        column, text, number = lines[i]
        if column > indent:
            raise Invalid(f"line {number}: unexpected indentation")
        if text == "-" or text.startswith("- "):
            break
        match = KEY.match(text)
        if not match:
            raise Invalid(f"line {number}: expected 'key: value'")
        key = yaml_scalar(match.group(1), number) if match.group(1)[0] in "'\"" else match.group(1)
        if key in result:
            raise Invalid(f"line {number}: duplicate key {key}")
        if match.group(2):
            result[key], i = yaml_scalar(match.group(2), number), i + 1
        else:
            result[key], i = yaml_value_after(lines, i + 1, indent)
    return result, i


def yaml_sequence(lines: list[tuple[int, str, int]], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines) and lines[i][0] == indent and (lines[i][1] == "-" or lines[i][1].startswith("- ")):
        _, text, number = lines[i]
        rest = text[1:].lstrip()
        if not rest:
            item, i = yaml_value_after(lines, i + 1, indent)
        elif KEY.match(rest) and not rest.startswith(("'", '"')) or re.match(r"""^("[^"]*"|'[^']*')\s*:""", rest):
            inner = indent + len(text) - len(rest)
            lines[i] = (inner, rest, number)
            item, i = yaml_mapping(lines, i, inner)
        else:
            item, i = yaml_scalar(rest, number), i + 1
        items.append(item)
    if i < len(lines) and lines[i][0] > indent:
        raise Invalid(f"line {lines[i][2]}: unexpected indentation")
    return items, i


def load_yaml(text: str) -> Any:
    try:
        import yaml  # PyYAML, when the host has it
    except ImportError:
        lines = yaml_lines(text)
        if not lines:
            return None
        document, end = yaml_node(lines, 0, lines[0][0])
        if end < len(lines):
            raise Invalid(f"line {lines[end][2]}: unexpected content")
        return document
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise Invalid(f"not valid YAML: {exc}") from exc


def child(mapping: Any, name: str) -> Any:
    """Log4j2 element names are case-insensitive."""
    if not isinstance(mapping, dict):
        return None
    return next((value for key, value in mapping.items() if str(key).lower() == name.lower()), None)


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [] if value is None else [value]


def check_log4j2(path: str) -> None:
    config = child(load_yaml(Path(path).read_text()), "Configuration")
    if not isinstance(config, dict):
        raise Invalid("invalid log4j2 configuration: no Configuration mapping")
    problems = []
    appenders = child(config, "Appenders")
    names = set()
    if not isinstance(appenders, dict) or not appenders:
        problems.append("Configuration.Appenders: no appender")
    else:
        for kind, definitions in appenders.items():
            for definition in as_list(definitions):
                name = child(definition, "name")
                if not name:
                    problems.append(f"Appenders.{kind}: an appender without a name")
                names.add(name)
    loggers = child(config, "Loggers")
    root = child(loggers, "Root")
    if not isinstance(root, dict):
        problems.append("Configuration.Loggers.Root: missing")
    for where, logger in [("Root", root)] + [(f"Logger {child(item, 'name')}", item)
                                             for item in as_list(child(loggers, "Logger"))]:
        if not isinstance(logger, dict):
            continue
        if where != "Root" and not child(logger, "name"):
            problems.append("Loggers.Logger: a logger without a name")
        level = child(logger, "level")
        if (level is not None or where == "Root") and str(level).upper() not in LEVELS:
            problems.append(f"{where}: unknown level '{level}' (one of {', '.join(sorted(LEVELS))})")
        for ref in as_list(child(logger, "AppenderRef")):
            if child(ref, "ref") not in names:
                problems.append(f"{where}: AppenderRef '{child(ref, 'ref')}' names no appender")
    if problems:
        raise Invalid("invalid log4j2 configuration:\n  " + "\n  ".join(problems))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["server", "log4j", "log4j2"])
    parser.add_argument("file")
    parser.add_argument("--kafka-home", default="/opt/kafka")
    parser.add_argument("--extra-keys", default="", help="server.properties keys set by kafka_server_properties_extra")
    args = parser.parse_args()
    try:
        if args.kind == "server":
            check_server(args.file, args.kafka_home, {key for key in args.extra_keys.split(",") if key})
        elif args.kind == "log4j":
            check_log4j(args.file)
        else:
            check_log4j2(args.file)
    except Invalid as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
