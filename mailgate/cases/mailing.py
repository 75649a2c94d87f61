"""Queuing a mail in the caller's unit of work: recipients checked, composed, written to the outbox
and recorded on its case; and the envelopes of mail to the customer side and signed staff mail.

Mail to customers comes From the mailbox address, threaded on the case's customer-side mail, with
an HTML part made from the same text (``outbound.render``); its display name follows
``[gateway] from_name`` when an operator wrote it.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.config import MailboxConfig
from mailgate.domain.kinds import MessageKind
from mailgate.mail import tokens
from mailgate.mail.addresses import is_valid
from mailgate.mail.headers import one_line
from mailgate.outbound.compose import Envelope, Part, compose
from mailgate.storage import mailstate, messages, outbox
from mailgate.storage.models import Ticket

log = logging.getLogger(__name__)


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
    html: str | None = None             # the HTML alternative (customer mail)
    author: str = ""                    # the staff member who wrote it
    shown: str | None = None            # what the case history keeps, when not the whole text


def _deliverable(session: Session, mail: Outgoing, to: tuple[str, ...], now: datetime) -> tuple[str, ...]:
    """Of ``to``, the recipients mailgate may mail: valid addresses that have not bounced too often.

    The others are left out with a line in the case history (RELIABILITY rows 29, 43).
    """
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
    to = _deliverable(session, mail, mail.envelope.to, now)
    cc = tuple(a for a in _deliverable(session, mail, mail.envelope.cc, now) if a not in to)
    if not to and cc:
        to, cc = cc[:1], cc[1:]
    if not to:
        log.info("outbox_skipped case=%s reason=no_deliverable_recipient",
                 mail.ticket.id if mail.ticket else "-")
        return None
    env = replace(mail.envelope, to=to, cc=cc)
    raw = compose(env, mail.subject, mail.text, now, mail.parts, mail.html)
    row_id = outbox.enqueue(
        session, ticket_id=mail.ticket.id if mail.ticket else None,
        mail_from=env.from_addr if mail.mail_from is None else mail.mail_from, rcpt_to=(*env.to, *env.cc),
        subject=mail.subject, message_id=env.message_id, raw=raw, now=now)
    message_id = None
    if mail.ticket is not None:
        message_id = messages.add(
            session, ticket_id=mail.ticket.id, kind=mail.kind, disposition=mail.disposition,
            outbox_id=row_id, message_id=env.message_id, from_addr=env.from_addr,
            to_addrs=[*env.to, *env.cc], subject=mail.subject,
            text=mail.text if mail.shown is None else mail.shown, at=now, author=mail.author)
    log.info("outbox_queued id=%s case=%s kind=%s", row_id, mail.ticket.id if mail.ticket else "-",
             mail.disposition or mail.kind)
    return row_id, message_id


def signed(ctx: Context, box: MailboxConfig, case_id: int, staff_id: int,
           purpose: tokens.Purpose) -> tuple[str, str]:
    """(reply address, Message-ID) carrying the token for (case, staff, purpose)."""
    token = tokens.Token(case_id, staff_id, purpose)
    address = tokens.reply_address(token, ctx.secret, box.local_part, box.domain,
                                   ctx.config.gateway.subaddress_delimiter)
    return address, tokens.message_id(token, ctx.secret, ctx.config.message_id_domain)


def gateway_envelope(ctx: Context, box: MailboxConfig, to: tuple[str, ...], kind: str,
                     auto_submitted: str = "auto-generated", in_reply_to: str = "",
                     message_id: str = "") -> Envelope:
    """Mail from the gateway itself (a welcome, an answer to ``+status``, a report): from the
    mailbox, in the gateway's name, with a Message-ID of its own unless one is given."""
    mid = message_id or f"<mg.{kind}.{secrets.token_hex(8)}@{ctx.config.message_id_domain}>"
    return Envelope(from_addr=box.address, from_name=ctx.config.gateway.name, to=to, message_id=mid,
                    in_reply_to=in_reply_to, references=(in_reply_to,) if in_reply_to else (),
                    auto_submitted=auto_submitted, loop_marker=ctx.loop_marker)


def customer_envelope(session: Session, ctx: Context, ticket: Ticket, to: tuple[str, ...],
                      in_reply_to: str = "", references: tuple[str, ...] = (),
                      auto_submitted: str = "", cc: tuple[str, ...] = (), operator: str = "") -> Envelope:
    """Mail to the customer side: from the mailbox, threaded on the case's customer-side mail.

    Written by an ``operator``, its display name is ``[gateway] from_name``; else the gateway's.
    """
    box = ctx.mailbox_for([], ticket.mailbox)
    refs = references or tuple(messages.thread_ids(session, ticket.id))
    mid = tokens.message_id(tokens.Token(ticket.id, 0, tokens.Purpose.CUSTOMER), ctx.secret,
                            ctx.config.message_id_domain)
    gateway = ctx.config.gateway.name
    name = (ctx.config.gateway.from_name.replace("{gateway}", gateway).replace("{operator}", operator)
            if operator else gateway)
    return Envelope(from_addr=box.address, from_name=name, to=to, cc=cc, message_id=mid,
                    in_reply_to=in_reply_to or (refs[-1] if refs else ""), references=refs,
                    auto_submitted=auto_submitted, loop_marker=ctx.loop_marker)
