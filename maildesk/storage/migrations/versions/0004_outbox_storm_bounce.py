"""outbox indexes for the per-ticket hourly cap and for delivery reports quoting a Message-ID

Revision ID: outbox_storm_bounce
Revises: 0003
"""

from alembic import op

revision = "outbox_storm_bounce"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_ticket", "outbox", ["ticket", "created_at"])
    op.create_index("ix_outbox_message_id", "outbox", ["message_id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_message_id", table_name="outbox")
    op.drop_index("ix_outbox_ticket", table_name="outbox")
