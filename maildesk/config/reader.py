"""Read one TOML table into a settings dataclass from its fields: each key, default and allowed value once.

A section is a frozen dataclass whose fields are its keys. The field's type
says how its value is read (``Literal[...]`` is a choice, ``timedelta`` a
duration, ``Path`` a path relative to the config file, ``tuple[str, ...]`` a
list of strings); :func:`setting` adds what the type cannot say (an address,
a check, a reader of its own). Every problem is kept with its line, so that
``load_settings`` reports them all as ``FILE:LINE: key: what is wrong``.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from maildesk.addresses import is_address
from maildesk.durations import parse_duration
from maildesk.tomlpos import KeyLines, KeyPath, format_path

_SECRET_KEYS = frozenset({"password", "secret", "token", "api_key"})


@dataclasses.dataclass(frozen=True)
class Key:
    """How one field is read beyond its type."""

    address: bool = False  # an email address, or a list of them (lower-cased)
    path: bool = False  # a str field holding a path: resolved against the config file ("" stays "")
    check: Callable[[Any], str | None] | None = None  # what is wrong with a value, or None
    read: Callable[[Reader, dict, KeyPath, Any], Any] | None = None  # a key with a reader of its own
    later: bool = False  # a key of the table the loader reads itself (it needs other sections)
    computed: bool = False  # no key: the loader gives the value (e.g. host and port from ``listen``)


def setting(default: Any = dataclasses.MISSING, **how: Any) -> Any:
    """A dataclass field that is a config key: its default, and how it is read (see :class:`Key`)."""
    return dataclasses.field(default=default, metadata={"key": Key(**how)})


def _key(spec: dataclasses.Field) -> Key:
    return spec.metadata.get("key", Key())


def keys_of(section: type) -> set[str]:
    """The keys a section's table may hold."""
    return {spec.name for spec in dataclasses.fields(section) if not _key(spec).computed}


@cache
def _hints(section: type) -> dict[str, Any]:
    return get_type_hints(section)


class Reader:
    """Reads tables of one config file, checking types and remembering problems with their line."""

    def __init__(self, path: Path, lines: KeyLines, problems: list[str]) -> None:
        self.path = path
        self.lines = lines
        self.problems = problems
        self.base = path.resolve().parent

    def fail(self, key: KeyPath, message: str) -> None:
        self.problems.append(f"{self.path}:{self.lines.line_of(key)}: {format_path(key)}: {message}")

    def resolve(self, value: str) -> Path:
        """A path from the config file: relative to the file's folder, ``~`` expanded."""
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base / path

    def table(self, data: Any, key: KeyPath, allowed: set[str]) -> dict:
        if not isinstance(data, dict):
            self.fail(key, "must be a table")
            return {}
        for name in data:
            if name in allowed:
                continue
            if name in _SECRET_KEYS or f"{name}_env" in allowed:
                # Say why, not just "unknown": the admin meant it, and it must move out of the file.
                hint = f"{name}_env or {name}_file" if f"{name}_env" in allowed else "a *_env or *_file key"
                self.fail(key + (name,), f"secrets never sit in the config file: use {hint}")
            else:
                self.fail(key + (name,), f"unknown key (expected one of: {', '.join(sorted(allowed))})")
        return data

    def get(self, data: dict, key: KeyPath, kind: type | tuple[type, ...], default: Any) -> Any:
        name = key[-1]
        if name not in data:
            return default
        value = data[name]
        if isinstance(value, bool) and kind in (int, (int,)):
            self.fail(key, f"must be a whole number, not {value!r}")
            return default
        if not isinstance(value, kind):
            expected = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
            self.fail(
                key,
                f"must be a {expected.replace('str', 'string').replace('bool', 'boolean')}, not {value!r}",
            )
            return default
        return value

    def string_list(self, data: dict, key: KeyPath, default: tuple = ()) -> tuple[str, ...]:
        value = self.get(data, key, (list, str), default)
        if isinstance(value, str):
            value = [value]
        if not all(isinstance(item, str) for item in value):
            self.fail(key, "must be a list of strings")
            return tuple(default)
        return tuple(value)

    def address(self, data: dict, key: KeyPath, default: str) -> str:
        value = self.get(data, key, str, default)
        if value and not is_address(value):
            self.fail(key, f"{value!r} is not an email address")
        return value.lower()

    def addresses(self, data: dict, key: KeyPath) -> tuple[str, ...]:
        values = self.string_list(data, key)
        for value in values:
            if not is_address(value):
                self.fail(key, f"{value!r} is not an email address")
        return tuple(v.lower() for v in values)

    def duration(self, data: dict, key: KeyPath, default: timedelta | None) -> timedelta | None:
        value = self.get(data, key, str, None)
        if value is None:
            return default
        try:
            return parse_duration(value)
        except ValueError as exc:
            self.fail(key, str(exc))
            return default

    def choice(self, data: dict, key: KeyPath, choices: tuple[str, ...], default: str) -> str:
        value = self.get(data, key, str, default)
        if value not in choices:
            self.fail(key, f"{value!r} is not one of: {', '.join(choices)}")
            return default
        return value

    def section(self, data: Any, key: KeyPath, section: type, *, extra: frozenset[str] = frozenset()) -> dict:
        """The table at ``key``, its unknown keys reported: the section's keys and ``extra`` are known."""
        return self.table(data, key, keys_of(section) | extra)

    def fields(self, table: dict, key: KeyPath, section: type, **given: Any) -> Any:
        """An instance of ``section`` from ``table``: the ``given`` values, then each key by its field."""
        values = dict(given)
        for spec in dataclasses.fields(section):
            how = _key(spec)
            if spec.name in values or how.computed or how.later:
                continue
            default = None if spec.default is dataclasses.MISSING else spec.default
            values[spec.name] = self._field(
                table, key + (spec.name,), _hints(section)[spec.name], default, how
            )
        return section(**values)

    def _field(self, table: dict, key: KeyPath, kind: Any, default: Any, how: Key) -> Any:
        if how.read is not None:
            return how.read(self, table, key, default)
        value = self._typed(table, key, kind, default, how)
        if how.check is not None and key[-1] in table:
            problem = how.check(value)
            if problem is not None:
                self.fail(key, problem)
                return default
        return value

    def _typed(self, table: dict, key: KeyPath, kind: Any, default: Any, how: Key) -> Any:
        optional = get_origin(kind) in (Union, types.UnionType) and type(None) in get_args(kind)
        if optional:
            kind = next(arg for arg in get_args(kind) if arg is not type(None))
        if get_origin(kind) is Literal:
            return self.choice(table, key, get_args(kind), default)
        if kind is timedelta:
            return self.duration(table, key, default)
        if kind is Path:
            value = self.get(table, key, str, None) or (str(default) if default is not None else None)
            return self.resolve(value) if value else None
        if get_origin(kind) is tuple:
            return self.addresses(table, key) if how.address else self.string_list(table, key, default)
        if kind is str and how.address:
            return self.address(table, key, default)
        value = self.get(table, key, kind, default)
        if how.path and value:
            return str(self.resolve(value))
        return value
