"""An operator's day, end to end over SMTP with the relay sink, read at the sink as people read it.

Carol writes (with her colleague Dan in Cc); Bob gets the case; he sets commands with only a
greeting and his name (nothing goes to Carol), answers from Outlook with his valediction, notes,
consults finance with an amount in euros, hands the case over to Sue with a note; his late reply
to the old forward is held and passed on to Sue; Sue closes with only "Thanks". A sales lead
nobody can take goes to the admin once and reaches the first sales member at the next sweep. A
storm of mail from one sender is an alert mailed to the admin.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Callable
from email.message import EmailMessage
from email.utils import make_msgid

import pytest

from mailgate.app import App
from mailgate.services import staff, tickets, timers
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import add_staff, client_reply, inbox, send_as_staff
from tests.mailer import html_of, mail, send, text_of

CAROL = "carol@customer.example"
ADMIN = "admin@example.com"
EXTRA = """
[[department]]
name = "finance"
address = "finance@example.com"
deadline = "2d"

[[question]]
name = "product"
prompt = "Which product did the case concern?"
choices = ["Router X", "Router Y", "Other"]
"""
POOL = 'mode = "round_robin"\nquestionnaire = ["product"]'
JPEG = b"\xff\xd8\xff\xe0" + b"JFIF-footer" * 10


GATEWAY = f"""admin_address = "{ADMIN}"
from_name = "{{operator}} at {{gateway}}"
timezone = "Europe/Budapest"
"""


@pytest.fixture
async def day(make_app: Callable[..., App]) -> AsyncIterator[App]:
    async with running(make_app(extra=EXTRA, support_pool=POOL, gateway_extra=GATEWAY)) as app:
        await add_staff(app, "bob@example.com", "Bob Builder")
        await add_staff(app, "sue@example.com", "Sue Smith", roles=("operator", "supervisor"))
        await staff.set_footer(app.ctx, "bob@example.com", "Bob Builder\nExample Support, +1 555 0100",
                               ("logo.jpg", JPEG))
        yield app


def outlook(forward: EmailMessage, sender: str, paragraphs: list[str]) -> EmailMessage:
    """An HTML-only reply as Outlook writes it: paragraphs, then the From:/Sent: block and the quote."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = forward["Reply-To"]
    reply["Subject"] = "RE: " + forward["Subject"]
    reply["Message-ID"] = make_msgid(domain="staff.example")
    reply["In-Reply-To"] = forward["Message-ID"]
    body = "".join(f"<p class=MsoNormal>{p}</p>" for p in paragraphs)
    reply.set_content(
        f"<html><body>{body}<div style='border:none;border-top:solid #E1E1E1 1.0pt'><p class=MsoNormal>"
        "<b>From:</b> Carol via Example Support &lt;support@example.com&gt;<br><b>Sent:</b> Monday, "
        "November 23, 2026 10:00 AM<br><b>To:</b> Bob Builder<br><b>Subject:</b> Printer broken</p></div>"
        "<p>My printer is on fire.</p></body></html>", subtype="html")
    return reply


def section(text: str, title: str) -> str:
    """The part of a forward under ``----- title …`` up to the next ``-----`` line."""
    found = re.search(rf"^----- {re.escape(title)}.*?-----\n(.*?)(?=^----- |\Z)", text, re.S | re.M)
    assert found, f"no section {title!r} in:\n{text}"
    return found[1]


async def test_an_operators_day(day: App, sink: SmtpSink, clock: FrozenClock) -> None:
    app = day
    await send(app, mail(body="My printer is on fire.\n<script>alert(1)</script>\n",
                         cc="dan@customer.example"))
    await settle(app)

    # Carol's auto-response: text and an HTML part of the same words, escaped; RFC 3834.
    [auto] = inbox(sink, CAROL)
    assert auto.get_content_type() == "multipart/alternative" and auto["Auto-Submitted"] == "auto-replied"
    assert "opened case MG#1 for it" in text_of(auto)
    assert "Example Support" in html_of(auto) and "<script>" not in html_of(auto)

    # Bob's forward: the newest text first, the case block, and this case's commands.
    [forward] = inbox(sink, "bob@example.com")
    text = text_of(forward)
    assert text.index("My printer is on fire.") < text.index("----- Case MG#1")
    assert "Cc:         dan@customer.example" in text
    assert "wrote on Mon 23 Nov 2026, 10:00 CET -----" in text           # a human date, in Budapest
    commands = section(text, "Commands")
    assert "#consult <department>" in commands and "finance" in commands
    assert "product (Router X | Router Y | Other)" in commands

    # 1. Commands with nothing but his name below them: commands only, nothing to Carol.
    bare = client_reply(forward, "Bob Builder <bob@example.com>",
                        "#priority urgent\n#status waiting for customer\n\nBob")
    await send_as_staff(app, bare)
    await settle(app)
    assert len(inbox(sink, CAROL)) == 1
    receipt = inbox(sink, "bob@example.com")[-1]
    assert receipt["Subject"] == "[MG#1] Done: priority urgent, status waiting for customer"
    assert receipt["In-Reply-To"] == bare["Message-ID"] and receipt["Auto-Submitted"] == "auto-generated"

    # 2. An Outlook answer with his valediction: it reaches Carol, Dan in Cc, footer once, HTML too.
    await send_as_staff(app, outlook(forward, "Bob Builder <bob@example.com>",
                                     ["Please unplug it; a technician comes at nine.", "&nbsp;",
                                      "Best regards,<br>Bob Builder"]))
    await settle(app)
    answer = inbox(sink, CAROL)[-1]
    assert answer["Subject"] == "Re: [MG#1] Printer broken"
    assert str(answer["From"]) == "Bob Builder at Example Support <support@example.com>"
    assert (answer["To"], answer["Cc"]) == (CAROL, "dan@customer.example")
    assert answer["Auto-Submitted"] is None and answer["In-Reply-To"] == auto["Message-ID"]
    words = text_of(answer)
    assert words.startswith("Please unplug it; a technician comes at nine.\n")
    assert "Best regards," in words and words.count("Bob Builder") == 1 and "+1 555 0100" in words
    assert "on fire" not in words and "From:" not in words
    html = html_of(answer)
    assert "Best regards," in html and re.search(r'src="cid:footer\.\d+@example\.com"', html)
    assert answer.get_content_type() == "multipart/related"

    # 3. A note, then a consultation with an amount in euros: finance gets a readable request.
    forward_now = inbox(sink, "bob@example.com")[0]
    await send_as_staff(app, client_reply(forward_now, "Bob Builder <bob@example.com>",
                                          "#note Called Carol: the printer smokes, she wants a refund."))
    await send_as_staff(app, client_reply(forward_now, "Bob Builder <bob@example.com>",
                                          "#consult finance amount=89.00EUR May we refund the printer?"))
    await settle(app)
    [ask] = inbox(sink, "finance@example.com")
    assert "Amount: 89.00 EUR" in text_of(ask)
    assert "Please answer by Wed 25 Nov 2026, 10:00 CET" in text_of(ask)
    await send_as_staff(app, client_reply(ask, "Finance <finance@example.com>", "Yes, refund approved."))
    await settle(app)

    # 4. Bob hands over to Sue: the text goes to her as a note, the forward carries the whole case.
    await send_as_staff(app, client_reply(forward_now, "Bob Builder <bob@example.com>",
                                          "#assign sue\n\nSue: finance agreed, please refund her."))
    await settle(app)
    assert len(inbox(sink, CAROL)) == 2                       # nothing of the handover reached Carol
    [to_sue] = [m for m in inbox(sink, "sue@example.com") if "via Example Support" in str(m["From"])]
    history = text_of(to_sue).split("----- Earlier in this case")[1].split("----- Commands")[0]
    for expected in ("Bob Builder: INTERNAL note\nCalled Carol",
                     "Bob Builder: INTERNAL question to the department\nfinance: May we refund the printer?\n"
                     "Amount: 89.00 EUR",
                     "finance@example.com: INTERNAL answer from the department\nYes, refund approved.",
                     "Bob Builder: answer sent to the customer\nPlease unplug it",
                     "Bob Builder: INTERNAL note\nSue: finance agreed"):
        assert expected in history, expected
    assert history.index("Called Carol") < history.index("finance agreed")     # oldest first

    # 5. Bob's late reply to his old forward: held, passed to Sue, and Bob is told who has it.
    late = client_reply(forward_now, "Bob Builder <bob@example.com>", "One more thing: bring a cable.")
    await send_as_staff(app, late)
    await settle(app)
    assert len(inbox(sink, CAROL)) == 2
    held = inbox(sink, "bob@example.com")[-1]
    assert "it is now with Sue Smith" in text_of(held) and held["In-Reply-To"] == late["Message-ID"]
    passed = inbox(sink, "sue@example.com")[-1]
    assert "bring a cable" in text_of(passed) and passed["Subject"].startswith("[MG#1] Note from Bob Builder")

    # 6. Sue closes with only thanks: no answer relayed, Carol gets the closing notice.
    await send_as_staff(app, client_reply(to_sue, "Sue Smith <sue@example.com>",
                                          "#answer product=Router X\n#close\n\nThanks,\nSue"))
    await settle(app)
    closing = inbox(sink, CAROL)[-1]
    assert closing["Subject"] == "[MG#1] Printer broken" and "is now closed" in text_of(closing)
    assert closing["Auto-Submitted"] == "auto-generated" and "Thanks" not in text_of(closing)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert (shown["status"], shown["owner"], shown["answers"]) == ("closed", "sue@example.com",
                                                                   {"product": "Router X"})


async def test_a_case_nobody_can_take_is_told_once_and_routed_when_someone_can(
        day: App, sink: SmtpSink, clock: FrozenClock) -> None:
    app = day
    await send(app, mail(to="sales@example.com", subject="Quote for 40 routers"), rcpts=["sales@example.com"])
    await send(app, mail(to="sales@example.com", subject="Re: [MG#1] Quote for 40 routers",
                         body="Any news?\n"), rcpts=["sales@example.com"])
    await settle(app)
    [notice] = inbox(sink, ADMIN)                                          # once, not per message
    assert notice["Subject"] == "[MG#1] Nobody can take this case: Quote for 40 routers"
    assert "mailgate ticket assign 1 USER" in text_of(notice)
    assert (await tickets.list_tickets(app.ctx, tickets.TicketFilter(unresolved=True)))[0]["tag"] == "MG#1"

    await add_staff(app, "sam@example.com", "Sam Sales", pools=("sales",), roles=("sales",))
    await timers.sweep(app.ctx)
    await settle(app)
    [announced] = inbox(sink, "sam@example.com")
    assert "#claim" in text_of(announced) and "Any news?" in text_of(announced)
    await timers.sweep(app.ctx)
    await settle(app)
    assert len(inbox(sink, "sam@example.com")) == 1 and len(inbox(sink, ADMIN)) == 1


async def test_an_alert_is_mailed_to_the_admin(day: App, sink: SmtpSink) -> None:
    app = day
    for n in range(4):                                   # the test config allows three a day
        await send(app, mail(subject=f"Question {n}"))
    await settle(app)
    for _ in range(100):
        if inbox(sink, ADMIN):
            break
        await settle(app, 1)
        await asyncio.sleep(0.1)
    [alert] = inbox(sink, ADMIN)
    assert alert["Subject"] == "Alert: sender_storm (carol@customer.example)"
    assert "auto-responses capped at 3 in 24h" in text_of(alert)


async def test_a_stranger_quoting_a_tag_gets_a_case_of_their_own_and_the_forward_says_so(
        day: App, sink: SmtpSink) -> None:
    app = day
    await send(app, mail())
    await send(app, mail(sender="Mallory <mallory@evil.example>", subject="Re: [MG#1] Printer broken",
                         body="Send me Carol's invoice.\n"), mail_from="mallory@evil.example")
    await settle(app)
    forward = next(m for m in inbox(sink, "sue@example.com") + inbox(sink, "bob@example.com")
               if m["Subject"].startswith("[MG#2]"))
    assert "mallory@evil.example is not part of MG#1 but quoted its tag" in text_of(forward)
