"""Units of work for the entry use cases: run case operations in one transaction, then carry out
the effects they return, before the commit (the transactional outbox, SPEC §10)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.cases.effects import apply_effects
from mailgate.domain.effects import Effect

CaseWork = Callable[[Session, datetime], Sequence[Effect]]


def carry_out(session: Session, ctx: Context, effects: Sequence[Effect], now: datetime) -> int:
    """Apply ``effects`` in the caller's unit of work; return how many mails were queued."""
    return apply_effects(session, ctx, effects, now)


async def run(ctx: Context, work: CaseWork) -> int:
    """Run ``work`` as one committed unit of work at the clock's now; return mails queued."""
    now = ctx.clock.now()
    return await ctx.db.run(lambda session: carry_out(session, ctx, work(session, now), now))
