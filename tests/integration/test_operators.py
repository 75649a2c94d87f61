"""Operators working cases from their own mail programs, end to end over SMTP with the relay sink.

customer → case → forward to the operator → the operator replies as a real client would (quote,
signature, HTML) → the customer gets only the new text, from the support address, threaded.
"""

from __future__ import annotations

from collections.abc import Callable
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from mailgate.app import App
from mailgate.services import explain, quarantine, staff, tickets
from mailgate.storage.models import TicketEvent
from tests.conftest import running, settle
from tests.fakes import FrozenClock, SmtpSink
from tests.mailer import mail, send

CUSTOMER = "carol@customer.example"


async def add_staff(app: App, email: str, name: str, pools: tuple[str, ...] = ("support",),
                    roles: tuple[str, ...] = ("operator",), **kwargs: object) -> None:
    await staff.add_user(app.ctx, email, staff.StaffEdit(name=name, roles=roles, pools=pools,
                                                         **kwargs))  # type: ignore[arg-type]


def inbox(sink: SmtpSink, addr: str) -> list[EmailMessage]:
    return [r.message for r in sink.to(addr)]


def body_of(msg: EmailMessage) -> str:
    part = msg.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # type: ignore[attr-defined]


def quoted(original: EmailMessage) -> str:
    return "\n".join(f"> {line}" for line in body_of(original).splitlines())


def client_reply(forward: EmailMessage, sender: str, text: str, client: str = "thunderbird") -> EmailMessage:
    """A reply to ``forward`` as the named mail client builds it (quote style, signature, HTML)."""
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = forward["Reply-To"]
    reply["Subject"] = "Re: " + forward["Subject"]
    reply["Message-ID"] = make_msgid(domain="staff.example")
    reply["In-Reply-To"] = forward["Message-ID"]
    reply["References"] = f'{forward.get("References", "")} {forward["Message-ID"]}'.strip()
    original = body_of(forward)
    if client == "thunderbird":
        reply.set_content(f"{text}\n\nOn 23.11.26 10:00, Carol via Example Support wrote:\n"
                          f"{quoted(forward)}\n")
    elif client == "mutt":
        reply.set_content(f"* Carol <support@example.com> [2026-11-23 10:00]:\n{quoted(forward)}\n\n"
                          f"{text}\n\n-- \nBob Operator\n")
    elif client == "apple":
        reply.set_content(f"{text}\n\nSent from my iPhone\n\n> On 23. Nov 2026, at 10:00, Carol via "
                          f"Example Support <support@example.com> wrote:\n>\n{quoted(forward)}\n")
    elif client == "gmail":
        reply.set_content(f"{text}\n\nOn Mon, Nov 23, 2026 at 10:00 AM Carol via Example Support <\n"
                          f"support@example.com> wrote:\n\n{quoted(forward)}\n")
        paragraphs = "".join(f"<div>{p}</div>" for p in text.split("\n"))
        reply.add_alternative(f'<div dir="ltr">{paragraphs}</div><br><div class="gmail_quote">'
                              f'<blockquote>{original}</blockquote></div>', subtype="html")
    elif client == "outlook":  # HTML only, with the From:/Sent: block and a signature
        paragraphs = "".join(f"<p class=MsoNormal>{p}</p>" for p in text.split("\n"))
        reply.set_content(
            f"<html><body>{paragraphs}<p class=MsoNormal>&nbsp;</p><p class=MsoNormal>Bob Operator<br>"
            "Example Support</p><div style='border:none;border-top:solid #E1E1E1 1.0pt'>"
            "<p class=MsoNormal><b>From:</b> Carol via Example Support &lt;support@example.com&gt;<br>"
            "<b>Sent:</b> Monday, November 23, 2026 10:00 AM<br><b>To:</b> Bob Operator<br>"
            f"<b>Subject:</b> {forward['Subject']}</p></div><p>{original}</p></body></html>",
            subtype="html")
    else:
        raise AssertionError(client)
    return reply


async def send_as_staff(app: App, msg: EmailMessage, envelope_from: str | None = None) -> None:
    sender = envelope_from or msg["From"].addresses[0].addr_spec
    await send(app, msg, mail_from=sender, rcpts=[msg["To"].addresses[0].addr_spec])


async def events(app: App, case_id: int) -> list[str]:
    rows = await app.ctx.db.run(lambda s: s.scalars(
        select(TicketEvent.kind).where(TicketEvent.ticket_id == case_id).order_by(TicketEvent.id)).all())
    return list(rows)


@pytest.mark.parametrize("client", ["thunderbird", "outlook", "apple", "gmail", "mutt"])
async def test_round_robin_forward_and_reply_relayed_to_customer(
        make_app: Callable[..., App], sink: SmtpSink, client: str) -> None:
    async with running(make_app()) as app:
        await add_staff(app, "bob@example.com", "Bob Operator")
        await staff.set_footer(app.ctx, "bob@example.com", "Bob Operator\nExample Support, +1 555 0100", None)
        original = mail(subject="Printer broken", body="My printer is on fire.\n")
        original.add_attachment(b"%PDF-1.4 invoice", maintype="application", subtype="pdf",
                                filename="invoice.pdf")
        await send(app, original)
        await settle(app)

        [forward] = inbox(sink, "bob@example.com")
        assert forward["From"].addresses[0].display_name == "Carol Customer via Example Support"
        assert forward["From"].addresses[0].addr_spec == "support@example.com"
        assert forward["Subject"] == "[MG#1] Printer broken"
        reply_to = forward["Reply-To"].addresses[0].addr_spec
        assert reply_to.startswith("support+c1s1r.") and reply_to.endswith("@example.com")
        assert forward["Message-ID"].startswith("<mg.c1s1r.")
        assert "My printer is on fire." in body_of(forward)
        assert [p.get_filename() for p in forward.iter_attachments()] == ["invoice.pdf"]
        shown = await tickets.show_ticket(app.ctx, 1)
        assert (shown["owner"], shown["status"]) == ("bob@example.com", "in progress")

        answer = "Please switch it off and unplug it.\nA technician is on the way."
        await send_as_staff(app, client_reply(forward, "Bob Operator <bob@example.com>", answer, client))
        await settle(app)

        [auto, relayed] = inbox(sink, CUSTOMER)
        assert relayed["From"].addresses[0].addr_spec == "support@example.com"
        assert relayed["Subject"] == "Re: [MG#1] Printer broken"
        assert relayed["In-Reply-To"] == auto["Message-ID"]
        assert original["Message-ID"] in relayed["References"]
        assert "c1s1" not in str(relayed["References"])          # no staff token leaks to the customer
        text = body_of(relayed)
        lines = [line for line in text.splitlines() if line.strip()]  # Outlook's <p>s become paragraphs
        assert lines[:2] == ["Please switch it off and unplug it.", "A technician is on the way."]
        assert "on fire" not in text and "wrote:" not in text and "From:" not in text
        assert "iPhone" not in text
        assert text.count("Bob Operator") == 1                   # the footer, not his own signature too
        assert "+1 555 0100" in text
        shown = await tickets.show_ticket(app.ctx, 1)
        assert shown["status"] == "waiting for customer"
        kinds = [(m["kind"], m["disposition"]) for m in shown["messages"]]
        assert ("outbound", "reply") in kinds and ("inbound", "staff:reply") in kinds


async def test_round_robin_turns_skip_the_absent_and_customer_replies_go_to_the_deputy(
        app: App, sink: SmtpSink, clock: FrozenClock) -> None:
    await add_staff(app, "ann@example.com", "Ann")
    await add_staff(app, "bob@example.com", "Bob")
    await add_staff(app, "cid@example.com", "Cid")
    for n in range(3):
        await send(app, mail(subject=f"Question {n}", sender=f"c{n}@customer.example"),
                   mail_from=f"c{n}@customer.example")
    await settle(app)
    owners = [c["owner"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter())]
    assert owners == ["ann@example.com", "bob@example.com", "cid@example.com"]

    until = clock.now().replace(year=2027)
    await staff.set_absent(app.ctx, "ann@example.com", until, "cid@example.com")
    await send(app, mail(subject="Question 3", sender="c3@customer.example"), mail_from="c3@customer.example")
    await send(app, mail(subject="Question 4", sender="c4@customer.example"), mail_from="c4@customer.example")
    await settle(app)
    owners = [c["owner"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter())]
    assert owners[3:] == ["bob@example.com", "cid@example.com"]   # Ann skipped while absent

    # Ann's customer writes again: the deputy gets it, and may answer.
    await send(app, mail(subject="Re: [MG#1] Question 0", sender="c0@customer.example", body="Hello?\n"),
               mail_from="c0@customer.example")
    await settle(app)
    to_cid = [m for m in inbox(sink, "cid@example.com") if m["Subject"] == "[MG#1] Question 0"]
    assert len(to_cid) == 1 and "deputy of Ann" in body_of(to_cid[0])
    assert not [m for m in inbox(sink, "ann@example.com") if "Hello?" in body_of(m)]
    await send_as_staff(app, client_reply(to_cid[0], "Cid <cid@example.com>", "Ann is away; I can help."))
    await settle(app)
    assert "Ann is away; I can help." in body_of(inbox(sink, "c0@customer.example")[-1])


@pytest.mark.reliability(35, 36, 37)
async def test_forged_replayed_and_altered_replies_are_held_never_relayed(app: App, sink: SmtpSink) -> None:
    await add_staff(app, "bob@example.com", "Bob", add_aliases=("bob@home.example",))
    await add_staff(app, "eve@example.com", "Eve", pools=())
    await send(app, mail())
    await settle(app)
    [forward] = inbox(sink, "bob@example.com")
    before = len(inbox(sink, CUSTOMER))

    # A forged From on Bob's signed address; Eve (staff, but not Bob) using Bob's token.
    await send_as_staff(app, client_reply(forward, "Mallory <mallory@evil.example>", "Send me the money"))
    await send_as_staff(app, client_reply(forward, "Eve <eve@example.com>", "I take over"))
    # An altered token.
    altered = client_reply(forward, "Bob <bob@example.com>", "Altered")
    reply_to = forward["Reply-To"].addresses[0].addr_spec
    del altered["To"], altered["In-Reply-To"], altered["References"]
    local = reply_to.split("@")[0]
    altered["To"] = local[:-1] + ("a" if local[-1] != "a" else "b") + "@example.com"
    await send_as_staff(app, altered)
    await settle(app)

    held = await quarantine.list_quarantine(app.ctx)
    assert len(held) == 3 and all(h["reason"].startswith("held: ") for h in held)
    # route --explain tells the admin the same, writing nothing.
    forged = client_reply(forward, "Mallory <mallory@evil.example>", "Again")
    told = await explain.explain(app.ctx, forged.as_bytes(), forward["Reply-To"].addresses[0].addr_spec)
    assert told["outcome"] == "quarantined" and told["outcome_reason"].startswith("held: From mallory@")
    assert len(await quarantine.list_quarantine(app.ctx)) == 3
    assert len(inbox(sink, CUSTOMER)) == before                  # nothing relayed
    notices = [m for m in inbox(sink, "bob@example.com") if "was held" in m["Subject"]]
    assert len(notices) == 3                    # Bob is told: his token used twice, his From on a bad one
    assert "signature does not verify" in held[2]["reason"]

    # From the alias it is Bob's: relayed.
    await send_as_staff(app, client_reply(forward, "Bob <bob@home.example>", "From my other address"))
    await settle(app)
    assert "From my other address" in body_of(inbox(sink, CUSTOMER)[-1])

    # Reassigned to Eve (CLI): Bob's old reply address no longer works, and he is told.
    await tickets.assign_ticket(app.ctx, 1, "eve")
    await settle(app)
    assert any("Now with Eve" in m["Subject"] for m in inbox(sink, "bob@example.com"))
    await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "Too late"))
    await settle(app)
    assert not any("Too late" in body_of(m) for m in inbox(sink, CUSTOMER))
    assert "reassigned" in (await quarantine.list_quarantine(app.ctx))[-1]["reason"]


async def test_commands_apply_together_or_not_at_all(app: App, sink: SmtpSink) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    await send(app, mail())
    await settle(app)
    [forward] = inbox(sink, "bob@example.com")
    before = len(inbox(sink, CUSTOMER))

    await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>",
                                          "#priority urgent\n#frobnicate\n\nThis should not go out."))
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert shown["priority"] == "normal"
    assert len(inbox(sink, CUSTOMER)) == before
    [refusal] = [m for m in inbox(sink, "bob@example.com") if "Not done" in m["Subject"]]
    assert "unknown command #frobnicate" in body_of(refusal)
    assert refusal["Reply-To"].addresses[0].addr_spec.startswith("support+c1s1r.")

    await send_as_staff(app, client_reply(refusal, "Bob <bob@example.com>",
                                          "#note Called the customer, waiting for the part.\n"))
    await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>",
                                          "#priority urgent\n#category hardware\n#ack"))
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert (shown["priority"], shown["category"]) == ("urgent", "hardware")
    notes = [m["text"] for m in shown["messages"] if m["kind"] == "note"]
    assert notes == ["Called the customer, waiting for the part."]
    assert len(inbox(sink, CUSTOMER)) == before                  # notes never reach the customer

    await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>",
                                          "#close\nFixed: the new fuse is in. Thanks for waiting!"))
    await settle(app)
    shown = await tickets.show_ticket(app.ctx, 1)
    assert shown["status"] == "closed"
    last = inbox(sink, CUSTOMER)[-1]
    assert body_of(last).startswith("Fixed: the new fuse is in.")
    assert "closed" in await events(app, 1)

    await send_as_staff(app, client_reply(forward, "Bob <bob@example.com>", "#status in progress"))
    await settle(app)
    assert (await tickets.show_ticket(app.ctx, 1))["status"] == "in progress"


async def test_pull_mode_claim_has_one_winner_and_sales_leads_only_for_sales(
        app: App, sink: SmtpSink) -> None:
    await add_staff(app, "sam@example.com", "Sam", pools=("sales",), roles=("sales",))
    await add_staff(app, "sue@example.com", "Sue", pools=("sales",), roles=("sales",))
    await add_staff(app, "olaf@example.com", "Olaf", pools=("sales",), roles=("operator",))
    await send(app, mail(to="sales@example.com", subject="Quote for 40 routers"), rcpts=["sales@example.com"])
    await settle(app)
    assert (await tickets.show_ticket(app.ctx, 1))["type"] == "lead"
    [to_sam] = inbox(sink, "sam@example.com")
    [to_sue] = inbox(sink, "sue@example.com")
    assert inbox(sink, "olaf@example.com") == []                 # no sales role: not told
    assert "#claim" in body_of(to_sam) and to_sam["Reply-To"].addresses[0].addr_spec.startswith("sales+c1s")

    # Both claim; they are processed one after the other, the second loses.
    await send_as_staff(app, client_reply(to_sue, "Sue <sue@example.com>", "#claim"))
    await send_as_staff(app, client_reply(to_sam, "Sam <sam@example.com>", "#claim"))
    await settle(app)
    assert (await tickets.show_ticket(app.ctx, 1))["owner"] == "sue@example.com"
    forwards = [m for m in inbox(sink, "sue@example.com") if m["Reply-To"] and "s2r." in str(m["Reply-To"])]
    assert len(forwards) == 1
    sam_mail = inbox(sink, "sam@example.com")
    assert any("Taken by Sue" in m["Subject"] for m in sam_mail)
    assert any("already taken by Sue" in body_of(m) for m in sam_mail if "Not done" in m["Subject"])

    # Olaf cannot take a lead, not even by +next.
    await send(app, mail(sender="Olaf <olaf@example.com>", to="sales+next@example.com", subject="next"),
               mail_from="olaf@example.com", rcpts=["sales+next@example.com"])
    await settle(app)
    assert "No case waiting" in inbox(sink, "olaf@example.com")[-1]["Subject"]


async def test_manager_dispatch_and_next(make_app: Callable[..., App], sink: SmtpSink) -> None:
    pool = 'mode = "manager"\nmanager = "alice@example.com"'
    async with running(make_app(support_pool=pool)) as app:
        await add_staff(app, "alice@example.com", "Alice", pools=(), roles=("manager",))
        await add_staff(app, "bob@example.com", "Bob", pools=("support:1",))
        await add_staff(app, "cid@example.com", "Cid", pools=("support:1",))
        await send(app, mail(subject="First"))
        await send(app, mail(subject="Second", sender="dan@customer.example"),
                   mail_from="dan@customer.example")
        await settle(app)
        # (the daily digest may reach the manager too, if the start-up sweep runs after a case)
        dispatch = [m for m in inbox(sink, "alice@example.com") if m["Subject"].startswith("[MG#")]
        assert [m["Subject"] for m in dispatch] == ["[MG#1] First", "[MG#2] Second"]
        assert inbox(sink, "bob@example.com") == []

        await send_as_staff(app, client_reply(dispatch[0], "Alice <alice@example.com>", "#assign bob"))
        await settle(app)
        [to_bob] = inbox(sink, "bob@example.com")
        assert to_bob["Subject"] == "[MG#1] First"
        assert "Assigned to you by alice@example.com" in body_of(to_bob)

        # Cid asks for the next case: the oldest unclaimed one is MG#2.
        await send(app, mail(sender="Cid <cid@example.com>", to="support+next@example.com", subject="next"),
                   mail_from="cid@example.com", rcpts=["support+next@example.com"])
        await settle(app)
        [to_cid] = inbox(sink, "cid@example.com")
        assert to_cid["Subject"] == "[MG#2] Second"
        assert (await tickets.show_ticket(app.ctx, 2))["owner"] == "cid@example.com"


async def test_operator_out_of_office_is_recorded_never_relayed(app: App, sink: SmtpSink) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    await send(app, mail())
    await settle(app)
    [forward] = inbox(sink, "bob@example.com")
    before = len(inbox(sink, CUSTOMER))
    ooo = client_reply(forward, "Bob <bob@example.com>", "I am out of the office until Monday.")
    ooo["Auto-Submitted"] = "auto-replied"
    ooo.replace_header("Subject", "Automatic reply: " + forward["Subject"])
    await send_as_staff(app, ooo)
    await settle(app)
    assert len(inbox(sink, CUSTOMER)) == before
    shown = await tickets.show_ticket(app.ctx, 1)
    assert [m["disposition"] for m in shown["messages"] if m["kind"] == "inbound"][-1] == "auto_reply"


PASS = "mx.example.com; dkim=pass header.d=example.com; dmarc=pass header.from=example.com"


def stamped(msg: EmailMessage, *results: str) -> bytes:
    """``msg`` as it leaves an MTA that put ``results`` on top (first one topmost)."""
    return b"".join(f"Authentication-Results: {r}\r\n".encode() for r in results) + msg.as_bytes()


@pytest.mark.reliability(39, 40)
async def test_staff_mail_our_mta_found_failing_dmarc_is_held_and_sender_added_results_are_ignored(
        make_app: Callable[..., App], sink: SmtpSink) -> None:
    async with running(make_app(gateway_extra='authserv_id = "mx.example.com"')) as app:
        await add_staff(app, "bob@example.com", "Bob")
        await send(app, mail())
        await settle(app)
        [forward] = inbox(sink, "bob@example.com")
        rcpt = forward["Reply-To"].addresses[0].addr_spec
        relayed = len(inbox(sink, CUSTOMER))

        # A valid token, but our MTA says example.com's DMARC failed. The sender had written a
        # passing result of our id below it, and one more inside the body of a comment: ignored.
        forged = stamped(client_reply(forward, "Bob <bob@example.com>", "Send the refund to IBAN X"),
                         "mx.example.com (sender ip 203.0.113.9; policy reject); spf=fail smtp.mailfrom="
                         "example.com; dkim=none; dmarc=fail (p=reject) header.from=example.com", PASS)
        await send(app, forged, mail_from="bob@example.com", rcpts=[rcpt])
        # Written by the sender only: another server's id on top counts for nothing, so this is
        # an ordinary unauthenticated reply and it is relayed as any reply without a verdict is.
        plain = stamped(client_reply(forward, "Bob <bob@example.com>", "Genuine answer"),
                        "evil.example; dmarc=fail", "mx.example.com; dmarc=fail")
        told = await explain.explain(app.ctx, plain, rcpt)
        assert told["authentication"].startswith("unauthenticated")
        await settle(app)

        [held] = await quarantine.list_quarantine(app.ctx)
        assert held["reason"] == ("held: DMARC fail for example.com reported by mx.example.com; "
                                  "an admin may release it after checking with the sender")
        assert len(inbox(sink, CUSTOMER)) == relayed          # nothing relayed yet
        [notice] = [m for m in inbox(sink, "bob@example.com") if "was held" in m["Subject"]]
        assert "DMARC fail for example.com" in body_of(notice)
        assert notice["In-Reply-To"] == make_msgid_of(forged)

        await send(app, plain, mail_from="bob@example.com", rcpts=[rcpt])
        passing = stamped(client_reply(forward, "Bob <bob@example.com>", "Authenticated answer"), PASS)
        told = await explain.explain(app.ctx, passing, rcpt)
        assert told["authentication"] == "dmarc=pass (mx.example.com)"
        await send(app, passing, mail_from="bob@example.com", rcpts=[rcpt])
        await settle(app)
        texts = [body_of(m) for m in inbox(sink, CUSTOMER)[relayed:]]
        assert ["Genuine answer" in t for t in texts] == [True, False]
        assert "Authenticated answer" in texts[1]

        # The admin checked with Bob: released, it goes through once, and only once.
        await quarantine.release(app.ctx, held["id"])
        await settle(app)
        texts = [body_of(m) for m in inbox(sink, CUSTOMER)[relayed:]]
        assert len(texts) == 3 and "Send the refund to IBAN X" in texts[2]
        assert await quarantine.list_quarantine(app.ctx) == []


def make_msgid_of(raw: bytes) -> str:
    return next(line.split(b":", 1)[1].strip().decode() for line in raw.splitlines()
                if line.lower().startswith(b"message-id:"))


@pytest.mark.reliability(34, 38)
async def test_staff_address_without_token_is_held_and_forged_message_ids_are_not_operator_replies(
        app: App, sink: SmtpSink) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    await send(app, mail())
    await settle(app)
    [forward] = inbox(sink, "bob@example.com")

    # RELIABILITY 34: From forged to an operator's address, no token (or Bob writing directly).
    await send(app, mail(sender="Bob <bob@example.com>", subject="Re: [MG#1] Printer broken",
                         body="Refund approved, send your bank details."), mail_from="bob@example.com")
    # RELIABILITY 38: In-Reply-To forged to a gateway Message-ID with a bad MAC.
    forged_id = forward["Message-ID"].replace("<mg.c1s1r.", "<mg.c1s1r.x")[:-20] + "aaaa@example.com>"
    await send(app, mail(sender="Mallory <mallory@evil.example>", subject="Re: [MG#1] Printer broken",
                         body="I am Bob.", In_Reply_To=forged_id, References=forged_id),
               mail_from="mallory@evil.example")
    await settle(app)

    held = await quarantine.list_quarantine(app.ctx)
    assert [h["reason"][:60] for h in held] == [
        "held: mail from a staff address without a valid reply token "[:60]]
    assert any(m["Subject"].startswith("Your mail was held") for m in inbox(sink, "bob@example.com"))
    cases = await tickets.list_tickets(app.ctx, tickets.TicketFilter())
    assert [(c["id"], c["requester"]) for c in cases] == [(1, CUSTOMER), (2, "mallory@evil.example")]
    assert not any("Refund approved" in body_of(m) or "I am Bob" in body_of(m) for m in inbox(sink, CUSTOMER))


async def test_operator_attachments_and_inline_footer_image_reach_the_customer(
        app: App, sink: SmtpSink) -> None:
    await add_staff(app, "bob@example.com", "Bob")
    jpeg = b"\xff\xd8\xff\xe0" + b"JFIF-footer" * 10
    await staff.set_footer(app.ctx, "bob@example.com", "Bob, Example Support", ("logo.jpg", jpeg))
    await send(app, mail())
    await settle(app)
    [forward] = inbox(sink, "bob@example.com")
    reply = client_reply(forward, "Bob <bob@example.com>", "The manual is attached.")
    reply.add_attachment(b"%PDF-1.4 manual", maintype="application", subtype="pdf", filename="manual.pdf")
    await send_as_staff(app, reply)
    await settle(app)

    relayed = inbox(sink, CUSTOMER)[-1]
    assert [p.get_filename() for p in relayed.iter_attachments()] == ["manual.pdf"]
    html = relayed.get_body(("html",))
    assert html is not None
    [image] = [p for p in relayed.walk() if p.get_content_type() == "image/jpeg"]
    assert image.get_content() == jpeg                                   # type: ignore[attr-defined]
    assert image["Content-Disposition"].startswith("inline")
    assert f'cid:{image["Content-ID"].strip("<>")}' in html.get_content()  # type: ignore[attr-defined]
    shown = await tickets.show_ticket(app.ctx, 1)
    [out] = [m for m in shown["messages"] if m["disposition"] == "reply"]
    assert [a["filename"] for a in out["attachments"]] == ["manual.pdf"]


async def test_absence_by_mail_to_cmd(app: App, sink: SmtpSink) -> None:
    await add_staff(app, "ann@example.com", "Ann")
    await add_staff(app, "bob@example.com", "Bob")

    async def command(subject: str) -> str:
        await send(app, mail(sender="Ann <ann@example.com>", to="support+cmd@example.com", subject=subject),
                   mail_from="ann@example.com", rcpts=["support+cmd@example.com"])
        await settle(app)
        return str(inbox(sink, "ann@example.com")[-1]["Subject"])

    assert await command("absent until 2099-12-24 deputy bob") == (
        "Your command: absent until 2099-12-24, deputy bob@example.com")
    users = {u["email"]: u for u in await staff.list_users(app.ctx)}
    assert users["ann@example.com"]["deputy"] == "bob@example.com"
    for n in range(2):
        await send(app, mail(subject=f"Q{n}", sender=f"c{n}@customer.example"),
                   mail_from=f"c{n}@customer.example")
    await settle(app)
    owners = {c["owner"] for c in await tickets.list_tickets(app.ctx, tickets.TicketFilter())}
    assert owners == {"bob@example.com"}                       # Ann is absent
    assert (await command("Re: back")).startswith("Your command: back")
    assert "not understood" in await command("holiday please")
    assert await tickets.list_tickets(app.ctx, tickets.TicketFilter(owner="ann@example.com")) == []
