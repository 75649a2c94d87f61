"""A real operator's mail client: NeoMutt, driven in tmux, answers a forwarded case.

The forward mailgate sent Bob is put in his Maildir; NeoMutt opens it, Bob presses ``r`` (his
"editor" writes the answer above the quote, as a person would) and ``y``; NeoMutt sends through
mailgate's SMTP receiver to the signed Reply-To. The customer must get only Bob's words.
"""

from __future__ import annotations

import asyncio
import mailbox
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from mailgate.app import App
from mailgate.services import tickets
from mailgate.storage import inbound
from tests.conftest import running, settle
from tests.fakes import SmtpSink
from tests.integration.test_operators import add_staff, body_of, inbox
from tests.mailer import mail, send

pytestmark = pytest.mark.skipif(not (shutil.which("neomutt") and shutil.which("tmux")),
                                reason="neomutt and tmux are not installed (.ci/run installs them)")
ANSWER = "Please unplug the printer; a technician comes tomorrow at nine."

EDITOR = """#!/bin/sh
# Bob types his answer above the quoted forward, then saves.
f="$1"
{ cat "$HOME/answer.txt"; printf '\\n\\n'; cat "$f"; } > "$f.new" && mv "$f.new" "$f"
"""


def muttrc(home: Path, smtp_port: int) -> Path:
    editor = home / "editor.sh"
    editor.write_text(EDITOR)
    editor.chmod(0o755)
    rc = home / "muttrc"
    rc.write_text(f"""
set from = "Bob Operator <bob@example.com>"
set use_from = yes
set smtp_url = "smtp://127.0.0.1:{smtp_port}/"
set ssl_starttls = no
set ssl_force_tls = no
set mbox_type = Maildir
set folder = "{home}/Mail"
set spoolfile = "{home}/Mail"
set record = ""
set postponed = "{home}/postponed"
set header_cache = ""
set editor = "{editor}"
set autoedit = yes
set fast_reply = yes
set edit_headers = no
set include = yes
set reply_to = yes
set abort_unmodified = no
set signature = "{home}/signature"
set sig_dashes = yes
set wait_key = no
set confirmappend = no
set mailcap_path = "/dev/null"
set charset = "utf-8"
set send_charset = "utf-8"
""")
    (home / "signature").write_text("Bob Operator\nExample Support, desk 4\n")
    return rc


async def screen(session: str) -> str:
    result = await asyncio.create_subprocess_exec("tmux", "capture-pane", "-p", "-t", session,
                                                  stdout=subprocess.PIPE)
    out, _ = await result.communicate()
    return out.decode(errors="replace")


async def wait_screen(session: str, text: str, seconds: float = 20) -> None:
    for _ in range(int(seconds / 0.1)):
        if text in await screen(session):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{text!r} never appeared:\n{await screen(session)}")


async def keys(session: str, *typed: str) -> None:
    proc = await asyncio.create_subprocess_exec("tmux", "send-keys", "-t", session, *typed)
    await proc.wait()


def prepare_home(home: Path, forward: bytes, answer: str, smtp_port: int) -> Path:
    """Bob's home: his Maildir with the forward, what he will type, his muttrc."""
    home.mkdir()
    mailbox.Maildir(home / "Mail", create=True).add(forward)
    (home / "answer.txt").write_text(answer)
    return muttrc(home, smtp_port)


async def reply_in_neomutt(app: App, sink: SmtpSink, home: Path, forward: bytes, answer: str,
                           customer_mails: int) -> None:
    """Bob opens ``forward`` in NeoMutt, presses r, types ``answer`` above the quote and sends."""
    rc = prepare_home(home, forward, answer, app.smtp_port)
    session = f"mg{home.parent.name[-10:]}{home.name}".replace(".", "")
    env = f"HOME={home} TERM=xterm-256color"
    started = await asyncio.create_subprocess_exec(
        "tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "40", f"env {env} neomutt -n -F {rc}")
    await started.wait()
    try:
        await wait_screen(session, "Printer broken")           # the index shows the forward
        await keys(session, "r")                               # reply: the editor runs
        await wait_screen(session, "y:Send")                   # the compose menu
        await keys(session, "y")
        for _ in range(200):
            if len(inbox(sink, "carol@customer.example")) == customer_mails:
                break
            await settle(app, 1)
            await asyncio.sleep(0.05)
    finally:
        await (await asyncio.create_subprocess_exec("tmux", "kill-session", "-t", session)).wait()


async def test_operator_answers_from_neomutt_and_the_customer_gets_only_the_answer(
        make_app: Callable[..., App], sink: SmtpSink, tmp_path: Path) -> None:
    async with running(make_app()) as app:
        await add_staff(app, "bob@example.com", "Bob Operator")
        await send(app, mail(subject="Printer broken", body="My printer is on fire.\n"))
        await settle(app)
        [forward] = sink.to("bob@example.com")
        await reply_in_neomutt(app, sink, tmp_path / "bob", forward.data, ANSWER, 2)
        await settle(app)

        auto, relayed = inbox(sink, "carol@customer.example")
        text = body_of(relayed)
        assert text.startswith(ANSWER + "\n")
        assert "on fire" not in text and "wrote:" not in text and "desk 4" not in text
        assert relayed["From"].addresses[0].addr_spec == "support@example.com"
        assert relayed["In-Reply-To"] == auto["Message-ID"]
        shown = await tickets.show_ticket(app.ctx, 1)
        assert shown["status"] == "waiting for customer"
        staff_mail = [m for m in shown["messages"] if m["disposition"] == "staff:reply"]
        assert len(staff_mail) == 1
        sent = await app.ctx.db.run(lambda s: inbound.raw_of(s, 2))      # what NeoMutt sent:
        assert b"-- \r\nBob Operator\r\nExample Support, desk 4" in sent and b"> My printer" in sent


async def test_a_valediction_above_the_neomutt_signature_reaches_the_customer(
        make_app: Callable[..., App], sink: SmtpSink, tmp_path: Path) -> None:
    async with running(make_app()) as app:
        await add_staff(app, "bob@example.com", "Bob Operator")
        await send(app, mail(subject="Printer broken", body="My printer is on fire.\n"))
        await settle(app)
        [forward] = sink.to("bob@example.com")
        await reply_in_neomutt(app, sink, tmp_path / "first", forward.data, ANSWER, 2)
        await settle(app)
        # Carol answers; her follow-up reaches Bob, who answers again, signing off this time.
        await send(app, mail(subject="Re: [MG#1] Printer broken", body="Unplugged it. Now what?\n"))
        await settle(app)
        follow_up = sink.to("bob@example.com")[-1]
        assert "Unplugged it. Now what?" in follow_up.message.get_body(("plain",)).get_content().split(
            "-----")[2]                                                          # the new text comes first
        second = "The technician brings a new one.\n\nBest regards,\nBob"
        await reply_in_neomutt(app, sink, tmp_path / "second", follow_up.data, second, 3)
        await settle(app)

        relayed = inbox(sink, "carol@customer.example")[-1]
        text = body_of(relayed)
        assert text.startswith("The technician brings a new one.\n\nBest regards,\nBob\n")
        assert "desk 4" not in text and "Unplugged" not in text and "wrote:" not in text
        assert relayed["Subject"] == "Re: [MG#1] Printer broken"
