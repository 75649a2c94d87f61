"""Folders and search (SPEC §11) over SMTP: a case moves new → open → waiting → closed as its
people write; deadlines put others in the two expired folders; ``--search`` finds cases by
number, subject, requester and a word in any message, through the full-text index."""

from __future__ import annotations

from collections.abc import Callable

from mailgate.app import App
from mailgate.services import tickets, timers
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import add_staff, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

BOB = "bob@example.com"


async def folders(app: App) -> dict[int, str]:
    return {c["id"]: c["folder"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter())}


async def in_folder(app: App, folder: str) -> list[int]:
    return [c["id"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter(folder=folder))]


async def found(app: App, text: str) -> list[int]:
    return [c["id"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter(search=text))]


async def test_a_case_moves_through_the_folders_and_search_finds_it(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    async with running(make_app()) as app:
        await add_staff(app, BOB, "Bob")
        await send(app, mail(subject="Printer broken", body="The toner cartridge leaks everywhere.\n"))
        await settle(app)
        assert await folders(app) == {1: "new"}                # Bob has it, but has not said a word
        [forward] = inbox(sink, BOB)

        await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>", "#ack"))
        await settle(app)
        assert await folders(app) == {1: "open"}               # acknowledged
        await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>", "Please send a photo."))
        await settle(app)
        assert await folders(app) == {1: "open"}               # answered: the ball is with Carol
        answer = inbox(sink, "carol@customer.example")[-1]
        follow_up = mail(subject=f"Re: {answer['Subject']}", body="Here it is: a puddle of magenta.\n")
        follow_up["In-Reply-To"] = answer["Message-ID"]
        clock.advance(minutes=5)
        await send(app, follow_up)
        await settle(app)
        assert await folders(app) == {1: "waiting"}            # Carol wrote after the answer
        await send_as_staff(app, client_reply(forward, f"Bob <{BOB}>", "#close\nA technician replaced it."))
        await settle(app)
        assert await folders(app) == {1: "closed"}

        # Two more: one nobody answers, one answered and then silent; the deadlines expire them.
        await send(app, mail(subject="Invoice question", sender="dan@customer.example"),
                   mail_from="dan@customer.example")
        await send(app, mail(subject="Delivery date", sender="eve@customer.example"),
                   mail_from="eve@customer.example")
        await settle(app)
        to_bob = {m["Subject"]: m for m in inbox(sink, BOB)}
        await send_as_staff(app, client_reply(to_bob["[MG#3] Delivery date"], f"Bob <{BOB}>", "Friday."))
        await settle(app)
        assert await folders(app) == {1: "closed", 2: "new", 3: "open"}
        clock.advance(days=15)
        await timers.sweep(app.ctx)
        clock.advance(days=16)
        await timers.sweep(app.ctx)
        await settle(app)
        assert await folders(app) == {1: "closed", 2: "expired-unanswered", 3: "expired-customer"}
        assert await in_folder(app, "expired-unanswered") == [2]
        assert await in_folder(app, "expired-customer") == [3]
        assert await in_folder(app, "closed") == [1]
        assert await in_folder(app, "new") == [] and await in_folder(app, "all") == [1, 2, 3]

        # Search: the number, the tag, the subject, the requester, words in any message.
        assert await found(app, "2") == [2] and await found(app, "MG#3") == [3]
        assert await found(app, "invoice") == [2]                 # the subject, any case
        assert await found(app, "dan@customer") == [2]            # the requester
        assert await found(app, "toner") == [1]                   # the first mail's text
        assert await found(app, "magent") == [1]                  # a word's beginning, in a follow-up
        assert await found(app, "photo please") == [1]            # every word, in Bob's answer
        assert await found(app, "Friday") == [3]
        assert await found(app, "no such words") == []
