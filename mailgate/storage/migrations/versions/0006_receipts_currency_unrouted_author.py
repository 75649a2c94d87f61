"""staff receipts, consultation currency, cases nobody could take, message authors

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("staff") as batch:
        batch.add_column(sa.Column("receipts", sa.Boolean(), nullable=False, server_default=sa.true()))
    with op.batch_alter_table("consultation") as batch:
        batch.add_column(sa.Column("currency", sa.String(length=8), nullable=False, server_default=""))
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("unrouted_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_index("ix_ticket_unrouted", ["unrouted_at"])
    with op.batch_alter_table("message") as batch:
        batch.add_column(sa.Column("author", sa.String(length=254), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("message") as batch:
        batch.drop_column("author")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_index("ix_ticket_unrouted")
        batch.drop_column("unrouted_at")
    with op.batch_alter_table("consultation") as batch:
        batch.drop_column("currency")
    with op.batch_alter_table("staff") as batch:
        batch.drop_column("receipts")
