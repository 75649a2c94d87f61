"""The web pages in a real browser: Debian's Chromium driven by Selenium (chromium-driver), with
JavaScript as the pages have none. Both forms filled in and sent with a file, the confirmation
pages read, the case, its attachment and the mails checked at the relay sink, the confirmation
link followed from the mail, an account activated from the welcome mail, signed in, its case and
resolution seen, another customer's case refused, and screenshots that are not blank."""

from __future__ import annotations

import asyncio
import hashlib
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mailgate.app import App
from mailgate.services import customers, reports, tickets
from tests.conftest import running, settle
from tests.fakes import SmtpSink
from tests.integration.test_operators import add_staff, body_of, client_reply, inbox, send_as_staff
from tests.integration.test_web import WEB
from tests.mailer import mail, send

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER),
                                reason="chromium and chromium-driver are not installed")


@pytest.fixture
def browser() -> Iterator[Any]:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,1200"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(str(DRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


async def do(work: Callable[[], Any]) -> Any:
    """Browser calls block: run them off the event loop that serves the pages."""
    return await asyncio.to_thread(work)


def fill(driver: Any, values: dict[str, str]) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    for name, value in values.items():
        element = driver.find_element(By.NAME, name)
        if element.tag_name == "select":
            Select(element).select_by_visible_text(value)
        else:
            element.clear()
            element.send_keys(value)


def submit(driver: Any) -> str:
    """Click the form's button and return the page it leads to (once that page has replaced this
    one: a click does not wait for the navigation it starts). The old page is marked in its own
    window object, which the new document does not have; an element reference would do too, but
    Chromium then answers "Node … does not belong to the document" rather than "stale" now and
    then, while the navigation is under way."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    driver.execute_script("window.mailgateOldPage = true;")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 30, ignored_exceptions=(WebDriverException,)).until(
        lambda d: d.execute_script(
            "return window.mailgateOldPage === undefined && document.readyState === 'complete';"))
    return str(driver.page_source)


def not_blank(png: bytes) -> bool:
    """A rendered page, not an empty one: a blank 1000x1200 PNG compresses to a few kB."""
    return png.startswith(b"\x89PNG") and len(png) > 15_000


async def test_forms_confirmation_activation_and_account_in_chromium(
        make_app: Callable[..., App], sink: SmtpSink, browser: Any, tmp_path: Path) -> None:
    url = 'activation_url = "http://127.0.0.1/activate/{token}"'
    async with running(make_app(extra=WEB, gateway_extra=url)) as app:
        assert app.web is not None
        base = f"http://127.0.0.1:{app.web.port}"
        await add_staff(app, "bob@example.com", "Bob")
        plan = tmp_path / "plan.pdf"
        plan.write_bytes(b"%PDF-1.4 floor plan for 40 desks")

        # The sales form, with a file: a lead.
        await do(lambda: browser.get(f"{base}/form/sales"))
        shot = await do(browser.get_screenshot_as_png)
        assert not_blank(shot)
        await do(lambda: fill(browser, {"name": "Lena Lind", "email": "lena@prospect.example",
                                        "subject": "Quote for 40 desks", "message": "Delivery to Vienna.",
                                        "project": "Office move", "size": "11-50"}))
        await do(lambda: browser.find_element("name", "attachment").send_keys(str(plan)))
        page = await do(lambda: submit(browser))
        assert '<p class="number">MG#1</p>' in page
        assert not_blank(await do(browser.get_screenshot_as_png))
        await settle(app)
        lead = await tickets.show_ticket(app.ctx, 1)
        assert (lead["type"], lead["channel"], lead["fields"]["size"]) == ("lead", "web", "11-50")
        [att] = lead["messages"][0]["attachments"]
        assert att["sha256"] == hashlib.sha256(plan.read_bytes()).hexdigest()
        assert inbox(sink, "lena@prospect.example")[0]["Subject"].startswith("[MG#1]")

        # A registered customer: activation from the welcome mail, in the browser.
        await customers.add_customer(app.ctx, "mia@customer.example", "Mia M")
        await settle(app)
        welcome = next(m for m in inbox(sink, "mia@customer.example") if m["Subject"].startswith("Welcome"))
        link = re.search(r"http://127\.0\.0\.1(/activate/\S+)", body_of(welcome))
        assert link
        await do(lambda: browser.get(f"{base}{link[1]}"))
        await do(lambda: fill(browser, {"name": "Mia Meyer", "password": "correct horse battery",
                                        "password_confirm": "correct horse battery"}))
        assert "Your account is active" in await do(lambda: submit(browser))

        # The customers-only form: a mail with a link; the case opens when it is followed.
        await do(lambda: browser.get(f"{base}/form/support"))
        await do(lambda: fill(browser, {"name": "Mia Meyer", "email": "mia@customer.example",
                                        "subject": "Router down", "message": "It blinks red."}))
        assert "Please check your mail" in await do(lambda: submit(browser))
        await settle(app)
        confirm = next(m for m in inbox(sink, "mia@customer.example")
                       if m["Subject"].startswith("Please confirm"))
        found = re.search(r"http://127\.0\.0\.1(/confirm/\S+)", body_of(confirm))
        assert found
        await do(lambda: browser.get(f"{base}{found[1]}"))
        assert '<p class="number">MG#2</p>' in await do(lambda: browser.page_source)
        await settle(app)
        forward = next(m for m in inbox(sink, "bob@example.com") if "[MG#2]" in m["Subject"])
        await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "#close\nReset it twice."))
        await settle(app)

        # Signed in: the case and its resolution; the lead (someone else's) is refused.
        await do(lambda: browser.get(f"{base}/login"))
        await do(lambda: fill(browser, {"email": "mia@customer.example",
                                        "password": "correct horse battery"}))
        account = await do(lambda: submit(browser))
        assert "Signed in as mia@customer.example" in account and "Router down" in account
        assert "Reset it twice." in account and "Quote for 40 desks" not in account
        assert not_blank(await do(browser.get_screenshot_as_png))
        await do(lambda: browser.get(f"{base}/account/case/1"))
        assert "This case belongs to someone else." in await do(lambda: browser.page_source)


async def test_the_report_page_in_chromium_draws_its_charts_and_fetches_nothing(
        app: App, sink: SmtpSink, browser: Any, tmp_path: Path) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    for n in range(3):
        await send(app, mail(subject=f"Question {n}", sender=f"c{n}@customer.example"),
                   mail_from=f"c{n}@customer.example")
    await settle(app)
    await send_as_staff(app, client_reply(inbox(sink, "bob@example.com")[0], "Bob <bob@example.com>",
                                          "#close\nDone."))
    await settle(app)
    page = await reports.report_page(app.ctx, "2026-11-20", "2026-11-27", by="operator")
    path = tmp_path / "report.html"
    path.write_text(page)
    await do(lambda: browser.get(path.as_uri()))
    charts = await do(lambda: browser.find_elements("css selector", ".chart svg"))
    sizes = await do(lambda: [c.size for c in charts])
    assert len(sizes) == 3 and all(s["width"] > 300 and s["height"] > 150 for s in sizes)
    fetched = await do(lambda: browser.execute_script(
        "return performance.getEntriesByType('resource').length"))
    assert fetched == 0                                           # nothing loaded from anywhere
    assert not_blank(await do(browser.get_screenshot_as_png))
