"""knowledge-base article life: status (draft, published, retired), language, the article a draft updates

Existing articles: those filed from a closed ticket (a source ticket) hold
one requester's text, unread by anyone: they become drafts. The others came
from the admins' ``kb/*.md`` files: they stay published.

Revision ID: kb_status
Revises: report_figures
"""

import sqlalchemy as sa
from alembic import op

revision = "kb_status"
down_revision = "report_figures"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("kb_articles") as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("language", sa.String(length=10), nullable=True))
        batch_op.add_column(sa.Column("updates", sa.BigInteger(), nullable=True))
    op.execute(
        "UPDATE kb_articles SET status = CASE WHEN source_ticket IS NULL THEN 'published' ELSE 'draft' END"
    )
    with op.batch_alter_table("kb_articles") as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=20), nullable=False)
        batch_op.create_index("ix_kb_articles_status", ["status", "id"])


def downgrade() -> None:
    with op.batch_alter_table("kb_articles") as batch_op:
        batch_op.drop_index("ix_kb_articles_status")
        batch_op.drop_column("updates")
        batch_op.drop_column("language")
        batch_op.drop_column("status")
