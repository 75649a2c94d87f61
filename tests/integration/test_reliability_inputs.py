"""RELIABILITY.md §2 rows 1-22 and 24: each hostile input sent to the running daemon over SMTP.

For every row the invariants are checked afterwards: the raw bytes are stored exactly (nothing
lost), the input became one case or one quarantine entry (nothing duplicated), an auto-response
went out only where one should, nothing in the mail mailgate sent carries what the input tried
to smuggle, no outside address was fetched, and the next customer is still answered.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from email.message import Message
from typing import Any

import pytest
from sqlalchemy import func, select

from mailgate.app import App
from mailgate.services import quarantine, tickets
from mailgate.storage import inbound
from mailgate.storage.models import Inbound
from tests.conftest import settle
from tests.fakes import SmtpSink
from tests.integration.test_operators import add_staff, inbox
from tests.mailer import mail, send, text_of


class Listener:
    """An HTTP port nobody should ever connect to: remote images and external bodies point here."""

    def __init__(self) -> None:
        self.hits = 0
        self.port = 0

    async def __aenter__(self) -> Listener:
        async def hit(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.hits += 1
            writer.close()
        self.server = await asyncio.start_server(hit, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.close()
        await self.server.wait_closed()


@pytest.fixture
async def listener() -> AsyncIterator[Listener]:
    async with Listener() as instance:
        yield instance


def raw(headers: str = "", body: str = "hello\r\n", *, sender: str = "Carol <carol@customer.example>",
        subject: str = "Hi", mid: str = "row@customer.example", to: str = "support@example.com") -> bytes:
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\n"
            + (f"Message-ID: <{mid}>\r\n" if mid else "") + headers.strip("\r\n"))
    data = (head.rstrip("\r\n") + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")
    return re.sub(rb"(?<!\r)\n", b"\r\n", data)             # as SMTP carries it: CRLF only


def folded(items: list[str], sep: str, per_line: int = 4) -> str:
    """A long header value folded the way mail programs do, a few items per line."""
    lines = [sep.join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return (sep.rstrip() + "\r\n ").join(lines)


def mixed(*parts: str, headers: str = "", **kwargs: Any) -> bytes:
    body = "".join(f"--B\r\n{part}\r\n" for part in parts) + "--B--\r\n"
    return raw(f"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"B\"\n{headers}", body, **kwargs)


def nested(levels: int) -> bytes:
    inner = raw(mid="inner@customer.example", body="innermost\r\n")
    for _ in range(levels):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return mixed("Content-Type: text/plain\r\n\r\nsee inside", inner.decode())


def multiparts(levels: int) -> bytes:
    body = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n"
                   for i in range(levels))
    return raw("Content-Type: multipart/mixed; boundary=b0", body)


def zip_bomb() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros.bin", b"\0" * 20_000_000)        # 20 MB inside, 20 KB outside
    return buffer.getvalue()


def attached(name: str, ctype: str, data: bytes) -> str:
    return (f"Content-Type: {ctype}\r\nContent-Transfer-Encoding: base64\r\n"
            f'Content-Disposition: attachment; filename="{name}"\r\n\r\n'
            + base64.encodebytes(data).decode())


Check = Callable[[App, SmtpSink, Listener, dict[str, Any] | None], Awaitable[None]]


@dataclass(frozen=True)
class Row:
    number: int
    build: Callable[[Listener], bytes]
    outcome: str                       # case | quarantine
    answered: bool = True              # the sender gets an auto-response
    check: Check | None = None
    staff: bool = False                # Bob is in the pool, so the case is forwarded to him
    name: str = ""

    @property
    def id(self) -> str:
        return f"row{self.number}" + (f"-{self.name}" if self.name else "")


def forward(sink: SmtpSink) -> Message:
    [mail_to_bob] = inbox(sink, "bob@example.com")
    return mail_to_bob


async def _cc_capped(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None and 0 < len(case["cc"]) <= 500
    [response] = sink.to("carol@customer.example")
    assert response.rcpt_tos == ["carol@customer.example"]                 # not the Cc list
    assert "Cc" not in response.message


async def _has_attachments(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None and case["messages"][0]["attachments"]


async def _not_the_operator(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None and case["requester"] == "evil@bad.example"
    assert [m["kind"] for m in case["messages"]] == ["inbound", "outbound"]  # and its auto-response
    assert case["messages"][1]["to"] == ["evil@bad.example"]
    assert sink.to("op@corp.example") == []                                # not taken for Op's mail


async def _no_requester(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None and case["requester"] == "" and case["cc"] == []


async def _display_only_name(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None
    [info] = case["messages"][0]["attachments"]
    assert "passwd" in info["filename"] and not set(info["filename"]) & set("/\\\x00\r\n")


async def _no_injected_header(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    sent = forward(sink)
    assert all("bcc" not in (k.lower() for k in part) for part in sent.walk())
    [part] = [p for p in sent.walk() if p.get_filename()]
    assert "evil" in part.get_filename("") and "\n" not in part.get_filename("")
    assert part.get_payload(decode=True) == b"data"


async def _short_lines_out(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    for received in sink.received:
        assert max(len(line) for line in received.data.split(b"\n")) <= 998
    assert "x" * 5000 in text_of(forward(sink)).replace("\n", "")        # the long line reached Bob


async def _searchable(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None and "\ufffd" in case["messages"][0]["text"]
    found = await tickets.list_tickets(app.ctx, tickets.TicketFilter(search="searchableword"))
    assert [c["id"] for c in found] == [case["id"]]


async def _deduped(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    await send(app, ROWS["row17"].build(web))                                   # delivered once more
    await settle(app)
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1
    assert len(sink.to("carol@customer.example")) == 1


async def _same_id_other_body(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    await send(app, raw(body="a different text\r\n"))                     # same Message-ID, new body
    await settle(app)
    listed = await tickets.list_tickets(app.ctx, tickets.TicketFilter())
    assert len(listed) == 2                                                # kept, and its own case
    second = await tickets.show_ticket(app.ctx, max(c["id"] for c in listed))
    assert second["messages"][0]["text"] == "a different text"


async def _inert_html(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None and "Hello there" in case["messages"][0]["text"]
    sent = forward(sink).as_string()
    assert "alert(" not in sent and "<script" not in sent and "javascript:" not in sent
    assert "onerror" not in sent and f"127.0.0.1:{web.port}" not in sent
    await asyncio.sleep(0.5)
    assert web.hits == 0                                                   # no remote fetch


async def _attachment_not_inline(app: App, sink: SmtpSink, web: Listener,
                                 case: dict[str, Any] | None) -> None:
    [part] = [p for p in forward(sink).walk() if p.get_filename() == "invoice.pdf"]
    assert part.get_content_disposition() == "attachment"
    assert part.get_content_type() == "image/png"                          # as labelled, not sniffed
    assert part.get_payload(decode=True) == b"<html><script>alert(1)</script></html>"


async def _opaque(app: App, sink: SmtpSink, web: Listener, case: dict[str, Any] | None) -> None:
    assert case is not None
    names = {a["filename"]: a for a in case["messages"][0]["attachments"]}
    assert names["bomb.zip"]["size"] == len(zip_bomb())                    # stored, never expanded
    assert "winmail.dat" in names
    forwarded = {p.get_filename() for p in forward(sink).walk() if p.get_filename()}
    assert {"bomb.zip", "winmail.dat"} <= forwarded
    await asyncio.sleep(0.5)
    assert web.hits == 0                                                   # message/external-body not fetched


def _html(web: Listener) -> bytes:
    html = (f"<html><body><p>Hello <b>there</b></p><script>alert(1)</script>"
            f"<img src=\"http://127.0.0.1:{web.port}/pixel.gif\" onerror=\"alert(2)\">"
            f"<a href=\"javascript:alert(3)\">click</a>"
            f"<div style=\"background:url(http://127.0.0.1:{web.port}/bg)\">x</div></body></html>\r\n")
    return raw("MIME-Version: 1.0\nContent-Type: text/html; charset=utf-8", html)


def _opaque_parts(web: Listener) -> bytes:
    return mixed(
        "Content-Type: text/plain\r\n\r\nFour odd attachments.",
        attached("bomb.zip", "application/zip", zip_bomb()),
        attached("winmail.dat", "application/ms-tnef", b"\x78\x9f\x3e\x22" + b"\0" * 200),
        "Content-Type: message/partial; id=\"abc@x\"; number=1; total=2\r\n\r\nFrom: x\r\n\r\npart one",
        f"Content-Type: message/external-body; access-type=URL; URL=\"http://127.0.0.1:{web.port}/x\"\r\n\r\n"
        "Content-Type: application/octet-stream\r\n\r\n")


ROWS: dict[str, Row] = {row.id: row for row in [
    Row(1, lambda w: raw(to=folded([f"u{i}@x.example" for i in range(5000)], ", ")), "case",
        check=_cc_capped),
    Row(2, lambda w: raw("".join(f"Cc: u{i}@x.example\n" for i in range(20_000))), "quarantine", False),
    Row(3, lambda w: mixed(*["Content-Type: text/plain\r\n\r\nx"] * 100_000), "quarantine", False),
    Row(4, lambda w: nested(20), "case", check=_has_attachments),
    Row(5, lambda w: nested(2000), "quarantine", False),
    Row(6, lambda w: raw("Content-Type: text/plain; " + "\r\n ".join(["a=b;" * 100] * 200)), "quarantine",
        False),
    Row(7, lambda w: raw(subject="=?x-klingon?Q?abc?= ok"), "case"),
    Row(8, lambda w: raw(subject="=?utf-8?B?####?="), "case"),
    Row(9, lambda w: raw(sender="=?utf-8?q?op=40corp.example?= <evil@bad.example>"), "case",
        check=_not_the_operator),
    Row(10, lambda w: raw(sender="alice@customer.example <attacker@evil.example>"), "case", False,
        check=_no_requester),
    Row(11, lambda w: mixed("Content-Type: text/plain\r\n\r\nsee file",
                            attached("../../etc/passwd", "application/octet-stream", b"data")), "case",
        check=_display_only_name),
    Row(12, lambda w: mixed("Content-Type: text/plain\r\n\r\nsee file",
                            attached("evil\r\n Bcc: x@evil.example\x00.txt", "text/plain", b"data")), "case",
        check=_no_injected_header, staff=True),
    Row(14, lambda w: raw("X-Big: " + "\r\n ".join(["a" * 1000] * 1000)), "quarantine", False),
    Row(14, lambda w: raw(body="x" * 5000 + "\r\n"), "case", check=_short_lines_out, staff=True,
        name="body-lines"),
    Row(15, lambda w: raw("Content-Type: text/plain; charset=utf-8", "bad \udcff\udcfe searchableword\r\n"),
        "case", check=_searchable),
    Row(16, lambda w: raw("From: boss@corp.example"), "case", False, check=_no_requester),
    Row(17, lambda w: raw(mid=""), "case", check=_deduped),
    Row(18, lambda w: raw(), "case", check=_same_id_other_body),
    Row(19, lambda w: raw("References: " + folded([f"<r{i}@x.example>" for i in range(10_000)], " ")
                          + "\nIn-Reply-To: <r9999@x.example>"), "case"),
    Row(20, _html, "case", check=_inert_html, staff=True),
    Row(21, lambda w: mixed("Content-Type: text/plain\r\n\r\nthe invoice",
                            attached("invoice.pdf", "image/png", b"<html><script>alert(1)</script></html>")),
        "case", check=_attachment_not_inline, staff=True),
    Row(22, _opaque_parts, "case", check=_opaque, staff=True),
]}
def _subject_check(number: int) -> str | None:
    return {7: "abc ok", 8: "=?utf-8?B?####?="}.get(number)


@pytest.mark.parametrize("row", [pytest.param(row, marks=pytest.mark.reliability(row.number), id=key)
                                 for key, row in ROWS.items()])
async def test_hostile_input_through_the_daemon(app: App, sink: SmtpSink, listener: Listener,
                                                row: Row) -> None:
    number = row.number
    if row.staff:
        await add_staff(app, "bob@example.com", "Bob")
    if number == 9:
        await add_staff(app, "op@corp.example", "Op", pools=())
    data = row.build(listener)
    errors, _ = await send(app, data)
    assert errors == {}
    await settle(app, 30)

    stored = await app.ctx.db.run(lambda s: s.execute(select(Inbound.id, Inbound.state)).all())
    [(inbound_id, state)] = stored                                          # stored once
    assert await app.ctx.db.run(lambda s: inbound.raw_of(s, inbound_id)) == data   # exactly
    cases = await tickets.list_tickets(app.ctx, tickets.TicketFilter())
    held = await quarantine.list_quarantine(app.ctx)
    if row.outcome == "case":
        assert len(cases) == 1 and held == [] and state == "done"
    else:
        assert cases == [] and len(held) == 1 and state == "quarantined" and held[0]["reason"]
    responses = sink.to("carol@customer.example") + sink.to("evil@bad.example")
    assert len(responses) == (1 if row.answered else 0)
    case = await tickets.show_ticket(app.ctx, cases[0]["id"]) if cases else None
    if (subject := _subject_check(number)) is not None:
        assert case is not None and case["subject"] == subject
    if row.check is not None:
        await row.check(app, sink, listener, case)

    # The next customer is still served.
    before = len(await tickets.list_tickets(app.ctx, tickets.TicketFilter()))
    await send(app, mail(sender="Dan <dan@customer.example>", subject="Next one"),
               mail_from="dan@customer.example")
    await settle(app)
    assert len(sink.to("dan@customer.example")) == 1
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == before + 1
    count = await app.ctx.db.run(lambda s: s.scalar(select(func.count()).select_from(Inbound)))
    assert count >= 2


@pytest.mark.reliability(24)
async def test_starttls_with_pipelined_commands_smuggles_nothing(app: App) -> None:
    """mailgate's receiver listens on loopback behind the MTA that speaks TLS: it offers no
    STARTTLS, refuses it, and answers what was pipelined behind it as the plain commands they are."""
    reader, writer = await asyncio.open_connection("127.0.0.1", app.smtp_port)
    await reader.readline()
    writer.write(b"EHLO x\r\n")
    ehlo = b""
    while not ehlo.endswith(b"\r\n") or not ehlo.splitlines()[-1].startswith(b"250 "):
        ehlo += await reader.readline()
    assert b"STARTTLS" not in ehlo.upper()
    writer.write(b"STARTTLS\r\nMAIL FROM:<mallory@evil.example>\r\nRCPT TO:<support@example.com>\r\n"
                 b"DATA\r\n")
    replies = [await asyncio.wait_for(reader.readline(), 5) for _ in range(4)]
    writer.write(b"Subject: pipelined\r\n\r\nnot encrypted\r\n.\r\nQUIT\r\n")
    final = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert replies[0][:1] in (b"4", b"5")                                 # STARTTLS refused
    assert final.startswith(b"250")                                       # a plain message, known as one
    await settle(app)
    [(state,)] = await app.ctx.db.run(lambda s: s.execute(select(Inbound.state)).all())
    assert state == "done"
