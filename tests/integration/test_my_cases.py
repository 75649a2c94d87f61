"""My cases by mail (SPEC §4, §11), read at the relay sink: +status and the subject "status" are
answered to the sender's own address with their open and recent cases and the latest answer;
an unverifiable or automatic sender gets nothing; the answers are capped per day; no case opens."""

from __future__ import annotations

from mailgate.app import App
from mailgate.services import quarantine, tickets
from tests.conftest import settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import CUSTOMER, add_staff, body_of, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

BOB = "bob@example.com"


async def cases(app: App) -> int:
    return len(await tickets.list_tickets(app.ctx, tickets.TicketFilter()))


async def test_status_by_mail_for_the_sender_alone(app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    await add_staff(app, BOB, "Bob")
    await send(app, mail(subject="Printer broken"))
    await send(app, mail(subject="Invoice 2026-11"))
    await send(app, mail(subject="Dan's own", sender="dan@customer.example"),
               mail_from="dan@customer.example")
    await settle(app)
    forward = next(m for m in inbox(sink, BOB) if m["Subject"] == "[MG#1] Printer broken")
    await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>",
                                          "A technician comes on Friday.\nBring the key."))
    await settle(app)
    before = len(inbox(sink, CUSTOMER))

    request = mail(to="support+status@example.com", subject="where are my cases")
    await send(app, request, rcpts=["support+status@example.com"])
    await settle(app)
    assert await cases(app) == 3                                   # the request opens no case
    answer = inbox(sink, CUSTOMER)[-1]
    assert len(inbox(sink, CUSTOMER)) == before + 1
    assert answer["Subject"] == "Your cases with Example Support"
    assert answer["In-Reply-To"] == request["Message-ID"] and answer["Auto-Submitted"] == "auto-replied"
    text = body_of(answer)
    assert "MG#2  Invoice 2026-11\n  Status: in progress\n  No answer yet." in text
    assert ("MG#1  Printer broken\n  Status: waiting for customer\n  Our latest answer:\n"
            "    A technician comes on Friday.\n    Bring the key.") in text
    assert "Dan" not in text and "MG#3" not in text                # only the sender's own cases
    assert answer.get_body(("html",)) is not None

    # The subject "status" works too (a day later: Carol's three automatic answers of the day
    # are used up); a forged-looking From gets nothing.
    clock.advance(days=1, minutes=1)
    answered = len(inbox(sink, CUSTOMER))
    await send(app, mail(subject="Status"))
    await settle(app)
    assert len(inbox(sink, CUSTOMER)) == answered + 1 and await cases(app) == 3
    forged = mail(subject="status", sender="carol@customer.example<attacker@evil.example>")
    await send(app, forged, mail_from="attacker@evil.example", rcpts=["support+status@example.com"])
    await settle(app)
    assert body_of(inbox(sink, CUSTOMER)[-1]).count("MG#") == 2
    assert not any("evil" in str(r.rcpt_tos) for r in sink.received)
    assert [q["reason"] for q in await quarantine.list_quarantine(app.ctx)] == [
        "status request: the sender could not be verified, so it is not answered"]
    auto = mail(to="support+status@example.com", subject="Out of office")
    auto["Auto-Submitted"] = "auto-replied"
    await send(app, auto, rcpts=["support+status@example.com"])
    await settle(app)
    assert await cases(app) == 3

    # Capped like auto-responses (3 a day in the tests' config, shared with them).
    sent = len(inbox(sink, CUSTOMER))
    status = ["support+status@example.com"]
    for _ in range(3):
        await send(app, mail(to=status[0], subject="again"), rcpts=status)
    await settle(app)
    assert len(inbox(sink, CUSTOMER)) == sent + 2 and await cases(app) == 3
    clock.advance(days=1, minutes=1)
    await send(app, mail(to=status[0], subject="next day"), rcpts=status)
    await settle(app)
    assert len(inbox(sink, CUSTOMER)) == sent + 3
