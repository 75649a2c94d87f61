"""``mailgate customer add|list|show|activate|disable`` (SPEC §11)."""

from __future__ import annotations

import json
from typing import Any

import click

from mailgate.cli.base import cli, emit, json_option, run_async, with_app
from mailgate.services import customers


@cli.group()
def customer() -> None:
    """Registered customers: their record, activation, cases and the mail sent to them."""


@customer.command("add")
@click.argument("email")
@click.option("--name", required=True, help="The customer's name.")
@click.option("--set", "pairs", multiple=True, metavar="FIELD=VALUE", help="A [[field]] value; repeat.")
@click.pass_obj
def customer_add(obj: dict[str, Any], email: str, name: str, pairs: tuple[str, ...]) -> None:
    """Register a customer and mail them customer_welcome with a single-use activation link."""

    async def work(app: Any) -> tuple[dict[str, Any], str]:
        return await customers.add_customer(app.ctx, email, name, pairs), customers.link_note(app.ctx)

    added, note = run_async(with_app(obj, work))
    click.echo(f"added customer {added['id']} {added['email']} (invited); {note}")


@customer.command("list")
@json_option
@click.pass_obj
def customer_list(obj: dict[str, Any], as_json: bool) -> None:
    """Every customer with their state."""
    rows = run_async(with_app(obj, lambda app: customers.list_customers(app.ctx)))
    emit(rows, as_json, ("id", "email", "name", "state", "created_at", "activated_at"))


@customer.command("show")
@click.argument("who")
@json_option
@click.pass_obj
def customer_show(obj: dict[str, Any], who: str, as_json: bool) -> None:
    """One customer (EMAIL or ID): record, cases, and every mail mailgate sent them."""
    shown = run_async(with_app(obj, lambda app: customers.show_customer(app.ctx, who)))
    if as_json:
        click.echo(json.dumps(shown, indent=2, ensure_ascii=False))
        return
    click.echo(f"{shown['email']}  {shown['name']}  ({shown['state']})")
    for key, value in shown["fields"].items():
        click.echo(f"  {key}: {value}")
    click.echo("cases: " + (", ".join(f"#{c}" for c in shown["cases"]) or "none"))
    click.echo("mail sent to them:")
    emit(shown["mails"], False, ("at", "state", "ticket_id", "subject"))


@customer.command("activate")
@click.argument("token")
@click.pass_obj
def customer_activate(obj: dict[str, Any], token: str) -> None:
    """Verify an activation token (from the welcome mail) and activate its customer."""
    done = run_async(with_app(obj, lambda app: customers.activate(app.ctx, token)))
    click.echo(f"activated {done['email']}")


@customer.command("disable")
@click.argument("email")
@click.pass_obj
def customer_disable(obj: dict[str, Any], email: str) -> None:
    """Disable a customer: their links stop working."""
    done = run_async(with_app(obj, lambda app: customers.disable(app.ctx, email)))
    click.echo(f"disabled {done['email']}")
