"""Customers (SPEC §11): customer add mails customer_welcome with a signed, expiring, single-use
activation link, read here at the relay sink; activation works once; replayed, altered, expired
and disabled links are refused with a clear reason; customer show lists what was sent."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from mailgate.app import App
from mailgate.errors import UsageError
from mailgate.services import customers
from mailgate.signing import LinkError
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import body_of, inbox

URL = "https://help.example.com/activate/{token}"


def token_in(text: str) -> str:
    found = re.search(r"https://help\.example\.com/activate/(\S+)", text)
    assert found, text
    return found[1]


async def test_welcome_activation_once_and_every_refusal(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    async with running(make_app(gateway_extra=f'activation_url = "{URL}"\nactivation_ttl = "7d"')) as app:
        added = await customers.add_customer(app.ctx, "Dora@Customer.example", "Dora Diaz")
        assert (added["email"], added["state"]) == ("dora@customer.example", "invited")
        assert added["activated_at"] is None
        with pytest.raises(UsageError, match="a customer already"):
            await customers.add_customer(app.ctx, "dora@customer.example", "Dora")
        await settle(app)
        [welcome] = inbox(sink, "dora@customer.example")
        assert welcome["Subject"] == "Welcome to Example Support: please activate your account"
        assert welcome["From"].addresses[0].addr_spec == "support@example.com"
        assert welcome["Auto-Submitted"] == "auto-generated"
        text = body_of(welcome)
        assert text.startswith("Hello Dora Diaz,\n") and "dora@customer.example" in text
        assert "it works once, until 2026-11-30" in text
        html = welcome.get_body(("html",))
        assert html is not None and "https://help.example.com/activate/" in str(html.get_content())
        token = token_in(text)

        # Altered (one character changed), then the real one, then the same again.
        forged = token[:-2] + ("A" if token[-2] != "A" else "B") + token[-1]
        with pytest.raises(LinkError, match="not valid: it was changed"):
            await customers.activate(app.ctx, forged)
        activated = await customers.activate(app.ctx, token)
        assert (activated["state"], activated["activated_at"]) == ("active", "2026-11-23T09:00:00Z")
        with pytest.raises(LinkError, match="used already; each activation link works once"):
            await customers.activate(app.ctx, token)

        # A second customer waits too long; a third is disabled before following the link.
        await customers.add_customer(app.ctx, "erik@customer.example", "Erik")
        await customers.add_customer(app.ctx, "fay@customer.example", "Fay")
        await settle(app)
        late = token_in(body_of(inbox(sink, "erik@customer.example")[0]))
        fay = token_in(body_of(inbox(sink, "fay@customer.example")[0]))
        await customers.disable(app.ctx, "fay@customer.example")
        with pytest.raises(LinkError, match=r"fay@customer\.example is disabled"):
            await customers.activate(app.ctx, fay)
        clock.advance(days=7, seconds=1)
        with pytest.raises(LinkError, match="this link expired on 2026-11-30 09:00 UTC"):
            await customers.activate(app.ctx, late)
        # A token for another customer's link does not carry over: each is bound to its customer.
        assert late != token

        listed = {c["email"]: c["state"] for c in await customers.list_customers(app.ctx)}
        assert listed == {"dora@customer.example": "active", "erik@customer.example": "invited",
                          "fay@customer.example": "disabled"}
        shown = await customers.show_customer(app.ctx, "dora@customer.example")
        assert shown["cases"] == []
        assert [(m["subject"], m["state"], m["ticket_id"]) for m in shown["mails"]] == [
            ("Welcome to Example Support: please activate your account", "sent", None)]
        assert (await customers.show_customer(app.ctx, str(shown["id"])))["email"] == "dora@customer.example"


async def test_without_an_activation_url_the_mail_quotes_the_token(app: App, sink: SmtpSink) -> None:
    await customers.add_customer(app.ctx, "gus@customer.example", "Gus")
    await settle(app)
    text = body_of(inbox(sink, "gus@customer.example")[0])
    assert "give us this activation code" in text
    code = text.split("activation code (it works once, until 2026-11-30):\n\n  ", 1)[1].split("\n", 1)[0]
    assert (await customers.activate(app.ctx, code))["state"] == "active"
    assert "activation_url is not set" in customers.link_note(app.ctx)
