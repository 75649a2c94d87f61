"""The quarantine: messages kept with their raw bytes that did not become (part of) a case."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, update
from sqlalchemy.orm import Session

from mailgate.clock import iso
from mailgate.errors import NotFound
from mailgate.services.context import Context
from mailgate.storage import repos
from mailgate.storage.models import Inbound


def _entry(row: Inbound) -> dict[str, Any]:
    return {"id": row.id, "reason": row.reason, "received_at": iso(row.received_at),
            "source": row.source, "size": row.size, "sha256": row.sha256,
            "mail_from": row.mail_from, "rcpt_to": list(row.rcpt_to)}


async def list_quarantine(ctx: Context) -> list[dict[str, Any]]:
    return await ctx.db.run(lambda s: [_entry(r) for r in repos.quarantined(s)])


def _get(session: Session, inbound_id: int, with_raw: bool = False) -> Inbound:
    row = repos.get_inbound(session, inbound_id, with_raw)
    if row is None or row.state != "quarantined":
        raise NotFound(f"no quarantined message {inbound_id}")
    return row


async def show_quarantine(ctx: Context, inbound_id: int) -> tuple[dict[str, Any], bytes]:
    row = await ctx.db.run(lambda s: _get(s, inbound_id, with_raw=True))
    return _entry(row), row.raw


async def release(ctx: Context, inbound_id: int) -> None:
    """Put a quarantined message back in the queue to be processed again."""

    def work(session: Session) -> None:
        _get(session, inbound_id)
        session.execute(update(Inbound).where(Inbound.id == inbound_id)
                        .values(state="pending", reason="", processed_at=None))

    await ctx.db.run(work)


async def delete_entry(ctx: Context, inbound_id: int) -> None:
    """Delete a quarantined message for good: the one explicit way mail is ever removed."""

    def work(session: Session) -> None:
        _get(session, inbound_id)
        session.execute(delete(Inbound).where(Inbound.id == inbound_id))

    await ctx.db.run(work)
