"""``mailgate report`` (SPEC §9, §11 "Reports"): the figures of a period, globally and per group.

The period is ``[since, until)`` in ``--tz`` (``[gateway] timezone`` by default): dates are read
there and turned into UTC instants, so a period across a DST change is exactly as long as the
wall clock there says. Every key of SPEC §11 is in every row; the ``all`` row comes first.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.config import ReportConfig
from mailgate.domain.effects import Effect, MailReport
from mailgate.domain.leads import Stage
from mailgate.domain.reporting import percentile, share, total
from mailgate.domain.schedule import last_period
from mailgate.errors import UsageError
from mailgate.services import units
from mailgate.storage import due, reports

_WIDTH: Final = 80                  # the table fits 80 columns
GROUPINGS: Final = ("operator", "pool", "department")
KEYS: Final = (
    "key", "received", "closed", "closed_on_time", "closed_on_time_consulted", "closed_late",
    "closed_late_consulted", "consulted", "consulted_on_time", "consulted_late", "consultation_amount",
    "feedback", "feedback_pct", "first_response_median_s", "first_response_p90_s", "resolution_median_s",
    "resolution_p90_s", "open_at_end", "overdue_at_end", "leads_new", "leads_contacted",
    "leads_qualified", "leads_converted",
)


def read_instant(text: str, tz: ZoneInfo, what: str) -> datetime:
    """``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM[:SS]`` in ``tz``, as a UTC instant."""
    for fmt in ("%Y-%m-%d", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"):
        try:
            local = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        return local.replace(tzinfo=tz).astimezone(UTC)
    raise UsageError(f"{what}: a date like 2026-11-30 or 2026-11-30T08:00, not {text!r}")


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(f"--tz: not a time zone like 'Europe/Budapest': {name!r}") from None


async def report(ctx: Context, since: str, until: str, by: str | None = None, pool: str | None = None,
                 tz: str | None = None) -> dict[str, Any]:
    """The report as SPEC §11's JSON: ``since``, ``until``, ``tz``, ``by`` and ``rows``."""
    data, _ = await _compute(ctx, since, until, by, pool, tz)
    return data


async def _compute(ctx: Context, since: str, until: str, by: str | None, pool: str | None,
                   tz: str | None) -> tuple[dict[str, Any], reports.Facts]:
    if by is not None and by not in GROUPINGS:
        raise UsageError(f"--by: one of {', '.join(GROUPINGS)}, not {by!r}")
    pools = [p.name for p in ctx.config.pools]
    if pool and pool not in pools:
        raise UsageError(f"no pool {pool!r} (pools: {', '.join(pools)})")
    where = zone(tz or ctx.config.gateway.timezone)
    start, end = read_instant(since, where, "--since"), read_instant(until, where, "--until")
    if end <= start:
        raise UsageError("--until must come after --since")
    within = {p.name: p.resolve_within.total_seconds() for p in ctx.config.pools}
    found = await ctx.db.run(lambda s: reports.facts(s, start, end, within, pool))
    everyone: Callable[..., bool] = lambda owner, pool_name, dept="": True  # noqa: E731
    rows = [_row("all", found, everyone)]
    if by is not None:
        for key, part in _split(found, by).items():
            rows.append(_row(key, part, everyone if by != "department" else _member(by, key)))
    return {"since": _iso(start), "until": _iso(end), "tz": where.key, "by": by or "all", "rows": rows}, found


_BUCKETS: Final = (("under 1 h", 3600), ("1-4 h", 4 * 3600), ("4-24 h", 86400), ("1-3 d", 3 * 86400),
                   ("over 3 d", float("inf")))


async def report_page(ctx: Context, since: str, until: str, by: str | None = None, pool: str | None = None,
                      tz: str | None = None) -> str:
    """The report as one self-contained HTML page: the figures, three SVG charts (volume per day,
    on time and late per operator, the first-response distribution) and the overdue cases,
    flagged in colour and with an icon. Nothing in it is fetched from anywhere."""
    from mailgate.outbound import charts  # pygal, only for the page

    data, found = await _compute(ctx, since, until, by, pool, tz)
    where = zone(data["tz"])
    start, end = read_instant(since, where, "--since"), read_instant(until, where, "--until")
    days: list[date] = []
    day = start.astimezone(where).date()
    last = (end - timedelta(microseconds=1)).astimezone(where).date()
    while day <= last:
        days.append(day)
        day += timedelta(days=1)
    per_day = [sum(1 for _, _, at in found.received if at.astimezone(where).date() == d) for d in days]
    operators = sorted({c[0] or "(nobody)" for c in found.closes})
    kinds = {"on time": (True, False), "on time, consulted": (True, True), "late": (False, False),
             "late, consulted": (False, True)}
    stacked = {name: [sum(1 for c in found.closes if (c[0] or "(nobody)") == op and (c[2], c[3]) == kind)
                      for op in operators] for name, kind in kinds.items()}
    waits = [s for _, _, s in found.first_responses]
    lower = 0.0
    counts = []
    for _, upper in _BUCKETS:
        counts.append(sum(1 for s in waits if lower <= s < upper))
        lower = upper
    overdue = [{"tag": ctx.tag(case_id), "subject": subject, "owner": owner or "(nobody)",
                "age": f"{(end - created).total_seconds() / 86400:.1f} d"}
               for owner, _, late, case_id, subject, created in found.open_at_end if late]
    return ctx.renderer.html_env.get_template("report.html.j2").render(
        gateway=ctx.config.gateway.name, data=data, keys=KEYS[1:],
        volume=charts.volume([d.isoformat() for d in days], per_day),
        on_time=charts.on_time(operators, stacked),
        first_response=charts.first_response([b for b, _ in _BUCKETS], counts), overdue=overdue)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def _member(by: str, key: str) -> Callable[..., bool]:
    if by == "operator":
        return lambda owner, pool_name, dept="": (owner or "(nobody)") == key
    if by == "pool":
        return lambda owner, pool_name, dept="": pool_name == key
    return lambda owner, pool_name, dept=None: dept == key       # department: its consultations only


def _split(found: reports.Facts, by: str) -> dict[str, reports.Facts]:
    """The facts of each group, in one pass over each list (groups sorted by key)."""
    keys = _keys(found, by)
    if by == "department":
        return {key: found for key in keys}     # a department's row counts its consultations only
    index = 0 if by == "operator" else 1

    def key_of(row: tuple[Any, ...]) -> str:
        return str(row[index]) or ("(nobody)" if by == "operator" else "")

    parts: dict[str, dict[str, list[Any]]] = {k: {f: [] for f in _FACT_LISTS} for k in keys}
    for name in _FACT_LISTS:
        for row in getattr(found, name):
            group = parts.get(key_of(row))
            if group is not None:
                group[name].append(row)
    return {k: reports.Facts(**lists) for k, lists in parts.items()}


_FACT_LISTS: Final = ("received", "closes", "consultations", "feedback", "first_responses", "open_at_end",
                      "leads")


def _keys(found: reports.Facts, by: str) -> list[str]:
    if by == "department":
        return sorted({d for _, _, d, _, _ in found.consultations})
    index = 0 if by == "operator" else 1
    seen: set[str] = set()
    for rows in (found.received, found.closes, found.consultations, found.feedback, found.first_responses,
                 found.open_at_end, found.leads):
        for row in rows:
            seen.add(str(row[index]) or ("(nobody)" if by == "operator" else ""))
    return sorted(k for k in seen if k)


def _row(key: str, f: reports.Facts, member: Callable[..., bool]) -> dict[str, Any]:
    closes = [c for c in f.closes if member(c[0], c[1])]
    consults = [c for c in f.consultations if member(c[0], c[1], c[2])]
    firsts = [s for o, p, s in f.first_responses if member(o, p)]
    resolutions = [c[4] for c in closes]
    open_end = [c for c in f.open_at_end if member(c[0], c[1])]
    stages = [Stage(s).rank for o, p, s in f.leads if member(o, p)]
    feedback = sum(1 for o, p in f.feedback if member(o, p))
    return {
        "key": key,
        "received": sum(1 for o, p, _ in f.received if member(o, p)),
        "closed": len(closes),
        "closed_on_time": sum(1 for c in closes if c[2] and not c[3]),
        "closed_on_time_consulted": sum(1 for c in closes if c[2] and c[3]),
        "closed_late": sum(1 for c in closes if not c[2] and not c[3]),
        "closed_late_consulted": sum(1 for c in closes if not c[2] and c[3]),
        "consulted": len(consults),
        "consulted_on_time": sum(1 for c in consults if c[3] is True),
        "consulted_late": sum(1 for c in consults if c[3] is False),
        "consultation_amount": total(c[4] for c in consults),
        "feedback": feedback,
        "feedback_pct": share(feedback, len(closes)),
        "first_response_median_s": _whole(percentile(firsts, 50)),
        "first_response_p90_s": _whole(percentile(firsts, 90)),
        "resolution_median_s": _whole(percentile(resolutions, 50)),
        "resolution_p90_s": _whole(percentile(resolutions, 90)),
        "open_at_end": len(open_end),
        "overdue_at_end": sum(1 for c in open_end if c[2]),
        "leads_new": len(stages),
        "leads_contacted": sum(1 for r in stages if r >= Stage.CONTACTED.rank),
        "leads_qualified": sum(1 for r in stages if r >= Stage.QUALIFIED.rank),
        "leads_converted": sum(1 for r in stages if r >= Stage.CONVERTED.rank),
    }


def _whole(seconds: float | None) -> int | None:
    return None if seconds is None else round(seconds)




#: Short labels for the table (the CSV and JSON use the SPEC's keys).
LABELS = {
    "received": "mails received", "closed": "closed", "closed_on_time": "  on time",
    "closed_on_time_consulted": "  on time, consulted", "closed_late": "  late",
    "closed_late_consulted": "  late, consulted", "consulted": "consultations",
    "consulted_on_time": "  answered on time", "consulted_late": "  answered late",
    "consultation_amount": "  amount", "feedback": "feedback", "feedback_pct": "feedback % of closed",
    "first_response_median_s": "first response median", "first_response_p90_s": "first response p90",
    "resolution_median_s": "resolution median", "resolution_p90_s": "resolution p90",
    "open_at_end": "open at the end", "overdue_at_end": "overdue at the end", "leads_new": "leads",
    "leads_contacted": "  contacted", "leads_qualified": "  qualified", "leads_converted": "  converted",
}


def duration(value: Any) -> str:
    if value is None:
        return "-"
    seconds = int(value)
    if seconds < 3600:
        return f"{seconds // 60}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.1f}d"


def table(data: dict[str, Any]) -> str:
    """Figures down, groups across, fitting 80 columns (more groups: more blocks)."""
    label_width = max(len(v) for v in LABELS.values()) + 1
    col = 14
    per_block = max(1, (_WIDTH - label_width) // col)
    rows = data["rows"]
    out = [f"report {data['since']} .. {data['until']} ({data['tz']}), by {data['by']}"]
    for start in range(0, len(rows), per_block):
        block = rows[start:start + per_block]
        out.append("")
        out.append("".ljust(label_width) + "".join(str(r["key"])[:col - 1].rjust(col) for r in block))
        for key, label in LABELS.items():
            cells = [duration(r[key]) if key.endswith("_s") else str(r[key]) for r in block]
            out.append(label.ljust(label_width) + "".join(c[:col - 1].rjust(col) for c in cells))
    return "\n".join(line.rstrip() for line in out)


def as_csv(data: dict[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(KEYS), lineterminator="\n")
    writer.writeheader()
    for row in data["rows"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in KEYS})
    return buffer.getvalue()


# --- scheduled reports ([[report]], SPEC §2) ---------------------------------------------------

async def mail_scheduled(ctx: Context, now: datetime) -> int:
    """Mail each ``[[report]]`` for the period that has just ended, once per period (across
    restarts and processes: the period is claimed in the same transaction as the mail is
    queued); periods that began before mailgate first saw the report are not back-filled. A
    failure is an alert (mailed to ``admin_address``); return how many reports were queued."""
    sent = 0
    tz = zone(ctx.config.gateway.timezone)
    for cfg in ctx.config.reports:
        try:
            sent += await _mail_one(ctx, cfg, now, tz)
        except Exception as exc:  # one broken report must not stop the sweep or the others
            ctx.alerts.fire("report_failed", cfg.name, f"{type(exc).__name__}: {str(exc)[:300]}", now)
    return sent


async def _mail_one(ctx: Context, cfg: ReportConfig, now: datetime, tz: ZoneInfo) -> int:
    first_seen, last_start = await ctx.db.run(lambda s: due.report_first_seen(s, cfg.name, now))
    start, end = last_period(cfg.every, now, tz)
    if start < first_seen:
        return 0                                     # no back-fill: the first whole period after
    if last_start is not None and last_start >= start:
        return 0                                     # mailed already (the sweep runs every 30 s)
    local = (start.astimezone(tz).strftime("%Y-%m-%dT%H:%M"), end.astimezone(tz).strftime("%Y-%m-%dT%H:%M"))
    data = await report(ctx, *local, by=cfg.by or None, tz=tz.key)
    summary = table(data)
    day = start.astimezone(tz).date().isoformat()
    if cfg.format == "html":
        page = await report_page(ctx, *local, by=cfg.by or None, tz=tz.key)
        attachment = (f"report-{cfg.name}-{day}.html", "text/html", page.encode())
    elif cfg.format == "csv":
        attachment = (f"report-{cfg.name}-{day}.csv", "text/csv", as_csv(data).encode())
    else:
        attachment = (f"report-{cfg.name}-{day}.txt", "text/plain", summary.encode())
    subject = f"{ctx.config.gateway.name} {cfg.every} report {cfg.name}: {day}"
    text = f"{summary}\n\nThe full report is attached ({attachment[0]}).\n"
    mail = MailReport(tuple(cfg.to), subject, text, *attachment)

    def work(session: Session, at: datetime) -> list[Effect]:
        return [mail] if due.claim_report(session, cfg.name, start) else []

    return await units.run(ctx, work)
