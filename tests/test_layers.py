"""The parts of ``maildesk/`` import only downwards: intake and the ticket logic never reach the runtime or the CLI.

Every import is read from the source with ``ast`` (those inside functions
too, since the CLI and the runtime defer theirs), and each part may import
only the parts listed for it below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "maildesk"

FOUNDATION = {
    "types",
    "states",
    "errors",
    "addresses",
    "durations",
    "tomlpos",
    "cron",
    "config",
    "calendars",
    "teams",
}
LOWER = {"message", "security", "storage", "kb", "rules", "ingest", "tickets"}
# What each part may import besides itself, from the bottom up.
MAY_IMPORT: dict[str, set[str]] = {
    "types": {"states"},
    "states": set(),  # the StrEnums of ticket, inbox, outbox, quarantine and article states
    "addresses": set(),  # the one rule for an email address in config, rules and commands
    "errors": {"types"},  # the error family: what went wrong and its exit code (a refusal carries a Reason)
    "durations": set(),
    "tomlpos": set(),
    "cron": set(),  # a crontab line checked without the scheduler (config reads [reports] schedule)
    "calendars": set(),  # business-time arithmetic: nothing of the desk
    "teams": {"types", "errors", "tomlpos", "calendars"},  # teams, catalogue, organisations: read by config
    "config": {"addresses", "errors", "durations", "tomlpos", "cron", "calendars", "teams"},
    "message": FOUNDATION,
    "storage": FOUNDATION | {"message"},
    "security": FOUNDATION | {"storage"},
    "kb": FOUNDATION | {"storage"},
    "rules": FOUNDATION,
    "ingest": FOUNDATION | {"message", "storage"},
    "tickets": FOUNDATION | {"message", "security", "storage", "kb"},
    "notify": FOUNDATION | {"message", "security", "storage", "tickets"},
    "pipeline": FOUNDATION | LOWER | {"notify"},
    # Reports read what the ticket logic recorded and mail it through the outbox (the scheduled report).
    "reports": FOUNDATION | LOWER | {"notify"},
    "runtime": FOUNDATION | LOWER | {"notify", "pipeline", "reports"},
    "cli": FOUNDATION | LOWER | {"notify", "pipeline", "runtime", "reports"},
}


def _part(module: str) -> str | None:
    """``maildesk.tickets.store`` -> ``tickets``; None for anything outside the package."""
    names = module.split(".")
    return names[1] if names[0] == "maildesk" and len(names) > 1 else None


def _imported_parts(path: Path) -> set[tuple[str, int]]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            # ``from maildesk import pipeline`` names the part in the imported names
            modules = (
                [f"maildesk.{alias.name}" for alias in node.names]
                if node.module == "maildesk"
                else [node.module]
            )
        else:
            continue
        found.update((part, node.lineno) for m in modules if (part := _part(m)) is not None)
    return found


def _modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if "migrations" not in p.relative_to(PACKAGE).parts)


def _own_part(path: Path) -> str:
    first = path.relative_to(PACKAGE).parts[0]
    return first.removesuffix(".py")


def test_every_part_of_the_package_is_placed_in_the_layers():
    parts = {_own_part(path) for path in _modules()} - {"__init__"}
    assert parts == set(MAY_IMPORT)


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_go_down_the_layers_only(path):
    own = _own_part(path)
    if own == "__init__":
        allowed: set[str] = set()
    else:
        allowed = MAY_IMPORT[own] | {own}
    wrong = sorted(
        f"line {line}: maildesk.{part}" for part, line in _imported_parts(path) if part not in allowed
    )
    assert wrong == [], f"{path.relative_to(PACKAGE.parent)} ({own}) imports above or beside itself"


def test_the_lower_parts_import_nothing_from_notify_pipeline_runtime_or_cli():
    """The issue's rule in its own words, over the table above."""
    for part in LOWER:
        assert not MAY_IMPORT[part] & {"notify", "pipeline", "runtime", "cli"}, part
