"""Every real-world message in the shared corpus goes through without a crash and without being lost."""

from __future__ import annotations

import csv
import subprocess
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from maildesk.message.ledger import message_key
from maildesk.message.parse import parse_message
from maildesk.runtime.app import App
from maildesk.storage.models import Event, InboxMessage, Outbox, Quarantine, Ticket
from maildesk.types import RawMessage
from tests.support import CORPUS, Desk, db_rows, postgres_url

ORPHAN_BOUNCE = "delivery report that matches no mail the desk sent"


def corpus_index() -> list[tuple[str, str, str]]:
    with open(CORPUS / "index.tsv", newline="", encoding="utf-8") as handle:
        return [(row["path"], row["category"], row["note"]) for row in csv.DictReader(handle, delimiter="\t")]


pytestmark = pytest.mark.skipif(not (CORPUS / "index.tsv").exists(), reason="the shared corpus is not there")


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database(request, tmp_path_factory):
    """SQLite, and PostgreSQL too: it enforces column lengths and refuses NUL in text, SQLite does not."""
    if request.param == "sqlite":
        yield None
        return
    with postgres_url() as url:
        yield url


@pytest.fixture(scope="module")
def ingested(tmp_path_factory, database):
    """The whole corpus through one App: stored as an intake would, then processed one by one."""
    desk = Desk(tmp_path_factory.mktemp("corpus") / "desk", db_url=database)
    app = App.from_config(desk.config)
    keys: dict[str, str] = {}
    categories: dict[str, str] = {}
    try:
        for path, category, _note in corpus_index():
            data = (CORPUS / path).read_bytes()
            accepted = app.inbox.accept(
                RawMessage(
                    data=data,
                    mail_from=None,
                    rcpt_tos=(),
                    source="file",
                    received_at=datetime.now(UTC),
                )
            )
            keys[path] = message_key(data)
            categories[path] = category
            outcomes = app.process([accepted.inbox_id])
            assert len(outcomes) == (0 if accepted.duplicate else 1), path
        yield app, keys, categories
    finally:
        app.close()


def test_every_message_ends_as_one_processed_inbox_row(ingested):
    app, keys, _categories = ingested
    with app.db.session() as session:
        rows = list(session.execute(select(InboxMessage.message_key, InboxMessage.state)))
    by_key = Counter(key for key, _state in rows)
    assert set(by_key) == set(keys.values())
    assert set(by_key.values()) == {1}
    assert {state for _key, state in rows} <= {"done", "quarantined", "rejected"}


def test_tickets_and_quarantine_account_for_every_message(ingested):
    app, keys, _categories = ingested
    with app.db.session() as session:
        rows = list(session.scalars(select(InboxMessage)))
        quarantined = {q.inbox_id: q for q in session.scalars(select(Quarantine))}
        with_events = set(session.scalars(select(Event.inbox_id).where(Event.inbox_id.is_not(None))))
        ticket_numbers = set(session.scalars(select(Ticket.number)))
    lost = []
    for row in rows:
        if row.state == "done":
            if row.ticket not in ticket_numbers or row.id not in with_events:
                lost.append((row.message_key, row.state, row.ticket))
        elif row.id not in quarantined or not quarantined[row.id].reason:
            lost.append((row.message_key, row.state, None))
    assert lost == []
    held = [q.reason for q in quarantined.values() if q.status == "held"]
    assert held == [], "messages that made the pipeline raise"


def test_bounces_mostly_end_as_orphan_reports_or_bounce_events(ingested):
    app, keys, categories = ingested
    bounce_keys = {keys[path] for path, category in categories.items() if category == "bounce"}
    with app.db.session() as session:
        rows = {row.message_key: row for row in session.scalars(select(InboxMessage))}
        reasons = {q.inbox_id: q.reason for q in session.scalars(select(Quarantine))}
        bounce_events = set(session.scalars(select(Event.inbox_id).where(Event.type == "bounce")))
    recognised = [
        key
        for key in bounce_keys
        if ORPHAN_BOUNCE in reasons.get(rows[key].id, "") or rows[key].id in bounce_events
    ]
    assert len(recognised) >= 0.8 * len(bounce_keys), sorted(bounce_keys - set(recognised))


# A person's reply quoting an auto-reply: filed as "autoreply" in the corpus, but a person wrote it.
LOOKS_HUMAN = {
    "stalwart-mail-parser/thirdparty/015.eml",
}
# The robots that carried none of the standard markers and got an acknowledgement until the desk
# recognised robots without markers (SPEC section 5).
UNMARKED_ROBOTS = {
    "sisimai-set-of-emails/maildir/bsd/lhost-fml-02.eml",  # fml list notice: X-MLServer, List-Subscribe
    "sisimai-set-of-emails/maildir/bsd/lhost-kddi-01.eml",  # carrier error notice from no-reply@
    "sisimai-set-of-emails/maildir/bsd/rfc3834-03.eml",  # Apple vacation reply: "Auto reply:", X-Apple-Action
}
# Robots filed under other categories than bounce, autoreply or list, each with the sign that gives it away.
OTHER_ROBOTS = {
    "flanker/apache-message-news-mime.eml": "Precedence: bulk",
    "flanker/from-encoding.eml": "Precedence: bulk",
    "flanker/long-links.eml": "From: postmaster@",
    "flanker/message-external-body.eml": "Precedence: bulk",
    "ietf-mailarchive/mail_html.1": "Precedence: list, List-Id",
    "mikel-mail/error_emails/bad_date_header.eml": "Precedence: junk",
    "mikel-mail/error_emails/empty_in_reply_to.eml": "List-Id",
    "mikel-mail/error_emails/encoding_madness.eml": "an eBay notice from no-reply@",
    "mimekit/messages/feedback-report.txt": "an ARF abuse report",
    "php-mime-mail-parser/m0009": "an order notice from noreply@",
    "sisimai-set-of-emails/maildir/not/rb-issue-368-bug.eml": "Auto-Submitted, From: postmaster@",
    "spamscope-mail-parser/mail_test_5": "a newsletter with Precedence: bulk",
}


def test_no_acknowledgement_answers_a_bounce_or_an_auto_reply(ingested):
    app, keys, categories = ingested
    automatic = {
        keys[path]: path
        for path, category in categories.items()
        if category in ("bounce", "autoreply") and path not in LOOKS_HUMAN
    }
    with app.db.session() as session:
        acked = set(session.scalars(select(Outbox.ticket).where(Outbox.template == "ack")))
        opened_by = {t.root_message_id: t.number for t in session.scalars(select(Ticket))}
    answered = sorted(path for key, path in automatic.items() if opened_by.get(key) in acked)
    assert answered == []
    assert set(automatic.values()) >= UNMARKED_ROBOTS


def test_every_person_and_only_a_person_gets_an_acknowledgement(ingested):
    """The robots recognised without markers took no acknowledgement from a person's request."""
    app, keys, categories = ingested
    with app.db.session() as session:
        acked = set(session.scalars(select(Outbox.ticket).where(Outbox.template == "ack")))
        opened_by = {t.root_message_id: t.number for t in session.scalars(select(Ticket))}
    first_path: dict[str, str] = {}  # a Message-ID several files share belongs to the first one
    for path, _category, _note in corpus_index():
        first_path.setdefault(keys[path], path)
    opened = {path: opened_by[key] for key, path in first_path.items() if key in opened_by}
    robots = {
        path for path, category in categories.items() if category in ("bounce", "autoreply", "list")
    } - LOOKS_HUMAN | set(OTHER_ROBOTS)
    senderless = {path for path in opened if not parse_message((CORPUS / path).read_bytes()).from_addr}
    unacknowledged = {path for path, number in opened.items() if number not in acked}
    assert sorted(unacknowledged - robots - senderless) == [], "people who got no acknowledgement"
    assert sorted((robots | senderless) & opened.keys() - unacknowledged) == [], "robots that got one"


def nastiest() -> list[str]:
    """A sample of the hardest messages: the ones the stdlib parser raises on, the biggest, the oddest."""
    index = corpus_index()
    raising = [path for path, _c, note in index if "STDLIB RAISES" in note][:4]
    biggest = sorted((path for path, _c, _n in index), key=lambda p: (CORPUS / p).stat().st_size)[-2:]
    odd = [
        path
        for path, _c, note in index
        if any(word in note for word in ("NUL", "binary Outlook", "CR-only", "no header block", "UTF-16"))
    ][:4]
    return list(dict.fromkeys([*raising, *biggest, *odd]))


def test_nastiest_messages_through_the_real_ingest_command(tmp_path):
    desk = Desk(tmp_path / "desk")
    sample = nastiest()
    assert len(sample) >= 8
    desk.cli("db", "upgrade")
    piped, as_files = sample[:2], sample[2:]

    def pipe(path: str) -> subprocess.CompletedProcess:
        return desk.cli("ingest", stdin=(CORPUS / path).read_bytes(), check=False)

    with ThreadPoolExecutor(max_workers=len(piped) + 1) as pool:
        results = list(pool.map(pipe, piped))
        files = pool.submit(desk.cli, "ingest", *(str(CORPUS / p) for p in as_files))
        files.result()
    for path, result in zip(piped, results, strict=True):
        assert result.returncode == 0, (path, result.stderr.decode()[-2000:])
    distinct = {message_key((CORPUS / p).read_bytes()) for p in sample}
    states = db_rows(desk.db_url, "SELECT message_key, state FROM inbox")
    assert {key for key, _state in states} == distinct
    assert {state for _key, state in states} <= {"done", "quarantined", "rejected"}
    assert db_rows(desk.db_url, "SELECT COUNT(*) FROM quarantine WHERE status = 'held'") == [(0,)]
