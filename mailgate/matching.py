"""Which case an inbound message belongs to: signed token, then thread references, then subject tag.

Pure apart from the ``ThreadLookup`` port, which the storage layer satisfies structurally
(called inside the caller's unit of work).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from mailgate.domain.intake import Parties, may_thread_by_tag
from mailgate.mail import tokens
from mailgate.mail.addresses import split_subaddress
from mailgate.mail.normalize import find_tag
from mailgate.mail.parse import ParsedMail


class ThreadLookup(Protocol):
    def case_for_message_ids(self, ids: Sequence[str]) -> int | None: ...

    def parties(self, case_id: int) -> Parties | None:
        """Who is part of the case's conversation (None: no such case)."""
        ...


@dataclass(frozen=True, slots=True)
class MatchContext:
    secret: str
    domain: str
    delimiter: str
    tag: re.Pattern[str]


@dataclass(frozen=True, slots=True)
class TicketMatch:
    case_id: int | None
    reason: str                    # token | reference | tag | none | forged
    token: tokens.Token | None = None
    quoted_tag: int | None = None  # a tag a stranger quoted: recorded on the new case


def recipient_tokens(mail: ParsedMail, recipients: Sequence[str],
                     ctx: MatchContext) -> tuple[list[tokens.Token], bool]:
    """Verified tokens in the subaddress of any envelope recipient, and whether one was forged.

    Only the envelope recipients count for forgery: a header address is whatever the sender typed.
    """
    found: list[tokens.Token] = []
    forged = False
    envelope = len(recipients)
    for i, addr in enumerate([*recipients, *(a.addr for a in mail.to), *(a.addr for a in mail.cc)]):
        _, sub = split_subaddress(addr, ctx.delimiter)
        if not sub:
            continue
        token = tokens.verify(sub, ctx.secret)
        if token is not None and token not in found:
            found.append(token)
        elif token is None and i < envelope and tokens.looks_signed(sub):
            forged = True
    return found, forged


def match(
    mail: ParsedMail, recipients: Sequence[str], lookup: ThreadLookup, ctx: MatchContext
) -> TicketMatch:
    """Find the case ``mail`` threads onto, in SPEC §3 order."""
    found, forged = recipient_tokens(mail, recipients, ctx)
    if found:
        return TicketMatch(found[0].case_id, "token", found[0])
    if forged:
        return TicketMatch(None, "forged")
    ids = (*mail.thread_ids, *mail.embedded_ids)
    for mid in ids:
        token = tokens.from_message_id(mid, ctx.secret, ctx.domain)
        if token is not None:
            return TicketMatch(token.case_id, "reference", token)
    case_id = lookup.case_for_message_ids(ids) if ids else None
    if case_id is not None:
        return TicketMatch(case_id, "reference")
    tag = find_tag(mail.subject, ctx.tag)
    if tag is None:
        return TicketMatch(None, "none")
    parties = lookup.parties(tag)
    if parties is not None and mail.sender_trusted and mail.sender is not None \
            and may_thread_by_tag(parties, mail.sender.addr):
        return TicketMatch(tag, "tag")
    return TicketMatch(None, "none", quoted_tag=tag)
