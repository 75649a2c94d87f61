"""domain.commands: one parser for every word staff send by mail."""

from __future__ import annotations

from datetime import date

import pytest

from mailgate.domain.commands import (
    Absence,
    Command,
    Verb,
    Verdict,
    read_absence,
    read_commands,
    read_verdict,
)


@pytest.mark.parametrize(("text", "commands", "body"), [
    ("#close\n\nThanks, fixed.", (Command(Verb.CLOSE),), "Thanks, fixed."),
    ("  #Status waiting for customer\n#priority URGENT\n\nDone.",
     (Command(Verb.STATUS, "waiting for customer"), Command(Verb.PRIORITY, "URGENT")), "Done."),
    ("#note\r\ninternal only", (Command(Verb.NOTE),), "internal only"),
    ("#note call back tomorrow", (Command(Verb.NOTE, "call back tomorrow"),), ""),
    ("#set project=Apollo 11", (Command(Verb.SET, "project=Apollo 11"),), ""),
    ("#consult finance due=3d amount=12.50 refund?",
     (Command(Verb.CONSULT, "finance due=3d amount=12.50 refund?"),), ""),
    ("Hello\n#close", (), "Hello\n#close"),            # commands only before the first text line
    ("\n\n#ack\n\n\n#claim\nText", (Command(Verb.ACK), Command(Verb.CLAIM)), "Text"),
    ("#qualify\n#offer 1200EUR Premium plan\nDetails",
     (Command(Verb.QUALIFY), Command(Verb.OFFER, "1200EUR Premium plan")), "Details"),
    ("", (), ""),
])
def test_commands_and_body(text: str, commands: tuple[Command, ...], body: str) -> None:
    ins = read_commands(text)
    assert ins.commands == commands
    assert ins.body == body
    assert ins.problems == ()


@pytest.mark.parametrize(("text", "problem"), [
    ("#frobnicate", "unknown command #frobnicate"),
    ("#qualify now", "#qualify takes no argument"),
    ("#offer", "#offer needs an argument"),
    ("#approve", "#approve answers an approval request"),
    ("#reject no", "#reject answers an approval request"),
    ("#status", "#status needs an argument"),
    ("#priority high", "#priority takes normal or urgent, not 'high'"),
    ("#set project", "#set takes name=value"),
    ("#answer =x", "#answer takes name=value"),
    ("#close now", "#close takes no argument"),
    ("#claim me", "#claim takes no argument"),
    ("\n".join(["#ack"] * 21), "at most 20 commands per reply"),
])
def test_problems_are_explained(text: str, problem: str) -> None:
    problems = read_commands(text).problems
    assert any(p.startswith(problem) for p in problems), problems


def test_field_splits_name_and_value() -> None:
    assert Command(Verb.SET, "product = Router X").field == ("product", "Router X")


@pytest.mark.parametrize(("text", "verdict"), [
    ("#approve", Verdict(True)),
    ("  #APPROVE  \n", Verdict(True)),
    ("Dear customer, here is the fix.\n#approve", Verdict(True, text="Dear customer, here is the fix.")),
    ("#reject Too short, explain why", Verdict(False, reason="Too short, explain why")),
    ("#reject", Verdict(False, reason="")),
    ("#approve\n#reject wait", Verdict(False, reason="wait")),      # a rejection wins
    ("Better text.\n#approve\n\nThanks,\nSue", Verdict(True, text="Better text.")),   # not her sign-off
    ("Looks fine to me", None),
    ("I #approve of this", None),                                  # not on a line of its own
])
def test_verdict(text: str, verdict: Verdict | None) -> None:
    assert read_verdict(text) == verdict


@pytest.mark.parametrize(("subject", "absence"), [
    ("absent until 2026-12-24", Absence(date(2026, 12, 24))),
    ("  Absent Until 2026-12-24 deputy carol ", Absence(date(2026, 12, 24), "carol")),
    ("back", Absence(None)),
    ("BACK ", Absence(None)),
    ("absent until 2026-13-45", None),                             # not a date: not understood
    ("absent until tomorrow", None),
    ("I am back", None),
    ("", None),
])
def test_absence_subject(subject: str, absence: Absence | None) -> None:
    assert read_absence(subject) == absence
