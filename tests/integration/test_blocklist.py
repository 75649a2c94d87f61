"""The blocklist end to end (SPEC §11, seed FRAUD-STOP): refused at MAIL FROM over SMTP and LMTP
with nothing stored, quarantined when fetched over IMAP from a real Dovecot, hits counted, and
changes seen by the running daemon without a restart."""

from __future__ import annotations

import asyncio
import smtplib
import uuid
from collections.abc import Callable

import aiosmtplib
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.app import App
from mailgate.services import blocklist, quarantine, tickets
from mailgate.services.blocklist import FRESH_SECONDS
from mailgate.storage import migrate
from mailgate.storage.models import Inbound, Outbox
from tests import dovecot
from tests.conftest import running, settle
from tests.fakes import SmtpSink
from tests.integration.test_imap import until
from tests.mailer import mail, send


async def stored(app: App) -> tuple[int, int]:
    def count(s: Session) -> tuple[int, int]:
        return (int(s.scalar(select(func.count()).select_from(Inbound)) or 0),
                int(s.scalar(select(func.count()).select_from(Outbox)) or 0))
    return await app.ctx.db.run(count)


async def refused(app: App, sender: str) -> str:
    with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
        await send(app, mail(sender=sender), mail_from=sender)
    return f"{caught.value.code} {caught.value.message}"


async def hits(app: App) -> dict[str, int]:
    return {b["value"]: b["hits"] for b in await blocklist.list_blocks(app.ctx)}


async def test_blocked_address_domain_and_ip_are_refused_at_mail_from_and_nothing_is_stored(
        app: App, sink: SmtpSink) -> None:
    await blocklist.add_block(app.ctx, "Fraud@Evil.example", "chargebacks")
    await blocklist.add_block(app.ctx, "@spam.example")
    await asyncio.sleep(FRESH_SECONDS + 0.1)              # the running daemon sees them, no restart
    assert await refused(app, "fraud@evil.example") == "550 5.7.1 Sender blocked"
    assert (await refused(app, "bulk@mx.eu.spam.example")).startswith("550 5.7.1")
    await send(app, mail(sender="other@evil.example"), mail_from="other@evil.example")   # not blocked
    await settle(app)
    assert await stored(app) == (1, 1)                    # only the other one: a case, an answer
    assert await hits(app) == {"fraud@evil.example": 1, "@spam.example": 1}

    # The client's IP: everyone from 127.0.0.0/8 (all of this test's connections).
    await blocklist.add_block(app.ctx, "127.0.0.0/8", "test network")
    await asyncio.sleep(FRESH_SECONDS + 0.1)
    assert (await refused(app, "carol@customer.example")).startswith("550 5.7.1")
    await blocklist.remove_block(app.ctx, "127.0.0.0/8")
    await asyncio.sleep(FRESH_SECONDS + 0.1)
    await send(app, mail())
    await settle(app)
    assert await stored(app) == (2, 2) and (await hits(app)) == {"fraud@evil.example": 1, "@spam.example": 1}
    assert [r.rcpt_tos for r in sink.received] == [["other@evil.example"], ["carol@customer.example"]]
    assert [b["reason"] for b in await blocklist.list_blocks(app.ctx)] == ["chargebacks", ""]


async def test_lmtp_refuses_a_blocked_sender_too(make_app: Callable[..., App]) -> None:
    async with running(make_app(protocol="lmtp")) as app:
        await blocklist.add_block(app.ctx, "@evil.example")

        def over_lmtp() -> tuple[int, bytes]:
            client = smtplib.LMTP("127.0.0.1", app.smtp_port)
            try:
                client.ehlo_or_helo_if_needed()
                return client.mail("fraud@evil.example")
            finally:
                client.close()

        code, text = await asyncio.to_thread(over_lmtp)
        assert (code, text) == (550, b"5.7.1 Sender blocked")
        assert await stored(app) == (0, 0)


@pytest.mark.skipif(not dovecot.available(), reason="dovecot is not installed")
async def test_mail_from_a_blocked_sender_fetched_over_imap_is_quarantined_unanswered(
        make_app: Callable[..., App], server: dovecot.Dovecot, sink: SmtpSink) -> None:
    user = server.add_user(f"u{uuid.uuid4().hex[:10]}")
    server.append(user, [mail(sender="fraud@evil.example", subject="Refund now").as_bytes(),
                         mail(sender="x@shop.spam.example", subject="Cheap").as_bytes(),
                         mail(subject="A real question").as_bytes()])
    app = make_app(imap={"support": (server.port, user)})
    await asyncio.to_thread(migrate.upgrade, app.ctx.config.database_url, True)
    await blocklist.add_block(app.ctx, "fraud@evil.example")
    await blocklist.add_block(app.ctx, "@spam.example")
    async with running(app):
        await until(lambda: server.count(user, "mailgate.processed") == 1, seconds=20)
        await until(lambda: server.count(user, "mailgate.quarantine") == 2, seconds=20)
        await settle(app)
        held = await quarantine.list_quarantine(app.ctx)
        assert sorted(h["reason"] for h in held) == ["blocked: @spam.example", "blocked: fraud@evil.example"]
        assert [c["subject"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter())] == [
            "A real question"]
        assert [r.rcpt_tos for r in sink.received] == [["carol@customer.example"]]   # no answer to them
        assert await hits(app) == {"fraud@evil.example": 1, "@spam.example": 1}
