"""``mailgate report`` (SPEC §9, §11): a period's figures as a table, CSV, JSON or an HTML page."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click

from mailgate.cli.base import cli, run_async, with_app
from mailgate.services import reports
from mailgate.services.reports import as_csv, table

__all__ = ["as_csv", "report_command", "table"]

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
