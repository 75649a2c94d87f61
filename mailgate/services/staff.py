"""Staff and pool administration (the ``user`` and ``pool`` CLI commands), live in the database."""

from __future__ import annotations

import mimetypes
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.clock import iso
from mailgate.domain.authority import ROLES
from mailgate.errors import NotFound, UsageError
from mailgate.mail.addresses import is_valid
from mailgate.storage import cases
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Staff

MAX_FOOTER_IMAGE: Final = 512 * 1024


@dataclass(frozen=True, slots=True)
class StaffEdit:
    """What ``user add`` / ``user edit`` change; None leaves a value alone."""

    name: str | None = None
    roles: tuple[str, ...] | None = None
    pools: tuple[str, ...] = ()            # "pool" or "pool:priority", added or re-prioritised
    add_aliases: tuple[str, ...] = ()
    remove_aliases: tuple[str, ...] = ()
    trainee: bool | None = None
    supervisor: str | None = None
    receipts: bool | None = None


def parse_pool(ctx: Context, spec: str) -> tuple[str, int]:
    """``support:2`` → ("support", 2); the pool must be defined in mailgate.toml."""
    name, _, prio = spec.partition(":")
    if name not in {p.name for p in ctx.config.pools}:
        raise UsageError(f"no pool {name!r} in {ctx.config.path.name}")
    try:
        priority = int(prio) if prio else 1
    except ValueError:
        raise UsageError(f"pool priority must be a number: {spec!r}") from None
    return name, priority


def _need(session: Session, email: str) -> Staff:
    staff = staff_repo.by_name(session, email)
    if staff is None:
        raise NotFound(f"no staff member {email!r}")
    return staff


def _check_address(address: str) -> str:
    addr = address.strip().lower()
    if not is_valid(addr):
        raise UsageError(f"not an email address: {address!r}")
    return addr


def _apply_edit(session: Session, ctx: Context, staff: Staff, edit: StaffEdit) -> None:
    for attr in ("name", "trainee", "receipts"):
        if getattr(edit, attr) is not None:
            setattr(staff, attr, getattr(edit, attr))
    if edit.roles is not None:
        bad = [r for r in edit.roles if r not in ROLES]
        if bad:
            raise UsageError(f"unknown role {bad[0]!r} (roles: {', '.join(ROLES)})")
        staff.roles = ",".join(dict.fromkeys(edit.roles or ("operator",)))
    if edit.supervisor is not None:
        supervisor = _need(session, edit.supervisor)
        if supervisor.id == staff.id:
            raise UsageError("a trainee cannot supervise themselves")
        staff.supervisor_id = supervisor.id
    if staff.trainee and staff.supervisor_id is None:
        raise UsageError("a trainee needs a supervisor (--supervisor EMAIL)")
    for spec in edit.pools:
        pool, priority = parse_pool(ctx, spec)
        staff_repo.set_membership(session, pool, staff.id, priority)
    add = [_check_address(a) for a in edit.add_aliases]
    taken = [a for a in add if staff_repo.by_address(session, a) is not None]
    if taken:
        raise UsageError(f"{taken[0]} is already a staff address")
    staff_repo.set_aliases(session, staff.id, add, [a.lower() for a in edit.remove_aliases])


async def add_user(ctx: Context, email: str, edit: StaffEdit) -> dict[str, Any]:
    address = _check_address(email)
    now = ctx.clock.now()

    def work(session: Session) -> dict[str, Any]:
        existing = staff_repo.by_email(session, address)
        if existing is not None and existing.active:
            raise UsageError(f"{address} is already a staff member")
        if staff_repo.by_address(session, address) is not None:
            raise UsageError(f"{address} is another staff member's alias")
        staff = existing or Staff(email=address, name="", roles="operator", created_at=now)
        staff.active = True
        session.add(staff)
        session.flush()
        _apply_edit(session, ctx, staff, StaffEdit(
            name=edit.name or "", roles=edit.roles or ("operator",), pools=edit.pools,
            add_aliases=edit.add_aliases, trainee=edit.trainee, supervisor=edit.supervisor))
        return _describe(session, staff, now)

    return await ctx.db.run(work)


async def edit_user(ctx: Context, email: str, edit: StaffEdit) -> dict[str, Any]:
    now = ctx.clock.now()

    def work(session: Session) -> dict[str, Any]:
        staff = _need(session, email)
        _apply_edit(session, ctx, staff, edit)
        return _describe(session, staff, now)

    return await ctx.db.run(work)


async def remove_user(ctx: Context, email: str) -> None:
    """Deactivate a staff member (history keeps their name); refused while they own open cases."""

    def work(session: Session) -> None:
        staff = _need(session, email)
        open_cases = cases.open_cases_of(session, staff.id)
        if open_cases:
            listed = ", ".join(ctx.tag(i) for i in open_cases[:5])
            raise UsageError(f"{staff.email} still owns {len(open_cases)} open case(s) ({listed}); "
                             "reassign them first (mailgate ticket assign ID USER)")
        staff.active = False
        for pool, _ in staff_repo.memberships(session, staff.id):
            staff_repo.remove_membership(session, pool, staff.id)
        staff_repo.set_aliases(session, staff.id, [], staff_repo.aliases(session, staff.id))

    await ctx.db.run(work)


async def list_users(ctx: Context) -> list[dict[str, Any]]:
    now = ctx.clock.now()
    return await ctx.db.run(
        lambda s: [_describe(s, staff, now) for staff in staff_repo.all_staff(s)])


def _describe(session: Session, staff: Staff, now: datetime) -> dict[str, Any]:
    def email_of(staff_id: int | None) -> str | None:
        other = staff_repo.by_id(session, staff_id) if staff_id else None
        return other.email if other else None

    pools = staff_repo.memberships(session, staff.id)
    return {
        "id": staff.id, "email": staff.email, "name": staff.name, "roles": sorted(staff.role_set),
        "pools": [f"{p}:{prio}" for p, prio in pools], "aliases": staff_repo.aliases(session, staff.id),
        "trainee": staff.trainee, "supervisor": email_of(staff.supervisor_id),
        "absent": staff.absent(now), "absent_until": iso(staff.absent_until) if staff.absent(now) else None,
        "deputy": email_of(staff.deputy_id) if staff.absent(now) else None,
        "footer": bool(staff.footer_text), "active": staff.active, "receipts": staff.receipts,
    }


async def set_absent(ctx: Context, email: str, until: datetime, deputy: str | None) -> dict[str, Any]:
    now = ctx.clock.now()
    if until <= now:
        raise UsageError("--until must be in the future")

    def work(session: Session) -> dict[str, Any]:
        staff = _need(session, email)
        staff.absent_until = until
        staff.deputy_id = None
        if deputy:
            stand_in = _need(session, deputy)
            if stand_in.id == staff.id:
                raise UsageError("a staff member cannot deputise for themselves")
            staff.deputy_id = stand_in.id
        return _describe(session, staff, now)

    return await ctx.db.run(work)


async def set_back(ctx: Context, email: str) -> dict[str, Any]:
    now = ctx.clock.now()

    def work(session: Session) -> dict[str, Any]:
        staff = _need(session, email)
        staff.absent_until = None
        staff.deputy_id = None
        return _describe(session, staff, now)

    return await ctx.db.run(work)


async def set_footer(ctx: Context, email: str, text: str, image: tuple[str, bytes] | None) -> None:
    """Set the reply footer; ``image`` is (file name, JPEG bytes), sent inline with a Content-ID."""
    if image is not None:
        name, data = image
        kind, _ = mimetypes.guess_type(name)
        if kind != "image/jpeg" or not data.startswith(b"\xff\xd8"):
            raise UsageError(f"{name}: the footer image must be a JPEG file")
        if len(data) > MAX_FOOTER_IMAGE:
            raise UsageError(f"{name}: footer image larger than {MAX_FOOTER_IMAGE // 1024} KiB")

    def work(session: Session) -> None:
        staff = _need(session, email)
        staff.footer_text = text.strip("\n")
        staff.footer_image = image[1] if image else None
        staff.footer_image_name = image[0] if image else ""

    await ctx.db.run(work)


async def pool_members(ctx: Context, pool: str) -> list[dict[str, Any]]:
    parse_pool(ctx, pool)
    now = ctx.clock.now()
    rows = await ctx.db.run(lambda s: staff_repo.members(s, pool))
    return [{"pool": pool, "email": s.email, "name": s.name, "priority": prio,
             "roles": sorted(s.role_set), "absent": s.absent(now)} for s, prio in rows]


async def add_member(ctx: Context, pool: str, email: str, priority: int) -> None:
    parse_pool(ctx, pool)

    def work(session: Session) -> None:
        staff_repo.set_membership(session, pool, _need(session, email).id, priority)

    await ctx.db.run(work)


async def remove_member(ctx: Context, pool: str, email: str) -> None:
    parse_pool(ctx, pool)

    def work(session: Session) -> None:
        if not staff_repo.remove_membership(session, pool, _need(session, email).id):
            raise NotFound(f"{email} is not a member of pool {pool}")

    await ctx.db.run(work)
