"""Find the line a TOML key was written on, so errors can say FILE:LINE.

tomllib gives values but no positions; admins need to be told where a
mistake is. This scanner understands the parts of TOML that config and rule
files use (tables, arrays of tables, dotted and quoted keys) and maps each
key path to the first line that defines it. Array-of-tables entries are
addressed by index: ("rule", 2, "if", "subject").
"""

from __future__ import annotations

import re
from pathlib import Path

_ARRAY_HEADER = re.compile(r"^\s*\[\[\s*(.+?)\s*\]\]\s*(#.*)?$")
_TABLE_HEADER = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(#.*)?$")
_KEY_LINE = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_KEY_PART = re.compile(r"""[A-Za-z0-9_-]+|"([^"]*)"|'([^']*)'""")

KeyPath = tuple[str | int, ...]


def split_key(dotted: str) -> tuple[str, ...]:
    """Split ``a."b.c".d`` into ("a", "b.c", "d")."""
    parts = []
    for match in _KEY_PART.finditer(dotted):
        quoted = match.group(1) if match.group(1) is not None else match.group(2)
        parts.append(quoted if quoted is not None else match.group(0))
    return tuple(parts)


class KeyLines:
    """Line numbers of the keys and tables in one TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[KeyPath, int] = {}
        array_counts: dict[KeyPath, int] = {}  # by resolved path: [[levels.teams]] counts per level
        prefix: KeyPath = ()
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                in_multiline = not in_multiline
                if not in_multiline:
                    continue
            elif in_multiline:
                continue
            if match := _ARRAY_HEADER.match(line):
                resolved = self._resolve(split_key(match.group(1)), array_counts)
                index = array_counts.get(resolved, 0)
                array_counts[resolved] = index + 1
                prefix = resolved + (index,)
                self._remember(prefix, number)
            elif match := _TABLE_HEADER.match(line):
                prefix = self._resolve(split_key(match.group(1)), array_counts)
                self._remember(prefix, number)
            elif match := _KEY_LINE.match(line):
                self._remember(prefix + split_key(match.group(1)), number)

    @staticmethod
    def _resolve(path: tuple[str, ...], array_counts: dict[KeyPath, int]) -> KeyPath:
        """Insert the current index after each enclosing array of tables."""
        resolved: list[str | int] = []
        for depth in range(1, len(path) + 1):
            resolved.append(path[depth - 1])
            count = array_counts.get(tuple(resolved))
            if count and depth < len(path):
                resolved.append(count - 1)
        return tuple(resolved)

    def _remember(self, path: KeyPath, number: int) -> None:
        for depth in range(1, len(path) + 1):
            self._lines.setdefault(path[:depth], number)

    def line_of(self, path: KeyPath) -> int:
        """The line of ``path``, or of its closest defined parent; 1 if none."""
        for depth in range(len(path), 0, -1):
            if (found := self._lines.get(tuple(path[:depth]))) is not None:
                return found
        return 1


def format_path(path: KeyPath) -> str:
    """("levels", 1, "members") -> "levels[1].members"."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z0-9_-]+", part):
            out += f".{part}" if out else part
        else:
            out += f'."{part}"' if out else f'"{part}"'
    return out


def read_toml(path: Path) -> tuple[dict, KeyLines]:
    """Parse a TOML file; raises ``TomlSyntaxError`` with file and line on bad syntax."""
    import tomllib

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TomlSyntaxError(f"{path}:1: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise TomlSyntaxError(f"{path}:1: not UTF-8: {exc.reason}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        line = re.search(r"line (\d+)", str(exc))
        raise TomlSyntaxError(f"{path}:{line.group(1) if line else 1}: TOML syntax: {exc}") from None
    return data, KeyLines(text)


class TomlSyntaxError(ValueError):
    """A TOML file that cannot be read or parsed; the message is FILE:LINE: ...."""
