"""Reading and validating TOML configuration tables.

`Table` wraps one TOML table and records every problem it meets as a line such as
``producer.acks must be one of 0, 1, all (got 'banana')``. A table may carry its declaration
(the config dataclass, `tweet_pipeline.config`): a value read without an explicit default then
defaults to the declared one, so each default is written once. Loaders read everything they need,
then call `Table.finish()` (which also reports unknown keys, i.e. typos) and raise one
`ConfigError` carrying all problems, so an operator sees every bad value at once.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, fields, is_dataclass
from pathlib import Path
from typing import Any, TypeVar, cast

_N = TypeVar("_N", int, float)
_DECLARED: Any = object()  # "use the declared default"

_HOST_PORT = re.compile(r"^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
_TOPIC = re.compile(r"^[A-Za-z0-9._-]{1,249}$")


class ConfigError(Exception):
    """One or more configuration problems; `problems` holds one message per bad value."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(self.problems))


def read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError([f"cannot read {path}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"cannot read {path}: {exc.strerror}"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path} is not valid TOML: {exc}"]) from None


def _show(value: object) -> str:
    return repr(value)


def declared_defaults(declaration: type | None) -> dict[str, Any]:
    """Each TOML key of a config dataclass and its default (fields with ``toml=False`` skipped)."""
    if declaration is None:
        return {}
    assert is_dataclass(declaration), declaration
    defaults: dict[str, Any] = {}
    for f in fields(declaration):
        if not f.metadata.get("toml", True):
            continue
        if f.default is not MISSING:
            defaults[f.name] = f.default
        elif f.default_factory is not MISSING:
            defaults[f.name] = f.default_factory()
    return defaults


class Table:
    """A view on one TOML table that validates values and collects problems."""

    def __init__(
        self,
        data: Mapping[str, Any],
        path: str,
        problems: list[str],
        declaration: type | None = None,
    ) -> None:
        self._data = data
        self._path = path
        self._defaults = declared_defaults(declaration)
        self._seen: set[str] = set()
        self._children: list[Table] = []
        self.problems = problems

    def name(self, key: str) -> str:
        return f"{self._path}.{key}" if self._path else key

    def has(self, key: str) -> bool:
        return key in self._data

    def error(self, key: str, message: str) -> None:
        self.problems.append(f"{self.name(key)} {message}")

    def _get(self, key: str) -> Any:
        self._seen.add(key)
        return self._data.get(key)

    def default(self, key: str, default: Any = _DECLARED) -> Any:
        """`default` if given, else the declared default of `key` (a KeyError is a bug)."""
        if default is _DECLARED:
            return self._defaults[key]
        return default

    def table(self, key: str, declaration: type | None = None) -> Table:
        raw = self._get(key)
        if raw is None:
            raw = {}
        elif not isinstance(raw, Mapping):
            self.error(key, f"must be a table (got {_show(raw)})")
            raw = {}
        child = Table(raw, self.name(key), self.problems, declaration)
        self._children.append(child)
        return child

    def string(
        self,
        key: str,
        default: str = _DECLARED,
        *,
        choices: Sequence[str] | None = None,
        nonempty: bool = False,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
    ) -> str:
        default = cast(str, self.default(key, default))
        raw = self._get(key)
        if raw is None:
            return default
        if not isinstance(raw, str):
            self.error(key, f"must be a string (got {_show(raw)})")
            return default
        if choices is not None and raw not in choices:
            self.error(key, f"must be one of {', '.join(choices)} (got {_show(raw)})")
            return default
        if nonempty and not raw.strip():
            self.error(key, "must not be empty")
            return default
        if pattern is not None and raw and not pattern.match(raw):
            self.error(key, f"must be {hint or 'well-formed'} (got {_show(raw)})")
            return default
        return raw

    def optional_string(self, key: str) -> str | None:
        if self._data.get(key) in (None, ""):
            self._seen.add(key)
            return None
        return self.string(key, "")

    def integer(
        self,
        key: str,
        default: int = _DECLARED,
        *,
        minimum: int | None = None,
        maximum: int | None = None,
    ) -> int:
        default = cast(int, self.default(key, default))
        raw = self._get(key)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int):
            self.error(key, f"must be an integer (got {_show(raw)})")
            return default
        return self._bounded(key, raw, default, minimum, maximum)

    def number(
        self,
        key: str,
        default: float = _DECLARED,
        *,
        minimum: float | None = None,
        maximum: float | None = None,
    ) -> float:
        default = cast(float, self.default(key, default))
        raw = self._get(key)
        if raw is None:
            return default
        if isinstance(raw, bool) or not isinstance(raw, int | float):
            self.error(key, f"must be a number (got {_show(raw)})")
            return default
        return self._bounded(key, float(raw), default, minimum, maximum)

    def _bounded(
        self, key: str, value: _N, default: _N, minimum: _N | None, maximum: _N | None
    ) -> _N:
        if minimum is not None and value < minimum:
            self.error(key, f"must be >= {minimum} (got {_show(value)})")
            return default
        if maximum is not None and value > maximum:
            self.error(key, f"must be <= {maximum} (got {_show(value)})")
            return default
        return value

    def boolean(self, key: str, default: bool = _DECLARED) -> bool:
        default = cast(bool, self.default(key, default))
        raw = self._get(key)
        if raw is None:
            return default
        if not isinstance(raw, bool):
            self.error(key, f"must be true or false (got {_show(raw)})")
            return default
        return raw

    def string_list(
        self,
        key: str,
        default: Sequence[str] = _DECLARED,
        *,
        pattern: re.Pattern[str] | None = None,
        hint: str = "",
    ) -> list[str]:
        default = cast(Sequence[str], self.default(key, default))
        raw = self._get(key)
        if raw is None:
            return list(default)
        if isinstance(raw, str):
            raw = [raw]
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            self.error(key, f"must be a list of strings (got {_show(raw)})")
            return list(default)
        if pattern is not None:
            bad = [v for v in raw if not pattern.match(v)]
            if bad:
                self.error(key, f"must contain only {hint} (got {_show(bad[0])})")
                return list(default)
        return list(raw)

    def raw(self, key: str) -> Any:
        return self._get(key)

    def finish(self) -> None:
        """Report unknown keys here and in every child table read through `table()`."""
        for key in self._data:
            if key not in self._seen:
                self.problems.append(f"{self.name(key)} is not a known setting")
        for child in self._children:
            child.finish()


def host_port_list(table: Table, key: str, default: Sequence[str] = _DECLARED) -> list[str]:
    values = table.string_list(key, default, pattern=_HOST_PORT, hint="host:port entries")
    if not values:
        table.error(key, "must list at least one host:port")
    for value in values:
        match = _HOST_PORT.match(value)
        if match and not 0 < int(match.group(2)) < 65536:
            table.error(key, f"has a port out of range (got {_show(value)})")
    return values


def topic_name(table: Table, key: str, default: str = _DECLARED) -> str:
    return table.string(
        key,
        default,
        nonempty=True,
        pattern=_TOPIC,
        hint="a Kafka topic name ([A-Za-z0-9._-], at most 249 characters)",
    )


def path_value(table: Table, key: str, default: str = _DECLARED) -> Path:
    value = table.string(key, str(table.default(key, default)), nonempty=True)
    path = Path(value)
    if not path.is_absolute() and value:
        # Relative paths are resolved against the working directory; systemd units set it.
        path = Path.cwd() / path
    return path
