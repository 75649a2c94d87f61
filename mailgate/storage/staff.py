"""Query functions for staff, their aliases and pool memberships. They never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, delete, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from mailgate.domain.authority import Person, stand_in
from mailgate.storage.models import AddressHealth, Consultation, PoolMember, PoolState, Staff, StaffAlias


def by_id(session: Session, staff_id: int) -> Staff | None:
    return session.get(Staff, staff_id)


_BY_ADDRESS = select(Staff).where(
    Staff.active.is_(True),
    or_(Staff.email == bindparam("addr"),
        Staff.id.in_(select(StaffAlias.staff_id).where(StaffAlias.address == bindparam("addr")))))


def by_address(session: Session, address: str) -> Staff | None:
    """The active staff member whose registered address or alias is ``address``."""
    return session.scalar(_BY_ADDRESS, {"addr": address.lower()})


def by_name(session: Session, name: str) -> Staff | None:
    """A staff member by full address, or by a local part that only one active member has."""
    name = name.strip().lower()
    if "@" in name:
        return by_address(session, name)
    found = session.scalars(select(Staff).where(Staff.active.is_(True),
                                                Staff.email.like(f"{name}@%"))).all()
    return found[0] if len(found) == 1 else None


def addresses(session: Session, staff_id: int) -> frozenset[str]:
    """The registered address and every alias of a staff member."""
    staff = session.get(Staff, staff_id)
    if staff is None:
        return frozenset()
    aliases = session.scalars(select(StaffAlias.address).where(StaffAlias.staff_id == staff_id))
    return frozenset({staff.email, *aliases})


def aliases(session: Session, staff_id: int) -> list[str]:
    return list(session.scalars(select(StaffAlias.address).where(StaffAlias.staff_id == staff_id)
                                .order_by(StaffAlias.address)))


def set_aliases(session: Session, staff_id: int, add: Sequence[str], remove: Sequence[str]) -> None:
    for addr in remove:
        session.execute(delete(StaffAlias).where(StaffAlias.staff_id == staff_id,
                                                 StaffAlias.address == addr.lower()))
    for addr in add:
        session.add(StaffAlias(staff_id=staff_id, address=addr.lower()))
    session.flush()


def all_staff(session: Session, include_inactive: bool = False) -> Sequence[Staff]:
    query = select(Staff).order_by(Staff.email)
    if not include_inactive:
        query = query.where(Staff.active.is_(True))
    return session.scalars(query).all()


def memberships(session: Session, staff_id: int) -> list[tuple[str, int]]:
    """(pool, priority) for every pool the member works, highest priority first."""
    rows = session.execute(select(PoolMember.pool, PoolMember.priority)
                           .where(PoolMember.staff_id == staff_id)
                           .order_by(PoolMember.priority.desc(), PoolMember.pool)).all()
    return [(pool, prio) for pool, prio in rows]


def members(session: Session, pool: str) -> list[tuple[Staff, int]]:
    """(staff, priority) of a pool's active members, in round-robin order (by staff id)."""
    rows = session.execute(select(Staff, PoolMember.priority)
                           .join(PoolMember, PoolMember.staff_id == Staff.id)
                           .where(PoolMember.pool == pool, Staff.active.is_(True))
                           .order_by(Staff.id)).all()
    return [(staff, prio) for staff, prio in rows]


_ROUTING = (select(Staff.id, Staff.roles, Staff.absent_until)
            .join(PoolMember, PoolMember.staff_id == Staff.id)
            .where(PoolMember.pool == bindparam("pool"), Staff.active.is_(True)).order_by(Staff.id))


def routing_view(session: Session, pool: str) -> list[tuple[int, frozenset[str], datetime | None]]:
    """(id, roles, absent until) of a pool's active members: one cheap Core query (hot path)."""
    rows = session.connection().execute(_ROUTING, {"pool": pool}).all()
    return [(sid, frozenset(r for r in roles.split(",") if r), until) for sid, roles, until in rows]


_STAFF_ID_BY_ADDRESS = select(Staff.id).where(
    Staff.active.is_(True),
    or_(Staff.email == bindparam("addr"),
        Staff.id.in_(select(StaffAlias.staff_id).where(StaffAlias.address == bindparam("addr")))))


@dataclass(frozen=True, slots=True)
class SenderFacts:
    """What the database knows of the address a message came from."""

    staff_id: int | None           # the active staff member with this address or alias
    #: the case's newest consultation (open ones first) with the department at exactly this
    #: address: a department's answer that lost its signed address threads by its headers or the
    #: subject tag, and then only the department's own address counts, not its whole domain
    consultation_id: int | None
    bounced: bool                  # it has bounce counts (``address_health``) to forget


_SENDER_FACTS = select(
    _STAFF_ID_BY_ADDRESS.limit(1).scalar_subquery(),
    select(Consultation.id)
    .where(Consultation.ticket_id == bindparam("ticket"), Consultation.address == bindparam("addr"))
    .order_by(Consultation.state.desc(), Consultation.id.desc()).limit(1).scalar_subquery(),
    exists().where(AddressHealth.address == bindparam("addr")),
)


def sender_facts(session: Session, address: str, ticket_id: int | None) -> SenderFacts:
    """Who ``address`` is, in one statement (hot path: every mail with a trusted sender): the
    staff member, the consultation of case ``ticket_id`` with that department, bounce counts."""
    staff_id, consultation_id, bounced = session.connection().execute(
        _SENDER_FACTS, {"addr": address.lower(), "ticket": ticket_id}).one()
    return SenderFacts(staff_id, consultation_id, bool(bounced))


def set_membership(session: Session, pool: str, staff_id: int, priority: int) -> None:
    row = session.scalar(select(PoolMember).where(PoolMember.pool == pool,
                                                  PoolMember.staff_id == staff_id))
    if row is None:
        session.add(PoolMember(pool=pool, staff_id=staff_id, priority=priority))
    else:
        row.priority = priority
    session.flush()


def remove_membership(session: Session, pool: str, staff_id: int) -> bool:
    result = session.execute(delete(PoolMember).where(PoolMember.pool == pool,
                                                      PoolMember.staff_id == staff_id))
    return bool(getattr(result, "rowcount", 0))


def last_assigned(session: Session, pool: str) -> int | None:
    """Whom round-robin gave this pool's last case to; the row stays locked (PostgreSQL) until commit.

    The row is created first if missing, so two processes never both insert it.
    """
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    session.execute(insert(PoolState).values(name=pool, last_staff_id=None).on_conflict_do_nothing())
    return session.scalar(select(PoolState.last_staff_id).where(PoolState.name == pool).with_for_update())


def record_assigned(session: Session, pool: str, staff_id: int) -> None:
    state = session.get(PoolState, pool)
    if state is None:
        session.add(PoolState(name=pool, last_staff_id=staff_id))
    else:
        state.last_staff_id = staff_id
    session.flush()


def person(staff: Staff) -> Person:
    """The rules' view of a staff member."""
    return Person(staff.id, staff.role_set, staff.absent_until, staff.deputy_id, staff.active)


def stand_in_for(session: Session, staff: Staff, now: datetime) -> Staff:
    """The staff member who acts for ``staff`` now: their deputy (or the deputy's), else them."""

    def lookup(staff_id: int) -> Person | None:
        other = session.get(Staff, staff_id)
        return person(other) if other is not None else None

    found = stand_in(person(staff), lookup, now)
    if found.id == staff.id:
        return staff
    chosen = session.get(Staff, found.id)
    assert chosen is not None
    return chosen


def by_email(session: Session, email: str) -> Staff | None:
    """The staff row registered with ``email``, active or not."""
    return session.scalar(select(Staff).where(Staff.email == email.lower()))
