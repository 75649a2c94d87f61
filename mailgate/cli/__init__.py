"""The ``mailgate`` command line (click): wiring and presentation only, no business rules."""

from __future__ import annotations

from mailgate.cli import core, customers, lists, people, reporting, workflow
from mailgate.cli.base import cli

__all__ = ["cli", "core", "customers", "lists", "main", "people", "reporting", "workflow"]


def main() -> None:
    cli(prog_name="mailgate")
