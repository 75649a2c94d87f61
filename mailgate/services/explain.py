"""``mailgate route --explain``: run the read-only half of the pipeline and report."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mailgate.errors import ParseError
from mailgate.services.context import Context
from mailgate.services.process import Analysis, analyse, parse_bounded


async def explain(ctx: Context, raw: bytes, rcpt: str = "") -> dict[str, Any]:
    """Say what processing ``raw`` would do, writing nothing."""
    rcpts = [rcpt or ctx.config.mailboxes[0].address]
    try:
        mail = await parse_bounded(raw, ctx)
    except ParseError as exc:
        return {"action": "quarantine", "reason": str(exc)}
    now = ctx.clock.now()

    def read_only(session: Session) -> Analysis:
        facts = analyse(session, ctx, mail, rcpts, now)
        session.rollback()
        return facts

    facts = await ctx.db.run(read_only)
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
    }
