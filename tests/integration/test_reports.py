"""``mailgate report`` on a history with known answers, made by driving the daemon over SMTP with
the test clock: three days, two operators, consultations on time and late, closes on time and
late, feedback, a mail exactly at ``until`` (excluded); every figure checked globally and per
operator, the CSV against the JSON, and the table's width."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest

from mailgate.app import App
from mailgate.cli.reporting import as_csv, table
from mailgate.errors import UsageError
from mailgate.services import reports, tickets, timers
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.integration.test_operators import add_staff, body_of, client_reply, inbox, send_as_staff
from tests.mailer import mail, send

FINANCE = '[[department]]\nname = "finance"\naddress = "finance@example.com"\ndeadline = "1d"\n'
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


async def test_a_three_day_history_in_figures(make_app: Callable[..., App], sink: SmtpSink,
                                              clock: FrozenClock, tmp_path: Path) -> None:
    clock.current = T0
    pool = 'mode = "round_robin"\nresolve_within = "2d"'
    async with running(make_app(extra=FINANCE, support_pool=pool)) as app:
        await add_staff(app, "ann@example.com", "Ann")
        await add_staff(app, "bob@example.com", "Bob")

        async def customer(who: str, subject: str) -> int:
            await send(app, mail(sender=f"{who}@customer.example", subject=subject),
                       mail_from=f"{who}@customer.example")
            await settle(app)
            return len(await tickets.list_tickets(app.ctx, tickets.TicketFilter()))

        def forward(staff: str, case: int) -> EmailMessage:
            return next(m for m in reversed(inbox(sink, staff)) if f"[MG#{case}]" in m["Subject"]
                        and m["Reply-To"] is not None)

        async def reply(staff: str, case: int, text: str) -> None:
            name = staff.split("@")[0]
            await send_as_staff(app, client_reply(forward(staff, case), f"{name} <{staff}>", text))
            await settle(app)

        async def at(hours: float) -> None:
            clock.current = T0 + timedelta(hours=hours)

        async def give(case: int, staff: str) -> None:
            if (await tickets.show_ticket(app.ctx, case))["owner"] != staff:
                await tickets.assign_ticket(app.ctx, case, staff)
            await settle(app)

        one = await customer("c1", "Printer")
        await give(one, "ann@example.com")
        two = await customer("c2", "Refund")
        await give(two, "bob@example.com")
        await at(1)
        await reply("ann@example.com", one, "Replace the toner.")              # first response 1 h
        await at(2)
        await reply("bob@example.com", two, "#consult finance amount=100.50 Refund approved?")
        await at(5)
        ask = next(m for m in inbox(sink, "finance@example.com") if "[MG#2]" in m["Subject"])
        await send_as_staff(app, client_reply(ask, "Fin <fin@example.com>", "Yes."))   # on time
        await settle(app)
        await at(6)
        await reply("bob@example.com", two, "Your refund is on its way.")     # first response 6 h
        await at(24)
        await reply("ann@example.com", one, "#close")                         # on time, in 1 d
        three = await customer("c3", "Contract")
        await give(three, "ann@example.com")
        await at(25)
        await reply("ann@example.com", three, "#consult finance amount=20 Penalty?")   # due at 49 h
        await at(48)
        closed = next(m for m in reversed(inbox(sink, "c1@customer.example"))
                      if "is now closed" in body_of(m))
        thanks = mail(sender="c1@customer.example", subject=f"Re: {closed['Subject']}", body="Thanks!\n")
        thanks["In-Reply-To"] = closed["Message-ID"]
        await send(app, thanks, mail_from="c1@customer.example")             # feedback
        await settle(app)
        await at(60)
        await reply("bob@example.com", two, "#close")                         # late (2.5 d), consulted
        await at(63)                                                          # exactly at until:
        await customer("c4", "Too late")                                      # 2026-11-26 00:00
        await at(72)
        ask = next(m for m in inbox(sink, "finance@example.com") if "[MG#3]" in m["Subject"])
        await send_as_staff(app, client_reply(ask, "Fin <fin@example.com>", "No penalty."))   # late
        await settle(app)

        data = await reports.report(app.ctx, "2026-11-23", "2026-11-26", by="operator")
        page = await reports.report_page(app.ctx, "2026-11-23", "2026-11-26", by="operator")
    (tmp_path / "report.html").write_text(page)
    assert page.count("<svg") == 3 and "<script" not in page and "src=" not in page
    assert 'Customer mails per day' in page and "2026-11-25" in page and "2026-11-26" not in page.split(
        "Customer mails per day")[1].split("</svg>")[0]
    overdue = page.split("Overdue at the end of the period")[1]
    assert '<tr class="overdue"><td>MG#3</td><td>Contract</td><td>ann@example.com</td>' in overdue
    assert "MG#1" not in overdue and "MG#2" not in overdue
    assert (data["since"], data["until"], data["tz"], data["by"]) == (
        "2026-11-23T00:00:00Z", "2026-11-26T00:00:00Z", "UTC", "operator")
    rows = {r["key"]: r for r in data["rows"]}
    assert list(rows) == ["all", "ann@example.com", "bob@example.com"]
    expected = {
        "all": dict(received=4, closed=2, closed_on_time=1, closed_on_time_consulted=0, closed_late=0,
                    closed_late_consulted=1, consulted=2, consulted_on_time=1, consulted_late=1,
                    consultation_amount="120.50", feedback=1, feedback_pct=50.0,
                    first_response_median_s=3600, first_response_p90_s=21600, resolution_median_s=86400,
                    resolution_p90_s=216000, open_at_end=1, overdue_at_end=1, leads_new=0),
        "ann@example.com": dict(received=3, closed=1, closed_on_time=1, closed_late_consulted=0,
                                consulted=1, consulted_on_time=0, consulted_late=1,
                                consultation_amount="20.00", feedback=1, feedback_pct=100.0,
                                first_response_median_s=3600, resolution_median_s=86400, open_at_end=1,
                                overdue_at_end=1),
        "bob@example.com": dict(received=1, closed=1, closed_on_time=0, closed_late_consulted=1,
                                consulted=1, consulted_on_time=1, consulted_late=0,
                                consultation_amount="100.50", feedback=0, feedback_pct=0.0,
                                first_response_median_s=21600, resolution_median_s=216000, open_at_end=0,
                                overdue_at_end=0),
    }
    for key, figures in expected.items():
        assert {k: rows[key][k] for k in figures} == figures, key
    assert all(list(r) == list(reports.KEYS) for r in data["rows"])

    parsed = list(csv.DictReader(io.StringIO(as_csv(data))))
    assert [p["key"] for p in parsed] == list(rows) and parsed[0]["received"] == "4"
    assert parsed[1]["consultation_amount"] == "20.00" and parsed[2]["first_response_median_s"] == "21600"
    text = table(data)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "mails received" in text and "1.0d" in text


async def test_the_period_is_read_in_its_time_zone_across_a_dst_change(app: App) -> None:
    # Budapest leaves summer time on 25 October 2026: that day lasts 25 hours there.
    data = await reports.report(app.ctx, "2026-10-25", "2026-10-26", tz="Europe/Budapest")
    assert (data["since"], data["until"], data["tz"]) == (
        "2026-10-24T22:00:00Z", "2026-10-25T23:00:00Z", "Europe/Budapest")
    assert [r["key"] for r in data["rows"]] == ["all"]
    # 02:30 happens twice that night: the first (summer time) is meant; to 03:30 is two hours.
    hour = await reports.report(app.ctx, "2026-10-25T02:30", "2026-10-25T03:30", tz="Europe/Budapest")
    assert (hour["since"], hour["until"]) == ("2026-10-25T00:30:00Z", "2026-10-25T02:30:00Z")
    for bad, message in ((("2026-10-26", "2026-10-25"), "must come after"),
                         (("x", "2026-10-25"), "a date like")):
        with pytest.raises(UsageError, match=message):
            await reports.report(app.ctx, *bad)


REPORT = '[[report]]\nname = "daily"\nto = ["mia@example.com"]\nevery = "daily"\nformat = "html"\n'


async def test_a_scheduled_report_is_mailed_once_per_period_across_a_restart(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    clock.current = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)

    def reports_mailed() -> list[EmailMessage]:
        return [m for m in inbox(sink, "mia@example.com") if "daily report" in m["Subject"]]

    async with running(make_app(extra=REPORT)) as app:
        await timers.sweep(app.ctx)                      # first seen on the 23rd at 09:00
        await send(app, mail(subject="Monday"))
        clock.current = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)
        await timers.sweep(app.ctx)                      # the 23rd began before: no back-fill
        await send(app, mail(subject="Tuesday", sender="dan@customer.example"),
                   mail_from="dan@customer.example")
        clock.current = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
        assert (await timers.sweep(app.ctx)).reports == 1
        assert (await timers.sweep(app.ctx)).reports == 0
        await settle(app)
    async with running(make_app(extra=REPORT)) as app:     # a restart the same day: nothing new
        await timers.sweep(app.ctx)
        await settle(app)
        [mailed] = reports_mailed()
        assert mailed["Subject"] == "Example Support daily report daily: 2026-11-24"
        text = body_of(mailed)
        assert "mails received" in text and "report-daily-2026-11-24.html" in text
        [attached] = list(mailed.iter_attachments())
        assert attached.get_filename() == "report-daily-2026-11-24.html"
        page = attached.get_content()
        assert page.count("<svg") == 3 and "<script" not in page
        assert '<td>received</td><td>1</td>' in page                     # Tuesday's mail only
        clock.current = datetime(2026, 11, 26, 7, 0, tzinfo=UTC)
        await timers.sweep(app.ctx)
        await settle(app)
        assert [m["Subject"][-10:] for m in reports_mailed()] == ["2026-11-24", "2026-11-25"]


async def test_two_processes_sweeping_at_once_mail_a_period_once(
        make_app: Callable[..., App], sink: SmtpSink, clock: FrozenClock) -> None:
    # Two daemons' sweeps on one database at the same moment (two engines, two pools of
    # connections, as two processes have): the period is claimed once, so it is mailed once.
    clock.current = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
    async with running(make_app(extra=REPORT)) as app:
        await timers.sweep(app.ctx)                                     # first seen
        other = make_app(extra=REPORT)
        try:
            clock.current = datetime(2026, 11, 25, 7, 0, tzinfo=UTC)
            done = await asyncio.gather(*(reports.mail_scheduled(a.ctx, clock.current)
                                          for a in (app, other, app, other)))
            assert sorted(done) == [0, 0, 0, 1]
            await settle(app)
        finally:
            await other.ctx.db.dispose()
    assert len([m for m in inbox(sink, "mia@example.com") if "daily report" in m["Subject"]]) == 1
