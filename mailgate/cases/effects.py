"""Carry out domain Effects inside the caller's unit of work: outbox rows, case messages, history.

The one interpreter of effects: case operations return them, and each use case calls
``apply_effects`` once per unit of work, before it commits.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailgate.cases import customers, forwarding
from mailgate.cases.context import Context
from mailgate.cases.mailing import Outgoing, customer_envelope, gateway_envelope, queue_mail
from mailgate.domain.effects import (
    AnswerSender,
    Effect,
    ForwardCase,
    MailAdmin,
    MailDepartment,
    MailReport,
    NotifyStaff,
    RecordEvent,
    RelayReply,
    SendTemplate,
    WelcomeCustomer,
)
from mailgate.outbound.compose import Part
from mailgate.outbound.render import render_html
from mailgate.storage import mailstate, messages
from mailgate.storage.models import Ticket

log = logging.getLogger(__name__)


def apply_effects(session: Session, ctx: Context, effects: Iterable[Effect], now: datetime) -> int:
    """Carry out ``effects``; return how many outbound mails were queued."""
    queued = 0
    history: list[tuple[int, datetime, str, str]] = []
    for effect in effects:
        if isinstance(effect, RecordEvent):
            history.append((effect.case_id, now, effect.kind, effect.detail))
        elif not (isinstance(effect, MailAdmin) and not ctx.config.gateway.admin_address):
            _MAILERS[type(effect)](session, ctx, effect, now)
            queued += 1
    messages.add_events(session, history)
    return queued


def _template_name(ctx: Context, effect: SendTemplate, ticket: Ticket) -> str:
    if effect.template != "auto_response":
        return effect.template
    box = ctx.mailbox_for([], ticket.mailbox)
    pool = next((p for p in ctx.config.pools if p.name == ticket.pool), None)
    for name in (box.auto_response, pool.auto_response if pool else ""):
        if name and ctx.renderer.exists(name):
            return name
    return "auto_response"


def _send(session: Session, ctx: Context, effect: SendTemplate, now: datetime) -> None:
    """A template to the customer side: an RFC 3834 auto-response (null return path,
    ``auto-replied``) or a system notice (``auto-generated``), with its HTML alternative."""
    ticket = forwarding.need_ticket(session, effect.case_id)
    box = ctx.mailbox_for([], ticket.mailbox)
    rendered = ctx.renderer.render(_template_name(ctx, effect, ticket), {
        **forwarding.case_facts(session, ctx, ticket), "mailbox": box.address, **effect.context})
    envelope = customer_envelope(session, ctx, ticket, effect.to, effect.in_reply_to, effect.references,
                                 "auto-replied" if effect.auto else "auto-generated")
    html = render_html(ctx.renderer, rendered.text, ctx.config.gateway.name)
    queue_mail(session, Outgoing(ticket, envelope, rendered.subject, rendered.text,
                                 disposition=effect.template, mail_from="" if effect.auto else None,
                                 html=html), now)
    if effect.auto:
        for rcpt in effect.to:
            mailstate.record_auto_response(session, rcpt, ticket.id, now)


def _answer_sender(session: Session, ctx: Context, effect: AnswerSender, now: datetime) -> None:
    """An automatic answer about no one case, from the mailbox written to (RFC 3834)."""
    box = ctx.mailbox_for([], effect.mailbox)
    rendered = ctx.renderer.render(effect.template, {
        "gateway": ctx.config.gateway.name, "mailbox": box.address, **effect.context})
    envelope = gateway_envelope(ctx, box, (effect.to,), effect.template, "auto-replied", effect.in_reply_to)
    queue_mail(session, Outgoing(None, envelope, rendered.subject, rendered.text, disposition=effect.template,
                                 mail_from="", html=render_html(ctx.renderer, rendered.text,
                                                                ctx.config.gateway.name)), now)


def _mail_report(session: Session, ctx: Context, effect: MailReport, now: datetime) -> None:
    """A scheduled report, from the first mailbox, with the report as an attachment."""
    box = ctx.config.mailboxes[0]
    envelope = gateway_envelope(ctx, box, effect.to, "report")
    queue_mail(session, Outgoing(None, envelope, effect.subject, effect.text, disposition="report",
                                 parts=[Part(effect.filename, effect.content_type, effect.data)]), now)


_MAILERS: dict[type, Callable[[Session, Context, Any, datetime], None]] = {
    SendTemplate: _send,
    ForwardCase: forwarding.forward_case,
    RelayReply: forwarding.relay_reply,
    NotifyStaff: forwarding.notify_staff,
    MailDepartment: forwarding.mail_department,
    MailAdmin: forwarding.mail_admin,
    WelcomeCustomer: customers.welcome,
    AnswerSender: _answer_sender,
    MailReport: _mail_report,
}
