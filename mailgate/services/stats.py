"""``mailgate stats``: the quick figures of seed 000 (SPEC §11): the lead funnel and open work."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from mailgate.cases.context import Context
from mailgate.domain.leads import Stage
from mailgate.storage import reads


async def quick_stats(ctx: Context, since: datetime | None = None) -> dict[str, Any]:
    now = ctx.clock.now()
    start = since or now - timedelta(days=30)
    found = await ctx.db.run(lambda s: reads.quick_stats(s, start, now))

    def reached(stage: Stage) -> int:          # a funnel: each stage counts the leads past it too
        return sum(n for name, n in found.leads_by_stage.items() if Stage(name).rank >= stage.rank)

    return {"since": start.isoformat().replace("+00:00", "Z"),
            "leads_new": reached(Stage.NEW), "leads_contacted": reached(Stage.CONTACTED),
            "leads_qualified": reached(Stage.QUALIFIED), "leads_converted": reached(Stage.CONVERTED),
            "unresolved": found.unresolved, "overdue": found.overdue,
            "open_by_pool": found.open_by_pool, "open_by_status": found.open_by_status}
