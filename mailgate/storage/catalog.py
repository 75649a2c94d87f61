"""The admin-edited lists: statuses (each of a fixed category) and case categories.

Both are read from the database whenever they are needed, so a change made with the CLI takes
effect for the running daemon at once (SPEC §11 "Statuses and categories").
"""

from __future__ import annotations

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from mailgate.domain.categories import CategoryRule
from mailgate.storage import cases
from mailgate.storage.models import CaseCategory, Status, Ticket

# --- statuses --------------------------------------------------------------------------------


def status_counts(session: Session) -> list[tuple[Status, int]]:
    counts = (select(Ticket.status_id, func.count().label("n")).group_by(Ticket.status_id).subquery())
    rows = session.execute(select(Status, func.coalesce(counts.c.n, 0))
                           .outerjoin(counts, counts.c.status_id == Status.id)
                           .order_by(Status.position, Status.id))
    return [(status, int(n)) for status, n in rows]


def add_status(session: Session, name: str, category: str) -> None:
    position = session.scalar(select(func.coalesce(func.max(Status.position), 0))) or 0
    session.add(Status(name=name, category=category, position=position + 1))
    session.flush()
    cases.forget_statuses(session)


def rename_status(session: Session, status: Status, name: str) -> None:
    status.name = name


def cases_in(session: Session, status: Status) -> int:
    query = select(func.count()).select_from(Ticket).where(Ticket.status_id == status.id)
    return int(session.scalar(query) or 0)


def same_category(session: Session, status: Status) -> int:
    return int(session.scalar(select(func.count()).select_from(Status)
                              .where(Status.category == status.category)) or 0)


def delete_status(session: Session, status: Status, replacement: Status | None) -> int:
    """Delete ``status``, moving its cases to ``replacement``; return how many moved."""
    moved = 0
    if replacement is not None:
        moved = int(session.connection().execute(
            update(Ticket).where(Ticket.status_id == status.id).values(status_id=replacement.id)).rowcount)
    session.delete(status)
    session.flush()
    cases.forget_statuses(session)
    return moved


# --- categories ------------------------------------------------------------------------------


def category_named(session: Session, name: str) -> CaseCategory | None:
    return session.scalar(select(CaseCategory).where(func.lower(CaseCategory.name) == name.strip().lower()))


def category_counts(session: Session) -> list[tuple[CaseCategory, int]]:
    counts = (select(Ticket.category, func.count().label("n")).group_by(Ticket.category).subquery())
    rows = session.execute(select(CaseCategory, func.coalesce(counts.c.n, 0))
                           .outerjoin(counts, counts.c.category == CaseCategory.name)
                           .order_by(CaseCategory.id))
    return [(category, int(n)) for category, n in rows]


_RULES = select(CaseCategory.name, CaseCategory.keywords, CaseCategory.pool).order_by(CaseCategory.id)


def category_rules(session: Session) -> list[CategoryRule]:
    """Every category's keywords (hot path: every new case), by a plain Core query."""
    rows = session.connection().execute(_RULES)
    return [CategoryRule(name, tuple(keywords or ()), pool) for name, keywords, pool in rows]


def add_category(session: Session, name: str, keywords: list[str], pool: str) -> None:
    session.add(CaseCategory(name=name, keywords=keywords, pool=pool))
    session.flush()


def rename_category(session: Session, category: CaseCategory, name: str) -> int:
    """Rename it, and the cases that have it; return how many cases."""
    moved = int(session.connection().execute(
        update(Ticket).where(Ticket.category == category.name).values(category=name)).rowcount)
    category.name = name
    return moved


def delete_category(session: Session, category: CaseCategory) -> int:
    """Delete it; its cases keep no category. Return how many cases had it."""
    cleared = int(session.connection().execute(
        update(Ticket).where(Ticket.category == category.name).values(category=None)).rowcount)
    session.execute(delete(CaseCategory).where(CaseCategory.id == category.id))
    return cleared
