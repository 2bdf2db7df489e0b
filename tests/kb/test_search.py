"""``kb search``: full-text, stemmed in the article's language, accent-blind, title first, published only.

Through the CLI on SQLite and on a real PostgreSQL, and the same answers on both.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from maildesk.kb.search import search
from maildesk.runtime.app import App
from maildesk.storage.db import Database
from maildesk.storage.models import KbArticle
from tests.support import Desk, postgres_available, postgres_url

ARTICLES = [
    # slug, language, status, title, body
    (
        "imprimante-bloquee",
        "fr",
        "published",
        "Imprimante bloquée",
        "Ouvrez le bac et retirez le papier coincé.",
    ),
    (
        "mot-de-passe",
        "fr",
        "published",
        "Mot de passe oublié",
        "Pour réinitialiser votre mot de passe, ouvrez le portail.",
    ),
    ("reseau-lent", "fr", "published", "Le reseau est lent", "Redémarrez le boîtier le matin."),
    ("printer-offline", "en", "published", "Printer offline", "Switch it off and on again."),
    (
        "paper-tray",
        "en",
        "published",
        "Paper tray",
        "When the printers are offline, check the paper tray first.",
    ),
    (
        "printer-draft",
        "en",
        "draft",
        "Printer offline at Kim's desk",
        "Kim's printer: call Kim on 06 12 34 56 78.",
    ),
    ("old-printer", "en", "retired", "Printer offline (old model)", "Offline printers of the old model."),
]


def add_articles(db: Database, articles=ARTICLES) -> None:
    now = datetime.now(UTC)
    with db.session() as session:
        for slug, language, status, title, body in articles:
            session.add(
                KbArticle(
                    slug=slug,
                    language=language,
                    status=status,
                    title=title,
                    body=body,
                    tags=[],
                    uses=0,
                    updated_at=now,
                )
            )


@pytest.fixture
def searched_desk(tmp_path, db_url):
    return seeded_desk(tmp_path / "desk", ARTICLES, db_url=db_url)


def seeded_desk(directory, articles, **options) -> Desk:
    """A desk whose database holds ``articles`` (besides the shipped files), its daemon not started."""
    desk = Desk(directory, **options)
    app = App.from_config(desk.config)
    try:
        add_articles(app.db, articles)
    finally:
        app.close()
    return desk


def slugs(desk: Desk, query: str) -> list[str]:
    return [hit["slug"] for hit in desk.json("kb", "search", query)]


def test_french_and_english_words_are_found_by_their_stem_with_or_without_accents(searched_desk):
    assert slugs(searched_desk, "imprimantes") == ["imprimante-bloquee"]
    assert slugs(searched_desk, "reinitialiser") == ["mot-de-passe"]  # the article writes "réinitialiser"
    assert slugs(searched_desk, "réseaux") == ["reseau-lent"]  # the article writes "reseau"
    assert slugs(searched_desk, "BOITIER redemarrer") == ["reseau-lent"]
    hits = searched_desk.json("kb", "search", "printers offline")
    assert [hit["slug"] for hit in hits] == ["printer-offline", "paper-tray"]  # the title match first
    assert hits[0]["score"] > hits[1]["score"]
    assert "printers are offline" in hits[1]["excerpt"]


def test_drafts_and_retired_articles_are_never_found(searched_desk):
    found = slugs(searched_desk, "printer offline")
    assert "printer-draft" not in found and "old-printer" not in found
    assert slugs(searched_desk, "Kim") == []


def test_every_word_must_match_and_stop_words_do_not_count(searched_desk):
    assert slugs(searched_desk, "the paper tray") == ["paper-tray"]
    assert slugs(searched_desk, "paper portail") == []
    assert slugs(searched_desk, "le la les") == []
    table = searched_desk.cli("kb", "search", "imprimante").stdout.decode()
    assert "imprimante-bloquee" in table and "SCORE" in table


def test_the_index_follows_an_article_that_is_rewritten_retired_or_published(tmp_path, db_url):
    desk = Desk(tmp_path / "desk", db_url=db_url)
    app = App.from_config(desk.config)
    try:
        add_articles(app.db)
        with app.db.session() as session:
            article = session.query(KbArticle).filter_by(slug="paper-tray").one()
            article.body = "Les cartouches se changent par l'avant."
            session.query(KbArticle).filter_by(slug="printer-offline").one().status = "retired"
            session.query(KbArticle).filter_by(slug="printer-draft").one().status = "published"
        with app.db.session() as session:
            assert [h.article.slug for h in search(session, "printers offline")] == ["printer-draft"]
            assert [h.article.slug for h in search(session, "cartouche")] == ["paper-tray"]
    finally:
        app.close()


UNKNOWN_LANGUAGE = [  # indexed in English and in French both
    (
        "scanner",
        None,
        "published",
        "Scanner à plat en panne",
        "Les imprimantes multifonctions scannent aussi.",
    ),
    (
        "wifi",
        None,
        "published",
        "Wi-Fi keeps dropping",
        "Forget the network, then join it again; le réseau revient.",
    ),
]
QUERIES = [
    "imprimantes",
    "scanners",
    "networks",
    "réseau",
    "reinitialiser",
    "réseaux",
    "printers offline",
    "paper",
    "offline",
    "le bac",
    "portail",
]


@pytest.mark.postgres
def test_sqlite_and_postgresql_give_the_same_answers(tmp_path):
    if not postgres_available():
        pytest.skip("PostgreSQL is not reachable on 127.0.0.1:5432")
    answers = []
    with postgres_url() as pg:
        for url in (f"sqlite:///{tmp_path}/kb.db", pg):
            db = Database(url)
            try:
                db.ensure_schema()
                add_articles(db)
                add_articles(db, UNKNOWN_LANGUAGE)
                with db.session() as session:
                    answers.append(
                        {
                            q: [(h.article.slug, h.excerpt) for h in search(session, q)]
                            + [
                                ("suggest", h.article.slug)
                                for h in search(session, q, every_word=False, language="fr")
                            ]
                            for q in QUERIES
                        }
                    )
            finally:
                db.dispose()
    sqlite, postgres = answers
    assert sqlite == postgres
    assert sqlite["imprimantes"] == [
        ("imprimante-bloquee", "Ouvrez le bac et retirez le papier coincé."),
        ("scanner", "Les imprimantes multifonctions scannent aussi."),
        ("suggest", "imprimante-bloquee"),  # suggestions match titles: the scanner's body is not enough
    ]
