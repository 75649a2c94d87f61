"""Live categories over SMTP: a keyword in a new case's subject picks the category and its pool
on the running daemon; ``#category`` by mail accepts only the admin's names once there are some."""

from __future__ import annotations

from mailgate.app import App
from mailgate.services import catalog, tickets
from tests.conftest import settle
from tests.fakes import SmtpSink
from tests.integration.test_operators import add_staff, body_of, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

BOB = "bob@example.com"


async def test_a_keyword_picks_category_and_pool_and_hash_category_takes_the_admins_names(
        app: App, sink: SmtpSink) -> None:
    await add_staff(app, BOB, "Bob")
    await send(app, mail(subject="Toner everywhere"))
    await settle(app)
    await catalog.add_category(app.ctx, "Hardware", ["toner", "paper jam"], "")
    await catalog.add_category(app.ctx, "Quotes", ["quote"], "sales")
    await send(app, mail(subject="Need a QUOTE for 40 chairs", sender="dan@customer.example"),
               mail_from="dan@customer.example")
    await send(app, mail(subject="Another paper   jam", sender="eve@customer.example"),
               mail_from="eve@customer.example")
    await send(app, mail(subject="Quoted prices", sender="fay@customer.example"),
               mail_from="fay@customer.example")
    await settle(app)
    shown = {c["id"]: (c["category"], c["pool"]) for c in await tickets.list_tickets(
        app.ctx, tickets.TicketFilter())}
    assert shown == {1: (None, "support"),           # before the category existed
                     2: ("Quotes", "sales"),          # its pool: nobody in support sees it
                     3: ("Hardware", "support"),
                     4: (None, "support")}            # "Quoted" is not the word "quote"
    assert [m["Subject"] for m in inbox(sink, BOB)] == ["[MG#1] Toner everywhere", "[MG#3] Another paper jam",
                                                        "[MG#4] Quoted prices"]

    forward = inbox(sink, BOB)[0]
    await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>", "#category Printers"))
    await settle(app)
    refusal = inbox(sink, BOB)[-1]
    assert "Not done" in refusal["Subject"]
    assert "no category 'Printers' (categories: Hardware, Quotes)" in body_of(refusal)
    await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>", "#category hardware"))
    await settle(app)
    assert (await tickets.show_ticket(app.ctx, 1))["category"] == "Hardware"
