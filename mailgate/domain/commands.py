"""Every word staff can send mailgate by mail (SPEC §5), read in one place.

- ``#`` commands at the top of a reply to a forwarded case (``read_commands``): lines that start
  with ``#`` before the first line of ordinary text (blank lines between them are allowed); what
  follows is the reply's body. Unknown commands and bad arguments are reported as problems, so
  the whole reply can be refused with an explanation before anything is applied.
- ``#approve`` / ``#reject <why>`` in an answer to an approval request (``read_verdict``).
- The subject of a mail to ``+cmd``: ``absent until YYYY-MM-DD [deputy USER]`` or ``back``
  (``read_absence``); the caller strips ``Re:``-style prefixes first (``mail.normalize``).
- The subaddresses that are commands (``Subaddress``), as opposed to signed reply tokens.

Pure: text in, frozen values out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Final

from mailgate.domain.kinds import Priority

_LINE: Final = re.compile(r"^\s*#([A-Za-z_-]+)\b\s*(.*?)\s*$")
_FIELD: Final = re.compile(r"^([A-Za-z0-9_.-]{1,100})\s*=\s*(.*)$")
MAX_COMMANDS: Final = 20


class Verb(StrEnum):
    NOTE = "note"
    CLOSE = "close"
    STATUS = "status"
    ASSIGN = "assign"
    RELEASE = "release"
    PRIORITY = "priority"
    CATEGORY = "category"
    ACK = "ack"
    CLAIM = "claim"
    SET = "set"
    CONSULT = "consult"
    ANSWER = "answer"
    QUALIFY = "qualify"
    CONVERT = "convert"
    OFFER = "offer"


#: Commands SPEC §5 names whose features are not built yet: a clear answer, not "unknown".
LATER: Final = frozenset[str]()
#: Commands that answer an approval request, not a forwarded case.
APPROVAL_ONLY: Final = frozenset({"approve", "reject"})
_NEEDS_ARG: Final = frozenset({Verb.STATUS, Verb.ASSIGN, Verb.PRIORITY, Verb.CATEGORY, Verb.SET,
                               Verb.CONSULT, Verb.ANSWER, Verb.OFFER})
PRIORITIES: Final = tuple(Priority)


@dataclass(frozen=True, slots=True)
class Command:
    verb: Verb
    arg: str = ""

    @property
    def field(self) -> tuple[str, str]:
        """``#set name=value`` → (name, value)."""
        match = _FIELD.match(self.arg)
        assert match is not None
        return match[1], match[2].strip()


@dataclass(frozen=True, slots=True)
class Instructions:
    commands: tuple[Command, ...]
    body: str                      # the text after the command lines
    problems: tuple[str, ...] = ()

    def has(self, verb: Verb) -> bool:
        return any(c.verb is verb for c in self.commands)


def _check(verb: Verb, arg: str) -> str | None:
    """A problem with this command's argument, or None."""
    if verb in _NEEDS_ARG and not arg:
        return f"#{verb} needs an argument"
    if verb is Verb.PRIORITY and arg.lower() not in PRIORITIES:
        return f"#priority takes {' or '.join(PRIORITIES)}, not {arg!r}"
    if verb in (Verb.SET, Verb.ANSWER) and not _FIELD.match(arg):
        return f"#{verb} takes name=value, not {arg!r}"
    if verb in (Verb.CLOSE, Verb.RELEASE, Verb.ACK, Verb.CLAIM, Verb.QUALIFY, Verb.CONVERT) and arg:
        return f"#{verb} takes no argument (got {arg!r})"
    return None


def read_commands(text: str) -> Instructions:
    """Split a reply into its leading ``#`` commands and the rest."""
    lines = text.replace("\r\n", "\n").split("\n")
    commands: list[Command] = []
    problems: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        match = _LINE.match(line)
        if not line.strip():
            i += 1
            continue
        if match is None:
            break
        name, arg = match[1].lower(), match[2][:500]
        i += 1
        if name in LATER:
            problems.append(f"#{name} is not available on this installation yet")
            continue
        if name in APPROVAL_ONLY:
            problems.append(f"#{name} answers an approval request: reply to the approval mail")
            continue
        try:
            verb = Verb(name)
        except ValueError:
            problems.append(f"unknown command #{name} (known: {', '.join('#' + v for v in Verb)})")
            continue
        problem = _check(verb, arg)
        if problem:
            problems.append(problem)
        commands.append(Command(verb, arg))
    if len(commands) > MAX_COMMANDS:
        problems.append(f"at most {MAX_COMMANDS} commands per reply")
    body = "\n".join(lines[i:]).strip("\n")
    return Instructions(tuple(commands), body, tuple(problems))


def command_help(statuses: Sequence[str], departments: Sequence[str],
                 questions: Mapping[str, Sequence[str]], fields: Mapping[str, Sequence[str]]) -> list[str]:
    """The commands a staff member can use on a case, one line each, with this installation's
    statuses, departments, questionnaire questions and custom fields filled in."""

    def named(items: Mapping[str, Sequence[str]]) -> str:
        return "; ".join(f"{name} ({' | '.join(choices)})" if choices else name
                         for name, choices in items.items()) or "none configured"

    return [
        "#note <text>            an internal note: never sent to the customer",
        "#close                  close the case (after sending your text, if any)",
        f"#status <name>          {', '.join(statuses)}",
        "#assign <user>          give it to a colleague; your text goes to them as a note",
        "#release                back to the pool, unowned",
        f"#priority {'|'.join(PRIORITIES)}",
        "#category <name>",
        "#ack                    you have it (stops the round-robin rollover)",
        "#claim                  take an unowned case",
        f"#set <field>=<value>    fields: {named(fields)}",
        "#consult <department> [due=3d] [amount=120.50EUR] <question>: "
        f"{', '.join(departments) or 'none configured'}",
        f"#answer <question>=<value>   questions: {named(questions)}",
        "#qualify / #convert     a sales lead's next stage (#convert registers the customer)",
        "#offer <amount> [text]  mail the lead a numbered offer (120.50EUR; the text below is its body)",
    ]


class Subaddress(StrEnum):
    """Subaddresses of a supervised mailbox that are commands, not reply tokens."""

    NEXT = "next"        # claim and forward the oldest waiting case of the sender's pools
    CMD = "cmd"          # the subject is a command: absence
    STATUS = "status"    # anyone: "my cases", answered to the sender's own address


_APPROVE: Final = re.compile(r"^\s*#approve\s*$", re.IGNORECASE | re.MULTILINE)
_REJECT: Final = re.compile(r"^\s*#reject\b[ \t]*(.*)$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True, slots=True)
class Verdict:
    """An approver's answer: approve (with the edited text, if any) or reject (with a reason)."""

    approve: bool
    text: str | None = None       # approve: the approver's edited text; None sends the draft as is
    reason: str = ""              # reject: why


def read_verdict(text: str) -> Verdict | None:
    """``#reject <why>`` anywhere wins; else ``#approve`` on a line of its own, the text above it
    being the approver's edit (their own sign-off below it is not); None when neither is there."""
    rejected = _REJECT.search(text)
    if rejected:
        return Verdict(False, reason=rejected[1].strip())
    approved = _APPROVE.search(text)
    if approved is None:
        return None
    edited = text[:approved.start()].strip()
    return Verdict(True, text=edited or None)


_ABSENT: Final = re.compile(r"^\s*absent\s+until\s+(\d{4}-\d{2}-\d{2})(?:\s+deputy\s+(\S+))?\s*$",
                            re.IGNORECASE)
_BACK: Final = re.compile(r"^\s*back\s*$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Absence:
    """``absent until DATE [deputy USER]`` (``until`` set) or ``back`` (``until`` None)."""

    until: date | None
    deputy: str = ""


def read_absence(subject: str) -> Absence | None:
    """Read a ``+cmd`` subject (prefixes already stripped); None when it is neither form."""
    if _BACK.match(subject):
        return Absence(None)
    absent = _ABSENT.match(subject)
    if absent is None:
        return None
    try:
        until = date.fromisoformat(absent[1])
    except ValueError:
        return None
    return Absence(until, absent[2] or "")
