"""``mailgate consult list``: consultations with departments, open and answered."""

from __future__ import annotations

from typing import Any

from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.kinds import ConsultationState
from mailgate.storage import reads


async def list_consultations(ctx: Context, overdue: bool = False) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    rows = await ctx.db.run(lambda s: reads.consultation_rows(s, now if overdue else None))
    return [{
        "id": c.id, "ticket_id": c.ticket_id, "tag": ctx.tag(c.ticket_id), "department": c.department,
        "address": c.address, "state": c.state, "amount": c.amount or None, "question": c.question,
        "asked_at": iso(c.asked_at), "due_at": iso(c.due_at), "answered_at": iso(c.answered_at),
        "answered_by": c.answered_by or None,
        "overdue": c.state == ConsultationState.OPEN and c.due_at <= now,
    } for c in rows]
