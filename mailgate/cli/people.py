"""Staff and pool commands: ``mailgate user …`` and ``mailgate pool …`` (live, no restart)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, time
from pathlib import Path
from typing import Any

import click

from mailgate.cli.base import cli, emit, json_option, run_async, with_app
from mailgate.domain.authority import ROLES
from mailgate.errors import UsageError
from mailgate.services import staff

_USER_COLUMNS = ("email", "name", "roles", "pools", "aliases", "trainee", "supervisor", "absent_until",
                 "deputy")


def _show(row: dict[str, Any], as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(row, indent=2, ensure_ascii=False))
        return
    for key in _USER_COLUMNS:
        value = row[key]
        click.echo(f"{key + ':':14} {', '.join(value) if isinstance(value, list) else value or ''}")


def _date(text: str) -> datetime:
    """``2026-12-24`` (absent through that day) or a full ISO time; naive values are UTC."""
    try:
        if len(text) == 10:
            return datetime.combine(datetime.fromisoformat(text).date(), time.max, UTC)
        value = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"not a date like 2026-12-24: {text!r}") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@cli.group()
def user() -> None:
    """Operators, supervisors and managers."""


@user.command("add")
@click.argument("email")
@click.option("--name", required=True, help="Their name, as customers and colleagues see it.")
@click.option("--pool", "pools", multiple=True, metavar="POOL[:PRIORITY]",
              help="Pool to work (repeatable); higher priority pools are served first by +next.")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES), help="Repeatable.")
@click.option("--alias", "aliases", multiple=True, help="Another address they write from.")
@click.option("--trainee", is_flag=True, help="Replies wait for the supervisor's approval.")
@click.option("--supervisor", help="The trainee's supervisor (email).")
@click.option("--json", "as_json", is_flag=True, help="Print the staff member as JSON.")
@click.pass_obj
def user_add(obj: dict[str, Any], email: str, name: str, pools: tuple[str, ...], roles: tuple[str, ...],
             aliases: tuple[str, ...], trainee: bool, supervisor: str | None, as_json: bool) -> None:
    """Register a staff member."""
    edit = staff.StaffEdit(name=name, roles=roles or None, pools=pools, add_aliases=aliases,
                           trainee=trainee, supervisor=supervisor)
    _show(run_async(with_app(obj, lambda app: staff.add_user(app.ctx, email, edit))), as_json)


@user.command("list")
@json_option
@click.pass_obj
def user_list(obj: dict[str, Any], as_json: bool) -> None:
    """Active staff: address, name, roles, pools, aliases, trainee, absence."""
    rows = run_async(with_app(obj, lambda app: staff.list_users(app.ctx)))
    shown = rows if as_json else [{k: ", ".join(v) if isinstance(v, list) else v for k, v in r.items()}
                                  for r in rows]
    emit(shown, as_json, _USER_COLUMNS)


@user.command("edit")
@click.argument("email")
@click.option("--name", help="A new name.")
@click.option("--role", "roles", multiple=True, type=click.Choice(ROLES),
              help="Replaces the roles (repeatable).")
@click.option("--pool", "pools", multiple=True, metavar="POOL[:PRIORITY]", help="Add or re-prioritise.")
@click.option("--alias", "aliases", multiple=True, help="Add an alias.")
@click.option("--remove-alias", "removed", multiple=True, help="Remove an alias.")
@click.option("--trainee/--no-trainee", default=None, help="Whether replies wait for the supervisor.")
@click.option("--supervisor", help="The trainee's supervisor (email).")
@click.option("--receipts/--no-receipts", default=None,
              help="A one-line receipt after each reply that ran #commands (on by default).")
@click.option("--json", "as_json", is_flag=True, help="Print the staff member as JSON.")
@click.pass_obj
def user_edit(obj: dict[str, Any], email: str, name: str | None, roles: tuple[str, ...],
              pools: tuple[str, ...], aliases: tuple[str, ...], removed: tuple[str, ...],
              trainee: bool | None, supervisor: str | None, receipts: bool | None, as_json: bool) -> None:
    """Change a staff member."""
    edit = staff.StaffEdit(name=name, roles=roles or None, pools=pools, add_aliases=aliases,
                           remove_aliases=removed, trainee=trainee, supervisor=supervisor, receipts=receipts)
    _show(run_async(with_app(obj, lambda app: staff.edit_user(app.ctx, email, edit))), as_json)


@user.command("remove")
@click.argument("email")
@click.pass_obj
def user_remove(obj: dict[str, Any], email: str) -> None:
    """Deactivate a staff member (refused while they own open cases)."""
    run_async(with_app(obj, lambda app: staff.remove_user(app.ctx, email)))
    click.echo(f"removed {email}")


@user.command("absent")
@click.argument("email")
@click.option("--until", "until", required=True, help="Last day of absence (YYYY-MM-DD).")
@click.option("--deputy", help="Who gets customer replies on their open cases meanwhile.")
@click.pass_obj
def user_absent(obj: dict[str, Any], email: str, until: str, deputy: str | None) -> None:
    """Mark a staff member absent: no new cases; replies on their cases go to the deputy."""
    row = run_async(with_app(obj, lambda app: staff.set_absent(app.ctx, email, _date(until), deputy)))
    click.echo(f"{row['email']} absent until {row['absent_until']}"
               + (f", deputy {row['deputy']}" if row["deputy"] else ""))


@user.command("back")
@click.argument("email")
@click.pass_obj
def user_back(obj: dict[str, Any], email: str) -> None:
    """End an absence: new cases reach them again."""
    run_async(with_app(obj, lambda app: staff.set_back(app.ctx, email)))
    click.echo(f"{email} is back")


@user.command("footer")
@click.argument("email")
@click.option("--text", "text_file", required=True, type=click.Path(exists=True, path_type=Path),
              help="A text file with the footer.")
@click.option("--image", type=click.Path(exists=True, path_type=Path), help="A JPEG, sent inline.")
@click.pass_obj
def user_footer(obj: dict[str, Any], email: str, text_file: Path, image: Path | None) -> None:
    """Set the footer added to the staff member's replies to customers."""
    text = text_file.read_text(encoding="utf-8")
    picture = (image.name, image.read_bytes()) if image else None
    run_async(with_app(obj, lambda app: staff.set_footer(app.ctx, email, text, picture)))
    click.echo(f"footer set for {email}")


@cli.group()
def pool() -> None:
    """Pool membership (pools themselves are defined in mailgate.toml)."""


@pool.command("members")
@click.argument("name")
@json_option
@click.pass_obj
def pool_members(obj: dict[str, Any], name: str, as_json: bool) -> None:
    """A pool's members: address, name, priority, roles, absence."""
    rows = run_async(with_app(obj, lambda app: staff.pool_members(app.ctx, name)))
    emit(rows if as_json else [{**r, "roles": ", ".join(r["roles"])} for r in rows], as_json,
         ("email", "name", "priority", "roles", "absent"))


@pool.command("add-member")
@click.argument("name")
@click.argument("email")
@click.option("--priority", type=int, default=1, show_default=True,
              help="Higher-priority pools are served first by +next.")
@click.pass_obj
def pool_add_member(obj: dict[str, Any], name: str, email: str, priority: int) -> None:
    """Add a staff member to a pool (or change their priority in it)."""
    run_async(with_app(obj, lambda app: staff.add_member(app.ctx, name, email, priority)))
    click.echo(f"{email} works pool {name} (priority {priority})")


@pool.command("remove-member")
@click.argument("name")
@click.argument("email")
@click.pass_obj
def pool_remove_member(obj: dict[str, Any], name: str, email: str) -> None:
    """Take a staff member out of a pool."""
    run_async(with_app(obj, lambda app: staff.remove_member(app.ctx, name, email)))
    click.echo(f"{email} removed from pool {name}")
