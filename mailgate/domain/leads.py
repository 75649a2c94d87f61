"""A sales lead's stage (SPEC §4, §11): new → contacted → qualified → converted, never back.

``contacted`` comes with the first answer sent to the lead, ``qualified`` with ``#qualify``,
``converted`` with ``#convert`` (which creates or links the customer record). A later stage
reached early (``#convert`` on a new lead) is fine; an earlier one is refused.
"""

from __future__ import annotations

from enum import StrEnum

from mailgate.errors import Refused


class Stage(StrEnum):
    NEW = "new"
    CONTACTED = "contacted"
    QUALIFIED = "qualified"
    CONVERTED = "converted"

    @property
    def rank(self) -> int:
        return list(Stage).index(self)


def advance(current: Stage, target: Stage) -> Stage:
    """The stage after moving ``current`` to ``target`` by hand (#qualify, #convert, ticket edit).

    Raises:
        Refused: ``target`` is the stage it is in, or an earlier one.
    """
    if target.rank <= current.rank:
        raise Refused(f"the lead is {current} already; its stage only moves on "
                      f"({' → '.join(Stage)})")
    return target


def contacted(current: Stage) -> Stage:
    """The stage once an answer has been sent: a new lead is contacted, others stay."""
    return Stage.CONTACTED if current is Stage.NEW else current
