"""``mailgate status …`` and ``mailgate category …``: the live admin lists (SPEC §11).

Every change is one transaction the running daemon sees on its next message: intake reads the
categories for each new case, commands and edits look statuses and categories up by name.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.domain.states import Category
from mailgate.errors import NotFound, UsageError
from mailgate.storage import cases, catalog


def _name(value: str) -> str:
    name = " ".join(value.split())
    if not name or len(name) > 100:
        raise UsageError("a name must be 1 to 100 characters")
    return name


def _status(session: Session, name: str) -> Any:
    status = cases.status_named(session, name)
    if status is None:
        known = ", ".join(s.name for s in cases.statuses(session))
        raise NotFound(f"no status {name!r} (statuses: {known})")
    return status


async def list_statuses(ctx: Context) -> list[dict[str, Any]]:
    rows = await ctx.db.run(catalog.status_counts)
    return [{"name": s.name, "category": s.category, "cases": n} for s, n in rows]


async def add_status(ctx: Context, name: str, category: str) -> None:
    name = _name(name)
    if category not in set(Category):
        raise UsageError(f"no status category {category!r} (categories: {', '.join(Category)})")

    def work(session: Session) -> None:
        if cases.status_named(session, name) is not None:
            raise UsageError(f"a status {name!r} exists already")
        catalog.add_status(session, name, category)

    await ctx.db.run(work)


async def rename_status(ctx: Context, old: str, new: str) -> None:
    new = _name(new)

    def work(session: Session) -> None:
        status = _status(session, old)
        other = cases.status_named(session, new)
        if other is not None and other.id != status.id:
            raise UsageError(f"a status {new!r} exists already")
        catalog.rename_status(session, status, new)

    await ctx.db.run(work)


async def delete_status(ctx: Context, name: str, replace_with: str | None) -> int:
    def work(session: Session) -> int:
        status = _status(session, name)
        replacement = _status(session, replace_with) if replace_with else None
        if replacement is not None and replacement.id == status.id:
            raise UsageError("a status cannot replace itself")
        in_use = catalog.cases_in(session, status)
        if in_use and replacement is None:
            raise UsageError(f"status {status.name!r} is used by {in_use} case(s): name another with "
                             "--replace-with")
        if catalog.same_category(session, status) == 1:
            raise UsageError(f"status {status.name!r} is the only one of category {status.category}; "
                             "add another of that category first")
        return catalog.delete_status(session, status, replacement)

    return await ctx.db.run(work)


async def list_categories(ctx: Context) -> list[dict[str, Any]]:
    rows = await ctx.db.run(catalog.category_counts)
    return [{"name": c.name, "keywords": list(c.keywords or []), "pool": c.pool or None, "cases": n}
            for c, n in rows]


async def add_category(ctx: Context, name: str, keywords: list[str], pool: str) -> None:
    name = _name(name)
    words = [" ".join(k.split()) for k in keywords if k.strip()]
    pools = [p.name for p in ctx.config.pools]
    if pool and pool not in pools:
        raise UsageError(f"no pool {pool!r} (pools: {', '.join(pools)})")

    def work(session: Session) -> None:
        if catalog.category_named(session, name) is not None:
            raise UsageError(f"a category {name!r} exists already")
        catalog.add_category(session, name, words, pool)

    await ctx.db.run(work)


async def rename_category(ctx: Context, old: str, new: str) -> int:
    new = _name(new)

    def work(session: Session) -> int:
        category = catalog.category_named(session, old)
        if category is None:
            raise NotFound(f"no category {old!r}")
        other = catalog.category_named(session, new)
        if other is not None and other.id != category.id:
            raise UsageError(f"a category {new!r} exists already")
        return catalog.rename_category(session, category, new)

    return await ctx.db.run(work)


async def delete_category(ctx: Context, name: str) -> int:
    def work(session: Session) -> int:
        category = catalog.category_named(session, name)
        if category is None:
            raise NotFound(f"no category {name!r}")
        return catalog.delete_category(session, category)

    return await ctx.db.run(work)
