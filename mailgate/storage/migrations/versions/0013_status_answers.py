"""auto-responses about no case: answers to "+status" are counted against the sender's daily cap

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("auto_response") as batch:
        batch.alter_column("ticket_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM auto_response WHERE ticket_id IS NULL")
    with op.batch_alter_table("auto_response") as batch:
        batch.alter_column("ticket_id", existing_type=sa.Integer(), nullable=False)
