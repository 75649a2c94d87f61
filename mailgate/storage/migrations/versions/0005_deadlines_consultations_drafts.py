"""deadlines, consultations, drafts: what issue 6's timers, referrals and approvals keep

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('consultation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('department', sa.String(length=100), nullable=False),
    sa.Column('address', sa.String(length=254), nullable=False),
    sa.Column('asked_by', sa.Integer(), nullable=True),
    sa.Column('question', sa.Text(), nullable=False),
    sa.Column('amount', sa.String(length=40), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('asked_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('due_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('answered_by', sa.String(length=254), nullable=False),
    sa.Column('overdue_notified_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['asked_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.create_index('ix_consultation_due', ['state', 'due_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_consultation_ticket_id'), ['ticket_id'], unique=False)

    op.create_table('draft',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ticket_id', sa.Integer(), nullable=False),
    sa.Column('trainee_id', sa.Integer(), nullable=False),
    sa.Column('supervisor_id', sa.Integer(), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('consult', sa.String(length=500), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('source_message', sa.Integer(), nullable=True),
    sa.Column('close_after', sa.Boolean(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('remind_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reminders', sa.Integer(), nullable=False),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decided_by', sa.String(length=254), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['supervisor_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['ticket_id'], ['ticket.id'], ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trainee_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.create_index('ix_draft_due', ['state', 'remind_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_draft_ticket_id'), ['ticket_id'], unique=False)

    with op.batch_alter_table('pool_state', schema=None) as batch_op:
        batch_op.add_column(sa.Column('digest_on', sa.String(length=10), nullable=False, server_default=''))

    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.add_column(sa.Column('rollover_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reply_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('customer_due_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('close_requested', sa.Boolean(), nullable=False,
                                      server_default=sa.false()))
        batch_op.add_column(sa.Column('answers', sa.JSON(), nullable=False, server_default='{}'))
        batch_op.create_index('ix_ticket_customer_due', ['customer_due_at'], unique=False)
        batch_op.create_index('ix_ticket_reply_due', ['reply_due_at'], unique=False)
        batch_op.create_index('ix_ticket_rollover', ['rollover_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('ix_ticket_rollover')
        batch_op.drop_index('ix_ticket_reply_due')
        batch_op.drop_index('ix_ticket_customer_due')
        batch_op.drop_column('answers')
        batch_op.drop_column('close_requested')
        batch_op.drop_column('customer_due_at')
        batch_op.drop_column('reply_due_at')
        batch_op.drop_column('rollover_at')

    with op.batch_alter_table('pool_state', schema=None) as batch_op:
        batch_op.drop_column('digest_on')

    with op.batch_alter_table('draft', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_draft_ticket_id'))
        batch_op.drop_index('ix_draft_due')

    op.drop_table('draft')
    with op.batch_alter_table('consultation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_consultation_ticket_id'))
        batch_op.drop_index('ix_consultation_due')

    op.drop_table('consultation')
