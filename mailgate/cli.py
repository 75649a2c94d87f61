"""The ``mailgate`` command line (click): wiring and presentation only, no business rules."""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any, TypeVar

import click

from mailgate import logs
from mailgate.app import App
from mailgate.config import Config, load_config
from mailgate.errors import ConfigError, MailgateError
from mailgate.intake.imap import ImapConnection
from mailgate.intake.inbox import RawMessage
from mailgate.services import explain, mailboxes, outgoing, quarantine, tickets
from mailgate.storage import migrate
from mailgate.storage.db import DB_ERRORS

T = TypeVar("T")
EX_TEMPFAIL = 75


def _run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def _config(obj: dict[str, Any]) -> Config:
    if "config" not in obj:
        obj["config"] = load_config(obj["path"])
    config: Config = obj["config"]
    return config


async def _with_ctx(obj: dict[str, Any], work: Any) -> Any:
    """Build the app (migrated), run ``work(app)``, dispose the engine."""
    config = _config(obj)
    await asyncio.to_thread(migrate.upgrade, config.database_url)
    app = App.build(config)
    try:
        return await work(app)
    finally:
        await app.ctx.db.dispose()


def _emit(rows: Sequence[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> None:
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


class _Group(click.Group):
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


@click.group(cls=_Group)
@click.option("--config", "config_path", type=click.Path(path_type=Path),
              default=lambda: os.environ.get("MAILGATE_CONFIG", "mailgate.toml"),
              help="Path to mailgate.toml (env MAILGATE_CONFIG).")
@click.pass_context
def cli(ctx: click.Context, config_path: Path) -> None:
    """mailgate: an email-gateway helpdesk daemon."""
    ctx.obj = {"path": config_path}


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.pass_obj
def init(obj: dict[str, Any], force: bool) -> None:
    """Write a starter mailgate.toml and a .env with a fresh secret (existing files are kept)."""
    path: Path = obj["path"]
    if force or not path.exists():
        starter = Path(__file__).with_name("starter.toml").read_text(encoding="utf-8")
        path.write_text(starter, encoding="utf-8")
        click.echo(f"wrote {path}")
    else:
        click.echo(f"kept {path}")
    env = path.resolve().parent / ".env"
    if force or not env.exists():
        env.write_text(f"MAILGATE_SECRET={secrets.token_urlsafe(32)}\n", encoding="utf-8")
        env.chmod(0o600)
        click.echo(f"wrote {env}")
    else:
        click.echo(f"kept {env}")


@cli.command("check-config")
@click.option("--connect", is_flag=True, help="Also log in to every IMAP mailbox.")
@click.pass_obj
def check_config(obj: dict[str, Any], connect: bool) -> None:
    """Validate the configuration and print every problem."""
    config = _config(obj)
    click.echo(f"{config.path}: OK ({len(config.mailboxes)} mailbox(es), {len(config.pools)} pool(s))")
    if connect and not _run(_try_logins(config)):
        sys.exit(1)


async def _try_logins(config: Config) -> bool:
    ok = True
    for box in config.mailboxes:
        if box.imap is None:
            continue
        try:
            conn = await ImapConnection.open(box.imap)
            try:
                validity, _ = await conn.select(box.imap.folder)
            finally:
                await conn.close()
            click.echo(f"mailbox {box.name}: IMAP login OK, {box.imap.folder} uidvalidity={validity}")
        except MailgateError as exc:
            click.echo(f"mailbox {box.name}: IMAP FAILED: {exc}", err=True)
            ok = False
    return ok


@cli.command()
@click.pass_obj
def run(obj: dict[str, Any]) -> None:
    """Run the daemon in the foreground (SIGTERM/SIGINT stop it gracefully)."""
    config = _config(obj)
    logs.configure(config.gateway.log_level)
    app = App.build(config)
    try:
        _run(app.run(install_signals=True))
    except OSError as exc:
        raise MailgateError(f"cannot start: {exc}") from exc


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: dict[str, Any]) -> None:
    """Apply pending migrations."""
    migrate.upgrade(_config(obj).database_url)
    click.echo("database is up to date")


@cli.command()
@click.option("--mailbox", default="", help="Mailbox name the message was sent to.")
@click.pass_obj
def deliver(obj: dict[str, Any], mailbox: str) -> None:
    """Store one message from stdin (for an MTA pipe); exit 75 when it could not be stored."""
    data = sys.stdin.buffer.read()

    async def work(app: App) -> None:
        box = app.ctx.config.mailbox(mailbox) if mailbox else app.ctx.config.mailboxes[0]
        await app.ingest.accept(RawMessage(data=data, source="cli", rcpt_to=(box.address,),
                                           mailbox=box.name))
        await app.process_pending()

    try:
        _run(_with_ctx(obj, work))
    except (MailgateError, *DB_ERRORS) as exc:
        click.echo(f"error: not stored: {str(exc).splitlines()[0][:300]}", err=True)
        sys.exit(EX_TEMPFAIL)


@cli.group()
def ticket() -> None:
    """Cases."""


_LIST_COLUMNS = ("tag", "status", "priority", "pool", "owner", "requester", "subject")


@ticket.command("list")
@click.option("--unresolved", is_flag=True)
@click.option("--pool")
@click.option("--owner")
@click.option("--status")
@click.option("--search")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def ticket_list(obj: dict[str, Any], /, as_json: bool, **filters: Any) -> None:
    """List cases."""
    flt = tickets.TicketFilter(**filters)
    rows = _run(_with_ctx(obj, lambda app: tickets.list_tickets(app.ctx, flt)))
    _emit(rows, as_json, _LIST_COLUMNS)


@ticket.command("show")
@click.argument("ticket_id", type=int)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def ticket_show(obj: dict[str, Any], ticket_id: int, as_json: bool) -> None:
    """Show one case with its messages."""
    data = _run(_with_ctx(obj, lambda app: tickets.show_ticket(app.ctx, ticket_id)))
    if as_json:
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
        return
    for key in ("tag", "subject", "status", "priority", "pool", "owner", "requester", "mailbox",
                "created_at", "updated_at"):
        click.echo(f"{key + ':':12} {data[key] or ''}")
    if data["cc"]:
        click.echo(f"{'cc:':12} {', '.join(data['cc'])}")
    for m in data["messages"]:
        click.echo(f"\n--- #{m['id']} {m['kind']} {m['at']} from {m['from']} ({m['disposition']})")
        click.echo(f"Subject: {m['subject']}")
        for a in m["attachments"]:
            click.echo(f"[attachment] {a['filename']} {a['content_type']} {a['size']} bytes")
        click.echo(m["text"].rstrip())


@ticket.command("close")
@click.argument("ticket_id", type=int)
@click.option("--no-notify", is_flag=True, help="Do not mail the requester.")
@click.pass_obj
def ticket_close(obj: dict[str, Any], ticket_id: int, no_notify: bool) -> None:
    """Close a case (the requester is told)."""
    _run(_with_ctx(obj, lambda app: tickets.close_ticket(app.ctx, ticket_id, not no_notify)))
    click.echo(f"closed case {ticket_id}")


@cli.group("mailbox")
def mailbox_group() -> None:
    """Supervised mailboxes."""


@mailbox_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def mailbox_list(obj: dict[str, Any], as_json: bool) -> None:
    """Each mailbox: how it is received; for IMAP, connection, last poll, cursor, backlog, errors."""
    rows = _run(_with_ctx(obj, lambda app: mailboxes.list_mailboxes(app.ctx)))
    _emit(rows, as_json, ("name", "address", "intake", "connected", "last_poll_at", "last_uid",
                          "ingested", "backlog", "last_error"))


@cli.group("quarantine")
def quarantine_group() -> None:
    """Messages kept aside with their raw bytes."""


@quarantine_group.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def quarantine_list(obj: dict[str, Any], as_json: bool) -> None:
    rows = _run(_with_ctx(obj, lambda app: quarantine.list_quarantine(app.ctx)))
    _emit(rows, as_json, ("id", "received_at", "source", "size", "reason"))


@quarantine_group.command("show")
@click.argument("entry_id", type=int)
@click.option("--raw", is_flag=True, help="Print the raw message bytes.")
@click.pass_obj
def quarantine_show(obj: dict[str, Any], entry_id: int, raw: bool) -> None:
    entry, data = _run(_with_ctx(obj, lambda app: quarantine.show_quarantine(app.ctx, entry_id)))
    if raw:
        sys.stdout.buffer.write(data)
        return
    click.echo(json.dumps(entry, indent=2, ensure_ascii=False))


@quarantine_group.command("release")
@click.argument("entry_id", type=int)
@click.pass_obj
def quarantine_release(obj: dict[str, Any], entry_id: int) -> None:
    """Queue the message to be processed again."""

    async def work(app: App) -> None:
        await quarantine.release(app.ctx, entry_id)
        await app.process_pending()

    _run(_with_ctx(obj, work))
    click.echo(f"released {entry_id}")


@quarantine_group.command("delete")
@click.argument("entry_id", type=int)
@click.pass_obj
def quarantine_delete(obj: dict[str, Any], entry_id: int) -> None:
    _run(_with_ctx(obj, lambda app: quarantine.delete_entry(app.ctx, entry_id)))
    click.echo(f"deleted {entry_id}")


@cli.group("outbox")
def outbox_group() -> None:
    """Outgoing mail."""


@outbox_group.command("list")
@click.option("--state", type=click.Choice(["pending", "sent", "failed"]))
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def outbox_list(obj: dict[str, Any], state: str | None, as_json: bool) -> None:
    rows = _run(_with_ctx(obj, lambda app: outgoing.outbox_rows(app.ctx, state)))
    _emit(rows, as_json, ("id", "ticket_id", "state", "attempts", "to", "subject", "last_error"))


@outbox_group.command("retry")
@click.argument("row_id", type=int, required=False)
@click.pass_obj
def outbox_retry(obj: dict[str, Any], row_id: int | None) -> None:
    """Make a failed row (or every unsent row) due now."""
    count = _run(_with_ctx(obj, lambda app: outgoing.retry_outbox(app.ctx, row_id)))
    click.echo(f"{count} row(s) due now")


@cli.command()
@click.option("--explain", "eml", type=click.Path(exists=True, path_type=Path), required=True)
@click.option("--to", "rcpt", default="", help="Envelope recipient (default: first mailbox).")
@click.pass_obj
def route(obj: dict[str, Any], eml: Path, rcpt: str) -> None:
    """Say what mailgate would do with a message, without doing it."""
    data = eml.read_bytes()
    result = _run(_with_ctx(obj, lambda app: explain.explain(app.ctx, data, rcpt)))
    for key, value in result.items():
        click.echo(f"{key + ':':18} {value}")


def main() -> None:
    cli(prog_name="mailgate")

