"""report figures recorded as they happen: per-ticket durations, closings, escalations, time, changes

Tickets that exist before this migration are listed in figures_backfill;
``maildesk db upgrade`` derives their figures from their events with the
desk calendar (a migration does not know the configuration).

Revision ID: report_figures
Revises: ticket_participants
"""

import sqlalchemy as sa
from alembic import op

revision = "report_figures"
down_revision = "ticket_participants"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TICKET_COLUMNS = (
    ("first_action_at", sa.DateTime(timezone=True)),
    ("taken_into_account_s", sa.Integer()),
    ("first_answer_at", sa.DateTime(timezone=True)),
    ("first_response_s", sa.Integer()),
    ("first_response_met", sa.Boolean()),
    ("pending_since", sa.DateTime(timezone=True)),
    ("resolution_s", sa.Integer()),
    ("resolve_met", sa.Boolean()),
    ("self_care", sa.Boolean()),
    ("technician", sa.String(length=500)),
    ("changed_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        for name, type_ in _TICKET_COLUMNS:
            batch_op.add_column(sa.Column(name, type_, nullable=True))
        batch_op.add_column(sa.Column("pending_s", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("suggestions", sa.Integer(), server_default="0", nullable=False))
        batch_op.create_index("ix_tickets_created", ["created_at"])
        batch_op.create_index("ix_tickets_closed", ["closed_at"])
    op.create_index(
        "ix_tickets_problem",
        "tickets",
        ["problem"],
        sqlite_where=sa.text("problem IS NOT NULL"),
        postgresql_where=sa.text("problem IS NOT NULL"),
    )
    op.create_table(
        "ticket_closings",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket", sa.BigInteger(), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reopened_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_s", sa.Integer(), nullable=True),
        sa.Column("resolve_met", sa.Boolean(), nullable=True),
        sa.Column("self_care", sa.Boolean(), nullable=False),
        sa.Column("closed_by", sa.String(length=500), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ticket_closings_ticket", "ticket_closings", ["ticket", "reopened_at"])
    op.create_index("ix_ticket_closings_reopened", "ticket_closings", ["reopened_at"])
    op.create_table(
        "ticket_escalations",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("from_level", sa.Integer(), nullable=True),
        sa.Column("to_level", sa.Integer(), nullable=False),
        sa.Column("by_timer", sa.Boolean(), nullable=False),
        sqlite_autoincrement=True,
    )
    # In ticket order and covering: a report joins the tickets in the order they are stored.
    op.create_index(
        "ix_ticket_escalations_ticket", "ticket_escalations", ["ticket", "to_level", "by_timer", "at"]
    )
    op.create_table(
        "time_entries",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("seconds", sa.Integer(), nullable=False),
        sa.Column("technician", sa.String(length=500), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_time_entries_ticket", "time_entries", ["ticket", "at", "seconds"])
    op.create_table(
        "ticket_changes",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("ticket", sa.BigInteger(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("field", sa.String(length=40), nullable=False),
        sa.Column("old_value", sa.String(length=500), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_ticket_changes_lookup", "ticket_changes", ["ticket", "field", "at"])
    op.create_table(
        "self_service_mails",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sender", sa.String(length=500), nullable=False),
        sa.Column("organisation", sa.String(length=300), nullable=True),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_self_service_mails_at", "self_service_mails", ["at"])
    op.create_table(
        "report_runs",
        sa.Column("id", _ID, primary_key=True, autoincrement=True),
        sa.Column("since", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.UniqueConstraint("since", "until", name="uq_report_runs_period"),
    )
    op.create_table(
        "figures_backfill",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("up_to", sa.BigInteger(), nullable=False),
        sa.Column("done_up_to", sa.BigInteger(), nullable=False),
    )
    op.execute(
        "INSERT INTO figures_backfill (id, up_to, done_up_to) "
        "SELECT 1, MAX(number), 0 FROM tickets HAVING COUNT(*) > 0"
    )


def downgrade() -> None:
    for table in (
        "figures_backfill",
        "report_runs",
        "self_service_mails",
        "ticket_changes",
        "time_entries",
        "ticket_escalations",
        "ticket_closings",
    ):
        op.drop_table(table)
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_index("ix_tickets_problem")
        batch_op.drop_index("ix_tickets_closed")
        batch_op.drop_index("ix_tickets_created")
        for name in ("suggestions", "pending_s", *(name for name, _ in reversed(_TICKET_COLUMNS))):
            batch_op.drop_column(name)
