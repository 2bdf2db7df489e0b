"""The knowledge base: article files, indexed suggestions in acknowledgements, filing on close, the kb CLI."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import text

from maildesk.runtime.app import App
from maildesk.storage.models import KbArticle
from maildesk.tickets.store import TicketStore
from maildesk.types import RawMessage
from tests.support import Desk, make_message

SHAPE = {
    "id",
    "slug",
    "title",
    "tags",
    "application",
    "category",
    "source_ticket",
    "uses",
    "status",
    "updated_at",
}


def _deliver(app: App, data: bytes) -> None:
    app.inbox.accept(
        RawMessage(
            data=data,
            mail_from="user@client.com",
            rcpt_tos=("support@example.org",),
            source="test",
            received_at=datetime.now(UTC),
        )
    )
    app.process_pending()


def test_acknowledgement_suggests_matching_articles(tmp_path):
    desk = Desk(tmp_path / "desk")
    app = App.from_config(desk.config)
    try:
        _deliver(app, make_message(subject="The VPN disconnects every hour", sender="kim@client.com"))
        with app.db.session() as session:
            ack = session.execute(text("SELECT raw FROM outbox WHERE template = 'ack'")).scalar_one()
        assert b"VPN disconnects or will not connect" in ack
        assert b"How to reset your password" not in ack
    finally:
        app.close()


def test_suggestions_are_an_index_lookup_among_many_articles(tmp_path):
    desk = Desk(tmp_path / "desk")
    app = App.from_config(desk.config)
    now = datetime.now(UTC)
    try:
        with app.db.session() as session:
            for n in range(3000):
                session.add(
                    KbArticle(
                        slug=f"filler-{n}",
                        title=f"Printer tray {n} jammed again",
                        body="Open it.",
                        tags=[],
                        uses=0,
                        updated_at=now,
                        status="published",
                    )
                )
        with app.db.session() as session:
            found = TicketStore(session).suggest_articles("VPN will not connect", 3)
            plan = " ".join(
                str(row)
                for row in session.execute(
                    text("EXPLAIN QUERY PLAN SELECT rowid FROM kb_search WHERE kb_search MATCH '\"vpn\"'")
                )
            )
            indexed = session.execute(text("SELECT count(*) FROM kb_search")).scalar_one()
        assert [a.slug for a in found][:1] == ["vpn-reconnect"]
        assert "VIRTUAL TABLE INDEX" in plan  # FTS5 reads the posting list of "vpn", not every article
        assert indexed >= 3000  # every article written through the ORM is in the index at once
    finally:
        app.close()


def test_closing_files_the_resolution_and_kb_commands_show_it(tmp_path):
    desk = Desk(tmp_path / "desk", command_auth="sender")
    app = App.from_config(desk.config)
    try:
        _deliver(
            app,
            make_message(
                subject="Outlook crashes on start", sender="lee@client.com", message_id="<req@client.com>"
            ),
        )
        _deliver(
            app,
            make_message(
                subject="Re: [Support #1] Outlook crashes on start [close]",
                sender="alice@example.org",
                name="Alice",
                body="Start Outlook with /safe and disable the add-in.\n",
            ),
        )
    finally:
        app.close()
    assert "ticket-1" not in {a["slug"] for a in desk.json("kb", "list")}  # published only, by default
    filed = [a for a in desk.json("kb", "list", "--status", "draft") if a["slug"] == "ticket-1"]
    assert filed and set(filed[0]) == SHAPE and filed[0]["source_ticket"] == 1
    assert filed[0]["status"] == "draft"
    shown = desk.json("kb", "show", "ticket-1")
    assert set(shown) == SHAPE | {"body"} and "/safe" in shown["body"]
    assert "ticket-1" not in {hit["slug"] for hit in desk.json("kb", "search", "outlook add-in")}
    hits = desk.json("kb", "search", "vpn")
    assert hits and set(hits[0]) == SHAPE | {"score", "excerpt"} and hits[0]["status"] == "published"
    assert {a["status"] for a in desk.json("kb", "list", "--status", "all")} == {"draft", "published"}
    assert desk.cli("kb", "show", "no-such-article", check=False).returncode == 65
