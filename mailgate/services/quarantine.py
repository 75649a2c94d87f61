"""The quarantine: messages kept with their raw bytes that did not become (part of) a case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, update

from mailgate.errors import NotFound, UsageError
from mailgate.services.context import Context
from mailgate.storage import repos
from mailgate.storage.models import Inbound


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _entry(row: Inbound) -> dict[str, Any]:
    return {"id": row.id, "reason": row.reason, "received_at": _iso(row.received_at),
            "source": row.source, "size": row.size, "sha256": row.sha256,
            "mail_from": row.mail_from, "rcpt_to": list(row.rcpt_to)}


async def list_quarantine(ctx: Context) -> list[dict[str, Any]]:
    async with ctx.db.reading() as session:
        return [_entry(r) for r in await repos.quarantined(session)]


async def _get(ctx: Context, inbound_id: int) -> Inbound:
    async with ctx.db.reading() as session:
        row = await repos.get_inbound(session, inbound_id)
    if row is None or row.state != "quarantined":
        raise NotFound(f"no quarantined message {inbound_id}")
    return row


async def show_quarantine(ctx: Context, inbound_id: int) -> tuple[dict[str, Any], bytes]:
    row = await _get(ctx, inbound_id)
    return _entry(row), row.raw


async def release(ctx: Context, inbound_id: int) -> None:
    """Put a quarantined message back in the queue to be processed again."""
    await _get(ctx, inbound_id)
    async with ctx.db.unit_of_work() as session:
        result = await session.execute(
            update(Inbound).where(Inbound.id == inbound_id, Inbound.state == "quarantined")
            .values(state="pending", reason="", processed_at=None)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise UsageError(f"message {inbound_id} changed meanwhile")


async def delete_entry(ctx: Context, inbound_id: int) -> None:
    """Delete a quarantined message for good: the one explicit way mail is ever removed."""
    await _get(ctx, inbound_id)
    async with ctx.db.unit_of_work() as session:
        await session.execute(delete(Inbound).where(Inbound.id == inbound_id, Inbound.state == "quarantined"))
