"""sales leads: the stage of each lead, and the offers mailed to it

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("stage", sa.String(length=16), nullable=True))
    op.execute("UPDATE ticket SET stage = CASE WHEN EXISTS (SELECT 1 FROM message m WHERE m.ticket_id = "
               "ticket.id AND m.kind = 'outbound' AND m.disposition = 'reply') THEN 'contacted' ELSE 'new' "
               "END WHERE type = 'lead'")
    op.create_table(
        "offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("ticket_id", sa.Integer(), nullable=False),
        sa.Column("no", sa.Integer(), nullable=False),
        sa.Column("amount", sa.String(length=32), nullable=False),
        sa.Column("currency", sa.String(length=8), nullable=False, server_default=""),
        sa.Column("text", sa.Text(), nullable=False, server_default=""),
        sa.Column("author", sa.String(length=254), nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["ticket_id"], ["ticket.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("ticket_id", "no"),
    )


def downgrade() -> None:
    op.drop_table("offer")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("stage")
