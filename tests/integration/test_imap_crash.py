"""Kill the daemon between IMAP fetch and commit, and between commit and move; stop it with SIGTERM
while it IDLEs (RELIABILITY rows 46, 47, 64)."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests import dovecot
from tests.mailer import mail
from tests.processes import ONLY_SQLITE, default_config, free_port, spawn

pytestmark = [
    pytest.mark.skipif(not dovecot.available(), reason="dovecot is not installed"),
    pytest.mark.skipif(ONLY_SQLITE, reason="crash tests run the daemon on its default SQLite database"),
]


class Daemon:
    def __init__(self, folder: Path, server: dovecot.Dovecot) -> None:
        self.folder = folder
        self.user = server.add_user(f"c{uuid.uuid4().hex[:10]}")
        default_config(folder, free_port(), imap=(server.port, self.user))
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, fault: str = "") -> None:
        self.proc = spawn(self.folder, fault)

    def cases(self) -> int:
        db = self.folder / "var" / "mailgate.db"
        if not db.exists():
            return 0
        with sqlite3.connect(db) as conn:
            try:
                return int(conn.execute("select count(*) from ticket").fetchone()[0])
            except sqlite3.OperationalError:
                return 0

    def log(self) -> str:
        return (self.folder / "daemon.log").read_text()

    def wait_exit(self, seconds: float = 20) -> int:
        assert self.proc is not None
        return self.proc.wait(seconds)


def until(check: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached")


def test_quarantined_message_refetched_after_a_kill_still_goes_to_the_quarantine_folder(
        tmp_path: Path, server: dovecot.Dovecot) -> None:
    daemon = Daemon(tmp_path, server)
    server.append(daemon.user, [b"Subject: broken\r\nContent-Type: text/plain; " + b"a=b;" * 300
                                + b"\r\n\r\nbody\r\n"])
    daemon.start("imap_after_commit_before_move")
    assert daemon.wait_exit() == 137
    daemon.start()
    try:
        until(lambda: server.count(daemon.user, "INBOX") == 0)
        assert server.count(daemon.user, "mailgate.quarantine") == 1
        assert server.count(daemon.user, "mailgate.processed") == 0
    finally:
        assert daemon.proc is not None
        daemon.proc.terminate()
        daemon.wait_exit()


@pytest.mark.reliability(46, 47)
@pytest.mark.parametrize("fault", ["imap_after_fetch", "imap_after_commit_before_move"])
def test_killed_mid_intake_then_restarted_makes_exactly_one_case(
        tmp_path: Path, server: dovecot.Dovecot, fault: str) -> None:
    daemon = Daemon(tmp_path, server)
    server.append(daemon.user, [mail(subject="Killed").as_bytes()])
    daemon.start(fault)
    assert daemon.wait_exit() == 137
    assert server.count(daemon.user, "INBOX") == 1          # not moved, and (PEEK) not marked seen
    assert daemon.cases() == (1 if fault == "imap_after_commit_before_move" else 0)
    daemon.start()
    try:
        until(lambda: server.count(daemon.user, "INBOX") == 0)
        until(lambda: daemon.cases() == 1)
        time.sleep(0.5)
        assert daemon.cases() == 1
        assert server.count(daemon.user, "mailgate.processed") == 1
    finally:
        assert daemon.proc is not None
        daemon.proc.terminate()
        daemon.wait_exit()


@pytest.mark.reliability(64)
def test_sigterm_while_idling_logs_out_and_exits_zero(tmp_path: Path, server: dovecot.Dovecot) -> None:
    daemon = Daemon(tmp_path, server)
    daemon.start()
    until(lambda: "imap_connected" in daemon.log())
    time.sleep(0.5)                                           # in IDLE now
    assert daemon.proc is not None
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.wait_exit() == 0
    assert "mailgate_stopped" in daemon.log()
    until(lambda: any(f"imap({daemon.user})" in line and "Logged out" in line
                      for line in server.log.read_text().splitlines()))


