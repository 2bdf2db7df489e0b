"""Read rule files into a RuleSet, reporting every problem as FILE:LINE: rule "NAME": KEY: ...."""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, Sequence
from pathlib import Path

from maildesk.addresses import is_address
from maildesk.config import CATEGORIES, KINDS, LANGUAGES, URGENCIES
from maildesk.rules.conditions import CONDITIONS, ConditionError, Predicate, show
from maildesk.rules.ruleset import Rule, RulesError, RuleSet
from maildesk.tomlpos import KeyLines, TomlSyntaxError, format_path, read_toml
from maildesk.types import RuleEffect

_RULE_KEYS = ("name", "if", "set", "forward", "answer", "drop", "stop")
_SET_CHOICES = {"category": CATEGORIES, "kind": KINDS, "urgency": URGENCIES, "language": LANGUAGES}
_SET_KEYS = ("category", "kind", "urgency", "application", "level", "team", "assignee", "language", "tags")

SubKey = tuple[str | int, ...]
_Origin = tuple[Path, int, str]  # file, index of the rule in it, "FILE:LINE"


def load_ruleset(
    files: Sequence[Path],
    *,
    levels: Collection[int],
    articles: Collection[str] | None,
    members: Collection[str] | None = None,
    own_addresses: Collection[str] | None = None,
    articles_unverified: str | None = None,
    teams: Mapping[str, tuple[str, int]] | None = None,
    applications: Collection[str] | None = None,
    unpublished_articles: Mapping[str, str] | None = None,
) -> RuleSet:
    """Load and compile the rules of ``files`` (TOML files, or directories of ``*.toml``) in order.

    ``levels`` are the level ids ``set.level`` may name; ``articles`` the
    knowledge-base slugs ``answer`` may name, or None to skip that check;
    ``members`` the technicians ``set.assignee`` may name, and
    ``own_addresses`` the desk's addresses ``forward`` may not name (the
    desk would mail itself), each None to skip that check. When
    ``articles`` is known to be incomplete, ``articles_unverified`` says
    why, and a slug missing from it is reported as unverified rather than unknown.
    ``unpublished_articles`` maps the slug of each draft or retired article
    to its status: an ``answer`` naming one is a problem (it would answer nothing).
    ``teams`` maps each team's case-folded name to (its name, its level) for
    ``set.team``; ``applications`` is the catalogue: a ``set.application``
    outside a non-empty one is a warning (``RuleSet.warnings``), not an error.
    Raises ``RulesError`` listing every problem found in every file.
    """
    problems: list[str] = []
    warnings: list[str] = []
    rules: list[Rule] = []
    origins: dict[str, _Origin] = {}
    sources: list[Path] = []
    for path in _rule_files(files):
        try:
            data, lines = read_toml(path)
        except TomlSyntaxError as exc:
            problems.append(str(exc))
            continue
        sources.append(path)
        reader = _FileReader(
            path,
            lines,
            problems,
            frozenset(levels),
            None if articles is None else frozenset(articles),
            origins,
            members=None if members is None else frozenset(a.lower() for a in members),
            own_addresses=None if own_addresses is None else frozenset(a.lower() for a in own_addresses),
            articles_unverified=articles_unverified,
            unpublished_articles=unpublished_articles,
            teams=teams,
            applications=None if not applications else {name.casefold(): name for name in applications},
            warnings=warnings,
        )
        rules.extend(reader.read(data))
    if problems:
        raise RulesError(problems)
    return RuleSet(rules=tuple(rules), files=tuple(sources), warnings=tuple(warnings))


def _rule_files(entries: Sequence[Path]) -> Iterator[Path]:
    """Each file once, in order; a directory gives its *.toml files sorted by name."""
    seen: set[Path] = set()
    for entry in map(Path, entries):
        found = sorted(p for p in entry.glob("*.toml") if p.is_file()) if entry.is_dir() else [entry]
        for path in found:  # a missing file is reported by read_toml
            if path.resolve() not in seen:
                seen.add(path.resolve())
                yield path


def _is_own(address: str, own: frozenset[str]) -> bool:
    """Whether ``address`` is a desk address, or one with a ``+suffix`` (a signed reply address reaches it too)."""
    local, _at, domain = address.rpartition("@")
    parts = local.split("+")
    return any(f"{'+'.join(parts[:n])}@{domain}" in own for n in range(1, len(parts) + 1))


class _FileReader:
    """Compiles the [[rule]] tables of one file, appending each problem with its line."""

    def __init__(
        self,
        path: Path,
        lines: KeyLines,
        problems: list[str],
        levels: frozenset[int],
        articles: frozenset[str] | None,
        origins: dict[str, _Origin],
        *,
        members: frozenset[str] | None = None,
        own_addresses: frozenset[str] | None = None,
        articles_unverified: str | None = None,
        unpublished_articles: Mapping[str, str] | None = None,
        teams: Mapping[str, tuple[str, int]] | None = None,
        applications: Mapping[str, str] | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.path = path
        self.teams = teams
        self.applications = applications
        self.warnings = warnings if warnings is not None else []
        self.lines = lines
        self.problems = problems
        self.levels = levels
        self.articles = articles
        self.origins = origins  # rule name -> where it was first defined, across files
        self.members = members
        self.own_addresses = own_addresses
        self.articles_unverified = articles_unverified
        self.unpublished_articles = unpublished_articles or {}

    def read(self, data: dict) -> Iterator[Rule]:
        for key in data:
            if key != "rule":
                self._fail_top((key,), "unknown top-level key (a rule file holds [[rule]] tables)")
        tables = data.get("rule", [])
        if not isinstance(tables, list):
            self._fail_top(("rule",), "must be an array of tables ([[rule]])")
            return
        for index, table in enumerate(tables):
            if not isinstance(table, dict):
                self._fail_top(("rule", index), "must be a table ([[rule]])")
                continue
            rule = _RuleReader(self, index).read(table)
            if rule is not None:
                yield rule

    def _fail_top(self, key: SubKey, message: str) -> None:
        self.problems.append(f"{self.path}:{self.lines.line_of(key)}: {format_path(key)}: {message}")


class _RuleReader:
    """Compiles one [[rule]] table."""

    def __init__(self, file: _FileReader, index: int) -> None:
        self.file = file
        self.index = index
        self.label = f"rule #{index + 1}"
        self.failed = False

    def fail(self, key: SubKey, message: str) -> None:
        self.failed = True
        line = self.file.lines.line_of(("rule", self.index, *key))
        self.file.problems.append(f"{self.file.path}:{line}: {self.label}: {format_path(key)}: {message}")

    def read(self, table: dict) -> Rule | None:
        name = table.get("name")
        if isinstance(name, str) and name.strip():
            self.label = f'rule "{name}"'
            line = self.file.lines.line_of(("rule", self.index))
            here = (self.file.path, self.index, f"{self.file.path}:{line}")
            first = self.file.origins.setdefault(name, here)
            if first[:2] != here[:2]:
                self.fail(("name",), f"{show(name)} is already the name of the rule at {first[2]}")
        elif name is None:
            self.fail(("name",), "missing: every rule needs a name")
        else:
            self.fail(("name",), f"must be a non-empty string, not {show(name)}")
        for key in table:
            if key not in _RULE_KEYS:
                self.fail((key,), f"unknown key (expected one of: {', '.join(_RULE_KEYS)})")
        tests = self._conditions(table.get("if", {}))
        settings, tags = self._settings(table.get("set", {}))
        forward = self._addresses(table, "forward")
        answer = self._answer(table)
        drop = self._bool(table, "drop")
        stop = self._bool(table, "stop")
        if self.failed or not isinstance(name, str):
            return None
        line = self.file.lines.line_of(("rule", self.index))
        effect = RuleEffect(
            rule=name,
            settings=settings,
            tags=tags,
            forward=forward,
            answer=answer,
            drop=drop,
            stop=bool(stop),
        )
        return Rule(
            name=name,
            origin=f"{self.file.path}:{line}",
            tests=tests,
            settings=settings,
            tags=tags,
            forward=forward,
            answer=answer,
            drop=drop,
            stop=bool(stop),
            effect=effect,
        )

    def _conditions(self, table: object) -> tuple[Predicate, ...]:
        if not isinstance(table, dict):
            self.fail(("if",), f"must be a table of conditions, not {show(table)}")
            return ()
        compiled: list[tuple[int, Predicate]] = []
        for kind, value in table.items():
            condition = CONDITIONS.get(kind)
            if condition is None:
                self.fail(
                    ("if", kind), f"unknown condition (expected one of: {', '.join(sorted(CONDITIONS))})"
                )
                continue
            try:
                compiled.append((condition.cost, condition.compile(value)))
            except ConditionError as exc:
                for subkey, message in exc.problems:
                    self.fail(("if", kind, *subkey), message)
        compiled.sort(key=lambda item: item[0])  # stable: same-cost conditions keep file order
        return tuple(predicate for _cost, predicate in compiled)

    def _settings(self, table: object) -> tuple[tuple[tuple[str, object], ...], tuple[str, ...]]:
        if not isinstance(table, dict):
            self.fail(("set",), f"must be a table of settings, not {show(table)}")
            return (), ()
        settings: list[tuple[str, object]] = []
        tags: tuple[str, ...] = ()
        for name, value in table.items():
            key = ("set", name)
            if name not in _SET_KEYS:
                self.fail(key, f"unknown setting (expected one of: {', '.join(_SET_KEYS)})")
            elif name == "tags":
                items = [value] if isinstance(value, str) else value
                if isinstance(items, list) and all(isinstance(item, str) and item.strip() for item in items):
                    tags = tuple(dict.fromkeys(item.strip() for item in items))
                else:
                    self.fail(key, f"must be a list of non-empty strings, not {show(value)}")
            else:
                checked = self._setting(name, value, key, table)
                if checked is not None:
                    settings.append((name, checked))
        return tuple(settings), tags

    def _setting(self, name: str, value: object, key: SubKey, table: dict) -> object | None:
        """The value of ``set.NAME`` as the rule applies it; None (and a problem) when it cannot be."""
        if name in _SET_CHOICES:
            if value in _SET_CHOICES[name]:
                return value
            self.fail(key, f"{show(value)} is not one of: {', '.join(_SET_CHOICES[name])}")
        elif name == "level":
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(key, f"must be a level number, not {show(value)}")
            elif value not in self.file.levels:
                known = ", ".join(str(level) for level in sorted(self.file.levels)) or "none"
                self.fail(key, f"{value} is not a configured level (levels: {known})")
            else:
                return value
        elif name == "assignee":
            if not (isinstance(value, str) and is_address(value.strip())):
                self.fail(key, f"{show(value)} is not an email address")
            elif self.file.members is not None and value.strip().lower() not in self.file.members:
                self.fail(key, f"{value.strip().lower()} is not a member of any level")
            else:
                return value.strip().lower()
        elif name == "application":
            if isinstance(value, str) and value.strip():
                return self._application(key, value.strip())
            self.fail(key, f"must be a non-empty string, not {show(value)}")
        else:  # team
            return self._team(key, value, table.get("level"))
        return None

    def _application(self, key: SubKey, value: str) -> str:
        """The catalogue's spelling of ``value``; a name outside a non-empty catalogue is kept (a warning)."""
        catalogue = self.file.applications
        if catalogue is None or value.casefold() in catalogue:
            return catalogue[value.casefold()] if catalogue else value
        line = self.file.lines.line_of(("rule", self.index, *key))
        self.file.warnings.append(
            f"{self.file.path}:{line}: {self.label}: {format_path(key)}: warning: {show(value)} is not in "
            f"the application catalogue ({', '.join(sorted(catalogue.values()))})"
        )
        return value

    def _team(self, key: SubKey, value: object, level: object) -> str | None:
        if not isinstance(value, str) or not value.strip():
            self.fail(key, f"must be a team name, not {show(value)}")
            return None
        if self.file.teams is None:
            return value.strip()
        found = self.file.teams.get(value.strip().casefold())
        if found is None:
            known = ", ".join(sorted(name for name, _level in self.file.teams.values())) or "none"
            self.fail(key, f"{show(value)} is not a team (teams: {known})")
            return None
        name, team_level = found
        if isinstance(level, int) and not isinstance(level, bool) and level != team_level:
            self.fail(key, f"team {name!r} is at level {team_level}, not at set.level {level}")
            return None
        return name

    def _addresses(self, table: dict, name: str) -> tuple[str, ...]:
        if name not in table:
            return ()
        value = table[name]
        items = [value] if isinstance(value, str) else value
        if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
            self.fail((name,), f"must be an address or a list of addresses, not {show(value)}")
            return ()
        own = self.file.own_addresses or frozenset()
        for item in items:
            if not is_address(item.strip()):
                self.fail((name,), f"{show(item)} is not an email address")
            elif _is_own(item.strip().lower(), own):
                self.fail(
                    (name,),
                    f"{item.strip().lower()} is one of the desk's own addresses (the desk would mail itself)",
                )
        return tuple(dict.fromkeys(item.strip().lower() for item in items))

    def _answer(self, table: dict) -> str | None:
        if "answer" not in table:
            return None
        value = table["answer"]
        if not isinstance(value, str) or not value.strip():
            self.fail(("answer",), f"must be a knowledge-base article slug, not {show(value)}")
            return None
        if self.file.articles is not None and value not in self.file.articles:
            if self.file.articles_unverified is not None:
                self.fail(
                    ("answer",), f"cannot verify article slug {show(value)}: {self.file.articles_unverified}"
                )
            else:
                self.fail(("answer",), f"no knowledge-base article with slug {show(value)}")
        elif value in self.file.unpublished_articles:
            status = self.file.unpublished_articles[value]
            self.fail(
                ("answer",), f"article {show(value)} is {status}, not published: it would answer nothing"
            )
        return value

    def _bool(self, table: dict, name: str) -> bool | None:
        if name not in table:
            return None
        value = table[name]
        if not isinstance(value, bool):
            self.fail((name,), f"must be true or false, not {show(value)}")
            return None
        return value
