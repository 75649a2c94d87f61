"""Admin views of the outbox: list rows, make failed ones due again."""

from __future__ import annotations

from typing import Any

from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.storage import outbox, reads


async def outbox_rows(ctx: Context, state: str | None) -> list[dict[str, Any]]:
    rows = await ctx.db.run(lambda s: reads.outbox_rows(s, state))
    return [{
        "id": r.id, "ticket_id": r.ticket_id, "to": list(r.to), "subject": r.subject,
        "message_id": r.message_id, "state": r.state, "attempts": r.attempts,
        "next_attempt_at": iso(r.next_attempt_at), "last_error": r.last_error,
    } for r in rows]


async def retry_outbox(ctx: Context, row_id: int | None) -> int:
    now = ctx.clock.now()
    return await ctx.db.run(lambda s: outbox.retry_now(s, row_id, now))
