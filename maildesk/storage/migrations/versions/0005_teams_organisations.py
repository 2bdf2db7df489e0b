"""tickets get a team; existing tickets go to their level's team and their organisation

Revision ID: teams_organisations
Revises: outbox_storm_bounce

``maildesk db upgrade`` hands over what the config says (``config.attributes
["maildesk_carry_over"]``): each level's first team, and the domains of each
``[[organisations]]``. Without it (an upgrade run by another tool), tickets keep
no team, which the desk reads as their level's first team.
"""

import sqlalchemy as sa
from alembic import context, op

revision = "teams_organisations"
down_revision = "outbox_storm_bounce"
branch_labels = None
depends_on = None

_tickets = sa.table(
    "tickets",
    sa.column("level", sa.Integer),
    sa.column("team", sa.String),
    sa.column("organisation", sa.String),
    sa.column("requester", sa.String),
)


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.add_column(sa.Column("team", sa.String(length=200), nullable=True))
    carry = context.config.attributes.get("maildesk_carry_over") or {}
    for level, team in (carry.get("level_teams") or {}).items():
        op.execute(
            _tickets.update()
            .where(_tickets.c.level == int(level), _tickets.c.team.is_(None))
            .values(team=team)
        )
    # Tickets always had the requester's domain as organisation; fill any that has none.
    if op.get_bind().dialect.name == "postgresql":
        domain = "lower(split_part(requester, '@', 2))"
    else:
        domain = "lower(substr(requester, instr(requester, '@') + 1))"
    op.execute(
        f"UPDATE tickets SET organisation = {domain} WHERE organisation IS NULL AND requester LIKE '%@%'"
    )
    for domain_name, organisation in (carry.get("organisations") or {}).items():
        op.execute(
            _tickets.update()
            .where(sa.func.lower(_tickets.c.organisation) == domain_name.lower())
            .values(organisation=organisation)
        )


def downgrade() -> None:
    with op.batch_alter_table("tickets") as batch_op:
        batch_op.drop_column("team")
