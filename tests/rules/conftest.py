"""Fixtures for the rules tests: rule files written to a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from maildesk.rules import RuleSet, load_ruleset


@pytest.fixture
def write_rules(tmp_path: Path) -> Callable[..., Path]:
    """Write TOML text to a rule file in tmp_path and return its path."""

    def write(text: str, name: str = "rules.toml") -> Path:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return path

    return write


@pytest.fixture
def load(write_rules: Callable[..., Path]) -> Callable[..., RuleSet]:
    """Load TOML text as a rule set with levels 1 and 2 and no knowledge base."""

    def load_text(
        text: str, *, levels: tuple[int, ...] = (1, 2), articles: set[str] | None = None
    ) -> RuleSet:
        return load_ruleset([write_rules(text)], levels=levels, articles=articles)

    return load_text
