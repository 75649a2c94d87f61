"""Kill the daemon (os._exit at named checkpoints, as SIGKILL would) and check nothing is lost or
doubled after a restart (RELIABILITY rows 46, 60, 63)."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
from collections.abc import Callable
from pathlib import Path

import aiosmtplib
import pytest

from tests.fakes import SmtpSink
from tests.mailer import mail
from tests.processes import ONLY_SQLITE, default_config, free_port, spawn, wait_for_port

pytestmark = pytest.mark.skipif(ONLY_SQLITE,
                                reason="crash tests run the daemon on its default SQLite database")


class Daemon:
    def __init__(self, folder: Path, sink_port: int) -> None:
        self.folder = folder
        self.port = free_port()
        default_config(folder, self.port, relay_port=sink_port)
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, fault: str = "") -> None:
        self.proc = spawn(self.folder, fault)
        await wait_for_port(self.port, self.proc, self.folder / "daemon.log")

    async def exited(self) -> int:
        assert self.proc is not None
        for _ in range(200):
            if (code := self.proc.poll()) is not None:
                return code
            await asyncio.sleep(0.05)
        raise AssertionError("daemon did not exit")

    async def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            await self.exited()

    def count(self, table: str) -> int:
        with sqlite3.connect(self.folder / "var" / "mailgate.db") as conn:
            return int(conn.execute(f"select count(*) from {table}").fetchone()[0])

    def outbox_states(self) -> list[str]:
        with sqlite3.connect(self.folder / "var" / "mailgate.db") as conn:
            return [r[0] for r in conn.execute("select state from outbox order by id")]


async def submit(daemon: Daemon, data: bytes) -> None:
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=daemon.port, start_tls=False, timeout=10)
    async with client:
        await client.sendmail("carol@customer.example", ["support@example.com"], data)


async def wait_for(check: Callable[[], bool], seconds: float = 10) -> None:
    for _ in range(int(seconds / 0.05)):
        if check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not reached")


@pytest.mark.reliability(63)
@pytest.mark.parametrize("fault", ["in_smtp_data", "after_commit_before_250"])
async def test_killed_during_data_then_client_retry_makes_one_case(
        tmp_path: Path, sink: SmtpSink, fault: str) -> None:
    daemon = Daemon(tmp_path, sink.port)
    data = mail().as_bytes()
    await daemon.start(fault)
    with pytest.raises(aiosmtplib.SMTPException):   # no 250: the connection just dies
        await submit(daemon, data)
    assert await daemon.exited() == 137
    await daemon.start()
    try:
        await submit(daemon, data)                   # the sending MTA retries
        await wait_for(lambda: len(sink.received) >= 1)
        await asyncio.sleep(0.3)
        assert (daemon.count("inbound"), daemon.count("ticket")) == (1, 1)
        assert len(sink.received) == 1               # one auto-response, not two
    finally:
        await daemon.stop()


@pytest.mark.reliability(60)
async def test_killed_after_relay_250_resends_with_the_same_message_id(tmp_path: Path,
                                                                      sink: SmtpSink) -> None:
    daemon = Daemon(tmp_path, sink.port)
    await daemon.start("after_relay_250_before_mark_sent")
    await submit(daemon, mail().as_bytes())
    assert await daemon.exited() == 137
    assert len(sink.received) == 1 and daemon.outbox_states() == ["pending"]
    await daemon.start()
    try:
        await wait_for(lambda: daemon.outbox_states() == ["sent"])
        # At-least-once: the lost-250 window gives one duplicate with the same Message-ID.
        assert len(sink.received) == 2
        assert len({r.message["Message-ID"] for r in sink.received}) == 1
        assert daemon.count("ticket") == 1
    finally:
        await daemon.stop()
