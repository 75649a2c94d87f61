"""Other ways in (SPEC §11 "Channels"): a case taken by phone opens as a mail would, with its
auto-response read at the relay sink and its routing; a blocked caller opens nothing."""

from __future__ import annotations

import pytest

from mailgate.app import App
from mailgate.errors import UsageError
from mailgate.services import blocklist, channels, quarantine, tickets
from tests.conftest import settle
from tests.fakes import SmtpSink
from tests.integration.test_operators import add_staff, body_of, inbox


async def test_a_case_taken_by_phone_is_answered_and_routed_like_mail(app: App, sink: SmtpSink) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    case = await channels.create_ticket(app.ctx, app.ingest, channel="phone", sender="Ida@Customer.example",
                                        name="Ida Ivanova", subject="Router keeps rebooting",
                                        body="Called at 10:05; the router reboots every hour.\n")
    await settle(app)
    assert (case["tag"], case["channel"], case["requester"], case["owner"]) == (
        "MG#1", "phone", "ida@customer.example", "bob@example.com")
    assert case["messages"][0]["text"] == "Called at 10:05; the router reboots every hour."
    [auto] = inbox(sink, "ida@customer.example")
    assert auto["Subject"].startswith("[MG#1]") and "Router keeps rebooting" in auto["Subject"]
    assert auto["Auto-Submitted"] == "auto-replied"
    [forward] = inbox(sink, "bob@example.com")
    assert "the router reboots every hour" in body_of(forward)
    assert forward["From"].addresses[0].display_name == "Ida Ivanova via Example Support"
    assert (await tickets.show_ticket(app.ctx, 1))["channel"] == "phone"

    with pytest.raises(UsageError, match="not an e-mail address"):
        await channels.create_ticket(app.ctx, app.ingest, channel="phone", sender="ida", subject="x")
    with pytest.raises(UsageError, match="no mailbox 'nope'"):
        await channels.create_ticket(app.ctx, app.ingest, channel="phone", sender="a@b.example", subject="x",
                                     mailbox="nope")
    await blocklist.add_block(app.ctx, "@evil.example")
    with pytest.raises(UsageError, match=r"no case was opened: blocked: @evil\.example"):
        await channels.create_ticket(app.ctx, app.ingest, channel="phone", sender="x@evil.example",
                                     subject="Refund")
    assert [q["reason"] for q in await quarantine.list_quarantine(app.ctx)] == ["blocked: @evil.example"]
