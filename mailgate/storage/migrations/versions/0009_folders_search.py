"""folders and search: when a case was last answered and last heard from; a full-text index

``ticket.answered_at`` (the last answer sent to the customer) and ``ticket.customer_at`` (the
customer's last mail) place a case in its folder (``domain.folders``); both are filled in from the
messages already there. Message text gets a full-text index so that ``ticket list --search`` never
scans every body: an FTS5 table kept by triggers on SQLite, a GIN index over
``to_tsvector('simple', text)`` on PostgreSQL.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_SQLITE_FTS = (
    "CREATE VIRTUAL TABLE message_fts USING fts5(text, content='message', content_rowid='id', "
    "tokenize='unicode61 remove_diacritics 2')",
    "CREATE TRIGGER message_fts_insert AFTER INSERT ON message BEGIN "
    "INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text); END",
    "CREATE TRIGGER message_fts_delete AFTER DELETE ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text); END",
    "CREATE TRIGGER message_fts_update AFTER UPDATE OF text ON message BEGIN "
    "INSERT INTO message_fts(message_fts, rowid, text) VALUES ('delete', old.id, old.text); "
    "INSERT INTO message_fts(rowid, text) VALUES (new.id, new.text); END",
    "INSERT INTO message_fts(message_fts) VALUES ('rebuild')",
)


def upgrade() -> None:
    with op.batch_alter_table("ticket") as batch:
        batch.add_column(sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("customer_at", sa.DateTime(timezone=True), nullable=True))
    op.execute("UPDATE ticket SET answered_at = (SELECT max(m.at) FROM message m WHERE m.ticket_id = "
               "ticket.id AND m.kind = 'outbound' AND m.disposition = 'reply'), customer_at = ("
               "SELECT max(m.at) FROM message m WHERE m.ticket_id = ticket.id AND m.kind = 'inbound' "
               "AND m.disposition = 'personal')")
    if op.get_bind().dialect.name == "sqlite":
        for statement in _SQLITE_FTS:
            op.execute(statement)
    else:
        op.execute("CREATE INDEX ix_message_fts ON message USING gin (to_tsvector('simple', text))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("insert", "delete", "update"):
            op.execute(f"DROP TRIGGER message_fts_{trigger}")
        op.execute("DROP TABLE message_fts")
    else:
        op.execute("DROP INDEX ix_message_fts")
    with op.batch_alter_table("ticket") as batch:
        batch.drop_column("customer_at")
        batch.drop_column("answered_at")
