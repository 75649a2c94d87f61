#!/usr/bin/env python3
"""Benchmark: mailgate's paths, each on SQLite and on PostgreSQL with one and two processes, in
one table next to two floors measured in the same run. A benchmark, not a test: it asserts
nothing about speed (with --short, a row that breaks makes the exit status 1).

Rows: SMTP intake → committed case with its auto-response queued (one connection, and four at
once as an MTA delivers); IMAP ingest from a real Dovecot (and an append during IDLE → case);
receive → commit latency; an operator's reply → relayed to the customer; the outbound drain to
an aiosmtpd sink; web form → case; ``mailgate import`` of an mbox; peak RSS. Floors, on the same
database: stdlib parse (``policy=default``) + an ORM commit of a ticket and a message, and the
closer limit of a compat32 parse + a Core insert.

    .venv/bin/python scripts/bench.py [-n 2000] [--short] [--peers] [--rows smtp,imap,...]
                                      [--targets sqlite,pg1,pg2]

``--peers`` also runs roundup-mailgw and django-helpdesk on the same corpus (../shared/bench).
``--search N``, ``--report N`` (and ``--…-only``) add the generated-data figures of bench_large.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import email
import email.policy
import importlib.util
import json
import mailbox
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosmtplib
from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlalchemy import ForeignKey, String, Text, create_engine, insert, text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.pool import NullPool

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests import dovecot  # noqa: E402  (the test suite's Dovecot harness, reused)

SHARED = Path(os.environ.get("MAILGATE_SHARED", ROOT.parent / "shared"))
PG_ADMIN = os.environ.get("MAILGATE_TEST_PG", "postgresql://root@127.0.0.1:5432/test")
SECRET = "bench-secret-0123456789abcdef"


@dataclass(frozen=True)
class Sizes:
    n: int = 2000            # corpus messages for SMTP and IMAP intake
    drain: int = 2000        # queued outbound mails
    replies: int = 200       # operator replies
    web: int = 1000          # web form submissions, by 20 clients
    imports: int = 5000      # messages in the imported mbox
    idle: int = 50           # IMAP appends during IDLE, one at a time


SHORT = Sizes(n=200, drain=200, replies=20, web=100, imports=300, idle=5)


def load_corpus(n: int) -> list[bytes]:
    spec = importlib.util.spec_from_file_location("corpus", SHARED / "bench" / "corpus.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.load(n))


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def harmonic(a: float, b: float) -> float:
    """The rate of doing both, one after the other, per message."""
    return 1 / (1 / a + 1 / b)


# --- the floors ---------------------------------------------------------------------------------

def floor_parse(msgs: list[bytes]) -> float:
    """stdlib parse with ``policy=default``, as in the baselines."""
    started = time.perf_counter()
    for raw in msgs:
        m = email.message_from_bytes(raw, policy=email.policy.default)
        for h in ("from", "to", "subject", "message-id", "in-reply-to", "references"):
            m.get(h)
        body = m.get_body(preferencelist=("plain", "html"))  # type: ignore[attr-defined]
        if body is not None:
            body.get_content()
        for att in m.iter_attachments():  # type: ignore[attr-defined]
            att.get_content()
    return len(msgs) / (time.perf_counter() - started)


def floor_parse_compat32(msgs: list[bytes]) -> float:
    """The closer limit: the compat32 parser (what mailgate uses), raw headers, decoded parts."""
    started = time.perf_counter()
    for raw in msgs:
        m = email.message_from_bytes(raw)
        for h in ("from", "to", "subject", "message-id", "in-reply-to", "references"):
            m.get(h)
        for part in m.walk():
            if not part.is_multipart():
                part.get_payload(decode=True)
    return len(msgs) / (time.perf_counter() - started)


class _Base(DeclarativeBase):
    pass


class _Ticket(_Base):
    __tablename__ = "ticket"
    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(500))


class _Message(_Base):
    __tablename__ = "message"
    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("ticket.id"))
    body: Mapped[str] = mapped_column(Text)


def _floor_engine(url: str) -> Any:
    engine = create_engine(url)
    if url.startswith("sqlite"):
        with engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA journal_mode=WAL")
    _Base.metadata.create_all(engine)
    return engine


def floor_orm(msgs: list[bytes], url: str) -> float:
    """One ORM transaction per message: a ticket, then its message."""
    engine = _floor_engine(url)
    started = time.perf_counter()
    for i, raw in enumerate(msgs):
        with OrmSession(engine) as session, session.begin():
            ticket = _Ticket(subject=f"subject {i}")
            session.add(ticket)
            session.flush()
            session.add(_Message(ticket_id=ticket.id, body=raw[:2000].decode("latin-1")))
    engine.dispose()
    return len(msgs) / (time.perf_counter() - started)


def floor_core(msgs: list[bytes], url: str) -> float:
    """One Core transaction per message: two compiled INSERTs, the ticket's id by RETURNING."""
    engine = _floor_engine(url)
    add_ticket = insert(_Ticket).returning(_Ticket.id)
    add_message = insert(_Message)
    started = time.perf_counter()
    with engine.connect() as conn:
        for i, raw in enumerate(msgs):
            with conn.begin():
                ticket_id = conn.execute(add_ticket, {"subject": f"subject {i}"}).scalar_one()
                conn.execute(add_message, {"ticket_id": ticket_id, "body": raw[:2000].decode("latin-1")})
    engine.dispose()
    return len(msgs) / (time.perf_counter() - started)


# --- databases, relay, daemons ---------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    key: str           # sqlite | pg1 | pg2
    label: str
    processes: int

    @property
    def postgresql(self) -> bool:
        return self.key != "sqlite"


TARGETS = (Target("sqlite", "SQLite", 1), Target("pg1", "PostgreSQL x1", 1),
           Target("pg2", "PostgreSQL x2", 2))


class Databases:
    """A fresh database for each row: a SQLite file, or a PostgreSQL database dropped at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.made: list[str] = []

    @staticmethod
    def postgresql_up() -> bool:
        try:
            import psycopg
            psycopg.connect(PG_ADMIN, connect_timeout=3).close()
        except Exception:
            return False
        return True

    def fresh(self, target: Target, tag: str) -> str:
        if not target.postgresql:
            return f"sqlite:///{self.folder}/{tag}.db"
        import psycopg
        name = f"mgbench_{target.key}_{tag}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{name}"')
        self.made.append(name)
        base = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        return f"{base}/{name}"

    def close(self) -> None:
        if not self.made:
            return
        import psycopg
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            for name in self.made:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class Sink:
    """The relay: counts what it gets, with arrival times and recipients."""

    def __init__(self) -> None:
        self.count = 0
        self.arrivals: list[tuple[float, str, bytes]] = []
        self.keep = False

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.count += 1
        self.arrivals.append((time.perf_counter(), envelope.rcpt_tos[0] if envelope.rcpt_tos else "",
                              bytes(envelope.original_content or b"") if self.keep else b""))
        return "250 OK"


@contextlib.asynccontextmanager
async def relay() -> Any:
    sink = Sink()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(sink, loop=loop), "127.0.0.1", 0)
    sink.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    try:
        yield sink
    finally:
        server.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_config(folder: Path, port: int, sink_port: int, url: str | None = None, web_port: int = 0,
                 imap: tuple[tuple[int, str], ...] = (), poll: int = -1) -> Path:
    """A daemon's config in ``folder``: mailbox support (and support1… for more IMAP accounts);
    ``poll``: the index of the IMAP account this process polls (-1: all)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".env").write_text(f"MAILGATE_SECRET={SECRET}\nMAILGATE_IMAP_PW={dovecot.PASSWORD}\n")
    boxes = []
    for i, account in enumerate(imap or ((0, ""),)):
        name = "support" if i == 0 else f"support{i}"
        box = f'[[mailbox]]\nname = "{name}"\naddress = "{name}@example.com"\npool = "support"\n'
        if imap and poll in (-1, i):
            box += (f'  [mailbox.imap]\n  host = "127.0.0.1"\n  port = {account[0]}\n  tls = false\n'
                    f'  username = "{account[1]}"\n  password_env = "MAILGATE_IMAP_PW"\n')
        boxes.append(box)
    web = (f'[web]\nlisten = "127.0.0.1:{web_port}"\npublic_url = "http://127.0.0.1:{web_port}"\n'
           f'rate_limit = "1000000/h"\n\n[[web.form]]\nname = "contact"\nmailbox = "support"\n'
           if web_port else "")
    path = folder / "mailgate.toml"
    path.write_text(f"""
[gateway]
name = "Bench Support"
database = "{url or f'sqlite:///{folder}/mailgate.db'}"
secret_env = "MAILGATE_SECRET"
templates = "{ROOT / 'templates'}"
autoresponse_daily_limit = 100000

[smtp_in]
listen = "127.0.0.1:{port}"

[smtp_out]
host = "127.0.0.1"
port = {sink_port}
starttls = false

{chr(10).join(boxes)}
[[pool]]
name = "support"
mode = "round_robin"

{web}""")
    return path


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@dataclass
class Daemon:
    folder: Path
    port: int
    web_port: int
    proc: subprocess.Popen[bytes]

    @property
    def log(self) -> str:
        return (self.folder / "daemon.log").read_text(errors="replace")


def spawn(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    with log.open("wb") as stderr:
        return subprocess.Popen([sys.executable, "-m", "mailgate", "--config", str(config), "run"],
                                stderr=stderr, env=env, cwd=config.parent)


async def wait_port(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError("mailgate exited during start-up")
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            await asyncio.sleep(0.05)
    raise RuntimeError("mailgate did not start")


@dataclass
class Daemons:
    """``processes`` daemons on one database, each with its own SMTP (and web) port."""

    folder: Path
    url: str
    processes: int
    sink_port: int
    web: bool = False
    imap: tuple[tuple[int, str], ...] = ()
    running: list[Daemon] = field(default_factory=list)

    def configs(self) -> list[Path]:
        paths = []
        for i in range(self.processes):
            port, web_port = free_port(), free_port() if self.web else 0
            poll = i if len(self.imap) > 1 else -1
            paths.append(write_config(self.folder / f"p{i}", port, self.sink_port, self.url, web_port,
                                      self.imap, poll))
        return paths

    async def __aenter__(self) -> list[Daemon]:
        for path in self.configs():
            text_ = path.read_text()
            port = int(re.search(r'listen = "127.0.0.1:(\d+)"', text_)[1])  # type: ignore[index]
            web = re.search(r'\[web\]\nlisten = "127.0.0.1:(\d+)"', text_)
            self.running.append(Daemon(path.parent, port, int(web[1]) if web else 0,
                                       spawn(path, path.parent / "daemon.log")))
            await wait_port(port, self.running[-1].proc)     # one at a time: migrations run once
            if web:
                await wait_port(int(web[1]), self.running[-1].proc)
        return self.running

    async def __aexit__(self, *exc: object) -> None:
        for daemon in self.running:
            daemon.proc.terminate()
        for daemon in self.running:
            await asyncio.to_thread(daemon.proc.wait, 60)   # the relay lives in this loop: keep it going


class Counts:
    """What the daemons have done, read from their database."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url, poolclass=NullPool)

    def __call__(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT (SELECT count(*) FROM inbound WHERE state = 'pending'),"
                " (SELECT count(*) FROM ticket), (SELECT count(*) FROM outbox),"
                " (SELECT count(*) FROM outbox WHERE state = 'sent')")).one()
        return {"pending": row[0], "cases": row[1], "queued": row[2], "sent": row[3]}

    async def until(self, done: Callable[[dict[str, int]], bool], seconds: float = 600) -> dict[str, int]:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            with contextlib.suppress(Exception):      # the schema may not be there yet
                if done(state := await asyncio.to_thread(self)):
                    return state
            await asyncio.sleep(0.01)
        raise RuntimeError("mailgate did not finish")

    def close(self) -> None:
        self.engine.dispose()


def commit_latencies(daemons: list[Daemon]) -> list[float]:
    return [float(m) for d in daemons for m in re.findall(r"intake_stored .* ms=([\d.]+)", d.log)]


async def send_stream(port: int, msgs: list[bytes], sender: str = "customer@bench.example",
                      rcpts: list[str] | None = None) -> None:
    """One SMTP client on one reused connection, one message after the other (closed loop), each
    to ``support@example.com`` or to its own of ``rcpts``."""
    if not msgs:
        return
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=port, start_tls=False, timeout=120)
    await client.connect()
    for raw, rcpt in zip(msgs, rcpts or ["support@example.com"] * len(msgs), strict=True):
        await client.sendmail(sender, [rcpt], raw)
    await client.quit()


def peak_rss(daemons: list[Daemon]) -> float:
    """The largest peak resident memory (VmHWM) of the daemons so far, in MB."""
    return max(peak_rss_mb(d.proc.pid) for d in daemons)


def split(items: list[Any], parts: int) -> list[list[Any]]:
    return [items[i::parts] for i in range(parts)]


# --- the rows -----------------------------------------------------------------------------------
# Each takes (databases, target, folder, corpus, sizes) and returns its figures.

Figures = dict[str, float]


async def row_smtp(dbs: Databases, target: Target, folder: Path, msgs: list[bytes],
                   sizes: Sizes, connections: int = 1) -> Figures:
    """SMTP intake: each process gets its share of the corpus on ``connections`` reused
    connections; done when every message is a committed case (or quarantined) with its
    auto-response queued."""
    url = dbs.fresh(target, f"smtp{connections}")
    counts = Counts(url)
    try:
        async with relay() as sink, Daemons(folder, url, target.processes, sink.port) as daemons:
            started = time.perf_counter()
            await asyncio.gather(*(send_stream(d.port, stream)
                                   for d, part in zip(daemons, split(msgs, len(daemons)), strict=True)
                                   for stream in split(part, connections)))
            await counts.until(lambda s: s["pending"] == 0)
            elapsed = time.perf_counter() - started
            rss = peak_rss(daemons)
        latencies = commit_latencies(daemons)
    finally:
        counts.close()
    return {"rate": len(msgs) / elapsed, "p50": pct(latencies, 50), "p99": pct(latencies, 99), "rss": rss}


async def row_imap(dbs: Databases, target: Target, folder: Path, msgs: list[bytes],
                   sizes: Sizes) -> Figures:
    """IMAP ingest from a real Dovecot: the corpus is appended first (one account per process,
    each polled by its own process), then the daemons start; done when every INBOX is empty
    (each message moved after its commit). With one process, then ``sizes.idle`` appends one at a
    time during IDLE, each timed to its case."""
    server = dovecot.Dovecot()
    server.start()
    url = dbs.fresh(target, "imap")
    counts = Counts(url)
    try:
        users = [server.add_user(f"bench{i}") for i in range(target.processes)]
        for user, part in zip(users, split(msgs, len(users)), strict=True):
            await asyncio.to_thread(server.append, user, part)
        async with relay() as sink:
            started = time.perf_counter()
            async with Daemons(folder, url, target.processes, sink.port,
                               imap=tuple((server.port, u) for u in users)) as daemons:
                while any([await asyncio.to_thread(server.count, u, "INBOX") for u in users]):
                    await asyncio.sleep(0.05)
                await counts.until(lambda s: s["pending"] == 0)
                elapsed = time.perf_counter() - started
                idle: list[float] = []
                for i in range(sizes.idle if target.processes == 1 else 0):
                    before = (await asyncio.to_thread(counts))["cases"]
                    began = time.perf_counter()
                    await asyncio.to_thread(server.append, users[0], [
                        f"From: idle{i}@bench.example\r\nSubject: idle {i}\r\n\r\nhi\r\n".encode()])
                    await counts.until(lambda s, b=before: s["cases"] > b)   # type: ignore[misc]
                    idle.append((time.perf_counter() - began) * 1000)
                rss = peak_rss(daemons)
        push = await asyncio.to_thread(idle_floor, server, sizes.idle) if idle else []
    finally:
        counts.close()
        server.stop()
    figures = {"rate": len(msgs) / elapsed, "rss": rss}
    if idle:                           # one process only: the IDLE rows stay empty for two
        figures.update(idle_p50=pct(idle, 50), idle_p99=pct(idle, 99), push_p50=pct(push, 50),
                       push_p99=pct(push, 99))
    return figures


def idle_floor(server: dovecot.Dovecot, samples: int) -> list[float]:
    """Dovecot's own push delay: a bare IMAP client in IDLE, append → ``* n EXISTS``, in ms."""
    import threading

    user = server.add_user("idleprobe")
    server.append(user, [b"Subject: first\r\n\r\nhi\r\n"])
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        reader = sock.makefile("rb")

        def command(line: bytes, tag: bytes | None) -> None:
            sock.sendall(line + b"\r\n")
            while tag is not None and not reader.readline().startswith(tag + b" "):
                pass

        reader.readline()
        command(b"a LOGIN " + user.encode() + b" " + dovecot.PASSWORD.encode(), b"a")
        command(b"b SELECT INBOX", b"b")
        found = []
        for _ in range(samples):
            command(b"c IDLE", None)
            reader.readline()                                  # + idling
            began = time.perf_counter()
            threading.Thread(target=server.append, args=(user, [b"Subject: next\r\n\r\nhi\r\n"])).start()
            reader.readline()                                  # * n EXISTS
            found.append((time.perf_counter() - began) * 1000)
            command(b"DONE", b"c")
    return found


def _auto_response(i: int) -> bytes:
    """A typical queued mail: an auto-response of about 1.5 KB."""
    body = ("Hello,\r\n\r\nthank you for writing to Bench Support. Your request has been received and "
            f"is being handled under the number MG#{i}; please keep it in the subject of your replies.\r\n"
            ) * 4
    return (f"From: Bench Support <support@example.com>\r\nTo: c{i}@bench.example\r\n"
            f"Subject: [MG#{i}] Your request\r\nMessage-ID: <drain-{i}@bench.example>\r\n"
            f"Date: Tue, 01 Dec 2026 10:00:00 +0000\r\nMIME-Version: 1.0\r\n"
            f"Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").encode()


async def row_drain(dbs: Databases, target: Target, folder: Path, msgs: list[bytes],
                    sizes: Sizes) -> Figures:
    """The outbound drain: ``sizes.drain`` mails queued before the daemons start, sent to an
    aiosmtpd sink; timed from the first mail's arrival to the last's."""
    from mailgate.storage import migrate, outbox
    from mailgate.storage.db import Database

    url = dbs.fresh(target, "drain")
    await asyncio.to_thread(migrate.upgrade, url, True)
    db = Database(url)
    now = datetime.now(UTC)

    def queue(session: OrmSession) -> None:
        for i in range(sizes.drain):
            outbox.enqueue(session, ticket_id=None, mail_from="support@example.com",
                           rcpt_to=[f"c{i}@bench.example"], subject=f"[MG#{i}] Your request",
                           message_id=f"<drain-{i}@bench.example>", raw=_auto_response(i), now=now)

    await db.run(queue)
    await db.dispose()
    async with relay() as sink, Daemons(folder, url, target.processes, sink.port) as daemons:
        deadline = time.perf_counter() + 600
        while sink.count < sizes.drain and time.perf_counter() < deadline:
            await asyncio.sleep(0.01)
        rss = peak_rss(daemons)
    first, last = sink.arrivals[0][0], sink.arrivals[-1][0]
    return {"rate": (len(sink.arrivals) - 1) / (last - first), "rss": rss}


async def row_reply(dbs: Databases, target: Target, folder: Path, msgs: list[bytes],
                    sizes: Sizes) -> Figures:
    """An operator's reply → relayed to the customer: ``sizes.replies`` cases are opened and
    forwarded to one operator; the operator's replies (to the forwards' signed Reply-To) are then
    sent over one connection per process, timed until the last answer reached the relay."""
    from mailgate.app import App
    from mailgate.config import load_config
    from mailgate.services import staff
    from mailgate.storage import migrate
    from tests.integration.test_operators import client_reply
    from tests.mailer import mail

    url = dbs.fresh(target, "reply")
    await asyncio.to_thread(migrate.upgrade, url, True)
    async with relay() as sink:
        sink.keep = True
        async with Daemons(folder, url, target.processes, sink.port) as daemons:
            admin = App.build(load_config(daemons[0].folder / "mailgate.toml"))
            await staff.add_user(admin.ctx, "op@example.com", staff.StaffEdit(name="Op", pools=("support",)))
            await admin.ctx.db.dispose()
            n = sizes.replies
            questions = [mail(subject=f"Question {i}", sender=f"q{i}@bench.example").as_bytes()
                         for i in range(n)]
            await send_stream(daemons[0].port, questions)
            deadline = time.perf_counter() + 300
            while sum(r == "op@example.com" for _, r, _ in sink.arrivals) < n:
                assert time.perf_counter() < deadline, "forwards did not arrive"
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.2)
            forwards = [email.message_from_bytes(raw, policy=email.policy.default)
                        for _, rcpt, raw in sink.arrivals if rcpt == "op@example.com"]
            replies = [client_reply(f, "Op <op@example.com>", "Fixed: please try again.")
                       for f in forwards]  # type: ignore[arg-type]
            mark = len(sink.arrivals)
            started = time.perf_counter()
            await asyncio.gather(*(
                send_stream(d.port, [r.as_bytes() for r in part], "op@example.com",
                            [r["To"].addresses[0].addr_spec for r in part])
                for d, part in zip(daemons, split(replies, len(daemons)), strict=True)))
            while sum(r.startswith("q") for _, r, _ in sink.arrivals[mark:]) < n:
                assert time.perf_counter() < deadline + 300, "answers did not arrive"
                await asyncio.sleep(0.005)
            elapsed = time.perf_counter() - started
            rss = peak_rss(daemons)
    return {"rate": n / elapsed, "rss": rss}


async def row_web(dbs: Databases, target: Target, folder: Path, msgs: list[bytes],
                  sizes: Sizes) -> Figures:
    """Web form → committed case: 20 concurrent clients (each with its own cookies) spread over the
    processes, each opening the form and sending it until ``sizes.web`` are done. The POST's
    answer comes after the commit, so its latency is submission-to-case."""
    import aiohttp

    url = dbs.fresh(target, "web")
    latencies: list[float] = []
    left = list(range(sizes.web))
    async with relay() as sink, Daemons(folder, url, target.processes, sink.port, web=True) as daemons:

        async def browser(k: int) -> None:
            base = f"http://127.0.0.1:{daemons[k % len(daemons)].web_port}/form/contact"
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                async with http.get(base) as page:
                    token = re.search(r'name="csrf_token" value="([^"]+)"', await page.text())
                assert token
                while left:
                    n = left.pop()
                    data = {"csrf_token": token[1], "name": f"Client {n}", "email": f"c{n}@bench.example",
                            "subject": f"Question {n}", "message": "Hello,\nplease call me back.",
                            "website": ""}
                    sent = time.perf_counter()
                    async with http.post(base, data=data) as done:
                        assert done.status == 200, done.status
                        await done.read()
                    latencies.append((time.perf_counter() - sent) * 1000)

        started = time.perf_counter()
        await asyncio.gather(*(browser(k) for k in range(20)))
        elapsed = time.perf_counter() - started
        rss = peak_rss(daemons)
    return {"rate": sizes.web / elapsed, "p50": pct(latencies, 50), "p99": pct(latencies, 99), "rss": rss}


async def row_import(dbs: Databases, target: Target, folder: Path, msgs: list[bytes],
                     sizes: Sizes) -> Figures:
    """``mailgate import`` of an mbox of ``sizes.imports`` messages (the corpus repeated, each copy
    with a Message-ID of its own); with two processes, two imports of half each at once. Peak
    RSS is the importing process's own (VmHWM, sampled)."""
    from mailgate.storage import migrate

    url = dbs.fresh(target, "import")
    await asyncio.to_thread(migrate.upgrade, url, True)
    procs = []
    started = time.perf_counter()
    for p in range(target.processes):
        box_path = folder / f"import{p}.mbox"
        box = mailbox.mbox(box_path)
        for i in range(p, sizes.imports, target.processes):
            box.add(f"Message-ID: <bench-import-{i}@bench.example>\r\n".encode() + msgs[i % len(msgs)])
        box.flush()
        box.close()
    started = time.perf_counter()
    for p in range(target.processes):
        config = write_config(folder / f"import{p}", free_port(), free_port(), url)
        command = [sys.executable, "-m", "mailgate", "--config", str(config), "import",
                   str(folder / f"import{p}.mbox"), "--json"]
        with (config.parent / "import.log").open("wb") as log:          # its log: not on our terminal
            procs.append(subprocess.Popen(command, cwd=config.parent, stdout=subprocess.PIPE,  # noqa: ASYNC220
                                          stderr=log))
    peak = 0.0
    while any(proc.poll() is None for proc in procs):
        for proc in procs:
            with contextlib.suppress(OSError):
                peak = max(peak, peak_rss_mb(proc.pid))
        await asyncio.sleep(0.1)
    elapsed = time.perf_counter() - started
    stored = 0
    for proc in procs:
        assert proc.stdout is not None and proc.returncode == 0, proc.returncode
        stored += json.loads(proc.stdout.read())["stored"]
    assert stored == sizes.imports, stored
    return {"rate": sizes.imports / elapsed, "rss": peak}


async def row_smtp4(dbs: Databases, target: Target, folder: Path, msgs: list[bytes],
                    sizes: Sizes) -> Figures:
    """SMTP intake as an MTA delivers: four connections at once into each process."""
    return await row_smtp(dbs, target, folder, msgs, sizes, connections=4)


ROWS: dict[str, Callable[..., Awaitable[Figures]]] = {
    "smtp": row_smtp, "smtp4": row_smtp4, "imap": row_imap, "reply": row_reply, "drain": row_drain,
    "web": row_web, "import": row_import,
}


def floors(dbs: Databases, target: Target, msgs: list[bytes], parse: tuple[float, float]) -> Figures:
    """The floors on this target's database (one process: the physical limit of one)."""
    orm = floor_orm(msgs, dbs.fresh(target, "floor_orm"))
    core = floor_core(msgs, dbs.fresh(target, "floor_core"))
    return {"orm": harmonic(parse[0], orm), "core": harmonic(parse[1], core)}


# --- the peers -----------------------------------------------------------------------------------

def peers() -> dict[str, str]:
    """roundup-mailgw and django-helpdesk on the same corpus, as ../shared/bench/README.md says."""
    here = SHARED / "bench"
    out: dict[str, str] = {}

    def run(*cmd: str, cwd: Path = here) -> str:
        done = subprocess.run([sys.executable, *cmd], cwd=cwd, capture_output=True, text=True, timeout=1800)
        found = re.findall(r"([\d.]+)(?: \([\d.-]+\))?\s*msg/s", done.stdout + done.stderr)
        if found:
            return f"{float(found[-1]):.0f} msg/s"
        last = (done.stderr or done.stdout).strip().splitlines()[-1:] or [""]
        print(f"{cmd[0]} failed: {last[0][:300]}", file=sys.stderr)
        return f"failed ({done.returncode})"

    out["roundup-mailgw"] = run("bench_roundup.py", "--mode", "mbox", "-r", "1")
    # Not captured: the Dovecot it starts would hold the pipe open (it keeps its stdout).
    quiet = {"cwd": here, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "check": False}
    subprocess.run(["sh", str(here / "dovecot_up.sh")], **quiet)  # type: ignore[call-overload]
    try:
        with tempfile.TemporaryDirectory(prefix="mailgate-peer-") as tmp:
            # bench_django_helpdesk.py refills INBOX with an imap_load.py that ../shared/bench
            # lacks: it runs here from a copy, beside a loader of the same corpus.
            for name in ("bench_django_helpdesk.py", "benchutil.py"):
                shutil.copy(here / name, tmp)
            (Path(tmp) / "imap_load.py").write_text(IMAP_LOAD.format(corpus=str(here / "corpus.py")))
            out["django-helpdesk"] = run("bench_django_helpdesk.py", "-r", "1", cwd=Path(tmp))
    finally:
        subprocess.run(["sh", str(here / "dovecot_down.sh")], **quiet)  # type: ignore[call-overload]
    return out


#: The loader bench_django_helpdesk.py calls: the 2,000-message corpus into the INBOX of
#: dovecot_up.sh's account (emptied first), one APPEND each.
IMAP_LOAD = """import imaplib, importlib.util, os
spec = importlib.util.spec_from_file_location("corpus", {corpus!r})
corpus = importlib.util.module_from_spec(spec); spec.loader.exec_module(corpus)
imap = imaplib.IMAP4("127.0.0.1", int(os.environ.get("MG_IMAP_PORT", "14143")))
imap.login("bench", "benchpw")
imap.select("INBOX")
imap.store("1:*", "+FLAGS", "\\\\Deleted") if imap.search(None, "ALL")[1][0] else None
imap.expunge()
for raw in corpus.load(2000):
    imap.append("INBOX", None, None, raw)
imap.logout()
"""


# --- the table ------------------------------------------------------------------------------------

def cell(figures: Figures | str | None, fmt: Callable[[Figures], str]) -> str:
    if figures is None:
        return "-"
    if isinstance(figures, str):
        return figures
    try:
        return fmt(figures)
    except (KeyError, ZeroDivisionError, ValueError):
        return "-"


def print_table(msgs: list[bytes], results: dict[str, dict[str, Figures | str]], targets: list[Target],
                parse: tuple[float, float], peer_rates: dict[str, str], sizes: Sizes) -> None:
    width = 18
    mb = sum(map(len, msgs)) / 1e6
    print(f"\ncorpus: {len(msgs)} messages, {mb:.1f} MB (../shared/bench/corpus.py); "
          f"stdlib parse: policy=default {parse[0]:.0f} msg/s, compat32 {parse[1]:.0f} msg/s")
    print(f"{'':38}" + "".join(f"{t.label:>{width}}" for t in targets))

    def line(name: str, row: str, fmt: Callable[[Figures], str]) -> None:
        print(f"{name:38}" + "".join(f"{cell(results[t.key].get(row), fmt):>{width}}" for t in targets))

    def of(row: str) -> Callable[[Figures], str]:
        return lambda f: f"{f['rate']:.0f} msg/s"

    def ratio(row: str) -> Callable[[Figures], str]:
        def fmt(f: Figures) -> str:
            return f"{f['rate'] / f['orm']:.2f} | {f['rate'] / f['core']:.2f}"
        return fmt

    for t in targets:       # the floors beside each row's rate, for the ratio lines
        fl = results[t.key].get("floors")
        for key, figures in results[t.key].items():
            if isinstance(figures, dict) and isinstance(fl, dict) and key != "floors":
                figures.update(orm=fl["orm"], core=fl["core"])
    line("floor: parse default + ORM commit", "floors", lambda f: f"{f['orm']:.0f} msg/s")
    line("floor: parse compat32 + Core commit", "floors", lambda f: f"{f['core']:.0f} msg/s")
    line("SMTP intake -> case + auto-response", "smtp", of("smtp"))
    line("  of the floors (ORM | Core)", "smtp", ratio("smtp"))
    line("  receive -> commit p50 / p99", "smtp", lambda f: f"{f['p50']:.1f} / {f['p99']:.1f} ms")
    line("  4 connections at once (an MTA's way)", "smtp4", of("smtp4"))
    line("    of the floors (ORM | Core)", "smtp4", ratio("smtp4"))
    line("    receive -> commit p50 / p99", "smtp4", lambda f: f"{f['p50']:.1f} / {f['p99']:.1f} ms")
    line("IMAP ingest -> case (Dovecot)", "imap", of("imap"))
    line("  of the floors (ORM | Core)", "imap", ratio("imap"))
    line(f"  IDLE append -> case p50 / p99 ({sizes.idle})", "imap",
         lambda f: f"{f['idle_p50']:.0f} / {f['idle_p99']:.0f} ms")
    line("  floor: Dovecot's push, a bare client", "imap",
         lambda f: f"{f['push_p50']:.0f} / {f['push_p99']:.0f} ms")
    line(f"operator reply -> relay ({sizes.replies})", "reply", of("reply"))
    line(f"outbound drain -> sink ({sizes.drain})", "drain", of("drain"))
    line(f"web form -> case, 20 clients ({sizes.web})", "web", lambda f: f"{f['rate']:.0f} /s")
    line("  web submission p50 / p99", "web", lambda f: f"{f['p50']:.0f} / {f['p99']:.0f} ms")
    line(f"import of an mbox ({sizes.imports})", "import", of("import"))
    line("  of the floors (ORM | Core)", "import", ratio("import"))
    print(f"{'peak RSS, one daemon (max over rows)':38}" + "".join(
        f"{_peak(results[t.key], exclude='import'):>{width}}" for t in targets))
    line("peak RSS, one importing process", "import", lambda f: f"{f['rss']:.0f} MB")
    for name, rate in peer_rates.items():
        print(f"{name + ' (same run)':38}{rate:>{width}}")


def _peak(rows: dict[str, Figures | str], exclude: str) -> str:
    peaks = [f["rss"] for k, f in rows.items() if isinstance(f, dict) and "rss" in f and k != exclude]
    return f"{max(peaks):.0f} MB" if peaks else "-"


Results = dict[str, dict[str, Figures | str]]


async def measure(targets: list[Target], rows: list[str], msgs: list[bytes], sizes: Sizes,
                  folder: Path, parse: tuple[float, float]) -> tuple[Results, bool]:
    results: dict[str, dict[str, Figures | str]] = {t.key: {} for t in targets}
    failed = False
    dbs = Databases(folder)
    try:
        for target in targets:
            results[target.key]["floors"] = await asyncio.to_thread(floors, dbs, target, msgs, parse)
            for row in rows:
                work = folder / f"{target.key}-{row}"
                work.mkdir()
                print(f"  {target.label}: {row} ...", file=sys.stderr, flush=True)
                try:
                    results[target.key][row] = await ROWS[row](dbs, target, work, msgs, sizes)
                except Exception as exc:       # a broken row is shown, and fails --short
                    traceback.print_exc()
                    results[target.key][row] = f"failed: {type(exc).__name__}"[:17]
                    failed = True
    finally:
        dbs.close()
    return results, failed


def large(search: int, report: int) -> None:
    """The generated-data figures (bench_large.py), when asked for."""
    if not (search or report):
        return
    import bench_large

    with tempfile.TemporaryDirectory(prefix="mailgate-bench-") as tmp:
        if search:
            bench_large.print_search(search, Path(tmp))
        if report:
            bench_large.print_report(report, Path(tmp))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=0, help="corpus messages for intake (default 2000)")
    parser.add_argument("--short", action="store_true",
                        help="small sizes, for CI: the figures mean little")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of {','.join(ROWS)}")
    parser.add_argument("--targets", default="sqlite,pg1,pg2", help="comma-separated, of sqlite,pg1,pg2")
    parser.add_argument("--import", dest="import_n", type=int, default=0, metavar="N",
                        help="messages in the imported mbox (default 5000)")
    parser.add_argument("--peers", action="store_true", help="also run roundup-mailgw and django-helpdesk")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder")
    parser.add_argument("--search", type=int, default=0, metavar="N",
                        help="also time ticket list --search on N generated cases (SQLite, PostgreSQL)")
    parser.add_argument("--search-only", action="store_true", help="only the --search figures")
    parser.add_argument("--report", type=int, default=0, metavar="N",
                        help="also time report --by operator on N cases, 5N messages")
    parser.add_argument("--report-only", action="store_true", help="only the --report figures")
    args = parser.parse_args()
    if args.search_only or args.report_only:
        large(args.search_only and (args.search or 100_000), args.report_only and (args.report or 100_000))
        return
    sizes = SHORT if args.short else Sizes()
    sizes = Sizes(**{**sizes.__dict__, "n": args.n or sizes.n, "imports": args.import_n or sizes.imports})
    wanted = args.targets.split(",")
    targets = [t for t in TARGETS if t.key in wanted]
    if any(t.postgresql for t in targets) and not Databases.postgresql_up():
        print(f"(PostgreSQL columns skipped: no server at {PG_ADMIN})", file=sys.stderr)
        targets = [t for t in targets if not t.postgresql]
    rows = [r for r in args.rows.split(",") if r in ROWS]
    msgs = load_corpus(2000)[: sizes.n]
    parse = (floor_parse(msgs), floor_parse_compat32(msgs))
    folder = Path(tempfile.mkdtemp(prefix="mailgate-bench-"))
    try:
        results, failed = asyncio.run(measure(targets, rows, msgs, sizes, folder, parse))
        peer_rates = peers() if args.peers else {}
    finally:
        if not args.keep:
            shutil.rmtree(folder, ignore_errors=True)
    print_table(msgs, results, targets, parse, peer_rates, sizes)
    large(args.search, args.report)
    if failed and args.short:
        sys.exit(1)


if __name__ == "__main__":
    main()
