"""Which database failures leave a message pending to be tried again, and which quarantine it."""

from __future__ import annotations

import sqlite3

import psycopg
import pytest
from sqlalchemy.exc import DataError, InterfaceError, OperationalError

from mailgate.storage.db import transient


@pytest.mark.parametrize(("exc", "expected"), [
    (OperationalError("x", {}, psycopg.errors.AdminShutdown("terminating connection")), True),
    (OperationalError("x", {}, psycopg.errors.SerializationFailure("could not serialize")), True),
    (OperationalError("x", {}, sqlite3.OperationalError("database is locked")), True),
    (OperationalError("x", {}, sqlite3.OperationalError("disk I/O error")), True),
    (OperationalError("x", {}, sqlite3.OperationalError("no such table: message")), False),
    (OperationalError("x", {}, sqlite3.OperationalError("x"), connection_invalidated=True), True),
    (InterfaceError("x", {}, psycopg.InterfaceError("connection already closed")), True),
    (DataError("x", {}, psycopg.errors.StringDataRightTruncation("too long")), False),
    (ConnectionResetError(), True),
    (ValueError("a bug"), False),
])
def test_transient(exc: BaseException, expected: bool) -> None:
    assert transient(exc) is expected
