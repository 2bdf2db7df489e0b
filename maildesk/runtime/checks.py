"""``rules check`` and ``rules test``: validate everything an admin edits, and dry-run the rules."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from maildesk.config import ConfigError, Settings
from maildesk.states import ArticleStatus
from maildesk.types import Automation, Decision, RawMessage

if TYPE_CHECKING:
    from collections.abc import Callable

    from maildesk.rules import RuleSet


def _articles(settings: Settings) -> tuple[set[str], str | None, dict[str, str]]:
    """Known knowledge-base slugs (database and article files), why the database could not add its own,
    and the status of each stored article that is not published (a draft or retired one answers nothing).

    The reason is None when the database was read; else the slugs are those of the article files only.
    """
    from maildesk.kb.articles import article_file_slugs, article_statuses

    from_files = article_file_slugs(settings.kb.dir)
    try:
        from maildesk.storage.db import Database

        db = Database(settings.database_url)
        try:
            db.ensure_schema()
            statuses = article_statuses(db)
        finally:
            db.dispose()
    except Exception as exc:  # noqa: BLE001 - a check must still run without a database
        return from_files, _why_unreadable(settings.database_url, exc), {}
    unpublished = {slug: status for slug, status in statuses.items() if status != ArticleStatus.PUBLISHED}
    return set(statuses) | from_files, None, unpublished


def _why_unreadable(url: str, exc: Exception) -> str:
    """One line naming the database (without its password) and what went wrong."""
    from maildesk.storage.db import DatabaseUnavailable, SchemaOutdated

    if isinstance(exc, DatabaseUnavailable | SchemaOutdated):
        return " ".join(str(exc).split())  # already one line naming the database, password hidden
    try:
        from sqlalchemy.engine import make_url

        parsed = make_url(url)
    except Exception:  # noqa: BLE001 - the URL and the error could both hold a password: show neither
        return f"cannot open database (the [database] url does not parse): {type(exc).__name__}"
    lines = str(exc).strip().splitlines()
    detail = lines[0] if lines else ""
    if parsed.password:
        detail = detail.replace(str(parsed.password), "***")
    reason = f"cannot open database {parsed.render_as_string(hide_password=True)}: {type(exc).__name__}"
    return " ".join((reason + (f": {detail}" if detail else "")).split())


def load_rules(
    settings: Settings,
    articles: set[str] | None,
    articles_unverified: str | None = None,
    unpublished: dict[str, str] | None = None,
) -> RuleSet:
    """The rule set, checked against everything the daemon checks it against (and ``unpublished`` answers)."""
    from maildesk.rules import load_ruleset

    return load_ruleset(
        list(settings.rule_files),
        levels={lvl.id for lvl in settings.levels},
        articles=articles,
        members=settings.technicians,
        own_addresses=settings.desk_addresses,
        articles_unverified=articles_unverified,
        unpublished_articles=unpublished,
        teams=settings.team_index,
        applications=[app.name for app in settings.applications],
    )


def check_everything(settings: Settings, warn: Callable[[str], None] | None = None) -> list[str]:
    """Every problem in rules and templates as FILE:LINE: message (config was checked on load).

    When the database cannot be read, ``warn`` gets one line saying so; rule
    answers are then checked against the article files only, and one naming
    no article file is a problem (it cannot be verified).
    """
    from maildesk.notify.render import Renderer

    problems: list[str] = []
    articles, unreadable, unpublished = _articles(settings)
    if unreadable is not None and warn is not None:
        warn(f"warning: {unreadable}; rule answers were checked against the article files only")
    try:
        ruleset = load_rules(
            settings,
            articles,
            None if unreadable is None else "no such article file, and the database cannot be read",
            unpublished,
        )
    except ConfigError as exc:
        problems.extend(exc.problems)
    else:
        for warning in ruleset.warnings:
            if warn is not None:
                warn(warning)
    try:
        Renderer(settings.templates_dir, default_language=settings.desk.language)
    except ConfigError as exc:
        problems.extend(exc.problems)
    problems.extend(_secret_problems(settings))
    return problems


def _secret_problems(settings: Settings) -> list[str]:
    """A secret file that exists but cannot be the secret (the daemon would refuse it); never creates one."""
    from maildesk.config import key_line
    from maildesk.security.signing import SecretFileError, load_or_create_secret

    if not settings.security.secret_file.exists() and not settings.security.secret_file.is_symlink():
        return []
    try:
        load_or_create_secret(settings.security.secret_file)
    except (SecretFileError, OSError) as exc:
        line = key_line(settings.path, ("security", "secret_file"))
        return [f"{settings.path}:{line}: security.secret_file: {exc}"]
    return []


def dry_run(settings: Settings, data: bytes) -> tuple[Decision, Automation | None]:
    """What the rules decide for a message, with no side effect."""
    from maildesk.message.loops import detect_automation
    from maildesk.message.parse import parse_message
    from maildesk.rules import evaluate
    from maildesk.security.bounces import find_bounce_addresses
    from maildesk.teams.catalogue import recognise_application
    from maildesk.tickets.correlate import all_recipients

    try:
        ruleset = load_rules(settings, None)
    except ConfigError as exc:
        raise ValueError("\n".join(exc.problems)) from None
    parsed = parse_message(data)
    raw = RawMessage(data=data, mail_from=None, rcpt_tos=(), source="file", received_at=datetime.now(UTC))
    level = next(
        (
            lvl.id
            for address in all_recipients(parsed, raw)
            if (lvl := settings.level_for_address(address)) is not None
        ),
        settings.levels[0].id,
    )
    decision = recognise_application(
        evaluate(parsed, raw.rcpt_tos, ruleset, default_level=level), parsed, settings.catalogue
    )
    return decision, detect_automation(
        parsed,
        raw,
        settings.desk_addresses,
        sent_to_bounce_address=bool(find_bounce_addresses(parsed, raw, settings.desk_addresses)),
    )
