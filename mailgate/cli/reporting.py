"""``mailgate report`` (SPEC §9, §11): a period's figures as a table, CSV, JSON or an HTML page."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import click

from mailgate.cli.base import TABLE_WIDTH, cli, run_async, with_app
from mailgate.services import reports

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
    per_block = max(1, (TABLE_WIDTH - label_width) // col)
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
    writer = csv.DictWriter(buffer, fieldnames=list(reports.KEYS), lineterminator="\n")
    writer.writeheader()
    for row in data["rows"]:
        writer.writerow({k: "" if row[k] is None else row[k] for k in reports.KEYS})
    return buffer.getvalue()


@cli.command("report")
@click.option("--since", required=True, help="First day (or instant) of the period, in --tz.")
@click.option("--until", required=True, help="End of the period, not included, in --tz.")
@click.option("--by", type=click.Choice(list(reports.GROUPINGS)),
              help="One row per operator, pool or department.")
@click.option("--pool", help="Only this pool's cases.")
@click.option("--tz", help="Time zone of the dates (default: [gateway] timezone).")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json", "html"]), default="table",
              show_default=True, help="How to print it.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), help="Write to FILE instead.")
@click.pass_obj
def report_command(obj: dict[str, Any], since: str, until: str, by: str | None, pool: str | None,
                   tz: str | None, fmt: str, output: Path | None) -> None:
    """A period's figures: mails, closes on time and late, consultations, feedback, response and
    resolution times, open and overdue cases, leads; globally and per operator, pool or department."""
    if fmt == "html":
        text = run_async(with_app(obj, lambda app: reports.report_page(app.ctx, since, until, by, pool, tz)))
    else:
        data = run_async(with_app(obj, lambda app: reports.report(app.ctx, since, until, by, pool, tz)))
        text = {"json": lambda: json.dumps(data, indent=2) + "\n", "csv": lambda: as_csv(data),
                "table": lambda: table(data) + "\n"}[fmt]()
    if output is not None:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}")
    else:
        click.echo(text, nl=False)
