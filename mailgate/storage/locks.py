"""One process at a time on a named resource: PostgreSQL session advisory locks (SPEC §10).

Each lock lives on its own connection (not one from the unit-of-work pool, which it would hold
for hours), so it ends when the process or its connection dies and another process takes over.
SQLite is for one process: there the lock is always granted, and ``SqliteOwner`` makes sure only
one ``mailgate run`` uses a SQLite database at a time (RELIABILITY row 71).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import logging
import os
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.pool import NullPool

from mailgate.errors import MailgateError
from mailgate.storage.db import DB_ERRORS, Database

log = logging.getLogger(__name__)


class SqliteOwner:
    """The one daemon on a SQLite database: an exclusive ``flock`` on ``<database>.run.lock``.

    SQLite serves one process (a second sender would release the first one's outbox leases and
    send twice); a second ``mailgate run`` refuses to start and says why. The kernel drops the
    lock when the process dies, however it dies. The one-shot CLI commands do not take it.
    """

    def __init__(self, db: Database) -> None:
        name = make_url(db.url).database if db.is_sqlite else None
        self.path = Path(f"{name}.run.lock") if name and name != ":memory:" else None
        self._fd: int | None = None

    def acquire(self) -> None:
        if self.path is None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "another process"
            os.close(fd)
            raise MailgateError(
                f"another mailgate run (pid {holder}) is using {str(self.path)[:-len('.run.lock')]}: "
                "SQLite serves one process; use PostgreSQL to run several") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)


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
        return await asyncio.to_thread(self._acquire, None)

    async def wait_acquire(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for the lock (PostgreSQL: ``pg_advisory_lock`` under a
        ``lock_timeout``): a standby gets it the moment the holder's session ends, instead of at
        its next try."""
        if not self.enabled:
            return True
        return await asyncio.to_thread(self._acquire, seconds)

    def _acquire(self, wait: float | None) -> bool:
        """Take the lock on a connection of its own: at once or not at all (``wait`` None), or
        waiting up to ``wait`` seconds, where a ``lock_timeout`` error means "still held"."""
        assert self._engine is not None
        self._close()
        try:
            conn = self._engine.connect()
        except DB_ERRORS as exc:
            log.warning("lock_unavailable name=%s error=%s", self.name, type(exc).__name__)
            return False
        try:
            if wait is None:
                got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self.key}).scalar())
            else:
                conn.execute(text(f"SET lock_timeout = '{max(1, int(wait * 1000))}ms'"))
                conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": self.key})
                conn.execute(text("SET lock_timeout = 0"))
                got = True
            conn.commit()
        except DB_ERRORS as exc:
            if wait is None:               # waiting, the error is the lock_timeout: still held
                log.warning("lock_unavailable name=%s error=%s", self.name, type(exc).__name__)
            got = False
        if got:
            self._conn = conn
        else:
            with contextlib.suppress(*DB_ERRORS):
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
