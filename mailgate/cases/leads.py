"""Sales leads (SPEC §4, §11): #qualify, #convert (creating or linking the customer record, with
the welcome mail for a new one) and #offer (a numbered offer mailed to the lead and recorded)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.domain.consulting import read_amount
from mailgate.domain.effects import Effect, RecordEvent, SendTemplate, WelcomeCustomer
from mailgate.domain.kinds import CaseType
from mailgate.domain.leads import Stage, advance, contacted
from mailgate.errors import Refused
from mailgate.storage import customers
from mailgate.storage.models import Offer, Ticket


def _need_lead(ctx: Context, ticket: Ticket, what: str) -> Stage:
    if ticket.type != CaseType.LEAD:
        raise Refused(f"{what}: {ctx.tag(ticket.id)} is a support case, not a sales lead")
    return Stage(ticket.stage or Stage.NEW)


def move(session: Session, ctx: Context, ticket: Ticket, target: Stage, by: str,
         now: datetime) -> list[Effect]:
    """#qualify / #convert / ``ticket edit --stage``: the lead's next stage."""
    what = "#qualify" if target is Stage.QUALIFIED else "#convert"
    ticket.stage = advance(_need_lead(ctx, ticket, what), target)
    effects: list[Effect] = [RecordEvent(ticket.id, "stage", f"{ticket.stage} by {by}")]
    if target is Stage.CONVERTED:
        effects += _customer_for(session, ctx, ticket, now)
    return effects


def _customer_for(session: Session, ctx: Context, ticket: Ticket, now: datetime) -> list[Effect]:
    """The lead's customer record: linked if the address has one, else created (and welcomed)."""
    if not ticket.requester:
        raise Refused(f"{ctx.tag(ticket.id)} has no verified requester to register as a customer")
    existing = customers.by_email(session, ticket.requester)
    if existing is not None:
        return [RecordEvent(ticket.id, "customer", f"linked to customer {existing.id} ({existing.state})")]
    fields = {k: str(v) for k, v in (ticket.fields or {}).items()}
    customer = customers.add(session, ticket.requester, ticket.requester_name or "", fields, now)
    return [RecordEvent(ticket.id, "customer", f"customer {customer.id} registered"),
            WelcomeCustomer(customer.id, ticket.id)]


def offer(session: Session, ctx: Context, ticket: Ticket, arg: str, body: str, by: str,
          now: datetime) -> list[Effect]:
    """``#offer AMOUNT [TEXT]``: offer number n, mailed with the ``offer`` template and kept."""
    _need_lead(ctx, ticket, "#offer")
    if not ticket.requester:
        raise Refused(f"{ctx.tag(ticket.id)} has no verified requester to send an offer to")
    first, _, rest = arg.strip().partition(" ")
    amount, currency = read_amount(first, "#offer amount")
    text = "\n\n".join(t for t in (rest.strip(), body.strip()) if t)
    no = (session.scalar(select(func.max(Offer.no)).where(Offer.ticket_id == ticket.id)) or 0) + 1
    session.add(Offer(ticket_id=ticket.id, no=no, amount=amount, currency=currency, text=text[:10000],
                      author=by, at=now))
    ticket.stage = contacted(Stage(ticket.stage or Stage.NEW))
    shown = f"{amount} {currency}".strip()
    return [RecordEvent(ticket.id, "offer", f"no. {no}: {shown} by {by}"),
            SendTemplate("offer", (ticket.requester,), ticket.id, context={
                "offer_no": str(no), "amount": shown, "offer_text": text})]


def offers_of(session: Session, ticket_id: int) -> list[dict[str, str | int]]:
    rows = session.scalars(select(Offer).where(Offer.ticket_id == ticket_id).order_by(Offer.no))
    return [{"no": o.no, "amount": o.amount, "currency": o.currency, "text": o.text,
             "at": o.at.isoformat().replace("+00:00", "Z")} for o in rows]
