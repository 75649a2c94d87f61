"""one row per close of a case, for the reports: owner, on time, consulted

The closes already recorded as events are filled in from them, with the case's current owner
and pool (the best that is known of them now) and the default five days for "on time".

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "case_close",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("owner", sa.String(length=254), nullable=False, server_default=""),
        sa.Column("pool", sa.String(length=100), nullable=False, server_default=""),
        sa.Column("on_time", sa.Boolean(), nullable=False, server_default=sa.true()),
        sa.Column("consulted", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_close") as batch:
        batch.create_index("ix_case_close_at", ["at"])
        batch.create_index("ix_case_close_ticket_id", ["ticket_id"])
    op.execute(
        "INSERT INTO case_close (ticket_id, at, owner, pool, on_time, consulted) "
        "SELECT e.ticket_id, e.at, COALESCE((SELECT s.email FROM staff s WHERE s.id = t.owner_id), ''), "
        "t.pool, (e.at <= t.created_at + INTERVAL '5 days'), "
        "EXISTS (SELECT 1 FROM consultation c WHERE c.ticket_id = t.id) "
        "FROM ticket_event e JOIN ticket t ON t.id = e.ticket_id WHERE e.kind = 'closed'"
        if op.get_bind().dialect.name == "postgresql" else
        "INSERT INTO case_close (ticket_id, at, owner, pool, on_time, consulted) "
        "SELECT e.ticket_id, e.at, COALESCE((SELECT s.email FROM staff s WHERE s.id = t.owner_id), ''), "
        "t.pool, (julianday(e.at) - julianday(t.created_at) <= 5), "
        "EXISTS (SELECT 1 FROM consultation c WHERE c.ticket_id = t.id) "
        "FROM ticket_event e JOIN ticket t ON t.id = e.ticket_id WHERE e.kind = 'closed'")


def downgrade() -> None:
    op.drop_table("case_close")
