"""``mailgate approval list|approve|reject``: trainees' drafts, decided by an admin."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from mailgate.cases import approvals
from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.effects import Effect
from mailgate.errors import NotFound
from mailgate.services import units
from mailgate.storage import cases, reads


async def list_drafts(ctx: Context, all_states: bool = False) -> list[dict[str, Any]]:
    rows = await ctx.db.run(lambda s: reads.draft_rows(s, all_states))
    return [{"id": d.id, "ticket_id": d.ticket_id, "tag": ctx.tag(d.ticket_id), "state": d.state,
             "trainee": d.trainee, "supervisor": d.supervisor, "created_at": iso(d.created_at),
             "reminders": d.reminders, "text": d.text, "close_after": d.close_after,
             "decided_by": d.decided_by or None, "reason": d.reason or None} for d in rows]


async def decide_by_admin(ctx: Context, draft_id: int, approve: bool, reason: str = "") -> int:
    """``approval approve|reject``: the same decision as by mail; returns mails queued."""

    def work(session: Session, now: datetime) -> list[Effect]:
        draft = cases.draft(session, draft_id)
        if draft is None:
            raise NotFound(f"no draft {draft_id}")
        return approvals.decide(session, ctx, draft, approve, "admin", now, reason=reason)

    return await units.run(ctx, work)
