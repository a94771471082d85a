"""Java .properties files and the log4j 1.x (reload4j) configuration written in them: the reader and
the log4j check shared by the configuration checkers of the kafka and zookeeper roles
(kafka_config_check.py, zookeeper_config_check.py), which import it from their own directory.
Standard library only: it runs with the host's python3.
"""

from __future__ import annotations

import re

# Levels of log4j 1.x and log4j2.
LEVELS = {"ALL", "TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL", "OFF"}
JAVA_CLASS = re.compile(r"^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)+$")
ROOT_LOGGERS = ("log4j.rootLogger", "log4j.rootCategory")


def read_properties(text: str) -> tuple[dict[str, str], list[str]]:
    """Java .properties (comments # !, continuation lines, '=' ':' or blank as the separator); and the
    keys set more than once (the last value wins, as in Java)."""
    result: dict[str, str] = {}
    duplicates: list[str] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip() if not logical else raw.lstrip()
        if not logical and (not line or line[0] in "#!"):
            continue
        if (len(line) - len(line.rstrip("\\"))) % 2 == 1:
            logical += line[:-1]
            continue
        logical += line
        match = re.match(r"((?:\\.|[^=:\s\\])+)\s*[=:\s]?\s*(.*)$", logical)
        if match:
            if match.group(1) in result:
                duplicates.append(match.group(1))
            result[match.group(1)] = match.group(2).strip()
        logical = ""
    return result, duplicates


def log4j_problems(props: dict[str, str]) -> list[str]:
    """What log4j 1.x would refuse or ignore: a missing root logger, unknown levels, loggers naming an
    appender that is not defined, appender and layout classes that are not Java class names."""
    problems = []
    roots = [key for key in ROOT_LOGGERS if key in props]
    if not roots:
        problems.append("no log4j.rootLogger")
    for key, value in props.items():
        if key in roots or key.startswith(("log4j.logger.", "log4j.category.")):
            level, *appenders = [part.strip() for part in value.split(",")]
            allowed = LEVELS if key in roots else LEVELS | {"", "INHERITED", "NULL"}
            if level.upper() not in allowed:
                problems.append(f"{key}: unknown level '{level}' (one of {', '.join(sorted(LEVELS))})")
            problems += [f"{key}: appender '{name}' is not defined (no log4j.appender.{name})"
                         for name in appenders if f"log4j.appender.{name}" not in props]
        elif key == "log4j.threshold" and value.upper() not in LEVELS:
            problems.append(f"{key}: unknown level '{value}'")
        elif re.fullmatch(r"log4j\.appender\.[^.]+(\.layout)?", key) and not JAVA_CLASS.match(value):
            problems.append(f"{key}: '{value}' is not a Java class name")
    return problems
