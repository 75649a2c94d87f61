"""Core commands: set-up, the daemon, delivery, cases, mailboxes, quarantine, outbox, routing."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path
from typing import Any

import click

from mailgate import allocator, logs
from mailgate.app import App
from mailgate.cases.routes import ROUTES
from mailgate.cli.base import CASE, EX_TEMPFAIL, cli, config_of, emit, json_option, run_async, with_app
from mailgate.config import Config
from mailgate.domain.folders import FILTERS
from mailgate.domain.kinds import OutboxState, Priority
from mailgate.errors import MailgateError
from mailgate.intake import files
from mailgate.intake.imap import ImapConnection
from mailgate.intake.inbox import RawMessage
from mailgate.services import channels, explain, mailboxes, outgoing, quarantine, tickets
from mailgate.storage import migrate
from mailgate.storage.db import DB_ERRORS


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite existing files.")
@click.pass_obj
def init(obj: dict[str, Any], force: bool) -> None:
    """Write a starter mailgate.toml and a .env with a fresh secret (existing files are kept)."""
    path: Path = obj["path"]
    if force or not path.exists():
        starter = Path(__file__).parent.parent.joinpath("starter.toml").read_text(encoding="utf-8")
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
    config = config_of(obj)
    click.echo(f"{config.path}: OK ({len(config.mailboxes)} mailbox(es), {len(config.pools)} pool(s))")
    if connect and not run_async(_try_logins(config)):
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
    config = config_of(obj)
    logs.configure(config.gateway.log_level)
    allocator.map_large_buffers()
    app = App.build(config)
    try:
        run_async(app.run(install_signals=True))
    except OSError as exc:
        raise MailgateError(f"cannot start: {exc}") from exc


@cli.group()
def db() -> None:
    """Database maintenance."""


@db.command("upgrade")
@click.pass_obj
def db_upgrade(obj: dict[str, Any]) -> None:
    """Apply pending migrations."""
    migrate.upgrade(config_of(obj).database_url)
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
        run_async(with_app(obj, work))
    except (MailgateError, *DB_ERRORS) as exc:
        click.echo(f"error: not stored: {str(exc).splitlines()[0][:300]}", err=True)
        sys.exit(EX_TEMPFAIL)


@cli.command("import")
@click.argument("path", type=click.Path(exists=True, path_type=Path))
@click.option("--mailbox", default="", help="The mailbox the mail belongs to (default: the first).")
@json_option
@click.pass_obj
def import_command(obj: dict[str, Any], path: Path, mailbox: str, as_json: bool) -> None:
    """Load an mbox file, a Maildir or a folder of .eml files through the pipeline (run it
    again: nothing new is created). Imported mail gets no auto-response."""

    async def work(app: App) -> dict[str, int]:
        if not sys.stderr.isatty():
            return await channels.import_path(app.ctx, app.ingest, path, mailbox)
        total = files.count(path)
        with click.progressbar(length=total, label=f"importing {path.name}", file=sys.stderr,
                               show_pos=True, show_eta=True) as bar:
            return await channels.import_path(app.ctx, app.ingest, path, mailbox, bar.update)

    summary = run_async(with_app(obj, work))
    if as_json:
        click.echo(json.dumps(summary))
    else:
        click.echo(", ".join(f"{key} {value}" for key, value in summary.items()))


@cli.group()
def ticket() -> None:
    """Cases."""


_LIST_COLUMNS = ("tag", "status", "owner", "requester", "updated_at", "subject")


@ticket.command("list")
@click.option("--unresolved", is_flag=True, help="Only cases not closed or expired.")
@click.option("--pool", help="Only this pool's cases.")
@click.option("--owner", help="Only cases this staff member owns (address).")
@click.option("--status", help="Only cases in this status (or status category, e.g. in_progress).")
@click.option("--search", help="Case number (1042, MG#1042), or text in subject, requester or messages.")
@click.option("--folder", type=click.Choice(FILTERS),
              help="new: not taken or not yet acknowledged; open: acknowledged or answered, nothing new; "
                   "waiting: the customer wrote since the last answer; expired-unanswered; "
                   "expired-customer; closed; all.")
@json_option
@click.pass_obj
def ticket_list(obj: dict[str, Any], /, as_json: bool, **filters: Any) -> None:
    """List cases."""
    flt = tickets.TicketFilter(**filters)
    rows = run_async(with_app(obj, lambda app: tickets.list_tickets(app.ctx, flt)))
    if not as_json:     # urgent cases are marked after the tag; the JSON has "priority"
        rows = [{**r, "tag": r["tag"] + ("!" if r["priority"] == "urgent" else "")} for r in rows]
    emit(rows, as_json, _LIST_COLUMNS)


@ticket.command("create")
@click.option("--channel", type=click.Choice(["phone", "web"]), required=True, help="How the case came in.")
@click.option("--from", "sender", required=True, help="The customer's address.")
@click.option("--name", default="", help="The customer's name.")
@click.option("--subject", required=True, help="What it is about.")
@click.option("--body", type=click.File("r", encoding="utf-8"), help="The text: a file, or - for stdin.")
@click.option("--mailbox", default="", help="The supervised mailbox it belongs to (default: the first).")
@click.option("--set", "fields", multiple=True, metavar="FIELD=VALUE", help="A custom field (repeatable).")
@json_option
@click.pass_obj
def ticket_create(obj: dict[str, Any], channel: str, sender: str, name: str, subject: str, body: Any,
                  mailbox: str, fields: tuple[str, ...], as_json: bool) -> None:
    """Open a case taken by phone (or on the web) as a mail would: auto-response and routing."""
    text = body.read() if body is not None else ""
    case = run_async(with_app(obj, lambda app: channels.create_ticket(
        app.ctx, app.ingest, channel=channel, sender=sender, subject=subject, body=text, name=name,
        mailbox=mailbox, fields=fields)))
    if as_json:
        shown = {k: v for k, v in case.items() if k != "messages"}
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
    else:
        click.echo(f"{case['tag']}: {case['subject']} ({case['channel']}, {case['status']}, "
                   f"owner {case['owner'] or '-'})")


@ticket.command("show")
@click.argument("ticket_id", type=CASE)
@json_option
@click.pass_obj
def ticket_show(obj: dict[str, Any], ticket_id: int, as_json: bool) -> None:
    """Show one case with its messages."""
    data = run_async(with_app(obj, lambda app: tickets.show_ticket(app.ctx, ticket_id)))
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
@click.argument("ticket_id", type=CASE)
@click.option("--no-notify", is_flag=True, help="Do not mail the requester.")
@click.pass_obj
def ticket_close(obj: dict[str, Any], ticket_id: int, no_notify: bool) -> None:
    """Close a case (the requester is told)."""
    run_async(with_app(obj, lambda app: tickets.close_ticket(app.ctx, ticket_id, not no_notify)))
    click.echo(f"closed case {ticket_id}")


@ticket.command("assign")
@click.argument("ticket_id", type=CASE)
@click.argument("user")
@click.pass_obj
def ticket_assign(obj: dict[str, Any], ticket_id: int, user: str) -> None:
    """Give a case to a staff member (address or unique local part); it is forwarded to them."""
    run_async(with_app(obj, lambda app: tickets.assign_ticket(app.ctx, ticket_id, user)))
    click.echo(f"assigned case {ticket_id} to {user}")


@ticket.command("edit")
@click.argument("ticket_id", type=CASE)
@click.option("--subject", help="A new subject.")
@click.option("--requester", help="Who the case answers: for a case whose sender could not be verified.")
@click.option("--category", help="A category ('' clears it).")
@click.option("--priority", type=click.Choice([p.value for p in Priority]), help="normal or urgent.")
@click.option("--status", help="A status by name (see mailgate status list).")
@click.option("--stage", type=click.Choice(["qualified", "converted"]),
              help="A sales lead's next stage (converted registers the customer).")
@click.option("--set", "fields", multiple=True, metavar="FIELD=VALUE", help="A custom field (repeatable).")
@click.option("--json", "as_json", is_flag=True, help="Print the changed case as JSON.")
@click.pass_obj
def ticket_edit(obj: dict[str, Any], /, ticket_id: int, as_json: bool, fields: tuple[str, ...],
                **changes: str | None) -> None:
    """Change a case's subject, category, priority, status or custom fields."""
    edit = tickets.TicketEdit(fields=fields, **changes)
    data = run_async(with_app(obj, lambda app: tickets.edit_ticket(app.ctx, ticket_id, edit)))
    if as_json:
        click.echo(json.dumps({k: v for k, v in data.items() if k != "messages"}, indent=2,
                              ensure_ascii=False))
    else:
        click.echo(f"{data['tag']}: {data['status']}, {data['priority']}, category "
                   f"{data['category'] or '-'}, {data['subject']}")


@cli.group("mailbox")
def mailbox_group() -> None:
    """Supervised mailboxes."""


@mailbox_group.command("list")
@json_option
@click.pass_obj
def mailbox_list(obj: dict[str, Any], as_json: bool) -> None:
    """Each mailbox: how it is received; for IMAP, connection, last poll, cursor, backlog, errors."""
    rows = run_async(with_app(obj, lambda app: mailboxes.list_mailboxes(app.ctx)))
    emit(rows, as_json, ("name", "address", "intake", "connected", "last_received_at", "ingested",
                          "backlog", "last_error"))


@cli.group("quarantine")
def quarantine_group() -> None:
    """Messages kept aside with their raw bytes."""


@quarantine_group.command("list")
@json_option
@click.pass_obj
def quarantine_list(obj: dict[str, Any], as_json: bool) -> None:
    """Messages kept aside: id, when, how they came, size, and why."""
    rows = run_async(with_app(obj, lambda app: quarantine.list_quarantine(app.ctx)))
    emit(rows, as_json, ("id", "received_at", "source", "size", "reason"))


@quarantine_group.command("show")
@click.argument("entry_id", type=int)
@click.option("--raw", is_flag=True, help="Print the raw message bytes.")
@click.pass_obj
def quarantine_show(obj: dict[str, Any], entry_id: int, raw: bool) -> None:
    """One kept message: its facts as JSON, or (--raw) its exact bytes."""
    entry, data = run_async(with_app(obj, lambda app: quarantine.show_quarantine(app.ctx, entry_id)))
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

    run_async(with_app(obj, work))
    click.echo(f"released {entry_id}")


@quarantine_group.command("delete")
@click.argument("entry_id", type=int)
@click.pass_obj
def quarantine_delete(obj: dict[str, Any], entry_id: int) -> None:
    """Delete a kept message for good (the one explicit way mail is removed)."""
    run_async(with_app(obj, lambda app: quarantine.delete_entry(app.ctx, entry_id)))
    click.echo(f"deleted {entry_id}")


@cli.group("outbox")
def outbox_group() -> None:
    """Outgoing mail."""


@outbox_group.command("list")
@click.option("--state", type=click.Choice([s.value for s in OutboxState]), help="Only rows in this state.")
@json_option
@click.pass_obj
def outbox_list(obj: dict[str, Any], state: str | None, as_json: bool) -> None:
    """Outgoing mail: recipients, subject, state, attempts, last error."""
    rows = run_async(with_app(obj, lambda app: outgoing.outbox_rows(app.ctx, state)))
    emit(rows, as_json, ("id", "ticket_id", "state", "attempts", "to", "subject", "last_error"))


@outbox_group.command("retry")
@click.argument("row_id", type=int, required=False)
@click.pass_obj
def outbox_retry(obj: dict[str, Any], row_id: int | None) -> None:
    """Make a failed row (or every unsent row) due now."""
    count = run_async(with_app(obj, lambda app: outgoing.retry_outbox(app.ctx, row_id)))
    click.echo(f"{count} row(s) due now")


@cli.command()
def routes() -> None:
    """Print the inbound route table: each route in the order it is tried, and when it applies."""
    for number, entry in enumerate(ROUTES, 1):
        click.echo(f"{number:>2}. {entry.name:<22} {entry.when}")


@cli.command()
@click.option("--explain", "eml", type=click.Path(exists=True, path_type=Path), required=True,
              help="The message file (.eml) to explain.")
@click.option("--to", "rcpt", default="", help="Envelope recipient (default: first mailbox).")
@click.pass_obj
def route(obj: dict[str, Any], eml: Path, rcpt: str) -> None:
    """Say what mailgate would do with a message, without doing it."""
    data = eml.read_bytes()
    result = run_async(with_app(obj, lambda app: explain.explain(app.ctx, data, rcpt)))
    for key, value in result.items():
        click.echo(f"{key + ':':18} {value}")
