"""``mailgate route --explain``: what the pipeline would do with a message, writing nothing.

The analysis (classification, match, decision) is reported, then the whole unit of work runs
once for real, staff replies, holds and routing included, inside a transaction that is rolled
back: what it says it would do is what the daemon would do.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from sqlalchemy.orm import Session

from mailgate.errors import ParseError
from mailgate.services.context import Context
from mailgate.services.process import Analysis, Outcome, Received, analyse, parse_bounded, persist
from mailgate.storage import repos


async def explain(ctx: Context, raw: bytes, rcpt: str = "") -> dict[str, Any]:
    """Say what processing ``raw`` would do, writing nothing."""
    rcpts = [rcpt or ctx.config.mailboxes[0].address]
    try:
        mail = await parse_bounded(raw, ctx)
    except ParseError as exc:
        return {"action": "quarantine", "reason": str(exc)}
    now = ctx.clock.now()

    def read_only(session: Session) -> tuple[Analysis, Outcome]:
        facts = analyse(session, ctx, mail, rcpts, now)
        row_id, _, _ = repos.insert_inbound(session, repos.NewInbound(
            source="explain", source_key=None, digest=f"explain-{secrets.token_hex(16)}",
            sha256=hashlib.sha256(raw).hexdigest(), mail_from="", rcpt_to=rcpts, mailbox="", peer="",
            raw=raw, received_at=now))
        try:
            outcome = persist(session, ctx, Received(row_id, "explain", "", tuple(rcpts), "", now), mail, now)
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
        "outcome": outcome.state,                       # done | quarantined
        "outcome_reason": outcome.reason,               # e.g. held: …, staff/reply, new_case/none/personal
        "outcome_case": ctx.tag(outcome.ticket_id) if outcome.ticket_id else "-",
        "mails_it_would_send": outcome.queued,
    }
