"""Typed role variables are converted where they are used: a static check over every role.

Why: `-e kafka_log_retention_hours=100` arrives as the string '100' and `-e flag=false` as the string
'false'. The argument specs accept them (they validate a converted copy) but the variable itself
stays a string, extra vars outrank set_fact, and a string misbehaves: 'false' is true in
`{% if flag %}`, '9093' != 9093 in a comparison or `unique`. So every use converts by the declared
type, and this test finds the uses that do not.

The rules, kept simple on purpose:

1. Typed variables: the options declared `type: bool`, `int` or `float` in any entry point of any
   roles/*/meta/argument_specs.yml (top-level options only: sub-options of list elements, such as a
   topic's partitions, are not variables). Variable names are global in Ansible and the role
   prefixes keep them unique, so a variable is checked in every role that uses it (the pipeline
   role's ports, for instance, are used by most roles).
2. Files: everything under a role's templates/, and the YAML files under tasks/, handlers/, vars/
   and defaults/.
3. A use is the variable's name as a whole word inside a Jinja expression: inside {{ }} or {% %}
   (templates and YAML strings alike), and anywhere in the values of when, changed_when,
   failed_when, until and that, which Ansible evaluates as bare expressions. Not uses: an
   attribute (item.partitions), a quoted string ('kafka_num_partitions', e.g. a vars lookup), the
   definition itself (a YAML key), comments, {% raw %} blocks, and the expressions of msg, fail_msg,
   success_msg and name, which only display the value (converting there would hide the raw wrong
   value from the message that reports it).
4. A use is converted when the first filter applied to the name is the conversion of its type:
   `name | int`, `name | bool`, `name | float`; `name | default(...) | int` counts too.

Every role under roles/ is one case and is checked strictly: a case fails with one line per
unconverted use (file, lines, variable and type), and a new role is checked as soon as it exists.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from conftest import ROOT

ROLES = ROOT / "roles"
TYPES = ("bool", "int", "float")
BARE_EXPRESSION_KEYS = {"when", "changed_when", "failed_when", "until", "that"}
DISPLAY_KEYS = {"msg", "fail_msg", "success_msg", "name"}

JINJA_BLOCK = re.compile(r"\{\{(.*?)\}\}|\{%(.*?)%\}", re.S)
JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.S)
RAW_BLOCK = re.compile(r"\{%-?\s*raw\s*-?%\}.*?\{%-?\s*endraw\s*-?%\}", re.S)


def typed_variables() -> dict[str, str]:
    """Variable name -> declared type, from every role's argument specs."""
    found: dict[str, str] = {}
    for spec_file in sorted(ROLES.glob("*/meta/argument_specs.yml")):
        specs = (yaml.safe_load(spec_file.read_text()) or {}).get("argument_specs") or {}
        for entry_point in specs.values():
            for name, option in ((entry_point or {}).get("options") or {}).items():
                if (option or {}).get("type") in TYPES:
                    found[name] = option["type"]
    return found


TYPED = typed_variables()
USE = re.compile(r"(?<![\w.'\"])(" + "|".join(map(re.escape, sorted(TYPED, key=len, reverse=True))) + r")(?![\w'\"])")


def converted(after: str, kind: str) -> bool:
    return re.match(r"\s*\|\s*(?:(?:default|d)\([^()]*\)\s*\|\s*)?" + kind + r"\b", after) is not None


def expression_violations(expression: str) -> list[str]:
    """The typed variables used in one Jinja expression without their conversion."""
    return [
        match.group(1)
        for match in USE.finditer(expression)
        if not converted(expression[match.end():], TYPED[match.group(1)])
    ]


def text_violations(text: str) -> list[str]:
    """Uses inside the {{ }} and {% %} blocks of a template or a YAML string."""
    text = JINJA_COMMENT.sub("", RAW_BLOCK.sub("", text))
    return [name for block in JINJA_BLOCK.finditer(text) for name in expression_violations(block.group(1) or block.group(2))]


def yaml_violations(node: Any, key: str | None = None) -> list[str]:
    if isinstance(node, dict):
        return [name for k, value in node.items() for name in yaml_violations(value, str(k))]
    if isinstance(node, list):
        return [name for item in node for name in yaml_violations(item, key)]
    if not isinstance(node, str) or key in DISPLAY_KEYS:
        return []
    if key in BARE_EXPRESSION_KEYS and "{{" not in node and "{%" not in node:
        return expression_violations(node)
    return text_violations(node)


def lines_of(text: str, name: str) -> str:
    """Where an unconverted use of name may be: the lines that mention it, except its definition."""
    numbers = [
        str(number)
        for number, line in enumerate(text.splitlines(), 1)
        if any(match.group(1) == name and not converted(line[match.end():], TYPED[name])
               for match in USE.finditer(line))
        and not re.match(r"\s*(#|" + name + r"\s*:)", line)
    ]
    return ",".join(numbers) or "?"


def role_violations(role: Path) -> list[str]:
    """'file:lines: variable (type)' for every unconverted use in one role (one entry per file and name)."""
    found: list[str] = []
    files = [path for path in sorted((role / "templates").rglob("*")) if path.is_file()]
    files += [path for sub in ("tasks", "handlers", "vars", "defaults") for path in sorted((role / sub).rglob("*.yml"))]
    for path in files:
        text = path.read_text()
        if path.suffix == ".yml" and "templates" not in path.relative_to(role).parts:
            names = yaml_violations(yaml.safe_load(text))
        else:
            names = text_violations(text)
        found += [f"{path.relative_to(ROOT)}:{lines_of(text, name)}: {name} ({TYPED[name]})"
                  for name in dict.fromkeys(names)]
    return found


def role_params() -> list[Any]:
    return [pytest.param(role, id=role.name) for role in sorted(path for path in ROLES.iterdir() if path.is_dir())]


def test_the_check_sees_typed_variables() -> None:
    """The control: the specs declare typed variables, and the rules tell a bad use from a good one."""
    assert TYPED.get("kafka_log_retention_hours") == "int" and TYPED.get("kafka_auto_create_topics") == "bool"
    assert text_violations("{% if kafka_auto_create_topics %}x{% endif %}") == ["kafka_auto_create_topics"]
    assert text_violations("{{ kafka_log_retention_hours | int + 1 }} {{ item.kafka_num_partitions }}") == []
    assert text_violations("{{ kafka_num_partitions | default(3) | int }} {{ 'kafka_num_partitions' }}") == []
    assert yaml_violations({"when": "kafka_auto_create_topics"}) == ["kafka_auto_create_topics"]
    assert yaml_violations({"fail_msg": "{{ kafka_num_partitions }}", "kafka_num_partitions": 3}) == []


@pytest.mark.parametrize("role", role_params())
def test_typed_variables_are_converted_where_used(role: Path) -> None:
    violations = role_violations(role)
    assert not violations, "used without | int / | bool / | float:\n" + "\n".join(violations)
