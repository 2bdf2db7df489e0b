"""The Alembic migrations and the SQLAlchemy models never drift apart; data migrations keep what they must."""

from __future__ import annotations

import json

from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from maildesk.storage.db import HEAD_REVISION, MIGRATIONS_DIR, Database
from maildesk.storage.models import Base


def test_head_revision_is_the_newest_migration():
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    assert ScriptDirectory.from_config(config).get_heads() == [HEAD_REVISION]


def _modelled(name, kind, _parent) -> bool:  # Alembic's include_name hook
    """Not modelled: the full-text index (FTS5 and its shadow tables; the tsvector column, its GIN index)."""
    if kind == "table":
        return not (name or "").startswith("kb_search")
    return name not in ("search_vector", "title_vector", "ix_kb_articles_search", "ix_kb_articles_titles")


def test_migrated_schema_matches_the_models(db_url):
    db = Database(db_url)
    try:
        db.ensure_schema()
        assert db.current_revision() == HEAD_REVISION
        with db.engine.connect() as conn:
            options = {"compare_type": True, "include_name": _modelled}
            differences = compare_metadata(MigrationContext.configure(conn, opts=options), Base.metadata)
        assert differences == []
    finally:
        db.dispose()


def test_upgrade_is_idempotent(db_url):
    db = Database(db_url)
    try:
        db.ensure_schema()
        db.ensure_schema(allow_upgrade=True)
        db.upgrade()
        assert db.current_revision() == HEAD_REVISION
    finally:
        db.dispose()


def test_participants_are_filled_in_from_the_opening_request_of_existing_tickets(db_url):
    """A database made by the previous schema: its tickets get the To/Cc of their first message."""
    from alembic import command
    from sqlalchemy import text

    db = Database(db_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection_engine"] = db.engine
        command.upgrade(config, "0003")
        head = (
            b"From: Ann <ann@client.com>\r\nTo: support@example.org, Boss <BOSS@client.com>\r\n"
            b"Cc: it@client.com, ann@client.com\r\nMessage-ID: <first@client.com>\r\n"
            b"Subject: VPN\r\n\r\nDown.\r\n"
        )
        with db.engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO inbox (message_key, received_at, source, rcpt_tos, raw, state) "
                    "VALUES ('<first@client.com>', '2026-11-22 09:00:00', 'smtp', '[]', :raw, 'done')"
                ),
                {"raw": head},
            )
            for number, root in ((1, "<first@client.com>"), (2, "<gone@client.com>")):
                conn.execute(
                    text(
                        "INSERT INTO tickets (number, subject, status, level, urgency, kind, requester, "
                        "requester_name, tags, language, created_at, updated_at, time_spent_s, "
                        "resolve_breached, root_message_id) VALUES (:n, 'VPN', 'new', 1, 'normal', "
                        "'request', 'ann@client.com', '', '[]', 'en', '2026-11-22 09:00:00', "
                        "'2026-11-22 09:00:00', 0, false, :root)"
                    ),
                    {"n": number, "root": root},
                )
        db.ensure_schema(allow_upgrade=True)
        assert db.current_revision() == HEAD_REVISION
        with db.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT number, participants FROM tickets ORDER BY number")).all())
        found = rows[1] if isinstance(rows[1], list) else json.loads(rows[1])
        assert found == ["support@example.org", "boss@client.com", "it@client.com"]
        assert rows[2] is None  # its message is no longer in the inbox: requester and technicians only
    finally:
        db.dispose()


def test_existing_articles_keep_the_admins_files_published_and_make_filed_resolutions_drafts(db_url):
    """kb_status: an article filed from a ticket holds its requester's text, unread: a draft, not public."""
    from alembic import command
    from sqlalchemy import text

    db = Database(db_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection_engine"] = db.engine
        command.upgrade(config, "report_figures")
        with db.engine.begin() as conn:
            for slug, source in (("vpn-reconnect", None), ("ticket-7", 7)):
                conn.execute(
                    text(
                        "INSERT INTO kb_articles (slug, title, body, tags, source_ticket, uses, updated_at) "
                        "VALUES (:slug, 'T', 'B', '[]', :source, 0, '2026-11-22 09:00:00')"
                    ),
                    {"slug": slug, "source": source},
                )
        db.ensure_schema(allow_upgrade=True)
        assert db.current_revision() == HEAD_REVISION
        with db.engine.connect() as conn:
            rows = dict(conn.execute(text("SELECT slug, status FROM kb_articles")).all())
        assert rows == {"vpn-reconnect": "published", "ticket-7": "draft"}
    finally:
        db.dispose()
