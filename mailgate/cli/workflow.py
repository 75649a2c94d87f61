"""Approval, consultation and blocklist commands: ``mailgate approval …``, ``consult list``,
``block …``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import click

from mailgate.cli.base import cli, emit, json_option, run_async, with_app
from mailgate.services import approvals, blocklist, consultations, stats


@cli.group()
def approval() -> None:
    """Trainees' drafts waiting for approval."""


@approval.command("list")
@click.option("--all", "all_states", is_flag=True, help="Decided drafts too.")
@json_option
@click.pass_obj
def approval_list(obj: dict[str, Any], all_states: bool, as_json: bool) -> None:
    """Drafts waiting for approval: case, trainee, supervisor, reminders, text."""
    rows = run_async(with_app(obj, lambda app: approvals.list_drafts(app.ctx, all_states)))
    emit(rows, as_json, ("id", "tag", "state", "trainee", "supervisor", "created_at", "reminders", "text"))


@approval.command("approve")
@click.argument("draft_id", type=int)
@click.pass_obj
def approval_approve(obj: dict[str, Any], draft_id: int) -> None:
    """Send a draft to the customer as it is."""
    run_async(with_app(obj, lambda app: approvals.decide_by_admin(app.ctx, draft_id, True)))
    click.echo(f"approved draft {draft_id}")


@approval.command("reject")
@click.argument("draft_id", type=int)
@click.option("--reason", required=True, help="Why: the trainee gets it with the draft.")
@click.pass_obj
def approval_reject(obj: dict[str, Any], draft_id: int, reason: str) -> None:
    """Send a draft back to the trainee with the reason."""
    run_async(with_app(obj, lambda app: approvals.decide_by_admin(app.ctx, draft_id, False, reason)))
    click.echo(f"rejected draft {draft_id}")


@cli.group()
def consult() -> None:
    """Consultations with departments."""


@consult.command("list")
@click.option("--overdue", is_flag=True, help="Only open consultations past their deadline.")
@json_option
@click.pass_obj
def consult_list(obj: dict[str, Any], overdue: bool, as_json: bool) -> None:
    """Consultations with departments: case, department, state, deadline, amount, question."""
    rows = run_async(with_app(obj, lambda app: consultations.list_consultations(app.ctx, overdue)))
    emit(rows, as_json, ("id", "tag", "department", "state", "due_at", "overdue", "amount", "question"))


@cli.group()
def block() -> None:
    """The blocklist: senders, domains and client IPs that never open a case."""


@block.command("add")
@click.argument("value")
@click.option("--reason", default="", help="Why (shown in block list).")
@click.pass_obj
def block_add(obj: dict[str, Any], value: str, reason: str) -> None:
    """Block VALUE: an address, @domain (and its subdomains) or an IPv4/IPv6 address or CIDR."""
    added = run_async(with_app(obj, lambda app: blocklist.add_block(app.ctx, value, reason)))
    click.echo(f"blocked {added['kind']} {added['value']}")


@block.command("list")
@json_option
@click.pass_obj
def block_list(obj: dict[str, Any], as_json: bool) -> None:
    """Every entry with its kind, reason, when it was added and how often it caught a sender."""
    rows = run_async(with_app(obj, lambda app: blocklist.list_blocks(app.ctx)))
    emit(rows, as_json, ("id", "value", "kind", "hits", "created_at", "reason"))


@block.command("remove")
@click.argument("value")
@click.pass_obj
def block_remove(obj: dict[str, Any], value: str) -> None:
    """Take VALUE off the blocklist."""
    removed = run_async(with_app(obj, lambda app: blocklist.remove_block(app.ctx, value)))
    click.echo(f"unblocked {removed}")


@cli.command("stats")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]),
              help="Leads created since DATE (default: 30 days ago).")
@json_option
@click.pass_obj
def stats_command(obj: dict[str, Any], since: datetime | None, as_json: bool) -> None:
    """Quick stats: the lead funnel, unresolved and overdue cases, open cases by pool and status."""
    start = since.replace(tzinfo=UTC) if since else None
    figures = run_async(with_app(obj, lambda app: stats.quick_stats(app.ctx, start)))
    if as_json:
        click.echo(json.dumps(figures, indent=2))
        return
    click.echo(f"leads since {figures['since'][:10]}: {figures['leads_new']} new, "
               f"{figures['leads_contacted']} contacted, {figures['leads_qualified']} qualified, "
               f"{figures['leads_converted']} converted")
    click.echo(f"unresolved cases: {figures['unresolved']} ({figures['overdue']} overdue)")
    for title, key in (("open by pool", "open_by_pool"), ("open by status", "open_by_status")):
        click.echo(f"{title}: " + (", ".join(f"{k} {v}" for k, v in figures[key].items()) or "none"))
