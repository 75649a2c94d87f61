"""Carrying out a staff reply to a forwarded case: its ``#`` commands in order, then its text.

``domain.commands`` reads the reply; this module applies it inside the caller's savepoint, so a
command that fails (``Refused``) leaves nothing of the reply done. ``#close`` and ``#status`` act
after the text is relayed; a close may first ask the pool's questionnaire (``domain.closing``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases import approvals, assignment, consultations, leads, lifecycle, people
from mailgate.cases.context import Context
from mailgate.config import FieldConfig, QuestionConfig
from mailgate.domain import deadlines
from mailgate.domain.closing import CloseStep, close_step
from mailgate.domain.commands import Command, Instructions, Verb
from mailgate.domain.consulting import read_consult
from mailgate.domain.effects import Effect, NotifyStaff, RecordEvent, RelayReply
from mailgate.domain.kinds import MessageKind
from mailgate.domain.leads import Stage
from mailgate.domain.states import Category, Event
from mailgate.errors import Refused
from mailgate.mail.quotes import courtesy_only, trim_reply
from mailgate.storage import cases, catalog, messages
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Staff, Ticket


def carry_out(session: Session, ctx: Context, ticket: Ticket, staff: Staff, ins: Instructions,
              stored: int, inbound_id: int, subject: str, now: datetime) -> list[Effect]:
    """Apply the commands in order, relay the text, then close or set the status."""
    effects: list[Effect] = []
    body = new_text(ins.body, staff.name)
    for command in ins.commands:
        if command.verb is Verb.CLAIM:
            effects += assignment.claim(session, ctx, ticket, staff, now)
        elif command.verb is Verb.ASSIGN:
            effects += assignment.assign_by(session, ctx, ticket, staff, command.arg, now)
        else:
            _need_owner(session, ctx, ticket, staff, command.verb, now)
            effects += _owner_command(session, ctx, ticket, staff, command, body, inbound_id, subject, now)
    effects += _relay(session, ctx, ticket, staff, ins, body, stored, inbound_id, now)
    relayed = any(isinstance(e, RelayReply) for e in effects)
    for command in ins.commands:
        if command.verb is Verb.CLOSE:
            effects += close(session, ctx, ticket, staff, relayed, now, refuse_if_closed=True)
        elif command.verb is Verb.STATUS:
            effects += _set_status(session, ticket, staff, command.arg, now)
    if ins.has(Verb.ANSWER) and not ins.has(Verb.CLOSE) and ticket.close_requested:
        effects += close(session, ctx, ticket, staff, relayed, now)
    if not ins.commands and not body:
        raise Refused("the reply had no new text to send (quoted text and signatures are removed) "
                      "and no commands")
    if ticket.owner_id == staff.id:       # the owner acted: nothing to roll over any more
        ticket.acked, ticket.rollover_at = True, None
    ticket.updated_at = now
    return effects


def known_category(session: Session, name: str) -> str:
    """``name`` as the admin spelt it, once categories are defined (``mailgate category add``);
    any name while there are none.

    Raises:
        Refused: categories are defined and ``name`` is none of them.
    """
    rules = catalog.category_rules(session)
    if not rules:
        return " ".join(name.split())[:100]
    found = catalog.category_named(session, name)
    if found is None:
        raise Refused(f"no category {name.strip()!r} (categories: {', '.join(r.name for r in rules)})")
    return found.name


def new_text(body: str, name: str) -> str:
    """What a staff reply says beyond its quotes and footers; '' when that is only courtesy
    ("Thanks,⏎Bob" under ``#close`` is commands only: nothing goes to the customer)."""
    text = trim_reply(body)
    return "" if courtesy_only(text, name) else text


def _owner_command(session: Session, ctx: Context, ticket: Ticket, staff: Staff, command: Command,
                   body: str, inbound_id: int, subject: str, now: datetime) -> list[Effect]:
    """The commands only the owner (or their deputy) may give; #close and #status come last."""
    verb = command.verb
    if verb is Verb.NOTE:
        note = "\n\n".join(t for t in (command.arg, body) if t)
        if not note:
            raise Refused("#note needs text")
        return add_note(session, ticket, staff, note, inbound_id, subject, now)
    if verb is Verb.RELEASE:
        return assignment.release(session, ticket, staff, now)
    if verb is Verb.ACK:
        ticket.acked = True
        return [RecordEvent(ticket.id, "acknowledged", staff.email)]
    if verb is Verb.PRIORITY:
        ticket.priority = command.arg.lower()
        return [RecordEvent(ticket.id, "priority", f"{ticket.priority} by {staff.email}")]
    if verb is Verb.CATEGORY:
        ticket.category = known_category(session, command.arg)
        return [RecordEvent(ticket.id, "category", f"{ticket.category} by {staff.email}")]
    if verb is Verb.SET:
        return [set_field(ctx, ticket, *command.field, by=staff.email)]
    if verb is Verb.CONSULT:
        return _consult(session, ctx, ticket, staff, command.arg, body, now)
    if verb is Verb.ANSWER:
        return [answer_question(ctx, ticket, *command.field, by=staff.email)]
    return _lead_command(session, ctx, ticket, staff, command, body, now)


def _lead_command(session: Session, ctx: Context, ticket: Ticket, staff: Staff, command: Command,
                  body: str, now: datetime) -> list[Effect]:
    """#qualify, #convert, #offer: a sales lead's stages and offers (``leads``)."""
    if command.verb is Verb.QUALIFY:
        return leads.move(session, ctx, ticket, Stage.QUALIFIED, staff.email, now)
    if command.verb is Verb.CONVERT:
        return leads.move(session, ctx, ticket, Stage.CONVERTED, staff.email, now)
    if command.verb is Verb.OFFER:
        return leads.offer(session, ctx, ticket, command.arg, body, staff.email, now)
    return []


def add_note(session: Session, ticket: Ticket, staff: Staff, text: str, inbound_id: int | None,
             subject: str, now: datetime) -> list[Effect]:
    """An internal note by ``staff`` on the case: shown in forwards, never sent to the customer."""
    messages.add(session, ticket_id=ticket.id, kind=MessageKind.NOTE, disposition="note",
                 inbound_id=inbound_id, message_id="", from_addr=staff.email, to_addrs=[],
                 subject=subject[:2000], text=text, at=now, author=staff.email)
    return [RecordEvent(ticket.id, "note", staff.email)]


def _consult(session: Session, ctx: Context, ticket: Ticket, staff: Staff, arg: str, body: str,
             now: datetime) -> list[Effect]:
    if staff.trainee:         # the department's mail is outbound mail a trainee causes: held
        read_consult(arg, body, consultations.deadlines(ctx))      # refuse a bad request now
        return approvals.hold(session, ctx, ticket, staff, body, None, False, now, consult=arg)
    return consultations.consult(session, ctx, ticket, staff, arg, body, now)


def _need_owner(session: Session, ctx: Context, ticket: Ticket, staff: Staff, verb: Verb,
                now: datetime) -> None:
    if not people.acts_for(session, ticket, staff, now):
        raise Refused(f"#{verb}: {_not_yours(session, ctx, ticket)}")


def _not_yours(session: Session, ctx: Context, ticket: Ticket) -> str:
    """Why a staff member may not act on a case, and what they can do about it."""
    owner = staff_repo.by_id(session, ticket.owner_id) if ticket.owner_id else None
    if owner is None:
        return f"{ctx.tag(ticket.id)} has no owner yet; reply #claim to take it first"
    return (f"{ctx.tag(ticket.id)} is with {owner.name or owner.email}; ask them, or a manager, to "
            f"#assign it to you")


def _relay(session: Session, ctx: Context, ticket: Ticket, staff: Staff, ins: Instructions, body: str,
           stored: int, inbound_id: int, now: datetime) -> list[Effect]:
    if not body or ins.has(Verb.NOTE) or ins.has(Verb.CONSULT) or ins.has(Verb.OFFER):
        return []                       # the text is the note, question or offer, not an answer
    if ins.has(Verb.ASSIGN):        # a handover: the text is for the new owner, never the customer
        return add_note(session, ticket, staff, body, inbound_id, f"Handover: {ticket.subject}", now)
    if not people.acts_for(session, ticket, staff, now):
        raise Refused(f"your text was not sent: {_not_yours(session, ctx, ticket)}")
    if not ticket.requester:
        raise Refused(f"{ctx.tag(ticket.id)} has no requester to answer: its sender could not be verified; "
                      f"an admin can set one (mailgate ticket edit {ticket.id} --requester ADDRESS)")
    if staff.trainee:
        return approvals.hold(session, ctx, ticket, staff, body, stored, ins.has(Verb.CLOSE), now)
    lifecycle.move(session, ticket, Event.OPERATOR_REPLIED)
    lifecycle.set_due(ticket, deadlines.operator_answered(now, lifecycle.spans(ctx, ticket.pool)))
    ticket.acked = True
    return [RecordEvent(ticket.id, "replied", staff.email),
            RelayReply(ticket.id, staff.id, body, source_message=stored, inbound_id=inbound_id)]


def _set_status(session: Session, ticket: Ticket, staff: Staff, name: str, now: datetime) -> list[Effect]:
    status = lifecycle.status_named(session, name)
    ticket.updated_at = now
    lifecycle.set_status(ticket, status)
    return [RecordEvent(ticket.id, "status", f"{status.name} by {staff.email}")]


def missing_answers(ctx: Context, ticket: Ticket) -> list[QuestionConfig]:
    wanted = ctx.config.pool(ticket.pool).questionnaire
    return [q for q in ctx.config.questions if q.name in wanted and q.name not in (ticket.answers or {})]


def close(session: Session, ctx: Context, ticket: Ticket, staff: Staff, relayed: bool, now: datetime,
          refuse_if_closed: bool = False) -> list[Effect]:
    """``#close``: close, unless the questionnaire lacks answers (then ask) or a trainee's draft waits."""
    category = cases.category_of(session, ticket)
    if refuse_if_closed and category is Category.CLOSED:
        raise Refused(f"{ctx.tag(ticket.id)} is already closed")
    missing = missing_answers(ctx, ticket)
    step = close_step([q.name for q in missing], staff.trainee,
                      relayed or category is Category.AWAITING_APPROVAL)
    if step is CloseStep.ASK:
        ticket.close_requested = True
        questions = [f"#answer {q.name}=...   {q.prompt}"
                     + (f"  ({' | '.join(q.choices)})" if q.choices else "") for q in missing]
        return [RecordEvent(ticket.id, "close_waits", f"for {', '.join(q.name for q in missing)}"),
                NotifyStaff("questionnaire", staff.id, ticket.id, {"questions": questions})]
    if step is CloseStep.WAIT:
        return []                 # the draft carries close_after; it closes when approved
    if step is CloseStep.HOLD:
        return approvals.hold(session, ctx, ticket, staff, "", None, True, now)
    return lifecycle.close(session, ctx, ticket, now, staff.email, answered_now=relayed)


def answer_question(ctx: Context, ticket: Ticket, name: str, value: str, by: str) -> RecordEvent:
    """``#answer question=value``: a questionnaire answer, checked against its choices."""
    _check_choice("question", name, value, ctx.config.questions)
    ticket.answers = {**(ticket.answers or {}), name: value[:1000]}
    return RecordEvent(ticket.id, "answer", f"{name}={value[:200]} by {by}")


def check_field(ctx: Context, name: str, value: str) -> None:
    """``name`` is a ``[[field]]`` and ``value`` one of its choices (if it has any).

    Raises:
        Refused: it is not.
    """
    _check_choice("field", name, value, ctx.config.fields)


def set_field(ctx: Context, ticket: Ticket, name: str, value: str, by: str) -> RecordEvent:
    """``#set`` / ``ticket edit --set``: a custom field from ``[[field]]``, checked against its choices."""
    check_field(ctx, name, value)
    ticket.fields = {**(ticket.fields or {}), name: value[:1000]}
    return RecordEvent(ticket.id, "field", f"{name}={value[:200]} by {by}")


def _check_choice(what: str, name: str, value: str,
                  specs: Sequence[FieldConfig] | Sequence[QuestionConfig]) -> None:
    """``name`` must be one of ``specs``; with choices, ``value`` one of them."""
    spec = next((s for s in specs if s.name == name), None)
    if spec is None:
        known = ", ".join(s.name for s in specs) or "none configured"
        raise Refused(f"no {what} {name!r} ({what}s: {known})")
    if spec.choices and value not in spec.choices:
        raise Refused(f"{name} must be one of {', '.join(spec.choices)}")
