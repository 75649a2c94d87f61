"""Mail from the customer side (SPEC §3, §4): a new case, a reply on one, a reopen, or a record.

A new case gets its pool, an RFC 3834 auto-response (``domain.autoresponse``) and its first
owner (``assignment``); a reply moves the case as ``domain.states`` says and reaches its owner;
automatic mail on a case is recorded without changing it. Route handlers for ``routes.ROUTES``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases import assignment, lifecycle
from mailgate.cases.context import Context
from mailgate.cases.inbound import Analysis, Handled
from mailgate.domain import deadlines
from mailgate.domain.autoresponse import AutoResponseFacts, should_auto_respond
from mailgate.domain.categories import category_for
from mailgate.domain.effects import Effect, RecordEvent, SendTemplate
from mailgate.domain.feedback import is_feedback
from mailgate.domain.intake import Action
from mailgate.domain.kinds import CaseType, Channel, InboundState, MailboxKind, MessageKind, Priority
from mailgate.domain.leads import Stage
from mailgate.domain.states import Category, next_category
from mailgate.mail.normalize import canonical_subject
from mailgate.mail.quotes import trim_reply
from mailgate.storage import blocks, cases, catalog, mailstate, messages
from mailgate.storage.models import Ticket

MAX_CC = 50


def customer(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """Open, append to, reopen, or record on a case, as the intake decision says."""
    case_id, effects = write(session, ctx, msg, now)
    reason = f"{msg.decision.action}/{msg.match.reason}/{msg.disposition}"
    return Handled(InboundState.DONE, case_id, reason, tuple(effects))


def blocked(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """A blocked sender's mail fetched, imported or piped in: quarantined, one more hit counted;
    it never opens a case or gets an answer (SMTP refused it at MAIL FROM already)."""
    blocks.hit(session, msg.blocked)
    return Handled(InboundState.QUARANTINED, None, f"blocked: {msg.blocked}")


def unwanted(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """Loops and automatic mail that refers to no case: kept in the quarantine with the reason."""
    return Handled(InboundState.QUARANTINED, None, msg.decision.reason)


def write(session: Session, ctx: Context, msg: Analysis, now: datetime) -> tuple[int, list[Effect]]:
    """Write the case side of the decision; return the case id and the effects to carry out."""
    action = msg.decision.action
    if action in (Action.NEW_CASE, Action.NEW_LINKED):
        return _open(session, ctx, msg, now)
    case = msg.case
    assert case is not None
    if (action is Action.APPEND and case.category.resolved and msg.personal
            and is_feedback(trim_reply(msg.mail.text))):
        return case.id, _feedback(session, case.id, msg)
    _store(session, case.id, msg)
    target = None
    if action is Action.APPEND and msg.decision.event is not None:
        target = next_category(case.category, msg.decision.event)
    status = target if target is not case.category else None
    reopened = action is Action.APPEND and case.category.resolved
    customer_at = msg.row.received_at if msg.personal else None
    effects: list[Effect] = [RecordEvent(case.id, msg.decision.reason, f"inbound {msg.row.id}")]
    current = cases.get(session, case.id)       # loaded by the analysis: no second query
    if current is None:
        return case.id, effects
    # Its new status, dates and deadlines go out as one UPDATE of the case.
    cases.touch(session, current, now, status=status, reopened=reopened, customer_at=customer_at)
    if action is Action.APPEND:
        lifecycle.set_due(current, deadlines.customer_wrote(now, lifecycle.spans(ctx, current.pool),
                                                            current.rollover_at))
    session.flush()
    if action is Action.APPEND:
        effects += assignment.on_customer_reply(session, ctx, current, now)
    return case.id, effects


def _open(session: Session, ctx: Context, msg: Analysis, now: datetime) -> tuple[int, list[Effect]]:
    ticket = _new_case(session, ctx, msg, now)
    effects: list[Effect] = [RecordEvent(ticket.id, "opened", f"inbound {msg.row.id}")]
    if msg.decision.action is Action.NEW_LINKED and msg.case is not None:
        cases.link(session, ticket.id, msg.case.id)
        effects.append(RecordEvent(ticket.id, "linked", f"follows case {msg.case.id}"))
    _store(session, ticket.id, msg)
    effects += _auto_response(session, ctx, msg, ticket, now)
    effects += assignment.route_new_case(session, ctx, ticket, now)
    return ticket.id, effects


def _new_case(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Ticket:
    """A new case. An ambiguous or forged From (CVE-2023-27043 shapes, two From headers) never
    becomes a recipient: the case has no requester and no cc, its forward says so, and nothing
    is sent until an admin sets the requester (``ticket edit --requester``)."""
    mail, row = msg.mail, msg.row
    box = ctx.mailbox_for(row.rcpt_to, row.mailbox)
    trusted = bool(msg.sender)
    requester = msg.sender
    requester_name = mail.sender.name[:200] if trusted and mail.sender else ""
    cc = [a.addr for a in (*mail.to, *mail.cc) if not ctx.is_supervised(a.addr)] if trusted else []
    subject = canonical_subject(mail.subject, ctx.match.tag)[:1000]
    # A subject keyword of an admin-defined category picks the category and maybe its pool.
    rule = category_for(subject, catalog.category_rules(session))
    pool = rule.pool if rule and rule.pool in {p.name for p in ctx.config.pools} else box.pool
    ticket = Ticket(
        type=MailboxKind(box.kind).case_type,
        subject=subject, category=rule.name if rule else None,
        stage=Stage.NEW if MailboxKind(box.kind).case_type == CaseType.LEAD else None,
        status_id=cases.status_for(session, Category.NEW).id,
        priority=Priority.NORMAL, pool=pool, requester=requester, requester_name=requester_name,
        mailbox=box.name, site=box.site,
        channel=Channel(row.source) if row.source in (Channel.WEB, Channel.PHONE) else Channel.EMAIL,
        quoted_tag=msg.match.quoted_tag,
        fields={}, answers={}, created_at=now, updated_at=now,
        customer_at=row.received_at if msg.personal else None,
        reply_due_at=now + ctx.config.pool(pool).reply_deadline,
    )
    return cases.add(session, ticket, cc[:MAX_CC])


def _feedback(session: Session, case_id: int, msg: Analysis) -> list[Effect]:
    """Thanks or a rating after the close: kept on the case (``kind: feedback``), not reopened."""
    messages.add_received(session, case_id, msg.mail, inbound_id=msg.row.id, kind=MessageKind.FEEDBACK,
                          disposition=msg.disposition.value, from_addr=_shown_sender(msg),
                          text=trim_reply(msg.mail.text), at=msg.row.received_at)
    return [RecordEvent(case_id, "feedback", f"inbound {msg.row.id}")]


def _store(session: Session, case_id: int, msg: Analysis) -> None:
    mail = msg.mail
    if msg.personal and msg.sender and msg.bounced:
        mailstate.clear_health(session, msg.sender)     # it writes to us, so it works
    messages.add_received(session, case_id, mail, inbound_id=msg.row.id, kind=MessageKind.INBOUND,
                          disposition=msg.disposition.value, from_addr=_shown_sender(msg), text=mail.text,
                          at=msg.row.received_at)


def _shown_sender(msg: Analysis) -> str:
    """Who sent it, as the case shows it: the address, or what an unverifiable From claimed."""
    if msg.sender:
        return msg.sender
    claimed = msg.mail.header("from") or "(no From)"
    return f"unverified: {claimed}"[:300]


def _auto_response(session: Session, ctx: Context, msg: Analysis, ticket: Ticket,
                   now: datetime) -> list[Effect]:
    mail, row = msg.mail, msg.row
    sender = mail.sender.addr if mail.sender else ""
    answered, today = mailstate.auto_responses(session, sender, ticket.id, now)
    limit = ctx.config.gateway.autoresponse_daily_limit
    ok, why = should_auto_respond(AutoResponseFacts(
        disposition=msg.disposition.value, sender_trusted=mail.sender_trusted and bool(sender),
        null_return_path=(row.source in ("smtp", "lmtp") and not row.mail_from)
        or mail.header("return-path").strip() == "<>",
        new_case=True, already_answered_case=answered, sent_today=today, daily_limit=limit,
        imported=row.source == "import",
    ))
    if not ok:
        if today >= limit:     # RELIABILITY rows 27, 33
            ctx.alerts.fire("sender_storm", sender, f"auto-responses capped at {today} in 24h", now)
        return [RecordEvent(ticket.id, "auto_response_skipped", why)]
    return [SendTemplate("auto_response", (sender,), ticket.id, auto=True,
                         in_reply_to=mail.message_id, references=(*mail.references, mail.message_id))]

