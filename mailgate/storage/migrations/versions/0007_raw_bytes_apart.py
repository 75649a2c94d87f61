"""raw message bytes in tables of their own: inbound_raw and outbox_raw

A row is rewritten whole when any of its columns changes: with the raw bytes in ``inbound`` and
``outbox``, marking a 33 MB message processed or sent copied those 33 MB again (and SQLite fills
a large value in place only as a row's last column). The bytes now live in their own rows,
written once and never updated.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _split(table: str) -> None:
    op.create_table(
        f"{table}_raw",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["id"], [f"{table}.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.execute(f"INSERT INTO {table}_raw (id, raw) SELECT id, raw FROM {table}")
    with op.batch_alter_table(table) as batch:
        batch.drop_column("raw")


def _join(table: str) -> None:
    with op.batch_alter_table(table) as batch:
        batch.add_column(sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.execute(f"UPDATE {table} SET raw = (SELECT raw FROM {table}_raw WHERE {table}_raw.id = {table}.id)")
    op.drop_table(f"{table}_raw")


def upgrade() -> None:
    _split("inbound")
    _split("outbox")


def downgrade() -> None:
    _join("outbox")
    _join("inbound")
