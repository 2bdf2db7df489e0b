"""The compiled, immutable rule set that a reload swaps in as one value."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from maildesk.config import ConfigError
from maildesk.rules.conditions import Predicate
from maildesk.types import RuleEffect


class RulesError(ConfigError):
    """Rule files that cannot be loaded; ``problems`` lists every one as FILE:LINE: rule "NAME": KEY: ..."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One ``[[rule]]``: its conditions compiled, its actions ready to apply."""

    name: str
    origin: str  # "FILE:LINE" of its [[rule]] header
    tests: tuple[Predicate, ...]  # all must hold; cheapest first; empty matches every message
    settings: tuple[tuple[str, object], ...]  # set.* other than tags, as (Decision field, value)
    tags: tuple[str, ...] = ()
    forward: tuple[str, ...] = ()
    answer: str | None = None  # None: this rule does not say
    drop: bool | None = None  # None: this rule does not say
    stop: bool = False
    effect: RuleEffect | None = None  # what it sets, for the trace; made once at load

    def trace_entry(self) -> RuleEffect:
        return (
            self.effect
            if self.effect is not None
            else RuleEffect(
                rule=self.name,
                settings=self.settings,
                tags=self.tags,
                forward=self.forward,
                answer=self.answer,
                drop=self.drop,
                stop=self.stop,
            )
        )


@dataclass(frozen=True, slots=True)
class RuleSet:
    """Rules in the order they are tried, and the files they came from."""

    rules: tuple[Rule, ...] = ()
    files: tuple[Path, ...] = ()
    warnings: tuple[str, ...] = ()  # FILE:LINE: ... lines worth telling an admin, that do not stop a load

    def find_rule(self, name: str) -> Rule | None:
        return next((rule for rule in self.rules if rule.name == name), None)
