"""Engine, sessions and the unit of work; SQLite gets WAL, a busy timeout and one writer at a time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from mailgate.errors import IntakeError


def async_url(url: str) -> str:
    """Map a configured URL onto its asyncio driver."""
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def sync_url(url: str) -> str:
    """Map a configured URL onto its blocking driver (migrations)."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def configure_sqlite(engine: Engine) -> None:
    """WAL, NORMAL sync, a busy timeout, foreign keys, and BEGIN IMMEDIATE for writers."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None  # let us issue BEGIN ourselves
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Taking the write lock up front avoids SQLITE_BUSY on read-to-write upgrades, which
        # busy_timeout cannot wait out (another process, e.g. the CLI, may be writing).
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class Database:
    """The engine and session factory; ``unit_of_work`` is the only way to write."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {} if self.is_sqlite else {"pool_pre_ping": True}
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            configure_sqlite(self.engine.sync_engine)
        self.sessions = async_sessionmaker(self.engine, expire_on_commit=False)
        # SQLite has one writer; serialising our own writers in-process avoids lock waits.
        self._write_lock = asyncio.Lock() if self.is_sqlite else None

    @contextlib.asynccontextmanager
    async def unit_of_work(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits on normal exit, rolls back on any error."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock, self.sessions() as session, session.begin():
            yield session

    @contextlib.asynccontextmanager
    async def reading(self) -> AsyncIterator[AsyncSession]:
        """A read-only session (on SQLite it still takes the writer slot: BEGIN IMMEDIATE)."""
        async with self.unit_of_work() as session:
            yield session

    async def dispose(self) -> None:
        await self.engine.dispose()


DB_ERRORS = (OperationalError, DBAPIError, OSError)


def storage_failure(exc: BaseException) -> IntakeError:
    """Translate a database failure into a retryable intake error."""
    return IntakeError(f"storage unavailable: {type(exc).__name__}")
