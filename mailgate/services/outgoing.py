"""Admin views of the outbox: list rows, make failed ones due again."""

from __future__ import annotations

from typing import Any

from mailgate.outbound import outbox
from mailgate.services.context import Context


async def outbox_rows(ctx: Context, state: str | None) -> list[dict[str, Any]]:
    async with ctx.db.reading() as session:
        rows = await outbox.listing(session, state)
    return [{
        "id": r.id, "ticket_id": r.ticket_id, "to": list(r.rcpt_to), "subject": r.subject,
        "message_id": r.message_id, "state": r.state, "attempts": r.attempts,
        "next_attempt_at": r.next_attempt_at.isoformat().replace("+00:00", "Z"),
        "last_error": r.last_error,
    } for r in rows]


async def retry_outbox(ctx: Context, row_id: int | None) -> int:
    async with ctx.db.unit_of_work() as session:
        return await outbox.retry_now(session, row_id, ctx.clock.now())
