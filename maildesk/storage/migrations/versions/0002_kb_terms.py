"""knowledge-base term index

Revision ID: 0002
Revises: 0001
"""

import re

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_STOPWORDS = frozenset(
    [
        "the",
        "and",
        "for",
        "with",
        "from",
        "that",
        "this",
        "have",
        "not",
        "are",
        "was",
        "but",
        "you",
        "your",
        "our",
        "can",
        "cannot",
        "please",
        "help",
        "hello",
        "bonjour",
        "merci",
        "pour",
        "avec",
        "dans",
        "une",
        "des",
        "les",
        "est",
        "pas",
        "sur",
        "vous",
        "nous",
        "mon",
        "mes",
    ]
)


def _terms(text: str) -> set[str]:
    # Frozen copy of maildesk.kb.articles.keywords as of this revision: migrations must not follow later code.
    return {
        w for w in (w.lower() for w in re.findall(r"\w{4,}", text)) if w not in _STOPWORDS and not w.isdigit()
    }


def upgrade() -> None:
    op.create_table(
        "kb_terms",
        sa.Column("term", sa.String(length=64), nullable=False),
        sa.Column("article_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("term", "article_id"),
    )
    connection = op.get_bind()
    rows = connection.execute(sa.text("SELECT id, title FROM kb_articles")).all()
    terms = [
        {"term": term[:64], "article_id": article_id} for article_id, title in rows for term in _terms(title)
    ]
    if terms:
        op.bulk_insert(
            sa.table("kb_terms", sa.column("term", sa.String), sa.column("article_id", sa.BigInteger)), terms
        )


def downgrade() -> None:
    op.drop_table("kb_terms")
