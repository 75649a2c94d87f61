"""The web contact forms over real HTTP (aiohttp client against the daemon's own server): a sales
form submission with an attachment becomes a lead read at the relay sink, and every abuse is
refused with its status and nothing stored: missing or forged CSRF (403), another Origin (403),
an oversized upload (413), the rate limit (429), a blocked IP or address (403), the honeypot
(400), missing fields (400 with the errors next to them), and markup in every field escaped."""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Callable

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.app import App
from mailgate.services import blocklist, customers, tickets
from mailgate.storage.models import Inbound
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import add_staff, body_of, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

WEB = """
[[field]]
name = "project"
label = "Project"
required = true

[[field]]
name = "size"
label = "Team size"
choices = ["1-10", "11-50", "50+"]

[web]
listen = "127.0.0.1:0"
public_url = "http://127.0.0.1"
max_upload = "200KB"
rate_limit = "4/h"

[[web.form]]
name = "sales"
mailbox = "sales"
fields = ["project", "size"]
title = "Ask for a quote"

[[web.form]]
name = "support"
mailbox = "support"
customers_only = true
"""
LENA = "lena@prospect.example"


@pytest.fixture
async def site(make_app: Callable[..., App]) -> AsyncIterator[tuple[App, str]]:
    async with running(make_app(extra=WEB)) as app:
        assert app.web is not None
        yield app, f"http://127.0.0.1:{app.web.port}"


def client() -> aiohttp.ClientSession:
    """A browser-like client: it keeps cookies from 127.0.0.1 (aiohttp refuses IP hosts by default)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def stored(app: App) -> int:
    def count(s: Session) -> int:
        return int(s.scalar(select(func.count()).select_from(Inbound)) or 0)
    return await app.ctx.db.run(count)


async def open_form(http: aiohttp.ClientSession, base: str, name: str = "sales") -> str:
    async with http.get(f"{base}/form/{name}") as page:
        assert page.status == 200
        html = await page.text()
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found[1]


def filled(token: str, **changes: str) -> aiohttp.FormData:
    values = {"csrf_token": token, "name": "Lena Lind", "email": LENA, "subject": "Quote for 40 routers",
              "message": "We need 40 routers.\nDelivery to Vienna.", "project": "Office move",
              "size": "11-50", "website": ""}
    values.update(changes)
    data = aiohttp.FormData()
    for key, value in values.items():
        data.add_field(key, value)
    return data


async def test_a_sales_form_submission_becomes_a_lead_and_is_confirmed(site: tuple[App, str],
                                                                        sink: SmtpSink) -> None:
    app, base = site
    async with client() as http:
        async with http.get(f"{base}/form/sales") as page:
            html = await page.text()
            assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
            assert page.headers["X-Content-Type-Options"] == "nosniff"
            assert page.headers["Referrer-Policy"] == "same-origin"
            cookie = page.headers["Set-Cookie"]
            assert "SameSite=Strict" in cookie and "HttpOnly" in cookie
        assert "<header>Example Support</header>" in html and "<h1>Ask for a quote</h1>" in html
        assert '<label for="f-project">Project</label>' in html and "<script" not in html
        assert '<option>11-50</option>' in html and 'name="viewport"' in html
        token = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert token
        data = filled(token[1])
        data.add_field("attachment", b"%PDF-1.4 floor plan", filename="plan.pdf",
                       content_type="application/pdf")
        async with http.post(f"{base}/form/sales", data=data) as done:
            assert done.status == 200
            page = await done.text()
    assert '<p class="number">MG#1</p>' in page and LENA in page
    await settle(app)
    case = await tickets.show_ticket(app.ctx, 1)
    assert (case["type"], case["stage"], case["channel"], case["mailbox"], case["pool"]) == (
        "lead", "new", "web", "sales", "sales")
    assert case["fields"] == {"project": "Office move", "size": "11-50"}
    [attachment] = case["messages"][0]["attachments"]
    assert (attachment["filename"], attachment["sha256"]) == (
        "plan.pdf", hashlib.sha256(b"%PDF-1.4 floor plan").hexdigest())
    assert "We need 40 routers.\nDelivery to Vienna." in case["messages"][0]["text"]
    [auto] = inbox(sink, LENA)
    assert auto["Subject"].startswith("[MG#1]") and "MG#1" in body_of(auto)
    assert auto["From"].addresses[0].addr_spec == "sales@example.com"

    # Markup typed into the form is text everywhere: the page, the case, the mails.
    xss = "<img src=x onerror=alert(1)>"
    async with client() as http:
        token = await open_form(http, base)
        async with http.post(f"{base}/form/sales", data=filled(token, name=xss, subject=f"Quote {xss}",
                                                                message=xss, project=xss)) as done:
            page = await done.text()
    assert '<p class="number">MG#2</p>' in page and xss not in page
    await settle(app)
    second = inbox(sink, LENA)[-1]
    html = second.get_body(("html",))
    assert html is not None and xss not in str(html.get_content())
    assert "<img" not in str(html.get_content())                          # no markup in the HTML part
    assert (await tickets.show_ticket(app.ctx, 2))["fields"]["project"] == xss      # stored as typed


async def test_abuse_is_refused_with_its_status_and_nothing_is_stored(site: tuple[App, str]) -> None:
    app, base = site
    async with client() as http:
        token = await open_form(http, base)
        async with http.post(f"{base}/form/sales", data=filled("")) as missing:
            assert missing.status == 403 and "expired" in await missing.text()
        async with http.post(f"{base}/form/sales", data=filled(token[:-3] + "abc")) as forged:
            assert forged.status == 403
        async with client() as stranger, stranger.post(      # a token without its cookie
                f"{base}/form/sales", data=filled(token)) as replayed:
            assert replayed.status == 403
        async with http.post(f"{base}/form/sales", data=filled(token),
                             headers={"Origin": "https://evil.example"}) as cross:
            assert cross.status == 403 and "another site" in await cross.text()
        big = filled(token)
        big.add_field("attachment", b"x" * 300_000, filename="big.bin")
        async with http.post(f"{base}/form/sales", data=big) as too_big:
            assert too_big.status == 413 and "Nothing was stored" in await too_big.text()
        async with http.post(f"{base}/form/sales", data=filled(token, website="http://spam.example")) as bot:
            assert bot.status == 400
        async with http.post(f"{base}/form/sales", data=filled(token, subject="", email="not-an-address",
                                                                size="huge")) as wrong:
            assert wrong.status == 400
            page = await wrong.text()
        assert '<p class="error" id="e-subject">Please say in a few words what it is about.</p>' in page
        assert 'aria-describedby="e-email"' in page and "Please choose one of: 1-10, 11-50, 50+." in page
        assert 'value="Lena Lind"' in page                         # what they typed is kept
        assert await stored(app) == 0

        xss = "<script>alert(1)</script>"
        async with http.post(f"{base}/form/sales", data=filled(token, name=xss, subject=xss, message=xss,
                                                                project=xss, email="")) as shown:
            page = await shown.text()
        assert xss not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert await stored(app) == 0

        await blocklist.add_block(app.ctx, "@prospect.example")
        async with http.post(f"{base}/form/sales", data=filled(token)) as blocked_address:
            assert blocked_address.status == 403
        await blocklist.remove_block(app.ctx, "@prospect.example")
        await blocklist.add_block(app.ctx, "127.0.0.0/8")
        async with http.post(f"{base}/form/sales", data=filled(token)) as blocked_ip:
            assert blocked_ip.status == 403 and "your network" in await blocked_ip.text()
        await blocklist.remove_block(app.ctx, "127.0.0.0/8")
        assert await stored(app) == 0

        for n in range(4):                                         # the rate limit: 4 an hour
            async with http.post(f"{base}/form/sales", data=filled(token, subject=f"Try {n}")) as ok:
                assert ok.status == 200
        async with http.post(f"{base}/form/sales", data=filled(token, subject="One more")) as limited:
            assert limited.status == 429 and "4 submissions per hour" in await limited.text()
        assert await stored(app) == 4
        async with http.get(f"{base}/form/nope") as unknown:
            assert unknown.status == 404


async def test_without_a_web_table_there_is_no_server(app: App) -> None:
    assert app.web is None


async def test_customers_only_waits_for_the_confirmation_link_of_a_registered_customer(
        site: tuple[App, str], sink: SmtpSink, clock: FrozenClock) -> None:
    app, base = site
    await customers.add_customer(app.ctx, "mia@customer.example", "Mia")
    await settle(app)
    token = re.search(r"activation code \(it works once, until [^)]*\):\n\n  (\S+)",
                      body_of(inbox(sink, "mia@customer.example")[0]))
    assert token
    await customers.activate(app.ctx, token[1])
    async with client() as http:
        csrf = await open_form(http, base, "support")
        async with http.post(f"{base}/form/support", data=filled(csrf, email="mia@customer.example",
                                                                  subject="Invoice wrong")) as held:
            assert held.status == 200 and "Please check your mail" in await held.text()
        async with http.post(f"{base}/form/support", data=filled(csrf, email="nobody@customer.example",
                                                                  subject="Who am I")) as stranger:
            assert stranger.status == 200 and "Please check your mail" in await stranger.text()
        await settle(app)
        assert await tickets.list_tickets(app.ctx, tickets.TicketFilter()) == []     # nothing opened yet
        [register] = inbox(sink, "nobody@customer.example")
        assert "is not registered with us" in body_of(register) and "/confirm/" not in body_of(register)
        confirm = inbox(sink, "mia@customer.example")[-1]
        assert confirm["Subject"] == "Please confirm your message to Example Support"
        link = re.search(r"http://127\.0\.0\.1/confirm/(\S+)", body_of(confirm))
        assert link
        async with http.get(f"{base}/confirm/{link[1]}") as opened:
            assert opened.status == 200 and '<p class="number">MG#1</p>' in await opened.text()
        async with http.get(f"{base}/confirm/{link[1]}") as again:
            assert again.status == 400 and "used already" in await again.text()
        async with http.get(f"{base}/confirm/{link[1][:-4]}abcd") as altered:
            assert altered.status == 400 and "not valid" in await altered.text()
    await settle(app)
    case = await tickets.show_ticket(app.ctx, 1)
    assert (case["requester"], case["channel"], case["mailbox"], case["subject"]) == (
        "mia@customer.example", "web", "support", "Invoice wrong")
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1

    # A second one whose link is followed too late: nothing opens.
    async with client() as http:
        csrf = await open_form(http, base, "support")
        async with http.post(f"{base}/form/support", data=filled(csrf, email="mia@customer.example",
                                                                  subject="Late one")) as held:
            assert held.status == 200
        await settle(app)
        late = re.search(r"http://127\.0\.0\.1/confirm/(\S+)",
                         body_of(inbox(sink, "mia@customer.example")[-1]))
        assert late
        clock.advance(days=2, minutes=1)
        async with http.get(f"{base}/confirm/{late[1]}") as expired:
            assert expired.status == 400 and "expired" in await expired.text()
    assert len(await tickets.list_tickets(app.ctx, tickets.TicketFilter())) == 1


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found
    return found[1]


async def test_activation_sign_in_and_the_account_pages(make_app: Callable[..., App], sink: SmtpSink) -> None:
    url = 'activation_url = "http://127.0.0.1/activate/{token}"'
    async with running(make_app(extra=WEB, gateway_extra=url)) as app:
        assert app.web is not None
        base = f"http://127.0.0.1:{app.web.port}"
        await add_staff(app, "bob@example.com", "Bob")
        await customers.add_customer(app.ctx, "mia@customer.example", "Mia M")
        for who, subject in (("mia", "Router down"), ("dan", "Dan's case")):
            await send(app, mail(sender=f"{who}@customer.example", subject=subject),
                       mail_from=f"{who}@customer.example")
        await settle(app)
        forward = next(m for m in inbox(sink, "bob@example.com") if "[MG#1]" in m["Subject"])
        await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>",
                                              "#note internal: customer is grumpy"))
        await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "Replace the fuse."))
        await settle(app)
        await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "#close"))
        await settle(app)
        welcome = next(m for m in inbox(sink, "mia@customer.example") if m["Subject"].startswith("Welcome"))
        link = re.search(r"http://127\.0\.0\.1/activate/(\S+)", body_of(welcome))
        assert link
        async with client() as http:
            async with http.get(f"{base}/activate/{link[1]}") as page:
                html = await page.text()
            assert page.status == 200 and 'value="Mia M"' in html
            short = {"csrf_token": csrf_of(html), "name": "Mia Meyer", "password": "short",
                     "password_confirm": "short"}
            async with http.post(f"{base}/activate/{link[1]}", data=short) as refused:
                assert refused.status == 400 and "10 characters or more" in await refused.text()
            good = {**short, "password": "correct horse battery", "password_confirm": "correct horse battery"}
            async with http.post(f"{base}/activate/{link[1]}", data=good) as done:
                assert done.status == 200 and "Your account is active" in await done.text()
            async with http.get(f"{base}/activate/{link[1]}") as replayed:
                assert replayed.status == 400 and "used already" in await replayed.text()

            async with http.get(f"{base}/account", allow_redirects=False) as anonymous:
                assert anonymous.status == 303 and anonymous.headers["Location"] == "/login"
            async with http.get(f"{base}/login") as page:
                login = csrf_of(await page.text())
            wrong = {"csrf_token": login, "email": "mia@customer.example", "password": "nope nope nope"}
            async with http.post(f"{base}/login", data=wrong) as failed:
                assert failed.status == 400 and "do not match" in await failed.text()
            right = {**wrong, "password": "correct horse battery"}
            async with http.post(f"{base}/login", data=right, allow_redirects=False) as signed:
                assert signed.status == 303 and "HttpOnly" in signed.headers["Set-Cookie"]
            async with http.get(f"{base}/account") as mine:
                html = await mine.text()
            assert "Signed in as mia@customer.example" in html and "MG#1" in html and "Router down" in html
            assert "Replace the fuse." in html and "Dan" not in html
            async with http.get(f"{base}/account/case/1") as case:
                html = await case.text()
            assert case.status == 200 and "Replace the fuse." in html and "grumpy" not in html
            async with http.get(f"{base}/account/case/2") as other:
                assert other.status == 403                          # Dan's case
            async with http.post(f"{base}/logout", allow_redirects=False) as out:
                assert out.status == 303
            async with http.get(f"{base}/account/case/1", allow_redirects=False) as gone:
                assert gone.status == 303
        record = await customers.show_customer(app.ctx, "mia@customer.example")
        assert (record["state"], record["name"]) == ("active", "Mia Meyer")

        # The close mail's one-click rating lands on a thank-you page; the case stays closed.
        closed = next(m for m in inbox(sink, "mia@customer.example") if m["Subject"] == "[MG#1] Router down"
                      and "is now closed" in body_of(m))
        good = re.search(r"Good: http://127\.0\.0\.1(/rate/\S+/good)", body_of(closed))
        assert good and "Not good: http://127.0.0.1/rate/" in body_of(closed)
        async with client() as http, http.get(f"{base}{good[1]}") as rated:
            assert rated.status == 200 and "Thank you for your rating" in await rated.text()
        async with client() as http, http.get(f"{base}{good[1][:-10]}xx/good") as altered:
            assert altered.status == 400
        shown = await tickets.show_ticket(app.ctx, 1)
        assert shown["status"] == "closed"
        assert [(m["kind"], m["text"]) for m in shown["messages"]][-1] == ("feedback", "Rating: good")
