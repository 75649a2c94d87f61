"""Mail from staff: check who wrote it, then apply its commands and relay its text, all or nothing.

A staff reply is acted on only when its token verifies (matching did that) **and** its From is the
staff member's registered address or an alias (SPEC §5). Anything else, a forged From, a valid
token from another address, a token of a removed user, a reply to a case that has since gone to
someone else, is held for an admin in the quarantine (raw bytes kept, reason ``held: …``) and the
staff member is told at the registered address. Nothing held is ever relayed.

Commands run inside a savepoint: if one fails, everything the reply would have done is rolled
back and the staff member gets an explanation instead.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy.orm import Session

from mailgate.config import FieldConfig, QuestionConfig
from mailgate.domain import deadlines, routing
from mailgate.domain.commands import Command, Instructions, Verb, read_commands
from mailgate.domain.effects import Effect, NotifyStaff, RecordEvent, RelayReply, SendTemplate
from mailgate.domain.states import Category, Event
from mailgate.mail import tokens
from mailgate.mail.parse import ParsedMail
from mailgate.mail.quotes import trim_reply
from mailgate.services import approvals, assignment, consultations
from mailgate.services.assignment import Refused
from mailgate.services.context import Context
from mailgate.services.effects import apply_effects
from mailgate.storage import repos
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Consultation, Staff, Status, Ticket

log = logging.getLogger(__name__)
NEXT = "next"
CMD = "cmd"
_ABSENT = re.compile(r"^\s*absent\s+until\s+(\d{4}-\d{2}-\d{2})(?:\s+deputy\s+(\S+))?\s*$", re.IGNORECASE)
_BACK = re.compile(r"^\s*back\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class StaffMail:
    """A stored inbound message that a staff member sent about a case."""

    inbound_id: int
    mail: ParsedMail
    token: tokens.Token
    received_at: datetime


@dataclass(frozen=True, slots=True)
class Handled:
    """What became of a staff mail; the caller marks the inbound row accordingly."""

    state: str              # done | quarantined
    ticket_id: int | None
    reason: str
    queued: int


def sender_of(mail: ParsedMail) -> str:
    """The From address if it can be trusted (one unambiguous address), else ''."""
    return mail.sender.addr if mail.sender is not None and mail.sender_trusted else ""


def handle(session: Session, ctx: Context, msg: StaffMail, now: datetime) -> Handled:
    """Verify a staff member's reply, then act on it (or hold it)."""
    token = msg.token
    if token.purpose is tokens.Purpose.CONSULTATION:
        return _department_reply(session, ctx, msg, now)
    if token.purpose is tokens.Purpose.APPROVAL:
        return _approval_reply(session, ctx, msg, now)
    staff = staff_repo.by_id(session, token.staff_id)
    sender = sender_of(msg.mail)
    if staff is None or not staff.active:
        return _hold(session, ctx, msg, None, "reply token of an unknown or removed staff member", now)
    if sender not in staff_repo.addresses(session, staff.id):
        return _hold(session, ctx, msg, staff,
                     f"From {sender or '(unverifiable)'} is not an address of {staff.email}", now)
    ticket = repos.get_ticket(session, token.case_id)
    if ticket is None:
        return _hold(session, ctx, msg, staff, f"no case {token.case_id}", now)
    if token.purpose is tokens.Purpose.REPLY and not assignment.may_act_for(session, ticket, staff, now):
        holder = staff_repo.by_id(session, ticket.owner_id) if ticket.owner_id else None
        now_with = (holder.name or holder.email) if holder else "nobody (back in the pool)"
        return _hold(session, ctx, msg, staff,
                     f"reply to {ctx.tag(ticket.id)} after it was reassigned: it is now with {now_with}", now)
    stored = _store(session, msg, ticket.id, sender)
    instructions = read_commands(msg.mail.text)
    effects: list[Effect]
    try:
        with session.begin_nested():
            if instructions.problems:
                raise Refused("; ".join(instructions.problems))
            effects = _act(session, ctx, ticket, staff, instructions, stored, msg, now)
    except Refused as exc:
        session.expire_all()            # the savepoint's changes are gone; reload what is read next
        log.info("staff_mail_refused inbound=%s case=%s staff=%s", msg.inbound_id, token.case_id, staff.id)
        effects = [RecordEvent(ticket.id, "command_refused", f"{staff.email}: {exc}"[:500]),
                   NotifyStaff("staff_refused", staff.id, ticket.id, {"problems": str(exc)})]
    queued = apply_effects(session, ctx, effects, now)
    return Handled("done", ticket.id, f"staff/{token.purpose.name.lower()}", queued)


NO_TOKEN = ("mail from a staff address without a valid reply token "
            "(to answer a case, reply to the mail mailgate sent you about it)")


def _department_reply(session: Session, ctx: Context, msg: StaffMail, now: datetime) -> Handled:
    """An answer to a consultation's signed address: from the department's address or domain."""
    consultation = session.get(Consultation, msg.token.staff_id)
    sender = sender_of(msg.mail)
    if consultation is None or consultation.ticket_id != msg.token.case_id:
        return _hold(session, ctx, msg, None, "consultation address of an unknown consultation", now)
    if not sender or (sender != consultation.address
                      and sender.rpartition("@")[2] != consultation.address.rpartition("@")[2]):
        owner_notice = staff_repo.by_id(session, consultation.asked_by) if consultation.asked_by else None
        return _hold(session, ctx, msg, owner_notice,
                     f"answer to the {consultation.department} consultation from "
                     f"{sender or '(unverifiable)'}, outside {consultation.address.rpartition('@')[2]}", now)
    return department_answer(session, ctx, consultation, msg.mail, sender, msg.inbound_id, now)


def department_answer(session: Session, ctx: Context, consultation: Consultation, mail: ParsedMail,
                      sender: str, inbound_id: int, now: datetime) -> Handled:
    effects = consultations.receive(session, ctx, consultation, mail, sender, inbound_id, now)
    queued = apply_effects(session, ctx, effects, now)
    return Handled("done", consultation.ticket_id, "department/answer", queued)


def _approval_reply(session: Session, ctx: Context, msg: StaffMail, now: datetime) -> Handled:
    """An answer to an approval request: from someone who may decide the draft it names."""
    draft = approvals.pending_for(session, msg.token.case_id, msg.token.staff_id)
    sender = sender_of(msg.mail)
    staff = staff_repo.by_address(session, sender) if sender else None
    if draft is None:
        return _hold(session, ctx, msg, staff, "approval address of an unknown draft", now)
    if staff is None or not approvals.may_decide(session, ctx, draft, staff, now):
        supervisor = staff_repo.by_id(session, draft.supervisor_id)
        return _hold(session, ctx, msg, supervisor,
                     f"answer to draft #{draft.id} from {sender or '(unverifiable)'}, who may not decide it",
                     now)
    _store(session, msg, draft.ticket_id, sender)
    effects: list[Effect]
    try:
        with session.begin_nested():
            effects = approvals.receive(session, ctx, draft, staff, msg.mail, now)
    except Refused as exc:
        session.expire_all()
        effects = [RecordEvent(draft.ticket_id, "command_refused", f"{staff.email}: {exc}"[:500]),
                   NotifyStaff("staff_refused", staff.id, draft.ticket_id, {"problems": str(exc)})]
    return Handled("done", draft.ticket_id, "staff/approval", apply_effects(session, ctx, effects, now))


def hold_if_staff(session: Session, ctx: Context, inbound_id: int, mail: ParsedMail, now: datetime,
                  why: str = NO_TOKEN) -> Handled | None:
    """Personal mail from a staff address without a valid reply token is held, never a case.

    Whether it is forged or an operator wrote to the support address directly, acting on it
    would trust a From line alone; the staff member is told at the registered address.
    """
    sender = sender_of(mail)
    staff_id = staff_repo.id_by_address(session, sender) if sender else None
    staff = staff_repo.by_id(session, staff_id) if staff_id is not None else None
    if staff is None:
        return None
    msg = StaffMail(inbound_id, mail, tokens.Token(0, staff.id, tokens.Purpose.NOTICE), now)
    return _hold(session, ctx, msg, staff, why, now)


def _store(session: Session, msg: StaffMail, ticket_id: int, sender: str) -> int:
    """Keep the staff member's mail on the case (staff side: never shown to the customer)."""
    return repos.add_received(session, ticket_id, msg.mail, inbound_id=msg.inbound_id, kind="inbound",
                              disposition=f"{repos.STAFF_SIDE}reply", from_addr=sender, text=msg.mail.text,
                              at=msg.received_at)


def _hold(session: Session, ctx: Context, msg: StaffMail, staff: Staff | None, why: str,
          now: datetime) -> Handled:
    reason = f"held: {why}"
    effects: list[Effect] = []
    if staff is not None:
        effects.append(NotifyStaff("staff_held", staff.id, 0, {
            "why": why, "case": ctx.tag(msg.token.case_id) if msg.token.case_id else "(none)",
            "held_subject": msg.mail.subject[:200],
            "claimed_from": sender_of(msg.mail) or "(unverifiable)"}))
    log.warning("staff_mail_held inbound=%s case=%s why=%s", msg.inbound_id, msg.token.case_id, why)
    return Handled("quarantined", None, reason, apply_effects(session, ctx, effects, now))


def _act(session: Session, ctx: Context, ticket: Ticket, staff: Staff, ins: Instructions, stored: int,
         msg: StaffMail, now: datetime) -> list[Effect]:
    """Apply the commands in order, relay the text, then close or set the status."""
    effects: list[Effect] = []
    body = trim_reply(ins.body, staff.name)
    for command in ins.commands:
        if command.verb is Verb.CLAIM:
            effects += assignment.claim(session, ctx, ticket, staff, now)
        elif command.verb is Verb.ASSIGN:
            effects += _assign(session, ctx, ticket, staff, command.arg, now)
        else:
            _need_owner(session, ctx, ticket, staff, command.verb, now)
            effects += _owner_command(session, ctx, ticket, staff, command, body, msg, now)
    effects += _relay(session, ctx, ticket, staff, ins, body, stored, msg.inbound_id, now)
    relayed = any(isinstance(e, RelayReply) for e in effects)
    for command in ins.commands:
        if command.verb in (Verb.CLOSE, Verb.STATUS):
            effects += _finish(session, ctx, ticket, staff, command, relayed=relayed, now=now)
    if ins.has(Verb.ANSWER) and not ins.has(Verb.CLOSE) and ticket.close_requested:
        effects += _close(session, ctx, ticket, staff, relayed, now)
    if not ins.commands and not body:
        raise Refused("the reply had no new text to send (quoted text and signatures are removed) "
                      "and no commands")
    if ticket.owner_id == staff.id:       # the owner acted: nothing to roll over any more
        ticket.acked, ticket.rollover_at = True, None
    ticket.updated_at = now
    return effects


def _owner_command(session: Session, ctx: Context, ticket: Ticket, staff: Staff, command: Command,
                   body: str, msg: StaffMail, now: datetime) -> list[Effect]:
    """The commands only the owner (or their deputy) may give; #close and #status come last."""
    verb = command.verb
    if verb is Verb.NOTE:
        note = "\n\n".join(t for t in (command.arg, body) if t)
        if not note:
            raise Refused("#note needs text")
        repos.add_message(session, ticket_id=ticket.id, kind="note", disposition="note",
                          inbound_id=msg.inbound_id, message_id="", from_addr=staff.email, to_addrs=[],
                          subject=msg.mail.subject[:2000], text=note, at=now)
        return [RecordEvent(ticket.id, "note", staff.email)]
    if verb is Verb.RELEASE:
        return assignment.release(session, ticket, staff, now)
    if verb is Verb.ACK:
        ticket.acked = True
        return [RecordEvent(ticket.id, "acknowledged", staff.email)]
    if verb is Verb.PRIORITY:
        ticket.priority = command.arg.lower()
        return [RecordEvent(ticket.id, "priority", f"{ticket.priority} by {staff.email}")]
    if verb is Verb.CATEGORY:
        ticket.category = command.arg[:100]
        return [RecordEvent(ticket.id, "category", f"{ticket.category} by {staff.email}")]
    if verb is Verb.SET:
        return [set_field(ctx, ticket, *command.field, by=staff.email)]
    if verb is Verb.CONSULT:
        return _consult(session, ctx, ticket, staff, command.arg, body, now)
    if verb is Verb.ANSWER:
        return [answer_question(ctx, ticket, *command.field, by=staff.email)]
    return []


def _consult(session: Session, ctx: Context, ticket: Ticket, staff: Staff, arg: str, body: str,
             now: datetime) -> list[Effect]:
    if staff.trainee:         # the department's mail is outbound mail a trainee causes: held
        consultations.department(ctx, arg.split()[0] if arg.split() else "")
        return approvals.hold(session, ctx, ticket, staff, body, None, False, now, consult=arg)
    return consultations.consult(session, ctx, ticket, staff, arg, body, now)


def answer_question(ctx: Context, ticket: Ticket, name: str, value: str, by: str) -> RecordEvent:
    """``#answer question=value``: a questionnaire answer, checked against its choices."""
    _check_choice("question", name, value, ctx.config.questions)
    ticket.answers = {**(ticket.answers or {}), name: value[:1000]}
    return RecordEvent(ticket.id, "answer", f"{name}={value[:200]} by {by}")


def missing_answers(ctx: Context, ticket: Ticket) -> list[QuestionConfig]:
    wanted = ctx.config.pool(ticket.pool).questionnaire
    return [q for q in ctx.config.questions if q.name in wanted and q.name not in (ticket.answers or {})]


def _need_owner(session: Session, ctx: Context, ticket: Ticket, staff: Staff, verb: Verb,
                now: datetime) -> None:
    if not assignment.may_act_for(session, ticket, staff, now):
        raise Refused(f"#{verb} is for the owner of {ctx.tag(ticket.id)}; reply #claim to take it first")


def _assign(session: Session, ctx: Context, ticket: Ticket, staff: Staff, name: str,
            now: datetime) -> list[Effect]:
    pool = ctx.config.pool(ticket.pool)
    is_manager = bool(pool.manager) and pool.manager.lower() in staff_repo.addresses(session, staff.id)
    if not assignment.may_act_for(session, ticket, staff, now) \
            and not routing.may_dispatch(staff.role_set, is_manager):
        raise Refused(f"only the owner, a manager or a supervisor may assign {ctx.tag(ticket.id)}")
    target = staff_repo.by_name(session, name)
    if target is None:
        raise Refused(f"#assign {name}: no such staff member (use the address or a unique name)")
    return assignment.assign(session, ctx, ticket, target, now, by=staff.email)


def _relay(session: Session, ctx: Context, ticket: Ticket, staff: Staff, ins: Instructions, body: str,
           stored: int, inbound_id: int, now: datetime) -> list[Effect]:
    if not body or ins.has(Verb.NOTE) or ins.has(Verb.CONSULT):
        return []
    if not assignment.may_act_for(session, ticket, staff, now):
        raise Refused(f"only the owner of {ctx.tag(ticket.id)} can answer the customer; "
                      "reply #claim to take it first")
    if not ticket.requester:
        raise Refused(f"{ctx.tag(ticket.id)} has no requester address to answer")
    if staff.trainee:
        return approvals.hold(session, ctx, ticket, staff, body, stored, ins.has(Verb.CLOSE), now)
    assignment.move(session, ticket, Event.OPERATOR_REPLIED)
    assignment.set_due(ticket, deadlines.operator_answered(now, assignment.spans(ctx, ticket.pool)))
    ticket.acked = True
    return [RecordEvent(ticket.id, "replied", staff.email),
            RelayReply(ticket.id, staff.id, body, source_message=stored, inbound_id=inbound_id)]


def _finish(session: Session, ctx: Context, ticket: Ticket, staff: Staff, command: Command,
            relayed: bool, now: datetime) -> list[Effect]:
    if command.verb is Verb.CLOSE:
        if Category(repos.status_of(session, ticket).category) is Category.CLOSED:
            raise Refused(f"{ctx.tag(ticket.id)} is already closed")
        return _close(session, ctx, ticket, staff, relayed, now)
    status = _status_named(session, command.arg)
    ticket.updated_at = now
    assignment.set_status(ticket, status)
    return [RecordEvent(ticket.id, "status", f"{status.name} by {staff.email}")]


def _close(session: Session, ctx: Context, ticket: Ticket, staff: Staff, relayed: bool,
           now: datetime) -> list[Effect]:
    """Close, unless the questionnaire lacks answers (then ask) or a trainee's draft waits."""
    missing = missing_answers(ctx, ticket)
    if missing:
        ticket.close_requested = True
        questions = [f"#answer {q.name}=...   {q.prompt}"
                     + (f"  ({' | '.join(q.choices)})" if q.choices else "") for q in missing]
        return [RecordEvent(ticket.id, "close_waits", f"for {', '.join(q.name for q in missing)}"),
                NotifyStaff("questionnaire", staff.id, ticket.id, {"questions": questions})]
    if staff.trainee:
        if relayed or Category(repos.status_of(session, ticket).category) is Category.AWAITING_APPROVAL:
            return []                 # the draft carries close_after; it closes when approved
        return approvals.hold(session, ctx, ticket, staff, "", None, True, now)
    ticket.updated_at = now
    assignment.move(session, ticket, Event.CLOSED)
    effects: list[Effect] = [RecordEvent(ticket.id, "closed", staff.email)]
    if not relayed and ticket.requester:
        effects.append(SendTemplate("case_closed", (ticket.requester,), ticket.id))
    return effects


def _status_named(session: Session, name: str) -> Status:
    status = repos.status_named(session, name)
    if status is None:
        names = ", ".join(s.name for s in repos.statuses(session))
        raise Refused(f"#status {name}: no such status (statuses: {names})")
    return status


def set_field(ctx: Context, ticket: Ticket, name: str, value: str, by: str) -> RecordEvent:
    """``#set`` / ``ticket edit --set``: a custom field from ``[[field]]``, checked against its choices."""
    _check_choice("field", name, value, ctx.config.fields)
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


def command_address(ctx: Context, recipients: Sequence[str]) -> str:
    """The subaddress of a supervised recipient that names a command (``next``, ``cmd``), else ''."""
    delimiter = ctx.config.gateway.subaddress_delimiter
    for rcpt in recipients:
        local, _, _ = rcpt.lower().rpartition("@")
        for word in (NEXT, CMD):
            if ctx.is_supervised(rcpt) and local.endswith(f"{delimiter}{word}"):
                return word
    return ""


def handle_cmd(session: Session, ctx: Context, mail: ParsedMail, now: datetime) -> Handled | None:
    """``+cmd`` from a staff member: ``absent until YYYY-MM-DD [deputy USER]`` or ``back`` in the
    subject. The answer goes to the registered address, so a forged one is noticed at once."""
    staff = staff_repo.by_address(session, sender_of(mail)) if sender_of(mail) else None
    if staff is None:
        return None
    subject = re.sub(r"^\s*((re|aw|sv|fwd?)\s*:\s*)+", "", mail.subject, flags=re.IGNORECASE)
    absent, back = _ABSENT.match(subject), _BACK.match(subject)
    if absent:
        until = datetime.combine(date.fromisoformat(absent[1]), time.max, UTC)
        deputy = staff_repo.by_name(session, absent[2]) if absent[2] else None
        if until <= now or (absent[2] and (deputy is None or deputy.id == staff.id)):
            done = f"not changed: {'the date is past' if until <= now else f'no deputy {absent[2]!r}'}"
        else:
            staff.absent_until, staff.deputy_id = until, deputy.id if deputy else None
            done = f"absent until {absent[1]}" + (f", deputy {deputy.email}" if deputy else "")
    elif back:
        staff.absent_until, staff.deputy_id = None, None
        done = "back: new cases reach you again"
    else:
        done = "not understood: write 'absent until YYYY-MM-DD [deputy USER]' or 'back' as the subject"
    effects: list[Effect] = [NotifyStaff("staff_command", staff.id, 0, {"done": done})]
    return Handled("done", None, "staff/cmd", apply_effects(session, ctx, effects, now))


def handle_next(session: Session, ctx: Context, mail: ParsedMail, now: datetime) -> Handled | None:
    """``+next`` from a staff member: claim and forward the oldest waiting case; None if not staff."""
    staff = staff_repo.by_address(session, sender_of(mail)) if sender_of(mail) else None
    if staff is None:
        return None
    effects = assignment.next_case(session, ctx, staff, now)
    ticket_id = next((e.case_id for e in effects if isinstance(e, RecordEvent)), None)
    return Handled("done", ticket_id, "staff/next", apply_effects(session, ctx, effects, now))
