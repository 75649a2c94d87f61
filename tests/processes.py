"""Helpers for tests that run the ``mailgate`` command as a separate process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import aiosmtplib

ROOT = Path(__file__).resolve().parents[1]
MAILGATE = [sys.executable, "-m", "mailgate"]
ONLY_SQLITE = os.environ.get("MAILGATE_TEST_DB") == "postgresql"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def clean_env(fault: str = "") -> dict[str, str]:
    """The test's environment without MAILGATE_* variables (plus a crash point, if asked)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MAILGATE_")}
    if fault:
        env["MAILGATE_FAULT"] = fault
    return env


def default_config(folder: Path, port: int, relay_port: int | None = None,
                   imap: tuple[int, str] | None = None) -> None:
    """Write the repository's default mailgate.toml into ``folder`` on ``port``, with a .env.

    With ``relay_port``, outbound mail goes to an SMTP relay there instead of the Maildir; with
    ``imap`` (port, user), the support mailbox is also polled over IMAP.
    """
    text = (ROOT / "mailgate.toml").read_text().replace("127.0.0.1:2525", f"127.0.0.1:{port}")
    text = text.replace('secret_env = "MAILGATE_SECRET"',
                        f'secret_env = "MAILGATE_SECRET"\ntemplates = "{ROOT / "templates"}"')
    if relay_port is not None:
        relay = f'[smtp_out]\nhost = "127.0.0.1"\nport = {relay_port}\nstarttls = false\n\n'
        text = text.replace("[smtp_in]", relay + "[smtp_in]")
    if imap is not None:
        block = (f'  [mailbox.imap]\n  host = "127.0.0.1"\n  port = {imap[0]}\n  tls = false\n'
                 f'  username = "{imap[1]}"\n  password_env = "MAILGATE_IMAP_PW"\n')
        text = text.replace('pool = "support"\n', 'pool = "support"\n' + block, 1)
    (folder / "mailgate.toml").write_text(text)
    (folder / ".env").write_text("MAILGATE_SECRET=subprocess-test-secret-0123456789\n"
                                 "MAILGATE_IMAP_PW=imap-test-password\n")


def spawn(folder: Path, fault: str = "") -> subprocess.Popen[bytes]:
    """Start ``mailgate run`` in ``folder``; its log goes to daemon.log there."""
    with (folder / "daemon.log").open("ab") as log:
        return subprocess.Popen([*MAILGATE, "run"], cwd=folder, env=clean_env(fault), stderr=log)


async def wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path, seconds: float = 20) -> None:
    """Wait until a spawned daemon accepts connections on ``port``; fail with its log if it died."""
    for _ in range(int(seconds / 0.05)):
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(f"daemon died: {_tail(log)}") from None
            await asyncio.sleep(0.05)
    raise AssertionError("daemon did not start")


def _tail(log: Path) -> str:
    return log.read_text()[-4000:] if log.exists() else "(no log)"


class Daemon:
    """``mailgate run`` in its own folder, from a config text whose SMTP port is ``127.0.0.1:0``."""

    def __init__(self, folder: Path, text: str, secret: str, fault: str = "",
                 imap_password: str = "") -> None:
        folder.mkdir()
        self.folder = folder
        self.port = free_port()
        (folder / "mailgate.toml").write_text(text.replace("127.0.0.1:0", f"127.0.0.1:{self.port}"))
        (folder / ".env").write_text(f"MAILGATE_SECRET={secret}\n"
                                     + (f"MAILGATE_IMAP_PW={imap_password}\n" if imap_password else ""))
        with (folder / "daemon.log").open("ab") as log:
            self.proc = subprocess.Popen([*MAILGATE, "run"], cwd=folder, env=clean_env(fault), stderr=log)

    async def ready(self) -> None:
        await wait_for_port(self.port, self.proc, self.folder / "daemon.log")

    async def send(self, msg: bytes, sender: str, rcpt: str) -> None:
        async with aiosmtplib.SMTP(hostname="127.0.0.1", port=self.port, start_tls=False) as client:
            await client.sendmail(sender, [rcpt], msg)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(30)

    def peak_rss_mb(self) -> float:
        """The process's peak resident memory so far (VmHWM)."""
        return _status_mb(self.proc.pid, "VmHWM")

    def rss_mb(self) -> float:
        return _status_mb(self.proc.pid, "VmRSS")


def _status_mb(pid: int, key: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key):
            return int(line.split()[1]) / 1024
    raise AssertionError(f"no {key} for process {pid}")
