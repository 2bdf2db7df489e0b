"""``rules check`` and ``rules test``: validate everything an admin edits, and dry-run the rules."""

from __future__ import annotations

from datetime import datetime, timezone

from maildesk.config import ConfigError, Settings
from maildesk.types import Automation, Decision, RawMessage


def _articles(settings: Settings) -> set[str] | None:
    """Known knowledge-base slugs (database and article files), or None when the database cannot be read."""
    from_files: set[str] = set()
    if settings.kb.dir is not None and settings.kb.dir.is_dir():
        from maildesk.kb import read_article_files

        from_files = {slug for slug, _title, _body in read_article_files(settings.kb.dir)}
    try:
        from maildesk.app import known_articles
        from maildesk.db import Database

        db = Database(settings.database_url)
        try:
            db.ensure_schema()
            return known_articles(db) | from_files
        finally:
            db.dispose()
    except Exception:  # noqa: BLE001 - a check must still run without a database
        return None


def load_rules(settings: Settings, articles: set[str] | None):
    from maildesk.rules import load_ruleset

    return load_ruleset(list(settings.rule_files), levels={lvl.id for lvl in settings.levels}, articles=articles)


def check_everything(settings: Settings) -> list[str]:
    """Every problem in rules and templates as FILE:LINE: message (config was checked on load)."""
    from maildesk.notify.render import Renderer

    problems: list[str] = []
    try:
        load_rules(settings, _articles(settings))
    except ConfigError as exc:
        problems.extend(exc.problems)
    try:
        Renderer(settings.templates_dir, default_language=settings.desk.language)
    except ConfigError as exc:
        problems.extend(exc.problems)
    return problems


def dry_run(settings: Settings, data: bytes) -> tuple[Decision, Automation | None]:
    """What the rules decide for a message, with no side effect."""
    from maildesk.correlate import all_recipients
    from maildesk.loops import detect_automation
    from maildesk.parse import parse_message
    from maildesk.rules import evaluate

    try:
        ruleset = load_rules(settings, None)
    except ConfigError as exc:
        raise ValueError("\n".join(exc.problems)) from None
    parsed = parse_message(data)
    raw = RawMessage(data=data, mail_from=None, rcpt_tos=(), source="file", received_at=datetime.now(timezone.utc))
    level = next((lvl.id for address in all_recipients(parsed, raw)
                  if (lvl := settings.level_for_address(address)) is not None), settings.levels[0].id)
    return evaluate(parsed, raw.rcpt_tos, ruleset, default_level=level), detect_automation(
        parsed, raw, settings.desk_addresses)
