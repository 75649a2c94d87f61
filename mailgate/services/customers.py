"""``mailgate customer …`` (SPEC §11): register, list, show, activate by token, disable."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy.orm import Session

from mailgate.cases import commands, lifecycle
from mailgate.cases import customers as customer_cases
from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.effects import Effect, WelcomeCustomer
from mailgate.errors import NotFound, UsageError
from mailgate.mail.addresses import is_valid
from mailgate.services import units
from mailgate.storage import customers, messages, reads
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


# --- the customer's own pages (SPEC §11 "Web": activation, sign-in, account) ------------------

_HASHER = PasswordHasher()


async def hash_password(password: str) -> str:
    """argon2id, off the event loop (it is slow on purpose)."""
    return await asyncio.to_thread(_HASHER.hash, password)


async def activate_account(ctx: Context, token: str, password: str, name: str,
                           fields: dict[str, str]) -> dict[str, Any]:
    """The activation page: spend the link, set the password and the corrected details."""
    hashed = await hash_password(password)
    now = ctx.clock.now()

    def work(session: Session) -> dict[str, Any]:
        customer = customer_cases.activate(session, ctx, token, now)
        customer.password_hash = hashed
        customer.name = " ".join(name.split())[:200] or customer.name
        customer.fields = {**(customer.fields or {}), **fields}
        return _row(customer)

    return await ctx.db.run(work)


async def peek_activation(ctx: Context, token: str) -> dict[str, Any]:
    """The customer an activation link is for, without spending it.

    Raises:
        LinkError: altered, expired, used already, or for a disabled customer.
    """
    now = ctx.clock.now()
    return await ctx.db.run(lambda s: _row(customer_cases.peek(s, ctx, token, now)))


async def sign_in(ctx: Context, email: str, password: str) -> dict[str, Any] | None:
    """The active customer with this address and password, else None (argon2, off the loop)."""
    found = await ctx.db.run(lambda s: customers.by_email(s, email))
    if found is None or found.state != "active" or not found.password_hash:
        await hash_password(password)        # the same cost whether or not the address exists
        return None
    try:
        await asyncio.to_thread(_HASHER.verify, found.password_hash, password)
    except VerificationError:
        return None
    return _row(found)


async def account(ctx: Context, customer_id: int) -> dict[str, Any] | None:
    """The signed-in customer's record and cases, each with its status and resolution."""
    def work(session: Session) -> dict[str, Any] | None:
        found = customers.by_id(session, customer_id)
        if found is None or found.state != "active":
            return None
        listed = reads.my_cases(session, found.email, datetime.min.replace(tzinfo=UTC), limit=500)
        return {**_row(found), "cases": [{"id": c.id, "tag": ctx.tag(c.id), "subject": c.subject,
                                          "status": c.status, "resolution": c.latest_answer.strip()}
                                         for c in listed]}
    return await ctx.db.run(work)


async def public_case(ctx: Context, customer_id: int, case_id: int) -> dict[str, Any] | None:
    """One of the customer's cases with its public conversation: what they wrote and what we
    sent them, never notes, drafts, consultations or staff mail. None if it is not theirs."""
    def work(session: Session) -> dict[str, Any] | None:
        found = customers.by_id(session, customer_id)
        detail = reads.case_detail(session, case_id)
        if found is None or detail is None or detail.case.requester.lower() != found.email:
            return None
        shown = [{"kind": m.kind, "from": m.from_addr, "at": iso(m.at), "subject": m.subject, "text": m.text}
                 for m in detail.messages if messages.is_public(m.kind, m.disposition)]
        return {"tag": ctx.tag(case_id), "subject": detail.case.subject, "status": detail.case.status,
                "messages": shown}
    return await ctx.db.run(work)


async def rate(ctx: Context, token: str, verdict: str) -> str:
    """A click on a rating link of ``case_closed``; returns the case's tag."""
    case_ids: list[int] = []

    def work(session: Session, now: datetime) -> list[Effect]:
        case_id, effects = lifecycle.rate(session, ctx, token, verdict, now)
        case_ids.append(case_id)
        return effects

    await units.run(ctx, work)
    return ctx.tag(case_ids[0])
