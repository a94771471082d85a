"""Filter plugins `to_toml`, which renders a mapping as a TOML document (the apps' config format), and
`from_toml`, which parses one (tomllib).

Tables become [sections] (nested ones [a.b]); lists of mappings in a table become inline tables;
strings, integers, floats, booleans and lists of them become TOML values. Enough for the configs
the roles write, and checked by tests/test_toml_filter.py with tomllib.
"""

from __future__ import annotations

import json
import math
import tomllib
from collections.abc import Mapping
from typing import Any

from ansible.errors import AnsibleFilterError


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise AnsibleFilterError(f"to_toml: {value} has no TOML form here")
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)  # a JSON string is a valid TOML basic string
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise AnsibleFilterError(f"to_toml: cannot render {type(value).__name__} {value!r}")


def _key(key: Any) -> str:
    text = str(key)
    if text and all(c.isalnum() or c in "-_" for c in text):
        return text
    return json.dumps(text)


def _table(data: Mapping[str, Any], path: list[str], out: list[str]) -> None:
    scalars = {k: v for k, v in data.items() if not isinstance(v, Mapping)}
    tables = {k: v for k, v in data.items() if isinstance(v, Mapping)}
    if path and (scalars or not tables):
        out.append(f"\n[{'.'.join(_key(p) for p in path)}]")
    for key, value in scalars.items():
        if value is None:
            continue  # an unset option: the application's default applies
        out.append(f"{_key(key)} = {_value(value)}")
    for key, value in tables.items():
        _table(value, [*path, key], out)


def to_toml(data: Mapping[str, Any]) -> str:
    """Render data (a mapping of tables) as a TOML document."""
    if not isinstance(data, Mapping):
        raise AnsibleFilterError("to_toml expects a mapping")
    out: list[str] = []
    _table(data, [], out)
    return "\n".join(out).lstrip("\n") + "\n"


def from_toml(text: str) -> dict[str, Any]:
    """Parse a TOML document (for example a deployed configuration read with slurp)."""
    try:
        return tomllib.loads(str(text))
    except tomllib.TOMLDecodeError as exc:
        raise AnsibleFilterError(f"from_toml: {exc}") from exc


class FilterModule:
    def filters(self) -> dict[str, Any]:
        return {"to_toml": to_toml, "from_toml": from_toml}
