"""Mail from staff and departments: check who wrote it, then act on it, all or nothing, or hold it.

A staff reply is acted on only when its token verifies (matching did that) **and** its From is the
staff member's registered address or an alias (SPEC §5). Anything else (a forged From, a valid
token from another address, a token of a removed user, a reply to a case that has since gone to
someone else, a staff address writing without a token) is held for an admin in the quarantine
(raw bytes kept, reason ``held: …``) and the staff member is told at the registered address.
Nothing held is ever relayed. A reply's commands run inside a savepoint: if one is refused,
everything the reply would have done is rolled back and the staff member is told why instead.

Each public function here is a route handler (``routes.ROUTES``).
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time

from sqlalchemy.orm import Session

from mailgate.cases import approvals, assignment, commands, consultations, people
from mailgate.cases.context import Context
from mailgate.cases.inbound import Analysis, Handled
from mailgate.domain.commands import Instructions, Verb, read_absence, read_commands
from mailgate.domain.effects import Effect, ForwardCase, NotifyStaff, RecordEvent, RelayReply
from mailgate.domain.kinds import InboundState, MessageKind
from mailgate.errors import Refused
from mailgate.mail import tokens
from mailgate.mail.normalize import strip_prefixes
from mailgate.storage import cases, messages
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Consultation, Staff, Ticket

log = logging.getLogger(__name__)

NO_TOKEN = ("mail from a staff address without a valid reply token "
            "(to answer a case, reply to the mail mailgate sent you about it)")
FORGED = "sent to a reply address whose signature does not verify"


def _unauthenticated(ctx: Context, msg: Analysis) -> str:
    """Why staff mail that our MTA found failing DMARC is held, '' if it did not (RELIABILITY 40).

    A valid token does not make up for a From domain our MTA says was forged: it is held for an
    admin, who may release it (``quarantine release``) after checking with the sender.
    """
    if msg.dmarc != "fail" or msg.row.released:
        return ""
    domain = msg.sender.rpartition("@")[2] or "(unverifiable)"
    return (f"DMARC fail for {domain} reported by {ctx.config.gateway.authserv_id}; "
            "an admin may release it after checking with the sender")


def _done(case_id: int | None, reason: str, effects: list[Effect]) -> Handled:
    return Handled(InboundState.DONE, case_id, reason, tuple(effects))


def _refused(msg: Analysis, case_id: int, staff: Staff, exc: Refused) -> list[Effect]:
    """What a refused reply does instead: a history line, and the reason to the staff member,
    threaded under their mail."""
    return [RecordEvent(case_id, "command_refused", f"{staff.email}: {exc}"[:500]),
            NotifyStaff("staff_refused", staff.id, case_id, {"problems": str(exc)},
                        in_reply_to=msg.mail.message_id)]


def _store(session: Session, msg: Analysis, case_id: int) -> int:
    """Keep the staff member's mail on the case (staff side: never shown to the customer)."""
    return messages.add_received(session, case_id, msg.mail, inbound_id=msg.row.id, kind=MessageKind.INBOUND,
                                 disposition=f"{messages.STAFF_SIDE}reply", from_addr=msg.sender,
                                 text=msg.mail.text, at=msg.row.received_at)


def hold(ctx: Context, msg: Analysis, staff: Staff | None, why: str) -> Handled:
    """Keep the message in the quarantine, unrelayed; tell ``staff`` (if any) at their address."""
    effects: list[Effect] = []
    case_id = msg.token.case_id if msg.token else 0
    if staff is not None:
        effects.append(NotifyStaff("staff_held", staff.id, 0, {
            "why": why, "case": ctx.tag(case_id) if case_id else "(none)",
            "held_subject": msg.mail.subject[:200], "claimed_from": msg.sender or "(unverifiable)"},
            in_reply_to=msg.mail.message_id))
    log.warning("staff_mail_held inbound=%s case=%s why=%s", msg.row.id, case_id, why)
    return Handled(InboundState.QUARANTINED, None, f"held: {why}", tuple(effects))


def reply(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """A staff member's reply to a forwarded case or notice: verify, then commands and relay."""
    assert msg.token is not None
    token = msg.token
    staff = staff_repo.by_id(session, token.staff_id)
    if staff is None or not staff.active:
        return hold(ctx, msg, None, "reply token of an unknown or removed staff member")
    if msg.sender not in staff_repo.addresses(session, staff.id):
        return hold(ctx, msg, staff,
                    f"From {msg.sender or '(unverifiable)'} is not an address of {staff.email}")
    if why := _unauthenticated(ctx, msg):
        return hold(ctx, msg, staff, why)
    ticket = cases.get(session, token.case_id)
    if ticket is None:
        return hold(ctx, msg, staff, f"no case {token.case_id}")
    if token.purpose is tokens.Purpose.REPLY and not people.acts_for(session, ticket, staff, now):
        return _too_late(session, ctx, msg, ticket, staff, now)
    stored = _store(session, msg, ticket.id)
    instructions = read_commands(msg.mail.text)
    try:
        with session.begin_nested():
            if instructions.problems:
                raise Refused("; ".join(instructions.problems))
            effects = commands.carry_out(session, ctx, ticket, staff, instructions, stored, msg.row.id,
                                         msg.mail.subject, now)
    except Refused as exc:
        session.expire_all()            # the savepoint's changes are gone; reload what is read next
        log.info("staff_mail_refused inbound=%s case=%s staff=%s", msg.row.id, token.case_id, staff.id)
        effects = _refused(msg, ticket.id, staff, exc)
    else:
        effects += _receipt(ticket, staff, instructions, effects, msg)
    return _done(ticket.id, f"staff/{token.purpose.name.lower()}", effects)


def _receipt(ticket: Ticket, staff: Staff, ins: Instructions, effects: list[Effect],
             msg: Analysis) -> list[Effect]:
    """One line that says what a reply's commands did, threaded under it (unless turned off)."""
    told = any(isinstance(e, NotifyStaff | ForwardCase) and e.staff_id == staff.id for e in effects)
    if not ins.commands or not staff.receipts or told:      # a notice of its own says it better
        return []
    done = ["note added" if c.verb is Verb.NOTE else f"{c.verb} {c.arg}".strip() for c in ins.commands]
    if any(isinstance(e, RelayReply) for e in effects):
        done.append("answer sent to the customer")
    return [NotifyStaff("staff_receipt", staff.id, ticket.id, {"done": ", ".join(done)[:300],
                                                               "staff_email": staff.email},
                        in_reply_to=msg.mail.message_id)]


def _too_late(session: Session, ctx: Context, msg: Analysis, ticket: Ticket, staff: Staff,
              now: datetime) -> Handled:
    """A reply to a case that has since gone to someone else: held, never relayed; its text goes to
    whoever has the case now as an internal note, and the sender is told who that is."""
    holder = people.reader_of(session, ticket, now)
    now_with = (holder.name or holder.email) if holder else "nobody (it is back in the pool)"
    text = commands.new_text(read_commands(msg.mail.text).body, staff.name)
    effects: list[Effect] = []
    why = f"reply to {ctx.tag(ticket.id)} after it was reassigned: it is now with {now_with}"
    if text:
        commands.add_note(session, ticket, staff, text, msg.row.id, msg.mail.subject, now)
        why += "; your text was passed on to them as an internal note" if holder else \
            "; your text is stored on the case as an internal note"
        if holder is not None:
            effects.append(NotifyStaff("case_note", holder.id, ticket.id, {
                "author": staff.name or staff.email, "note": text,
                "why": "answered after the case had gone to you."}))
    held = hold(ctx, msg, staff, why)
    return Handled(held.state, None, held.reason, (*effects, *held.effects))


def approval_reply(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """An answer to an approval request: from someone who may decide the draft it names."""
    assert msg.token is not None
    draft = approvals.pending_for(session, msg.token.case_id, msg.token.staff_id)
    staff = staff_repo.by_address(session, msg.sender) if msg.sender else None
    if draft is None:
        return hold(ctx, msg, staff, "approval address of an unknown draft")
    if staff is None or not approvals.may_decide(session, ctx, draft, staff, now):
        supervisor = staff_repo.by_id(session, draft.supervisor_id)
        return hold(ctx, msg, supervisor,
                    f"answer to draft #{draft.id} from {msg.sender or '(unverifiable)'}, "
                    "who may not decide it")
    if why := _unauthenticated(ctx, msg):
        return hold(ctx, msg, staff, why)
    _store(session, msg, draft.ticket_id)
    try:
        with session.begin_nested():
            effects = approvals.receive(session, ctx, draft, staff, msg.mail, now)
    except Refused as exc:
        session.expire_all()
        effects = _refused(msg, draft.ticket_id, staff, exc)
    return _done(draft.ticket_id, "staff/approval", effects)


def department_reply(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """An answer to a consultation's signed address: from the department's address or domain."""
    assert msg.token is not None
    consultation = cases.consultation(session, msg.token.staff_id)
    if consultation is None or consultation.ticket_id != msg.token.case_id:
        return hold(ctx, msg, None, "consultation address of an unknown consultation")
    domain = consultation.address.rpartition("@")[2]
    if not msg.sender or (msg.sender != consultation.address and msg.sender.rpartition("@")[2] != domain):
        asker = staff_repo.by_id(session, consultation.asked_by) if consultation.asked_by else None
        return hold(ctx, msg, asker, f"answer to the {consultation.department} consultation from "
                                     f"{msg.sender or '(unverifiable)'}, outside {domain}")
    if why := _unauthenticated(ctx, msg):
        asker = staff_repo.by_id(session, consultation.asked_by) if consultation.asked_by else None
        return hold(ctx, msg, asker, why)
    return _department_answer(session, ctx, consultation, msg, now)


def department_by_thread(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """A consulted department's answer that kept only the thread headers or the subject tag."""
    assert msg.consulted is not None
    consultation = cases.consultation(session, msg.consulted)
    assert consultation is not None
    return _department_answer(session, ctx, consultation, msg, now)


def _department_answer(session: Session, ctx: Context, consultation: Consultation, msg: Analysis,
                       now: datetime) -> Handled:
    effects = consultations.receive(session, ctx, consultation, msg.mail, msg.sender, msg.row.id, now)
    return _done(consultation.ticket_id, "department/answer", effects)


def forged(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """A reply address whose signature does not verify: held; a staff sender is told."""
    return hold(ctx, msg, _staff(session, msg), FORGED)


def without_token(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """Personal mail from a staff address without a valid reply token is held, never a case.

    Whether it is forged or an operator wrote to the support address directly, acting on it
    would trust a From line alone; the staff member is told at the registered address.
    """
    return hold(ctx, msg, _staff(session, msg), NO_TOKEN)


def _staff(session: Session, msg: Analysis) -> Staff | None:
    return staff_repo.by_id(session, msg.staff_id) if msg.staff_id is not None else None


def next_case(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """``+next`` from a staff member: claim and forward the oldest waiting case."""
    staff = _staff(session, msg)
    assert staff is not None
    effects = assignment.next_case(session, ctx, staff, now)
    case_id = next((e.case_id for e in effects if isinstance(e, RecordEvent)), None)
    return _done(case_id, "staff/next", effects)


def absence(session: Session, ctx: Context, msg: Analysis, now: datetime) -> Handled:
    """``+cmd`` from a staff member: ``absent until YYYY-MM-DD [deputy USER]`` or ``back`` as the
    subject. The answer goes to the registered address, so a forged one is noticed at once."""
    staff = _staff(session, msg)
    assert staff is not None
    request = read_absence(strip_prefixes(msg.mail.subject))
    if request is None:
        done = "not understood: write 'absent until YYYY-MM-DD [deputy USER]' or 'back' as the subject"
    elif request.until is None:
        staff.absent_until, staff.deputy_id = None, None
        done = "back: new cases reach you again"
    else:
        until = datetime.combine(request.until, time.max, UTC)
        deputy = staff_repo.by_name(session, request.deputy) if request.deputy else None
        if until <= now or (request.deputy and (deputy is None or deputy.id == staff.id)):
            done = f"not changed: {'the date is past' if until <= now else f'no deputy {request.deputy!r}'}"
        else:
            staff.absent_until, staff.deputy_id = until, deputy.id if deputy else None
            done = f"absent until {request.until}" + (f", deputy {deputy.email}" if deputy else "")
    return _done(None, "staff/cmd", [NotifyStaff("staff_command", staff.id, 0, {"done": done})])
