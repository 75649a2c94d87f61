"""Mail between mailgate and its staff and departments: forwarded cases, notices, relayed replies.

Every staff-facing mail carries a signed ``Reply-To`` (and the same token in its Message-ID), so
the staff member answers with plain "reply". A forwarded case carries the whole case: the newest
customer text first (so a preview pane shows it), then every earlier message oldest first (who,
when, and whether the customer saw it), the case block and the commands for this case. Notices
that answer a staff member's mail thread under it. Everything is queued in the caller's unit of
work through ``mailing``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases import people
from mailgate.cases.context import Context
from mailgate.cases.mailing import Outgoing, customer_envelope, queue_mail, signed
from mailgate.clock import human
from mailgate.domain.commands import command_help
from mailgate.domain.effects import ForwardCase, MailAdmin, MailDepartment, NotifyStaff, RelayReply
from mailgate.domain.kinds import ForwardRole, MessageKind, Priority
from mailgate.domain.leads import Stage, contacted
from mailgate.errors import Vanished
from mailgate.mail import tokens
from mailgate.mail.quotes import before_footer
from mailgate.outbound.compose import Envelope, Part
from mailgate.outbound.render import render_html
from mailgate.storage import cases, messages
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Consultation, MailMessage, Ticket

HISTORY_TEXT = 20_000          # characters of one earlier message shown in a forward


def need_ticket(session: Session, case_id: int) -> Ticket:
    ticket = cases.get(session, case_id)
    if ticket is None:
        raise Vanished(f"case {case_id} vanished")
    return ticket


def amount_of(consultation: Consultation) -> str:
    """"89.00 EUR", "120.50", or ''."""
    return f"{consultation.amount} {consultation.currency}".strip() if consultation.amount else ""


def case_facts(session: Session, ctx: Context, ticket: Ticket) -> dict[str, object]:
    """What every template about a case may show."""
    status = cases.status_of(session, ticket)
    owner = staff_repo.by_id(session, ticket.owner_id) if ticket.owner_id else None
    return {
        "gateway": ctx.config.gateway.name, "tag": ctx.tag(ticket.id), "case_id": ticket.id,
        "subject": ticket.subject, "status": status.name, "priority": ticket.priority,
        "urgent": ticket.priority == Priority.URGENT,
        "pool": ticket.pool, "type": ticket.type, "requester": ticket.requester,
        "requester_name": ticket.requester_name, "owner": owner.email if owner else "",
        "owner_name": (owner.name or owner.email) if owner else "",
        "category": ticket.category or "", "opened": human(ticket.created_at, ctx.tz),
        "cc": ", ".join(cases.cc_of(session, ticket.id)), "quoted_tag": ctx.tag(ticket.quoted_tag)
        if ticket.quoted_tag else "", "commands": commands_for(session, ctx, ticket),
    }


def commands_for(session: Session, ctx: Context, ticket: Ticket) -> list[str]:
    """The complete command list for this case's pool."""
    pool = ctx.config.pool(ticket.pool)
    return command_help([s.name for s in cases.statuses(session)], [d.name for d in ctx.config.departments],
                        {q.name: q.choices for q in ctx.config.questions if q.name in pool.questionnaire},
                        {f.name: f.choices for f in ctx.config.fields})


@dataclass(frozen=True, slots=True)
class Earlier:
    """One earlier message of a case as a forward lists it."""

    at: str
    who: str
    seen: str           # "sent to the customer" | "from the customer" | "INTERNAL …"
    text: str


def _seen(message: MailMessage) -> str | None:
    """How a message shows in the history; None for staff-side mail (forwards, notices)."""
    disposition = message.disposition
    if message.kind == MessageKind.NOTE:
        return "INTERNAL note"
    if message.kind == MessageKind.DRAFT:
        return "INTERNAL draft, waiting for approval"
    if message.kind == MessageKind.CONSULTATION:
        return {f"{messages.STAFF_SIDE}consultation_request": "INTERNAL question to the department",
                f"{messages.STAFF_SIDE}answer": "INTERNAL answer from the department"}.get(disposition)
    if disposition.startswith(messages.STAFF_SIDE):
        return None
    if message.kind == MessageKind.OUTBOUND:
        if disposition == "auto_response":
            return None             # the acknowledgement every case starts with: noise here
        return "answer sent to the customer" if disposition == "reply" else "sent to the customer (automatic)"
    return "from the customer"


def history(session: Session, ctx: Context, ticket: Ticket, newest: MailMessage | None) -> list[Earlier]:
    """Every message of the case but ``newest``, oldest first, as a forward lists them."""
    names = {s.email: s.name or s.email for s in staff_repo.all_staff(session, include_inactive=True)}
    found = []
    for message in messages.all_of(session, ticket.id):
        seen = _seen(message)
        if seen is None or (newest is not None and message.id == newest.id):
            continue
        who = names.get(message.author, message.author) or message.from_addr or "-"
        text = message.text.strip() or "(no text)"
        if len(text) > HISTORY_TEXT:
            text = text[:HISTORY_TEXT] + " […]"
        found.append(Earlier(human(message.at, ctx.tz), who, seen, text))
    return found


def forward_case(session: Session, ctx: Context, effect: ForwardCase, now: datetime) -> None:
    """The case, newest customer text first, then its history and the commands, to a staff member."""
    ticket = need_ticket(session, effect.case_id)
    staff = people.need(session, effect.staff_id)
    box = ctx.mailbox_for([], ticket.mailbox)
    latest = messages.latest_from_customer(session, ticket.id)
    rendered = ctx.renderer.render("case_forward", {
        **case_facts(session, ctx, ticket), "role": effect.role, "intro": effect.intro,
        "staff_name": staff.name or staff.email, "history": history(session, ctx, ticket, latest),
        "text": latest.text if latest else "", "from": latest.from_addr if latest else ticket.requester,
        "received": human(latest.at, ctx.tz) if latest else "",
    })
    purpose = tokens.Purpose.REPLY if effect.role == ForwardRole.OWNER else tokens.Purpose.NOTICE
    reply_to, mid = signed(ctx, box, ticket.id, staff.id, purpose)
    first = messages.first_message_id(session, ticket.id)
    refs = tuple(dict.fromkeys(r for r in (first, latest.message_id if latest else "") if r))
    parts = [Part(a.filename, a.content_type, data) for a, data in
             (messages.attachments_of(session, latest.id) if latest else []) if not a.inline]
    customer = ticket.requester_name or ticket.requester or "Unknown sender"
    queue_mail(session, Outgoing(
        ticket, Envelope(from_addr=box.address, from_name=f"{customer} via {ctx.config.gateway.name}",
                         to=(staff.email,), message_id=mid, in_reply_to=refs[-1] if refs else "",
                         references=refs, reply_to=reply_to, loop_marker=ctx.loop_marker),
        rendered.subject, rendered.text, disposition=f"{messages.STAFF_SIDE}forward", parts=parts), now)


def notify_staff(session: Session, ctx: Context, effect: NotifyStaff, now: datetime) -> None:
    """A notice to a staff member's registered address, answerable by reply when about a case."""
    staff = people.need(session, effect.staff_id)
    ticket = cases.get(session, effect.case_id) if effect.case_id else None
    box = ctx.mailbox_for([], ticket.mailbox if ticket else "")
    facts = case_facts(session, ctx, ticket) if ticket else {
        "gateway": ctx.config.gateway.name, "tag": "", "case_id": 0, "subject": ""}
    rendered = ctx.renderer.render(effect.template, {
        **facts, "staff_name": staff.name or staff.email, "mailbox": box.address, **effect.context})
    purpose = tokens.Purpose.REPLY if ticket and ticket.owner_id == staff.id else tokens.Purpose.NOTICE
    if effect.draft_id:     # the approver's answer must name the draft: it rides in the staff field
        reply_to, mid = signed(ctx, box, ticket.id if ticket else 0, effect.draft_id, tokens.Purpose.APPROVAL)
    else:
        reply_to, mid = signed(ctx, box, ticket.id if ticket else 0, staff.id, purpose)
    thread = (effect.in_reply_to,) if effect.in_reply_to else ()
    queue_mail(session, Outgoing(
        ticket, Envelope(from_addr=box.address, from_name=ctx.config.gateway.name, to=(staff.email,),
                         message_id=mid, reply_to=reply_to if ticket else "", in_reply_to=effect.in_reply_to,
                         references=thread, auto_submitted="auto-generated", loop_marker=ctx.loop_marker),
        rendered.subject, rendered.text, disposition=f"{messages.STAFF_SIDE}{effect.template}"), now)


def relay_reply(session: Session, ctx: Context, effect: RelayReply, now: datetime) -> None:
    """The staff member's text (and attachments, and footer) to the requester, Cc the case's cc."""
    ticket = need_ticket(session, effect.case_id)
    staff = people.need(session, effect.staff_id)
    text = before_footer(effect.text, staff.name, staff.footer_text).rstrip() + "\n"
    footer = staff.footer_text.rstrip()
    parts: list[Part] = []
    if effect.source_message is not None:
        parts += [Part(a.filename, a.content_type, data)
                  for a, data in messages.attachments_of(session, effect.source_message) if not a.inline]
    images = []
    if staff.footer_image:
        cid = f"footer.{staff.id}@{ctx.config.message_id_domain}"
        parts.append(Part(staff.footer_image_name or "footer.jpg", "image/jpeg", staff.footer_image,
                          content_id=cid, inline=True))
        images.append(cid)
    html = render_html(ctx.renderer, text, ctx.config.gateway.name, images, footer)
    subject = f"Re: [{ctx.tag(ticket.id)}] {ticket.subject}"
    cc = tuple(cases.cc_of(session, ticket.id))
    envelope = customer_envelope(session, ctx, ticket, (ticket.requester,), cc=cc,
                                 operator=staff.name or staff.email)
    plain = text + (f"\n{footer}\n" if footer else "")
    queued = queue_mail(session, Outgoing(ticket, envelope, subject, plain, disposition="reply", parts=parts,
                                          html=html, author=staff.email), now)
    ticket.answered_at = now
    if ticket.stage:
        ticket.stage = contacted(Stage(ticket.stage))      # a lead's first answer: contacted
    if queued is not None and queued[1] is not None and effect.source_message is not None:
        messages.copy_attachments(session, effect.source_message, queued[1])


def mail_admin(session: Session, ctx: Context, effect: MailAdmin, now: datetime) -> None:
    """A notice to ``[gateway] admin_address``, from the first mailbox (or the case's)."""
    ticket = cases.get(session, effect.case_id) if effect.case_id else None
    box = ctx.mailbox_for([], ticket.mailbox if ticket else "")
    facts = case_facts(session, ctx, ticket) if ticket else {"gateway": ctx.config.gateway.name, "tag": ""}
    rendered = ctx.renderer.render(effect.template, {**facts, "mailbox": box.address, **effect.context})
    mid = tokens.message_id(tokens.Token(ticket.id if ticket else 0, 0, tokens.Purpose.NOTICE), ctx.secret,
                            ctx.config.message_id_domain)
    queue_mail(session, Outgoing(
        ticket, Envelope(from_addr=box.address, from_name=ctx.config.gateway.name,
                         to=(ctx.config.gateway.admin_address,), message_id=mid,
                         auto_submitted="auto-generated", loop_marker=ctx.loop_marker),
        rendered.subject, rendered.text, disposition=f"{messages.STAFF_SIDE}{effect.template}"), now)


def mail_department(session: Session, ctx: Context, effect: MailDepartment, now: datetime) -> None:
    """The consultation's question (or reminder) to the department, answerable by plain reply."""
    consultation = cases.consultation(session, effect.consultation_id)
    if consultation is None:
        raise Vanished(f"consultation {effect.consultation_id} vanished")
    ticket = need_ticket(session, consultation.ticket_id)
    box = ctx.mailbox_for([], ticket.mailbox)
    asker = staff_repo.by_id(session, consultation.asked_by) if consultation.asked_by else None
    latest = messages.latest_from_customer(session, ticket.id)
    rendered = ctx.renderer.render(effect.template, {
        **case_facts(session, ctx, ticket), "audience": "department",
        "department": consultation.department, "question": consultation.question,
        "amount": amount_of(consultation), "due": human(consultation.due_at, ctx.tz),
        "asked_by": (asker.name or asker.email) if asker else ctx.config.gateway.name,
        "customer_text": latest.text if latest else "",
    })
    reply_to, mid = signed(ctx, box, ticket.id, consultation.id, tokens.Purpose.CONSULTATION)
    queue_mail(session, Outgoing(
        ticket, Envelope(from_addr=box.address, from_name=ctx.config.gateway.name, to=(consultation.address,),
                         message_id=mid, reply_to=reply_to, loop_marker=ctx.loop_marker),
        rendered.subject, rendered.text, kind=MessageKind.CONSULTATION,
        disposition=f"{messages.STAFF_SIDE}{effect.template}", author=asker.email if asker else "",
        shown=f"{consultation.department}: {consultation.question}"
        + (f"\nAmount: {amount_of(consultation)}" if consultation.amount else "")), now)
