"""Mail the admin the alerts that fired (``logs.Alerts``): through the outbox when the database
answers, straight through the transport when it does not (the alert may be that it is down)."""

from __future__ import annotations

import logging

from mailgate.cases.context import Context
from mailgate.cases.mailing import signed
from mailgate.clock import human
from mailgate.domain.effects import MailAdmin
from mailgate.errors import DeliveryError
from mailgate.logs import Alert
from mailgate.mail import tokens
from mailgate.outbound.compose import Envelope, compose
from mailgate.outbound.sender import MailTransport
from mailgate.services import units
from mailgate.storage.db import DB_ERRORS

log = logging.getLogger(__name__)


async def mail_alerts(ctx: Context, transport: MailTransport) -> int:
    """Mail every pending alert to ``[gateway] admin_address``; return how many went out."""
    alerts = ctx.alerts.take()
    admin = ctx.config.gateway.admin_address
    if not alerts or not admin:
        return 0
    sent = 0
    for i, alert in enumerate(alerts):
        try:
            await _queue(ctx, alert)
        except DB_ERRORS:
            try:
                await _send_directly(ctx, transport, alert)
            except DeliveryError as exc:
                log.warning("alert_mail_failed kind=%s error=%s", alert.kind, str(exc)[:200])
                ctx.alerts.put_back(alerts[i:])
                break
        sent += 1
    return sent


async def _queue(ctx: Context, alert: Alert) -> None:
    notice = [MailAdmin("admin_alert", 0, _facts(ctx, alert))]
    await units.run(ctx, lambda _session, _now: notice)


def _facts(ctx: Context, alert: Alert) -> dict[str, object]:
    return {"kind": alert.kind, "key": alert.key, "detail": alert.detail, "at": human(alert.at, ctx.tz)}


async def _send_directly(ctx: Context, transport: MailTransport, alert: Alert) -> None:
    """Without the database there is no outbox: compose and hand the alert to the relay now."""
    box = ctx.config.mailboxes[0]
    rendered = ctx.renderer.render("admin_alert", {"gateway": ctx.config.gateway.name, **_facts(ctx, alert)})
    _, mid = signed(ctx, box, 0, 0, tokens.Purpose.NOTICE)
    raw = compose(Envelope(from_addr=box.address, from_name=ctx.config.gateway.name,
                           to=(ctx.config.gateway.admin_address,), message_id=mid,
                           auto_submitted="auto-generated", loop_marker=ctx.loop_marker),
                  rendered.subject, rendered.text, ctx.clock.now())
    async with transport.session() as session:
        await session.send(box.address, (ctx.config.gateway.admin_address,), raw)
    log.info("alert_mailed_directly kind=%s", alert.kind)
