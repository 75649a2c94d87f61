"""staff, pools, assignment: aliases, pool membership, absences, footers, round-robin cursor

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "pool_state",
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("last_staff_id", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_table(
        "pool_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pool", sa.String(length=100), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("pool", "staff_id"),
    )
    op.create_index("ix_pool_member_staff_id", "pool_member", ["staff_id"])
    op.create_table(
        "staff_alias",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("address", sa.String(length=254), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("address"),
    )
    op.create_index("ix_staff_alias_staff_id", "staff_alias", ["staff_id"])
    with op.batch_alter_table("staff") as batch_op:
        batch_op.add_column(sa.Column("trainee", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("supervisor_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("absent_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("deputy_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("footer_text", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("footer_image", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("footer_image_name", sa.String(length=255), nullable=False,
                                      server_default=""))
        batch_op.create_foreign_key("fk_staff_supervisor", "staff", ["supervisor_id"], ["id"])
        batch_op.create_foreign_key("fk_staff_deputy", "staff", ["deputy_id"], ["id"])
    with op.batch_alter_table("ticket") as batch_op:
        batch_op.add_column(sa.Column("requester_name", sa.String(length=200), nullable=False,
                                      server_default=""))
        batch_op.add_column(sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("acked", sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    with op.batch_alter_table("ticket") as batch_op:
        batch_op.drop_column("acked")
        batch_op.drop_column("assigned_at")
        batch_op.drop_column("requester_name")
    with op.batch_alter_table("staff") as batch_op:
        batch_op.drop_constraint("fk_staff_deputy", type_="foreignkey")
        batch_op.drop_constraint("fk_staff_supervisor", type_="foreignkey")
        for column in ("footer_image_name", "footer_image", "footer_text", "deputy_id", "absent_until",
                       "supervisor_id", "trainee"):
            batch_op.drop_column(column)
    op.drop_table("staff_alias")
    op.drop_table("pool_member")
    op.drop_table("pool_state")
