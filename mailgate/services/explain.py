"""``mailgate route --explain``: what the pipeline would do with a message, writing nothing.

The analysis (classification, match, decision) is reported with the route that takes the
message and the routes passed over before it; then the whole unit of work runs once for real,
staff replies, holds and routing included, inside a transaction that is rolled back: what it
says it would do is what the daemon would do.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.cases.inbound import Analysis, Received, analyse
from mailgate.cases.routes import passed_over, route_for
from mailgate.errors import ParseError
from mailgate.services.process import Outcome, parse_bounded, persist
from mailgate.storage import inbound


async def explain(ctx: Context, raw: bytes, rcpt: str = "") -> dict[str, Any]:
    """Say what processing ``raw`` would do, writing nothing."""
    rcpts = [rcpt or ctx.config.mailboxes[0].address]
    try:
        mail = await parse_bounded(raw, ctx)
    except ParseError as exc:
        return {"action": "quarantine", "reason": str(exc)}
    now = ctx.clock.now()

    def read_only(session: Session) -> tuple[Analysis, Outcome]:
        row_id, _, _ = inbound.insert_inbound(session, inbound.NewInbound(
            source="explain", source_key=None, digest=f"explain-{secrets.token_hex(16)}",
            sha256=hashlib.sha256(raw).hexdigest(), mail_from="", rcpt_to=rcpts, mailbox="", peer="",
            raw=raw, received_at=now))
        row = Received(row_id, "explain", "", tuple(rcpts), "", now)
        try:
            facts = analyse(session, ctx, row, mail, now)
            outcome = persist(session, ctx, row, mail, now)
        finally:
            session.rollback()
        return facts, outcome

    facts, outcome = await ctx.db.run(read_only)
    box = ctx.mailbox_for(rcpts)
    return {
        "message_id": mail.message_id,
        "from": mail.sender.addr if mail.sender else "(none)",
        "sender_trusted": mail.sender_trusted,
        "subject": mail.subject,
        "disposition": facts.disposition.value,
        "mailbox": box.name,
        "pool": box.pool,
        "match": facts.match.reason,
        "case": ctx.tag(facts.match.case_id) if facts.match.case_id else "(new)",
        "action": facts.decision.action.value,
        "reason": facts.decision.reason,
        "attachments": len(mail.attachments),
        "authentication": f"dmarc={facts.dmarc} ({ctx.config.gateway.authserv_id})" if facts.dmarc
                          else "unauthenticated (no Authentication-Results of [gateway] authserv_id on top)",
        "route": f"{route_for(facts).name}: {route_for(facts).when}",
        "passed_over": "; ".join(f"{r.name} (not {r.when})" for r in passed_over(facts)) or "-",
        "outcome": outcome.state,                       # done | quarantined
        "outcome_reason": outcome.reason,               # e.g. held: …, staff/reply, new_case/none/personal
        "outcome_case": ctx.tag(outcome.ticket_id) if outcome.ticket_id else "-",
        "mails_it_would_send": outcome.queued,
    }
