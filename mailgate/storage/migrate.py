"""Apply the Alembic migrations shipped inside the package.

Alembic (and Mako behind it) is imported only when the database is behind: a daemon starting on
an up-to-date database checks ``alembic_version`` with one query and stays ~10 MB lighter.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Final

from sqlalchemy import create_engine, inspect, text

from mailgate.errors import MigrationError
from mailgate.storage.db import sync_url

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

MIGRATIONS = Path(__file__).with_name("migrations")
#: The newest revision in migrations/versions (a test keeps this equal to Alembic's head).
HEAD: Final = "0018"


#: Schema objects the migrations make by hand, outside the models: the full-text index of message
#: text (an FTS5 table and its shadow tables on SQLite, a GIN expression index on PostgreSQL).
BY_HAND: Final = ("message_fts", "ix_message_fts")


def include_object(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """For Alembic's comparisons: everything but ``BY_HAND``."""
    return not (name or "").startswith(BY_HAND)


def alembic_config(url: str) -> AlembicConfig:
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", sync_url(url).replace("%", "%%"))
    return cfg


def current(url: str) -> str | None:
    """The database's revision, or None for an empty database."""
    engine = create_engine(sync_url(url), hide_parameters=True)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()


def upgrade(url: str, in_child: bool = False) -> None:
    """Bring the database at ``url`` to the newest schema (idempotent).

    ``in_child`` runs Alembic in a short-lived child process, so a long-running daemon never
    carries Alembic and Mako (~10 MB) for the rest of its life after a first start.
    """
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    if current(url) == HEAD:
        return
    if in_child:
        # The URL may hold a password: pass it in the environment, not on the command line.
        result = subprocess.run([sys.executable, "-m", "mailgate.storage.migrate"],
                                env={**os.environ, _URL_VARIABLE: url}, capture_output=True, text=True,
                                check=False)
        if result.returncode != 0:
            raise MigrationError(f"database migration failed: {result.stderr.strip()[-500:]}")
        return
    from alembic import command

    command.upgrade(alembic_config(url), "head")


_URL_VARIABLE: Final = "MAILGATE_MIGRATE_URL"

if __name__ == "__main__":
    upgrade(os.environ[_URL_VARIABLE])
