"""Admin view of the supervised mailboxes: how each is received, what it took in; for IMAP, the
poller's state."""

from __future__ import annotations

from typing import Any

from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.storage import mailstate, reads


async def list_mailboxes(ctx: Context) -> list[dict[str, Any]]:
    states = {s.name: s for s in await ctx.db.run(mailstate.mailbox_states)}
    received = await ctx.db.run(reads.received_per_mailbox)
    rows: list[dict[str, Any]] = []
    for box in ctx.config.mailboxes:
        state = states.get(box.name)
        imap = box.imap
        count, latest = received.get(box.name, (0, None))
        rows.append({
            "name": box.name, "address": box.address, "pool": box.pool, "kind": box.kind,
            "intake": f"imap://{imap.username}@{imap.host}:{imap.port}/{imap.folder}" if imap else "smtp",
            "connected": bool(state and state.connected) if imap else None,
            "last_poll_at": iso(state.last_poll_at) if state else None,
            "last_received_at": iso(latest),
            "uidvalidity": state.uidvalidity if state else None,
            "last_uid": state.last_uid if state else None,
            "ingested": state.ingested if imap and state else count,
            "backlog": state.backlog if state else 0,
            "last_error": state.last_error if state else "",
        })
    return rows
