"""One process at a time on a named resource: PostgreSQL session advisory locks (SPEC §10).

Each lock lives on its own connection (not one from the unit-of-work pool, which it would hold
for hours), so it ends when the process or its connection dies and another process takes over.
SQLite is for one process: there the lock is always granted.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from mailgate.storage.db import DB_ERRORS, Database

log = logging.getLogger(__name__)


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (the same in every process and version)."""
    return int.from_bytes(hashlib.sha256(f"mailgate:{name}".encode()).digest()[:8], "big", signed=True)


class ExclusiveLock:
    """``try_acquire`` → work while ``still_held`` → ``release``."""

    def __init__(self, db: Database, name: str) -> None:
        self.name = name
        self.key = lock_key(name)
        self.enabled = not db.is_sqlite
        self._engine: Engine | None = (create_engine(db.url, poolclass=NullPool, hide_parameters=True)
                                       if self.enabled else None)
        self._conn: Connection | None = None

    async def try_acquire(self) -> bool:
        if not self.enabled:
            return True
        return await asyncio.to_thread(self._try_acquire)

    def _try_acquire(self) -> bool:
        assert self._engine is not None
        self._close()
        try:
            conn = self._engine.connect()
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            conn.commit()
        except DB_ERRORS as exc:
            log.warning("lock_unavailable name=%s error=%s", self.name, type(exc).__name__)
            return False
        if got:
            self._conn = conn
        else:
            conn.close()
        return got

    async def still_held(self) -> bool:
        """False if the lock's connection died (then another process may hold the lock now)."""
        if not self.enabled:
            return True
        return await asyncio.to_thread(self._still_held)

    def _still_held(self) -> bool:
        if self._conn is None:
            return False
        try:
            self._conn.execute(text("SELECT 1")).scalar()
            self._conn.commit()
        except DB_ERRORS:
            self._close()
            return False
        return True

    async def release(self) -> None:
        if self.enabled:
            await asyncio.to_thread(self._close)

    def _close(self) -> None:
        """Closing the session releases its advisory locks."""
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(*DB_ERRORS):
                conn.close()

    async def dispose(self) -> None:
        await self.release()
        if self._engine is not None:
            await asyncio.to_thread(self._engine.dispose)
