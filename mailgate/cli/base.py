"""Shared pieces of the ``mailgate`` command line: the group, config loading, table output."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from mailgate.app import App
from mailgate.config import Config, load_config
from mailgate.errors import ConfigError, MailgateError
from mailgate.storage import migrate
from mailgate.storage.db import DB_ERRORS

T = TypeVar("T")
EX_TEMPFAIL = 75


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def config_of(obj: dict[str, Any]) -> Config:
    if "config" not in obj:
        obj["config"] = load_config(obj["path"])
    config: Config = obj["config"]
    return config


async def with_app(obj: dict[str, Any], work: Any) -> Any:
    """Build the app (migrated), run ``work(app)``, dispose the engine."""
    config = config_of(obj)
    await asyncio.to_thread(migrate.upgrade, config.database_url, True)   # Alembic in a child
    app = App.build(config)
    try:
        return await work(app)
    finally:
        if app.wakeups is not None:          # PostgreSQL: wake the daemons for what was queued
            await app.wakeups.flush()
        await app.ctx.db.dispose()


TABLE_WIDTH = 80
_MIN_WIDTH = 6
_FLEX_MIN = 20
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")

#: ``--json`` on every listing: SPEC §8's field names, no default limit.
json_option = click.option("--json", "as_json", is_flag=True,
                           help="Print a JSON array (SPEC field names) instead of a table.")


def cell(value: object, now: datetime | None = None) -> str:
    """How a value reads in a table: lists joined, times as ages ("3h", "2d") or short dates."""
    if value is None or value is False:
        return ""
    if value is True:
        return "yes"
    if isinstance(value, list | tuple):
        return ", ".join(cell(v, now) for v in value)
    text = " ".join(str(value).split())
    if _ISO.match(text):
        return age(datetime.fromisoformat(text.replace("Z", "+00:00")), now or datetime.now(UTC))
    return text


def age(when: datetime, now: datetime) -> str:
    """"5m", "3h", "2d" for times within a month of now (also ahead: "in 3h"), else the date."""
    seconds = (now - when).total_seconds()
    span = abs(seconds)
    if span >= 30 * 86400:
        return f"{when:%Y-%m-%d}"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if span >= size:
            text = f"{int(span // size)}{unit}"
            break
    else:
        text = "now"
    return text if seconds >= 0 or text == "now" else f"in {text}"


def fit(widths: dict[str, int], total: int = TABLE_WIDTH) -> dict[str, int]:
    """Narrow columns until the table (two spaces between columns) fits ``total``: the last one
    (free text, like a subject) first, down to 20 characters, then always the widest."""
    widths = dict(widths)
    last = list(widths)[-1]
    while sum(widths.values()) + 2 * (len(widths) - 1) > total:
        widest = last if widths[last] > _FLEX_MIN else max(widths, key=lambda c: widths[c])
        if widths[widest] <= _MIN_WIDTH:
            break
        widths[widest] -= 1
    return widths


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"


def emit(rows: Sequence[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> None:
    """A listing: JSON, or a table that fits 80 columns (long cells cut with …)."""
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("(none)")
        return
    now = datetime.now(UTC)
    cells = [{c: cell(r.get(c), now) for c in columns} for r in rows]
    widths = fit({c: max(len(c), *(len(r[c]) for r in cells)) for c in columns})
    click.echo("  ".join(_cut(c.upper(), widths[c]).ljust(widths[c]) for c in columns).rstrip())
    for r in cells:
        click.echo("  ".join(_cut(r[c], widths[c]).ljust(widths[c]) for c in columns).rstrip())


class CaseNumber(click.ParamType[int]):
    """A case as people write it: ``1042``, ``MG#1042``, ``#1042``."""

    name = "CASE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        found = re.fullmatch(r"\s*(?:[A-Za-z0-9]{0,16}#)?(\d{1,12})\s*", str(value))
        if found is None:
            self.fail(f"not a case number like 1042 or MG#1042: {value!r}", param, ctx)
        return int(found[1])


CASE = CaseNumber()


class Group(click.Group):
    """Turns mailgate errors into one line on stderr and a non-zero exit."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            for problem in exc.problems:
                click.echo(f"config error: {problem}", err=True)
            sys.exit(2)
        except MailgateError as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(1)
        except DB_ERRORS as exc:
            click.echo(f"error: database: {str(exc).splitlines()[0][:300]}", err=True)
            sys.exit(1)


@click.group(cls=Group)
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              default=lambda: os.environ.get("MAILGATE_CONFIG", "mailgate.toml"),
              help="Path to mailgate.toml (env MAILGATE_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path) -> None:
    """mailgate: an email-gateway helpdesk daemon."""
    ctx.obj = {"path": config_path}


