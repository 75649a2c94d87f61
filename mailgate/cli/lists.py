"""The live admin lists: ``mailgate status …`` and ``mailgate category …`` (SPEC §11)."""

from __future__ import annotations

from typing import Any

import click

from mailgate.cli.base import cli, emit, json_option, run_async, with_app
from mailgate.domain.states import Category
from mailgate.services import catalog


@cli.group()
def status() -> None:
    """Case statuses, each of a fixed category (changes apply to the running daemon at once)."""


@status.command("list")
@json_option
@click.pass_obj
def status_list(obj: dict[str, Any], as_json: bool) -> None:
    """Every status with its category and how many cases are in it."""
    emit(run_async(with_app(obj, lambda app: catalog.list_statuses(app.ctx))), as_json,
         ("name", "category", "cases"))


@status.command("add")
@click.argument("name")
@click.option("--category", "category", required=True, type=click.Choice([c.value for c in Category]),
              help="The fixed category that drives what happens to its cases.")
@click.pass_obj
def status_add(obj: dict[str, Any], name: str, category: str) -> None:
    """Add a status."""
    run_async(with_app(obj, lambda app: catalog.add_status(app.ctx, name, category)))
    click.echo(f"added status {name!r} ({category})")


@status.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_obj
def status_rename(obj: dict[str, Any], old: str, new: str) -> None:
    """Rename a status (its cases keep it)."""
    run_async(with_app(obj, lambda app: catalog.rename_status(app.ctx, old, new)))
    click.echo(f"renamed status {old!r} to {new!r}")


@status.command("delete")
@click.argument("name")
@click.option("--replace-with", help="The status its cases move to (needed while cases use it).")
@click.pass_obj
def status_delete(obj: dict[str, Any], name: str, replace_with: str | None) -> None:
    """Delete a status."""
    moved = run_async(with_app(obj, lambda app: catalog.delete_status(app.ctx, name, replace_with)))
    click.echo(f"deleted status {name!r}" + (f"; {moved} case(s) now {replace_with!r}" if moved else ""))


@cli.group()
def category() -> None:
    """Case categories: subject keywords pick one for a new case, and maybe its pool."""


@category.command("list")
@json_option
@click.pass_obj
def category_list(obj: dict[str, Any], as_json: bool) -> None:
    """Every category with its keywords, pool and how many cases have it."""
    rows = run_async(with_app(obj, lambda app: catalog.list_categories(app.ctx)))
    if not as_json:
        rows = [{**r, "keywords": ", ".join(r["keywords"])} for r in rows]
    emit(rows, as_json, ("name", "pool", "cases", "keywords"))


@category.command("add")
@click.argument("name")
@click.option("--keyword", "keywords", multiple=True,
              help="A subject word or phrase that picks it for a new case (whole words, any case); repeat.")
@click.option("--pool", default="", help="New cases it picks land in this pool.")
@click.pass_obj
def category_add(obj: dict[str, Any], name: str, keywords: tuple[str, ...], pool: str) -> None:
    """Add a category."""
    run_async(with_app(obj, lambda app: catalog.add_category(app.ctx, name, list(keywords), pool)))
    click.echo(f"added category {name!r}")


@category.command("rename")
@click.argument("old")
@click.argument("new")
@click.pass_obj
def category_rename(obj: dict[str, Any], old: str, new: str) -> None:
    """Rename a category, and the cases that have it."""
    moved = run_async(with_app(obj, lambda app: catalog.rename_category(app.ctx, old, new)))
    click.echo(f"renamed category {old!r} to {new!r} ({moved} case(s))")


@category.command("delete")
@click.argument("name")
@click.pass_obj
def category_delete(obj: dict[str, Any], name: str) -> None:
    """Delete a category; the cases that had it keep none."""
    cleared = run_async(with_app(obj, lambda app: catalog.delete_category(app.ctx, name)))
    click.echo(f"deleted category {name!r}" + (f"; {cleared} case(s) now have none" if cleared else ""))
