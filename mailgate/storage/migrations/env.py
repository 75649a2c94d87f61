"""Alembic environment: runs migrations over a blocking connection."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from mailgate.storage.db import configure_sqlite
from mailgate.storage.migrate import include_object
from mailgate.storage.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url") or ""
engine = create_engine(url, poolclass=pool.NullPool, hide_parameters=True)
if url.startswith("sqlite"):
    configure_sqlite(engine)

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
        include_object=include_object,
    )
    with context.begin_transaction():
        context.run_migrations()
engine.dispose()
