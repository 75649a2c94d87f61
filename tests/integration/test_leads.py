"""A sales lead end to end over SMTP, read at the relay sink (SPEC §4, §11): new → contacted (the
first answer) → qualified (#qualify) → an offer (#offer) → converted (#convert), which registers the
customer and mails the welcome with an activation link the customer then uses, once; only sales
staff may own it; stats count the funnel."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from mailgate.app import App
from mailgate.errors import Refused
from mailgate.services import customers, stats, tickets
from mailgate.signing import LinkError
from tests.conftest import running, settle
from tests.fakes import SmtpSink
from tests.integration.test_operators import add_staff, body_of, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

SAM = "sam@example.com"
LEAD = "lena@prospect.example"


async def test_a_lead_from_first_mail_to_an_activated_customer(
        make_app: Callable[..., App], sink: SmtpSink) -> None:
    url = 'activation_url = "https://help.example.com/activate/{token}"'
    async with running(make_app(gateway_extra=url)) as app:
        await add_staff(app, SAM, "Sam", pools=("sales",), roles=("sales",))
        await add_staff(app, "olaf@example.com", "Olaf", pools=("sales", "support"), roles=("operator",))
        await send(app, mail(sender=f"Lena Lind <{LEAD}>", to="sales@example.com",
                             subject="Quote for 40 routers", body="We need 40 routers for our offices.\n"),
                   mail_from=LEAD, rcpts=["sales@example.com"])
        await settle(app)
        shown = await tickets.show_ticket(app.ctx, 1)
        assert (shown["type"], shown["stage"], shown["offers"]) == ("lead", "new", [])
        with pytest.raises(Refused, match="only staff with the sales role may own it"):
            await tickets.assign_ticket(app.ctx, 1, "olaf")
        [announce] = inbox(sink, SAM)
        await send_as_staff(app, client_reply(announce, f"Sam <{SAM}>", "#claim"))
        await settle(app)
        forward = inbox(sink, SAM)[-1]

        await send_as_staff(app, client_reply(forward, f"Sam <{SAM}>", "Thanks! Which model do you use now?"))
        await settle(app)
        assert (await tickets.show_ticket(app.ctx, 1))["stage"] == "contacted"      # the first answer
        await send_as_staff(app, client_reply(forward, f"Sam <{SAM}>", "#qualify"))
        await settle(app)
        assert (await tickets.show_ticket(app.ctx, 1))["stage"] == "qualified"
        await send_as_staff(app, client_reply(
            forward, f"Sam <{SAM}>", "#offer 12400.50EUR 40 x RT-9 routers\nDelivery within two weeks."))
        await settle(app)
        offer = inbox(sink, LEAD)[-1]
        assert offer["Subject"] == "[MG#1] Offer no. 1: Quote for 40 routers"
        assert offer["From"].addresses[0].addr_spec == "sales@example.com"
        text = body_of(offer)
        assert ("offer no. 1:\n\n  Amount: 12400.50 EUR\n\n40 x RT-9 routers\n\n"
                "Delivery within two weeks.\n\nJust reply") in text
        assert offer.get_body(("html",)) is not None
        assert sum("within two weeks" in body_of(m) for m in inbox(sink, LEAD)) == 1   # not as an answer too
        [recorded] = (await tickets.show_ticket(app.ctx, 1))["offers"]
        assert {k: recorded[k] for k in ("no", "amount", "currency")} == {"no": 1, "amount": "12400.50",
                                                                           "currency": "EUR"}
        assert recorded["text"] == "40 x RT-9 routers\n\nDelivery within two weeks."

        await send_as_staff(app, client_reply(forward, f"Sam <{SAM}>", "#qualify"))      # not back
        await settle(app)
        assert "only moves on" in body_of(inbox(sink, SAM)[-1])
        await send_as_staff(app, client_reply(forward, f"Sam <{SAM}>", "#convert"))
        await settle(app)
        assert (await tickets.show_ticket(app.ctx, 1))["stage"] == "converted"
        [welcome] = [m for m in inbox(sink, LEAD) if m["Subject"].startswith("Welcome")]
        text = body_of(welcome)
        assert text.startswith("Hello Lena Lind,")
        assert "What you sent us (MG#1):\n\n  Subject: Quote for 40 routers\n  We need 40 routers" in text
        token = re.search(r"https://help\.example\.com/activate/(\S+)", text)
        assert token is not None
        assert (await customers.activate(app.ctx, token[1]))["email"] == LEAD
        with pytest.raises(LinkError, match="used already"):
            await customers.activate(app.ctx, token[1])
        record = await customers.show_customer(app.ctx, LEAD)
        assert record["state"] == "active" and record["cases"] == [1]
        assert {m["subject"] for m in record["mails"]} >= {offer["Subject"], welcome["Subject"]}

        # A support case has no stages; the quick stats count the funnel.
        await send(app, mail(subject="Help"))
        await settle(app)
        support_forward = next(m for m in inbox(sink, "olaf@example.com") if "[MG#2]" in m["Subject"])
        await send_as_staff(app, client_reply(support_forward, "Olaf <olaf@example.com>", "#qualify"))
        await settle(app)
        assert "MG#2 is a support case, not a sales lead" in body_of(inbox(sink, "olaf@example.com")[-1])
        figures = await stats.quick_stats(app.ctx)
        assert {k: figures[k] for k in ("leads_new", "leads_contacted", "leads_qualified", "leads_converted",
                                        "unresolved")} == {"leads_new": 1, "leads_contacted": 1,
                                                           "leads_qualified": 1, "leads_converted": 1,
                                                           "unresolved": 2}
        assert figures["open_by_pool"] == {"sales": 1, "support": 1}
