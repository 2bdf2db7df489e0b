"""Keep the full-text index in step with the articles, whoever writes them.

SQLite: the FTS5 table ``kb_search`` (rowid = article id) holds each
article's title and body as stemmed, unaccented words (see
:mod:`maildesk.kb.text`); FTS5's own ``unicode61 remove_diacritics 2``
tokenizer then only splits them. ``kb_search_titles`` holds the titles alone
with the group as a word, for suggestions (short doclists: a request's words
are looked up in titles only). A mapper event rewrites an article's row
whenever one is inserted or its title, body or language change through the
ORM, and removes it with the article, so every path that writes articles
(admins' files, closures, ``kb add``, drafts published with a new text)
keeps the index right without remembering to.

PostgreSQL needs none of this: ``kb_articles.search_vector`` is a generated
column (``maildesk_kb_vector``, see the ``kb_search`` migration) with a GIN
index, computed by the server from the same three columns.

Status is not in the index: search joins ``kb_articles`` and keeps the
published ones, so publishing or retiring an article is seen at once.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import event, inspect, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from maildesk.kb.text import configurations, group, lexemes
from maildesk.storage.models import KbArticle

_DELETE = text("DELETE FROM kb_search WHERE rowid = :id")
_INSERT = text("INSERT INTO kb_search (rowid, title, body, grp) VALUES (:id, :title, :body, :grp)")
# Titles alone, for suggestions, the group as a word of its own (FTS5 finds it with the title words).
_DELETE_TITLE = text("DELETE FROM kb_search_titles WHERE rowid = :id")
_INSERT_TITLE = text("INSERT INTO kb_search_titles (rowid, title, grp) VALUES (:id, :title, :grp_word)")
_BATCH = 2_000


def index_row(article_id: int, title: str, body: str, language: str | None) -> dict:
    """The FTS5 row of one article: its words as the index keeps them (see :mod:`maildesk.kb.text`)."""
    configs = configurations(language)
    return {
        "id": article_id,
        "title": " ".join(lexemes(title or "", configs)),
        "body": " ".join(lexemes(body or "", configs)),
        "grp": group(language),
        "grp_word": group_word(group(language)),
    }


def group_word(name: str) -> str:
    """The index group as one word of the titles table (``english+french`` -> ``englishfrench``)."""
    return name.replace("+", "")


def write_rows(connection: Connection, rows: list[dict]) -> None:
    """Replace the index rows of these articles (SQLite only; PostgreSQL computes its own)."""
    if connection.dialect.name != "sqlite" or not rows:
        return
    ids = [{"id": row["id"]} for row in rows]
    connection.execute(_DELETE, ids)
    connection.execute(_DELETE_TITLE, ids)
    connection.execute(_INSERT, rows)
    connection.execute(_INSERT_TITLE, rows)


def reindex(connection: Connection, ids: Iterable[int] | None = None) -> int:
    """Rewrite the index rows of the articles ``ids`` (all when None); how many were written.

    For articles written with Core statements, which mapper events do not see
    (a bulk load, the migration that creates the index).
    """
    if connection.dialect.name != "sqlite":
        return 0
    columns = select(KbArticle.id, KbArticle.title, KbArticle.body, KbArticle.language).order_by(KbArticle.id)
    written, last = 0, 0
    if ids is not None:
        wanted = sorted(set(ids))
        for start in range(0, len(wanted), _BATCH):
            rows = _rows(connection, columns.where(KbArticle.id.in_(wanted[start : start + _BATCH])))
            write_rows(connection, rows)
            written += len(rows)
        return written
    while rows := _rows(connection, columns.where(KbArticle.id > last).limit(_BATCH)):
        write_rows(connection, rows)
        written, last = written + len(rows), rows[-1]["id"]
    return written


def _rows(connection: Connection, query: Executable) -> list[dict]:  # a Select of index_row's arguments
    return [index_row(*row) for row in connection.execute(query)]


@event.listens_for(KbArticle, "after_insert")
def _indexed(_mapper: object, connection: Connection, article: KbArticle) -> None:
    write_rows(connection, [index_row(article.id, article.title, article.body, article.language)])


@event.listens_for(KbArticle, "after_update")
def _reindexed(_mapper: object, connection: Connection, article: KbArticle) -> None:
    state = inspect(article)
    if any(state.attrs[name].history.has_changes() for name in ("title", "body", "language")):
        write_rows(connection, [index_row(article.id, article.title, article.body, article.language)])


@event.listens_for(KbArticle, "after_delete")
def _unindexed(_mapper: object, connection: Connection, article: KbArticle) -> None:
    if connection.dialect.name == "sqlite":
        connection.execute(_DELETE, {"id": article.id})
        connection.execute(_DELETE_TITLE, {"id": article.id})
