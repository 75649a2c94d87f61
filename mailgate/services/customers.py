"""``mailgate customer …`` (SPEC §11): register, list, show, activate by token, disable."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mailgate.cases import commands
from mailgate.cases import customers as customer_cases
from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.effects import Effect, WelcomeCustomer
from mailgate.errors import NotFound, UsageError
from mailgate.mail.addresses import is_valid
from mailgate.services import units
from mailgate.storage import customers
from mailgate.storage.models import Customer


def _fields(ctx: Context, pairs: tuple[str, ...]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set takes FIELD=VALUE, not {pair!r}")
        commands.check_field(ctx, name.strip(), value.strip())
        fields[name.strip()] = value.strip()[:1000]
    return fields


def _row(customer: Customer) -> dict[str, Any]:
    return {"id": customer.id, "email": customer.email, "name": customer.name, "state": customer.state,
            "created_at": iso(customer.created_at), "activated_at": iso(customer.activated_at),
            "fields": dict(customer.fields or {})}


async def add_customer(ctx: Context, email: str, name: str, pairs: tuple[str, ...] = ()) -> dict[str, Any]:
    """Register a customer and mail them ``customer_welcome`` with their activation link."""
    address = email.strip().lower()
    if not is_valid(address):
        raise UsageError(f"not an e-mail address: {email!r}")
    fields = _fields(ctx, pairs)
    added: list[Customer] = []

    def work(session: Session, now: Any) -> list[Effect]:
        if customers.by_email(session, address) is not None:
            raise UsageError(f"{address} is a customer already")
        customer = customers.add(session, address, " ".join(name.split())[:200], fields, now)
        added.append(customer)
        return [WelcomeCustomer(customer.id)]

    await units.run(ctx, work)
    return _row(added[0])


async def list_customers(ctx: Context) -> list[dict[str, Any]]:
    return [_row(c) for c in await ctx.db.run(customers.all_customers)]


async def show_customer(ctx: Context, who: str) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        found = (customers.by_id(session, int(who.strip())) if who.strip().isdigit()
                 else customers.by_email(session, who))
        if found is None:
            raise NotFound(f"no customer {who!r}")
        return {**_row(found), "cases": customers.case_ids(session, found.email),
                "mails": [{"at": iso(m.created_at), "subject": m.subject, "ticket_id": m.ticket_id,
                           "state": m.state} for m in customers.mails_to(session, found.email)]}

    return await ctx.db.run(work)


async def activate(ctx: Context, token: str) -> dict[str, Any]:
    """Verify and spend an activation token (as the web page does); the customer is active."""
    now = ctx.clock.now()
    return await ctx.db.run(lambda s: _row(customer_cases.activate(s, ctx, token, now)))


async def disable(ctx: Context, email: str) -> dict[str, Any]:
    def work(session: Session) -> dict[str, Any]:
        found = customers.by_email(session, email)
        if found is None:
            raise NotFound(f"no customer {email!r}")
        found.state = "disabled"
        return _row(found)

    return await ctx.db.run(work)


def link_note(ctx: Context) -> str:
    """What ``customer add`` says about the link it mailed."""
    if ctx.config.gateway.activation_url:
        return "the welcome mail carries the activation link"
    return ("no activation link can be built ([gateway] activation_url is not set): the welcome "
            "mail quotes the token, for `mailgate customer activate TOKEN`")
