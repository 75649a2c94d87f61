"""Reading a consultation request (SPEC §6): ``#consult DEPT [due=3d] [amount=120.50] question``.

Pure. The options come right after the department, in any order; the question is the rest of the
line and the reply's text. Every problem is a ``Refused`` with a message the operator can act on.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from mailgate.config import parse_duration
from mailgate.errors import Refused

_OPTION: Final = re.compile(r"^(due|amount)=(\S+)$", re.IGNORECASE)
_AMOUNT: Final = re.compile(r"^(?:([A-Za-z]{3}))?(\d{1,12}(?:\.\d{1,2})?)(?:([A-Za-z]{3}))?$")


@dataclass(frozen=True, slots=True)
class ConsultRequest:
    department: str
    due: timedelta              # from now
    amount: str                 # a decimal string, '' when none was given
    question: str
    currency: str = ""          # "EUR" from 120.50EUR or EUR120.50; '' when none was given


def read_consult(arg: str, body: str, deadlines: Mapping[str, timedelta]) -> ConsultRequest:
    """Read ``#consult``'s argument; ``deadlines`` maps each department to its default deadline.

    Raises:
        Refused: no or an unknown department, a bad option, or no question.
    """
    words = arg.split()
    if not words:
        raise Refused("#consult needs a department")
    name = department_named(words[0], deadlines)
    due, amount, currency, rest = deadlines[name], "", "", words[1:]
    while rest and (option := _OPTION.match(rest[0])):
        key, value = option[1].lower(), option[2]
        if key == "due":
            try:
                due = parse_duration(value)
            except ValueError as exc:
                raise Refused(f"#consult due={value}: {exc}") from None
        else:
            amount, currency = read_amount(value, "#consult amount")
        rest = rest[1:]
    question = "\n\n".join(t for t in (" ".join(rest), body) if t.strip())
    if not question.strip():
        raise Refused("#consult needs a question (after the department, or as the reply's text)")
    return ConsultRequest(name, due, amount, question, currency)


def read_amount(value: str, what: str) -> tuple[str, str]:
    """``120.50``, ``120.50EUR``, ``EUR120.50`` → (``"120.50"``, ``"EUR"`` or '').

    Raises:
        Refused: it is not a sum of that form.
    """
    found = _AMOUNT.match(value.replace(" ", ""))
    if found is None or (found[1] and found[3]):
        raise Refused(f"{what}={value}: a sum like 120.50 or 120.50EUR")
    return found[2], (found[1] or found[3] or "").upper()


def department_named(name: str, deadlines: Mapping[str, timedelta]) -> str:
    """The configured department ``name`` (case-insensitive).

    Raises:
        Refused: there is none, listing the ones there are.
    """
    if name.lower() not in deadlines:
        known = ", ".join(deadlines) or "none configured"
        raise Refused(f"#consult {name}: no such department (departments: {known})")
    return name.lower()
