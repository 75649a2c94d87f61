"""The quarantine: messages kept with their raw bytes that did not become (part of) a case."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.kinds import InboundState
from mailgate.errors import NotFound
from mailgate.storage import inbound, reads
from mailgate.storage.models import Inbound


def _entry(row: reads.QuarantineRow) -> dict[str, Any]:
    data = asdict(row)
    return {**data, "received_at": iso(row.received_at), "rcpt_to": list(row.rcpt_to)}


async def list_quarantine(ctx: Context) -> list[dict[str, Any]]:
    return await ctx.db.run(lambda s: [_entry(r) for r in reads.quarantine_rows(s)])


def _get(session: Session, inbound_id: int) -> Inbound:
    row = inbound.get(session, inbound_id)
    if row is None or row.state != InboundState.QUARANTINED:
        raise NotFound(f"no quarantined message {inbound_id}")
    return row


async def show_quarantine(ctx: Context, inbound_id: int) -> tuple[dict[str, Any], bytes]:
    row, raw = await ctx.db.run(lambda s: (_get(s, inbound_id), inbound.raw_of(s, inbound_id)))
    return _entry(reads.quarantine_row(row)), raw


async def release(ctx: Context, inbound_id: int) -> None:
    """Put a quarantined message back in the queue to be processed again."""

    def work(session: Session) -> None:
        _get(session, inbound_id)
        inbound.release(session, inbound_id)

    await ctx.db.run(work)


async def delete_entry(ctx: Context, inbound_id: int) -> None:
    """Delete a quarantined message for good: the one explicit way mail is ever removed."""

    def work(session: Session) -> None:
        _get(session, inbound_id)
        inbound.remove(session, inbound_id)

    await ctx.db.run(work)
