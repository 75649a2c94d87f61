"""Shared pieces of the ``mailgate`` command line: the group, config loading, table output."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections.abc import Coroutine, Sequence
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
    await asyncio.to_thread(migrate.upgrade, config.database_url)
    app = App.build(config)
    try:
        return await work(app)
    finally:
        await app.ctx.db.dispose()


def emit(rows: Sequence[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> None:
    if as_json:
        click.echo(json.dumps(list(rows), indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("(none)")
        return
    widths = {c: min(max(len(c), *(len(str(r.get(c) or "")) for r in rows)), 50) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns).rstrip())
    for r in rows:
        click.echo("  ".join(str(r.get(c) or "")[:50].ljust(widths[c]) for c in columns).rstrip())


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


