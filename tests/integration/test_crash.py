"""Kill the daemon (os._exit at named checkpoints, as SIGKILL would) and check nothing is lost or
doubled after a restart (RELIABILITY rows 46, 60, 63)."""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import aiosmtplib
import pytest

from tests.fakes import SmtpSink
from tests.mailer import mail

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(os.environ.get("MAILGATE_TEST_DB") == "postgresql",
                                reason="crash tests run the daemon on its default SQLite database")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Daemon:
    def __init__(self, folder: Path, sink_port: int) -> None:
        self.folder = folder
        self.port = free_port()
        (folder / ".env").write_text("MAILGATE_SECRET=crash-test-secret-0123456789\n")
        # The repository's default config, on a free port, relaying to the test's sink.
        text = (ROOT / "mailgate.toml").read_text().replace("127.0.0.1:2525", f"127.0.0.1:{self.port}")
        relay = f'[smtp_out]\nhost = "127.0.0.1"\nport = {sink_port}\nstarttls = false\n\n'
        templates = f'\ntemplates = "{ROOT / "templates"}"'
        text = text.replace("[smtp_in]", relay + "[smtp_in]")
        text = text.replace('secret_env = "MAILGATE_SECRET"', 'secret_env = "MAILGATE_SECRET"' + templates)
        (folder / "mailgate.toml").write_text(text)
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self, fault: str = "") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
        if fault:
            env["MAILGATE_FAULT"] = fault
        self.proc = self._spawn(env)
        for _ in range(300):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            except OSError:
                assert self.proc.poll() is None, (self.folder / "daemon.log").read_text()
                await asyncio.sleep(0.05)
        raise AssertionError("daemon did not start")

    def _spawn(self, env: dict[str, str]) -> subprocess.Popen[bytes]:
        with (self.folder / "daemon.log").open("ab") as log:
            return subprocess.Popen([sys.executable, "-m", "mailgate", "run"], cwd=self.folder,
                                    env=env, stderr=log)

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
