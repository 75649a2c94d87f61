"""Mail between mailgate and its staff: forwarded cases, notices, and replies relayed to customers.

Every staff-facing mail carries a signed ``Reply-To`` (and the same token in its Message-ID), so
the staff member answers with plain "reply". Everything is queued in the caller's unit of work.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases import people
from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.config import MailboxConfig
from mailgate.domain.effects import ForwardCase, MailDepartment, NotifyStaff, RelayReply
from mailgate.domain.kinds import ForwardRole, MessageKind
from mailgate.errors import Vanished
from mailgate.mail import tokens
from mailgate.mail.addresses import is_valid
from mailgate.mail.headers import one_line
from mailgate.mail.quotes import before_footer
from mailgate.outbound.compose import Envelope, Part, compose
from mailgate.storage import cases, mailstate, messages, outbox
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Ticket

log = logging.getLogger(__name__)
HISTORY_LINES = 6


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One mail to queue and record on its case."""

    ticket: Ticket | None
    envelope: Envelope
    subject: str
    text: str
    kind: MessageKind = MessageKind.OUTBOUND
    disposition: str = ""
    mail_from: str | None = None        # envelope sender; None: the From address
    parts: Sequence[Part] = ()


def _deliverable(session: Session, mail: Outgoing, now: datetime) -> tuple[str, ...]:
    """The recipients mailgate may mail: valid addresses that have not bounced too often.

    The others are left out with a line in the case history (RELIABILITY rows 29, 43).
    """
    to = mail.envelope.to
    invalid = [a for a in to if not is_valid(a)]
    suppressed = mailstate.suppressed_among(session, [a for a in to if a not in invalid])
    if (invalid or suppressed) and mail.ticket is not None:
        why = {**{a: "invalid address" for a in invalid}, **{a: "address bounces" for a in suppressed}}
        messages.add_events(session, [(mail.ticket.id, now, "not_sent", f"{one_line(a)[:200]}: {reason}")
                                   for a, reason in why.items()])
    return tuple(a for a in to if a not in invalid and a not in suppressed)


def queue_mail(session: Session, mail: Outgoing, now: datetime) -> tuple[int, int | None] | None:
    """Compose, enqueue and (for a case) record a mail; return (outbox id, case message id).

    None when no recipient is left to mail.
    """
    to = _deliverable(session, mail, now)
    if not to:
        log.info("outbox_skipped case=%s reason=no_deliverable_recipient",
                 mail.ticket.id if mail.ticket else "-")
        return None
    env = replace(mail.envelope, to=to)
    raw = compose(env, mail.subject, mail.text, now, mail.parts)
    row_id = outbox.enqueue(
        session, ticket_id=mail.ticket.id if mail.ticket else None,
        mail_from=env.from_addr if mail.mail_from is None else mail.mail_from, rcpt_to=env.to,
        subject=mail.subject, message_id=env.message_id, raw=raw, now=now)
    message_id = None
    if mail.ticket is not None:
        message_id = messages.add(
            session, ticket_id=mail.ticket.id, kind=mail.kind, disposition=mail.disposition,
            outbox_id=row_id, message_id=env.message_id, from_addr=env.from_addr, to_addrs=list(env.to),
            subject=mail.subject, text=mail.text, at=now)
    log.info("outbox_queued id=%s case=%s kind=%s", row_id, mail.ticket.id if mail.ticket else "-",
             mail.disposition or mail.kind)
    return row_id, message_id


def _purpose(role: str) -> tokens.Purpose:
    return tokens.Purpose.REPLY if role == ForwardRole.OWNER else tokens.Purpose.NOTICE


def signed(ctx: Context, box: MailboxConfig, case_id: int, staff_id: int,
           purpose: tokens.Purpose) -> tuple[str, str]:
    """(reply address, Message-ID) carrying the token for (case, staff, purpose)."""
    token = tokens.Token(case_id, staff_id, purpose)
    address = tokens.reply_address(token, ctx.secret, box.local_part, box.domain,
                                   ctx.config.gateway.subaddress_delimiter)
    return address, tokens.message_id(token, ctx.secret, ctx.config.message_id_domain)


def customer_envelope(session: Session, ctx: Context, ticket: Ticket, to: tuple[str, ...],
                      in_reply_to: str = "", references: tuple[str, ...] = (),
                      auto_submitted: str = "") -> Envelope:
    """Mail to the customer side: from the mailbox, threaded on the case's customer-side mail."""
    box = ctx.mailbox_for([], ticket.mailbox)
    refs = references or tuple(messages.thread_ids(session, ticket.id))
    mid = tokens.message_id(tokens.Token(ticket.id, 0, tokens.Purpose.CUSTOMER), ctx.secret,
                            ctx.config.message_id_domain)
    return Envelope(from_addr=box.address, from_name=ctx.config.gateway.name, to=to, message_id=mid,
                    in_reply_to=in_reply_to or (refs[-1] if refs else ""), references=refs,
                    auto_submitted=auto_submitted, loop_marker=ctx.loop_marker)


def need_ticket(session: Session, case_id: int) -> Ticket:
    ticket = cases.get(session, case_id)
    if ticket is None:
        raise Vanished(f"case {case_id} vanished")
    return ticket


def _case_facts(session: Session, ctx: Context, ticket: Ticket) -> dict[str, object]:
    status = cases.status_of(session, ticket)
    owner = staff_repo.by_id(session, ticket.owner_id) if ticket.owner_id else None
    return {
        "gateway": ctx.config.gateway.name, "tag": ctx.tag(ticket.id), "case_id": ticket.id,
        "subject": ticket.subject, "status": status.name, "priority": ticket.priority,
        "pool": ticket.pool, "type": ticket.type, "requester": ticket.requester,
        "requester_name": ticket.requester_name, "owner": owner.email if owner else "",
        "category": ticket.category or "",
    }


def forward_case(session: Session, ctx: Context, effect: ForwardCase, now: datetime) -> None:
    """The case, its latest customer message and attachments, to a staff member."""
    ticket = need_ticket(session, effect.case_id)
    staff = people.need(session, effect.staff_id)
    box = ctx.mailbox_for([], ticket.mailbox)
    latest = messages.latest_from_customer(session, ticket.id)
    history = [f"{m.at:%Y-%m-%d %H:%M} {m.kind:<8} {m.from_addr or '-'}: {m.subject[:60]}"
               for m in messages.recent(session, ticket.id, HISTORY_LINES)]
    rendered = ctx.renderer.render("case_forward", {
        **_case_facts(session, ctx, ticket), "role": effect.role, "intro": effect.intro,
        "staff_name": staff.name or staff.email, "history": history,
        "text": latest.text if latest else "", "from": latest.from_addr if latest else ticket.requester,
    })
    reply_to, mid = signed(ctx, box, ticket.id, staff.id, _purpose(effect.role))
    first = messages.first_message_id(session, ticket.id)
    refs = tuple(dict.fromkeys(r for r in (first, latest.message_id if latest else "") if r))
    parts = [Part(a.filename, a.content_type, data) for a, data in
             (messages.attachments_of(session, latest.id) if latest else []) if not a.inline]
    customer = ticket.requester_name or ticket.requester
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
    facts = _case_facts(session, ctx, ticket) if ticket else {
        "gateway": ctx.config.gateway.name, "tag": "", "case_id": 0, "subject": ""}
    rendered = ctx.renderer.render(effect.template, {
        **facts, "staff_name": staff.name or staff.email, "mailbox": box.address, **effect.context})
    purpose = tokens.Purpose.REPLY if ticket and ticket.owner_id == staff.id else tokens.Purpose.NOTICE
    if effect.draft_id:     # the approver's answer must name the draft: it rides in the staff field
        reply_to, mid = signed(ctx, box, ticket.id if ticket else 0, effect.draft_id, tokens.Purpose.APPROVAL)
    else:
        reply_to, mid = signed(ctx, box, ticket.id if ticket else 0, staff.id, purpose)
    queue_mail(session, Outgoing(
        ticket, Envelope(from_addr=box.address, from_name=ctx.config.gateway.name, to=(staff.email,),
                         message_id=mid, reply_to=reply_to if ticket else "",
                         auto_submitted="auto-generated", loop_marker=ctx.loop_marker),
        rendered.subject, rendered.text, disposition=f"{messages.STAFF_SIDE}{effect.template}"), now)


def relay_reply(session: Session, ctx: Context, effect: RelayReply, now: datetime) -> None:
    """The staff member's text (and attachments, and footer) to the requester and cc."""
    ticket = need_ticket(session, effect.case_id)
    staff = people.need(session, effect.staff_id)
    to = tuple(dict.fromkeys(a for a in (ticket.requester, *cases.cc_of(session, ticket.id)) if a))
    text = before_footer(effect.text, staff.name, staff.footer_text).rstrip() + "\n"
    if staff.footer_text:
        text += f"\n{staff.footer_text.rstrip()}\n"
    parts: list[Part] = []
    if effect.source_message is not None:
        parts += [Part(a.filename, a.content_type, data)
                  for a, data in messages.attachments_of(session, effect.source_message) if not a.inline]
    if staff.footer_image:
        parts.append(Part(staff.footer_image_name or "footer.jpg", "image/jpeg", staff.footer_image,
                          content_id=f"footer.{staff.id}@{ctx.config.message_id_domain}", inline=True))
    subject = f"[{ctx.tag(ticket.id)}] {ticket.subject}"
    queued = queue_mail(session, Outgoing(ticket, customer_envelope(session, ctx, ticket, to), subject, text,
                                          disposition="reply", parts=parts), now)
    if queued is not None and queued[1] is not None and effect.source_message is not None:
        messages.copy_attachments(session, effect.source_message, queued[1])


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
        **_case_facts(session, ctx, ticket), "audience": "department",
        "department": consultation.department, "question": consultation.question,
        "amount": consultation.amount, "due": iso(consultation.due_at) or "",
        "asked_by": (asker.name or asker.email) if asker else ctx.config.gateway.name,
        "customer_text": latest.text if latest else "",
    })
    reply_to, mid = signed(ctx, box, ticket.id, consultation.id, tokens.Purpose.CONSULTATION)
    queue_mail(session, Outgoing(
        ticket, Envelope(from_addr=box.address, from_name=ctx.config.gateway.name, to=(consultation.address,),
                         message_id=mid, reply_to=reply_to, loop_marker=ctx.loop_marker),
        rendered.subject, rendered.text, kind=MessageKind.CONSULTATION,
        disposition=f"{messages.STAFF_SIDE}{effect.template}"), now)
