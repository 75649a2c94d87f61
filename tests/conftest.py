"""Fixtures: a real database per test (SQLite file, or PostgreSQL when MAILGATE_TEST_DB says so),
the daemon running in the test's loop with its SMTP receiver on port 0, and a relay sink."""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import TypeVar

import psycopg
import pytest
from aiosmtpd.smtp import SMTP
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from mailgate.app import App
from mailgate.cases.context import Context
from mailgate.config import Config, load_config
from mailgate.outbound.render import Renderer
from mailgate.storage import migrate
from mailgate.storage.db import Database
from mailgate.storage.models import Inbound, Outbox
from tests import dovecot
from tests.corpus import ROOT
from tests.fakes import FrozenClock, SmtpSink

SECRET = "test-secret-0123456789abcdef"
IMAP_PASSWORD = "imap-test-password"
PG_ADMIN = os.environ.get("MAILGATE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
BACKEND = os.environ.get("MAILGATE_TEST_DB", "sqlite")
T = TypeVar("T")


def pytest_report_header() -> str:
    return f"mailgate database backend: {BACKEND}"


def reliability_rows() -> list[int]:
    """The row numbers of ../shared/RELIABILITY.md §2."""
    path = ROOT / "RELIABILITY.md"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return [int(n) for n in re.findall(r"^\| (\d+) \|", text, re.MULTILINE)]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Which RELIABILITY rows the tests that ran reproduce (``@pytest.mark.reliability(N)``)."""
    covered: set[int] = set()
    for reports in terminalreporter.stats.values():
        for report in reports:
            covered.update(getattr(report, "user_properties_rows", ()))
    rows = reliability_rows()
    if covered and rows:
        missing = [n for n in rows if n not in covered]
        terminalreporter.write_line(f"RELIABILITY.md rows reproduced by the tests that ran: "
                                    f"{len(covered & set(rows))}/{len(rows)}"
                                    + (f"; not here: {missing}" if missing else ""))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.passed:
        report.user_properties_rows = tuple(  # type: ignore[attr-defined]
            n for mark in item.iter_markers("reliability") for n in mark.args)


@pytest.fixture(scope="session")
def pg_template() -> Iterator[str | None]:
    """One migrated template database per run; each test clones it (fast) and drops its clone."""
    if BACKEND != "postgresql":
        yield None
        return
    name = f"mgtpl_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    migrate.upgrade(_pg_url(name))
    yield name
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_url(name: str) -> str:
    base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
    return f"{base}/{name}"


@pytest.fixture
def database_url(tmp_path: Path, pg_template: str | None) -> Iterator[str]:
    if pg_template is None:
        yield f"sqlite:///{tmp_path}/mailgate.db"
        return
    name = f"mgtest_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{pg_template}"')
    yield _pg_url(name)
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


MAILBOXES = (("support", "support@example.com", "support", "support"),
             ("billing", "billing@example.com", "support", "support"),
             ("sales", "sales@example.com", "sales", "sales"))


def _mailbox(name: str, address: str, pool: str, kind: str, imap: tuple[int, str] | None,
             imap_extra: str) -> str:
    text = f'[[mailbox]]\nname = "{name}"\naddress = "{address}"\npool = "{pool}"\nkind = "{kind}"\n'
    if imap:
        port, user = imap
        tls = "" if re.search(r"^\s*tls\s*=", imap_extra, re.MULTILINE) else "  tls = false\n"
        own_poll = re.search(r"^\s*poll_interval\s*=", imap_extra, re.MULTILINE)
        poll = "" if own_poll else '  poll_interval = "1s"\n'
        text += (f'  [mailbox.imap]\n  host = "127.0.0.1"\n  port = {port}\n{tls}'
                 f'  username = "{user}"\n  password_env = "MAILGATE_IMAP_PW"\n{poll}'
                 f'{imap_extra}')
    return text


def write_config(tmp_path: Path, database_url: str, sink_port: int | None, extra: str = "",
                 protocol: str = "smtp", max_size: str = "25MB",
                 imap: dict[str, tuple[int, str]] | None = None, imap_extra: str = "",
                 support_pool: str = 'mode = "round_robin"', gateway_extra: str = "",
                 relay_timeout: str = "5s") -> Config:
    """A test config; ``imap`` maps mailbox names to the (port, user) of an IMAP account."""
    smtp_out = (f'[smtp_out]\nhost = "127.0.0.1"\nport = {sink_port}\nstarttls = false\n'
                f'timeout = "{relay_timeout}"\n' if sink_port else "")
    boxes = "\n".join(_mailbox(*box, imap=(imap or {}).get(box[0]), imap_extra=imap_extra)
                       for box in MAILBOXES)
    text = f"""
[gateway]
name = "Example Support"
ticket_prefix = "MG"
database = "{database_url}"
secret_env = "MAILGATE_SECRET"
max_message_size = "{max_size}"
autoresponse_daily_limit = 3
templates = "{Path(__file__).resolve().parents[1] / 'templates'}"
{gateway_extra}

[smtp_in]
listen = "127.0.0.1:0"
protocol = "{protocol}"

{smtp_out}
{boxes}

[[pool]]
name = "support"
{support_pool}

[[pool]]
name = "sales"
mode = "pull"
{extra}
"""
    path = tmp_path / "mailgate.toml"
    path.write_text(text)
    return load_config(path, environ={"MAILGATE_SECRET": SECRET, "MAILGATE_IMAP_PW": IMAP_PASSWORD})


@pytest.fixture(scope="session")
def server() -> Iterator[dovecot.Dovecot]:
    """One real Dovecot for the run (tests use their own users); only started when asked for."""
    instance = dovecot.Dovecot()
    instance.start()
    yield instance
    instance.stop()


@pytest.fixture
async def sink() -> AsyncIterator[SmtpSink]:
    handler = SmtpSink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(handler, loop=loop), "127.0.0.1", 0)
    handler.port = server.sockets[0].getsockname()[1]
    async with server:
        yield handler
        server.close()


@pytest.fixture
def clock() -> FrozenClock:
    return FrozenClock()


class Casework:
    """A migrated database and a context, for case operations without any server."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx

    async def run(self, work: Callable[[Session, datetime], T]) -> T:
        """Run ``work(session, now)`` as one committed unit of work."""
        now = self.ctx.clock.now()
        return await self.ctx.db.run(lambda session: work(session, now))


@pytest.fixture
async def casework(tmp_path: Path, database_url: str, clock: FrozenClock) -> AsyncIterator[Casework]:
    """A database session and a context (no SMTP, no relay: outbound mail stays in the outbox)."""
    config = write_config(tmp_path, database_url, None, extra=CASEWORK_EXTRA,
                          support_pool='mode = "round_robin"\nquestionnaire = ["product"]')
    await asyncio.to_thread(migrate.upgrade, config.database_url)
    db = Database(config.database_url)
    try:
        yield Casework(Context(config=config, db=db, clock=clock,
                               renderer=Renderer(config.resolve(config.gateway.templates))))
    finally:
        await db.dispose()


CASEWORK_EXTRA = """
[[department]]
name = "finance"
address = "finance@example.com"

[[question]]
name = "product"
prompt = "Which product?"
choices = ["Router X", "Other"]
"""


@pytest.fixture
def make_app(tmp_path: Path, database_url: str, sink: SmtpSink,
             clock: FrozenClock) -> Iterator[Callable[..., App]]:
    def build(**kwargs: object) -> App:
        config = write_config(tmp_path, database_url, sink.port, **kwargs)  # type: ignore[arg-type]
        return App.build(config, clock=clock)
    yield build


@pytest.fixture
async def app(make_app: Callable[..., App]) -> AsyncIterator[App]:
    async with running(make_app()) as instance:
        yield instance


class running:
    """Run the daemon in the test's loop; stop it gracefully on exit."""

    def __init__(self, instance: App) -> None:
        self.app = instance
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> App:
        self.task = asyncio.create_task(self.app.run())
        started = asyncio.create_task(self.app.started.wait())
        await asyncio.wait({self.task, started}, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        if self.task.done():
            self.task.result()
        return self.app

    async def __aexit__(self, *exc: object) -> None:
        self.app.stop()
        assert self.task is not None
        await asyncio.wait_for(self.task, 30)


def _queues(session: Session, now: datetime) -> tuple[int, int]:
    pending_in = session.scalar(
        select(func.count()).select_from(Inbound).where(Inbound.state == "pending"))
    due_out = session.scalar(select(func.count()).select_from(Outbox).where(
        Outbox.state == "pending", or_(Outbox.attempts == 0, Outbox.next_attempt_at <= now)))
    return int(pending_in or 0), int(due_out or 0)


async def settle(app: App, seconds: float = 10.0) -> None:
    """Wait until every stored message is processed and every due outbox row is handled."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pending_in = due_out = -1
    while loop.time() < deadline:
        pending_in, due_out = await app.ctx.db.run(partial(_queues, now=app.ctx.clock.now()))
        if not pending_in and not due_out:
            return
        app.inbound_ready.notify()
        app.outbox_ready.notify()
        await asyncio.sleep(0.02)
    raise AssertionError(f"mailgate did not settle: {pending_in} stored messages and {due_out} due "
                         f"outbound mails left after {seconds:.0f} s")
