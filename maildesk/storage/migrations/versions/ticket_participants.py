"""who speaks on a ticket: the To/Cc of the request that opened it

Revision ID: ticket_participants
Revises: teams_organisations

Existing tickets get theirs from the header block of their opening message,
still in the inbox; a ticket whose message is gone keeps NULL (only its
requester and the technicians speak on it).
"""

from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import getaddresses

import sqlalchemy as sa
from alembic import op

revision = "ticket_participants"
down_revision = "teams_organisations"
branch_labels = None
depends_on = None

HEADER_BYTES = 16_384  # To and Cc sit in the header block: no need to read whole messages
BATCH = 1_000
MAX_PARTICIPANTS = 500


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("participants", sa.JSON(), nullable=True))
    _backfill(op.get_bind())


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("participants")


def _backfill(connection: sa.Connection) -> None:
    tickets = sa.table(
        "tickets",
        sa.column("number", sa.BigInteger),
        sa.column("requester", sa.String),
        sa.column("root_message_id", sa.String),
        sa.column("participants", sa.JSON),
    )
    inbox = sa.table("inbox", sa.column("message_key", sa.String), sa.column("raw", sa.LargeBinary))
    last = 0
    while True:
        rows = connection.execute(
            sa.select(tickets.c.number, tickets.c.requester, sa.func.substr(inbox.c.raw, 1, HEADER_BYTES))
            .select_from(tickets.join(inbox, inbox.c.message_key == tickets.c.root_message_id))
            .where(tickets.c.number > last)
            .order_by(tickets.c.number)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        updates = [
            {"n": number, "p": _participants(bytes(head or b""), requester)}
            for number, requester, head in rows
        ]
        connection.execute(
            tickets.update()
            .where(tickets.c.number == sa.bindparam("n"))
            .values(participants=sa.bindparam("p")),
            updates,
        )
        last = rows[-1][0]


def _participants(head: bytes, requester: str) -> list[str]:
    headers = BytesHeaderParser(policy=compat32).parsebytes(head)
    values = [str(v) for name in ("to", "cc") for v in headers.get_all(name, [])]
    found: list[str] = []
    for _name, address in getaddresses(values):
        address = address.strip().lower()
        if "@" in address and address != requester and address not in found:
            found.append(address)
    return found[:MAX_PARTICIPANTS]
