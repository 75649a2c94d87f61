"""The blocklist (SPEC §11, seed FRAUD-STOP): ``mailgate block …`` and the SMTP sender check.

SMTP and LMTP ask ``Blocklist.allowed`` at MAIL FROM (the address, its domain, the client's IP)
and answer ``550 5.7.1`` before any data is sent, so nothing is stored. Mail that arrives another
way (IMAP, import, ``deliver``) meets the ``blocked`` route instead and is quarantined with
``blocked: <value>``. Both count a hit. Entries are read again at most a second after a change,
so ``block add`` works on the running daemon without a restart.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.blocklist import Entry, entry, match
from mailgate.errors import NotFound, UsageError
from mailgate.storage import blocks

log = logging.getLogger(__name__)
FRESH_SECONDS = 1.0


class Blocklist:
    """The SMTP receiver's sender policy, on a list re-read at most every ``FRESH_SECONDS``."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self._entries: list[Entry] = []
        self._read_at = float("-inf")

    async def allowed(self, mail_from: str, peer_ip: str) -> bool:
        if time.monotonic() - self._read_at > FRESH_SECONDS:
            self._entries = await self.ctx.db.run(blocks.entries)
            self._read_at = time.monotonic()
        hit = match(self._entries, mail_from, peer_ip)
        if hit is None:
            return True
        await self.ctx.db.run(lambda s: blocks.hit(s, hit.value))
        log.info("blocked value=%s kind=%s", hit.value, hit.kind)
        return False


async def add_block(ctx: Context, value: str, reason: str = "") -> dict[str, Any]:
    try:
        item = entry(value)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if not await ctx.db.run(lambda s: blocks.add(s, item, reason.strip()[:500], ctx.clock.now())):
        raise UsageError(f"{item.value} is blocked already")
    return {"value": item.value, "kind": item.kind}


async def list_blocks(ctx: Context) -> list[dict[str, Any]]:
    rows = await ctx.db.run(blocks.rows)
    return [{"id": r.id, "value": r.value, "kind": r.kind, "reason": r.reason,
             "created_at": iso(r.created_at), "hits": r.hits} for r in rows]


async def remove_block(ctx: Context, value: str) -> str:
    try:
        canonical = entry(value).value
    except ValueError:
        canonical = value.strip().lower()
    if not await ctx.db.run(lambda s: blocks.remove(s, canonical)):
        raise NotFound(f"{value} is not on the blocklist")
    return canonical
