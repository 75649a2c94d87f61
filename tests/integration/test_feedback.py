"""After the close (SPEC §4, §11): case_closed carries the resolution, read at the sink; a reply
that is only thanks is kept as feedback and the case stays closed; anything else reopens it."""

from __future__ import annotations

from email.message import EmailMessage

from mailgate.app import App
from mailgate.services import tickets
from tests.conftest import settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import CUSTOMER, add_staff, body_of, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

BOB = "bob@example.com"


def customer_reply(to: EmailMessage, text: str) -> EmailMessage:
    reply = mail(subject=f"Re: {to['Subject']}", body=f"{text}\n\n> {body_of(to).splitlines()[0]}\n")
    reply["In-Reply-To"] = to["Message-ID"]
    return reply


async def test_thanks_is_feedback_and_a_problem_reopens(app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    await add_staff(app, BOB, "Bob")
    await send(app, mail(subject="Router down"))
    await settle(app)
    [forward] = inbox(sink, BOB)
    await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>", "Please restart the router twice."))
    await settle(app)
    await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>", "#close"))
    await settle(app)
    closed = inbox(sink, CUSTOMER)[-1]
    assert closed["Subject"] == "[MG#1] Router down"
    text = body_of(closed)
    assert 'is now closed.\n\nOur last answer was:\n\n  Please restart the router twice.\n' in text
    assert closed.get_body(("html",)) is not None
    to_bob = len(inbox(sink, BOB))

    clock.advance(hours=1)
    await send(app, customer_reply(closed, "Thanks, it works now!\nCarol"))
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert (shown["status"], shown["folder"]) == ("closed", "closed")
    assert shown["messages"][-1]["kind"] == "feedback"
    assert shown["messages"][-1]["text"] == "Thanks, it works now!\nCarol"
    assert len(inbox(sink, BOB)) == to_bob                 # nobody is bothered with a thank-you
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1

    clock.advance(hours=1)
    await send(app, customer_reply(closed, "Danke, aber es geht immer noch nicht."))
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert shown["status"] == "in progress"
    assert [m["kind"] for m in shown["messages"] if "immer noch" in m["text"]][:1] == ["inbound"]
    assert len(inbox(sink, BOB)) > to_bob                  # Bob hears of it
