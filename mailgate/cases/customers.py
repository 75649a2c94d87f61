"""Customers (SPEC §11): the welcome mail with its activation link, and activation itself.

The link is signed (``signing``, itsdangerous), bound to the customer, expires after
``[gateway] activation_ttl`` and works once: its nonce is stored when the mail is queued and
spent when the link is followed. A replayed, expired or altered link is refused and says why.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.cases.forwarding import case_facts
from mailgate.cases.mailing import Outgoing, gateway_envelope, queue_mail
from mailgate.domain.effects import WelcomeCustomer
from mailgate.errors import NotFound, Vanished
from mailgate.mail import tokens
from mailgate.outbound.render import render_html
from mailgate.signing import LinkError, sign, verify
from mailgate.storage import cases, customers, messages
from mailgate.storage.models import Customer

ACTIVATION = "activation"


def activation_link(ctx: Context, token: str) -> str:
    """``[gateway] activation_url`` with ``{token}`` replaced, or '' when none is configured."""
    url = ctx.config.gateway.activation_url
    return url.replace("{token}", token) if url else ""


def new_activation_token(session: Session, ctx: Context, customer: Customer, now: datetime) -> str:
    nonce = secrets.token_urlsafe(16)
    customers.add_nonce(session, nonce, ACTIVATION, customer.id, now)
    return sign(ctx.secret, ACTIVATION, {"c": customer.id, "n": nonce},
                now + ctx.config.gateway.activation_ttl)


def welcome(session: Session, ctx: Context, effect: WelcomeCustomer, now: datetime) -> None:
    customer = customers.by_id(session, effect.customer_id)
    if customer is None:
        raise Vanished(f"customer {effect.customer_id} vanished")
    ticket = cases.get(session, effect.case_id) if effect.case_id else None
    box = ctx.mailbox_for([], ticket.mailbox if ticket else "")
    token = new_activation_token(session, ctx, customer, now)
    first = messages.latest_from_customer(session, ticket.id, first=True) if ticket else None
    facts = case_facts(session, ctx, ticket) if ticket else {"gateway": ctx.config.gateway.name, "tag": ""}
    rendered = ctx.renderer.render("customer_welcome", {
        **facts, "mailbox": box.address, "name": customer.name, "email": customer.email,
        "fields": dict(customer.fields or {}), "link": activation_link(ctx, token), "token": token,
        "submitted_subject": ticket.subject if ticket else "", "submitted_text": first.text if first else "",
        "expires": f"{now + ctx.config.gateway.activation_ttl:%Y-%m-%d}",
    })
    on_case = tokens.message_id(tokens.Token(ticket.id, 0, tokens.Purpose.CUSTOMER), ctx.secret,
                                ctx.config.message_id_domain) if ticket else ""
    envelope = gateway_envelope(ctx, box, (customer.email,), "welcome", message_id=on_case)
    queue_mail(session, Outgoing(ticket, envelope, rendered.subject, rendered.text,
                                 disposition="customer_welcome",
                                 html=render_html(ctx.renderer, rendered.text, ctx.config.gateway.name)), now)


def _checked(session: Session, ctx: Context, token: str, now: datetime) -> tuple[Customer, str]:
    """The customer an activation token is for, and its nonce, if the link may still be used.

    Raises:
        LinkError: altered, expired, used already, or for a disabled customer.
    """
    payload = verify(ctx.secret, ACTIVATION, token, now)
    customer = customers.by_id(session, int(payload.get("c", 0)))
    if customer is None:
        raise NotFound("this link is for a customer who no longer exists")
    if customer.state == "disabled":
        raise LinkError("disabled", f"{customer.email} is disabled: ask us to enable it again")
    nonce = str(payload.get("n", ""))
    if not customers.nonce_open(session, nonce, ACTIVATION, customer.id):
        raise LinkError("used", "this link was used already; each activation link works once")
    return customer, nonce


def peek(session: Session, ctx: Context, token: str, now: datetime) -> Customer:
    """The customer an activation token is for, checked as ``activate`` does, not spent."""
    return _checked(session, ctx, token, now)[0]


def activate(session: Session, ctx: Context, token: str, now: datetime) -> Customer:
    """Verify an activation token, spend it, and make its customer active.

    Raises:
        LinkError: altered, expired, already used, or for a disabled customer.
    """
    customer, nonce = _checked(session, ctx, token, now)
    if not customers.spend_nonce(session, nonce, ACTIVATION, customer.id, now):
        raise LinkError("used", "this link was used already; each activation link works once")
    customer.state = "active"
    customer.activated_at = customer.activated_at or now
    return customer
