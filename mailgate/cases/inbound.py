"""A received message as the route table sees it: how it arrived (``Received``), everything
learnt about it before anything is written (``Analysis``), and what became of it (``Handled``).

``analyse`` reads but never writes: classification, the case it threads onto, the intake
decision, who sent it (a staff member? a consulted department?) and which command subaddress it
was sent to. The routes are predicates over this one value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from mailgate.cases.context import Context
from mailgate.cases.people import sender_of
from mailgate.domain import blocklist
from mailgate.domain.commands import Subaddress
from mailgate.domain.effects import Effect
from mailgate.domain.intake import CaseView, Decision, decide
from mailgate.domain.kinds import InboundState
from mailgate.domain.states import Category
from mailgate.mail import tokens
from mailgate.mail.authresults import verdicts
from mailgate.mail.classify import Disposition, classify
from mailgate.mail.parse import ParsedMail
from mailgate.matching import TicketMatch, match
from mailgate.storage import blocks, cases, inbound, messages
from mailgate.storage import staff as staff_repo
from mailgate.storage.models import Inbound


@dataclass(frozen=True, slots=True)
class Received:
    """How a stored message arrived: what the rules need besides its content."""

    id: int
    source: str
    mail_from: str
    rcpt_to: tuple[str, ...]
    mailbox: str
    received_at: datetime
    released: bool = False         # an admin let it out of the quarantine (``quarantine release``)
    peer: str = ""                 # the SMTP client's "ip:port", the IMAP host, or ''

    @classmethod
    def of(cls, row: Inbound) -> Received:
        return cls(row.id, row.source, row.mail_from, tuple(row.rcpt_to), row.mailbox, row.received_at,
                   row.reason == inbound.RELEASED, row.peer)

    @property
    def client_ip(self) -> str:
        """The SMTP/LMTP client's IP address (none for mail fetched or imported)."""
        if self.source not in ("smtp", "lmtp") or not self.peer:
            return ""
        return self.peer.rpartition(":")[0] if self.peer.count(":") else self.peer


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything learnt about a message before anything is written."""

    row: Received
    mail: ParsedMail
    disposition: Disposition
    match: TicketMatch
    case: CaseView | None
    decision: Decision
    sender: str                    # the trusted From address, else ''
    staff_id: int | None           # the active staff member with that address
    command: Subaddress | None     # sent to +next / +cmd of a supervised mailbox
    consulted: int | None          # a consultation of the matched case with the sender's address
    dmarc: str = ""                # our MTA's DMARC result (pass, fail, none, ...); '' unauthenticated
    blocked: str = ""              # the blocklist entry the sender or client hits, else ''
    bounced: bool = False          # the sender's address has bounce counts (address_health)

    @property
    def personal(self) -> bool:
        return self.disposition is Disposition.PERSONAL

    @property
    def token(self) -> tokens.Token | None:
        """A verified reply token naming a staff member, a draft or a consultation."""
        token = self.match.token
        return token if token is not None and token.staff_id else None


@dataclass(frozen=True, slots=True)
class Handled:
    """What became of a message; the use case finishes the inbound row and carries out the effects."""

    state: InboundState
    case_id: int | None
    reason: str
    effects: tuple[Effect, ...] = ()


def analyse(session: Session, ctx: Context, row: Received, mail: ParsedMail, now: datetime) -> Analysis:
    """Classify, match, decide and identify the sender, reading but not writing: who the sender
    is (staff, a consulted department, an address with bounces) is one statement."""
    disposition = classify(mail, ctx.loop_marker, ctx.own_addresses)
    found = match(mail, row.rcpt_to, messages.SqlThreadLookup(session), ctx.match)
    case = _case_view(session, found.case_id)
    if found.case_id is not None and case is None:
        found = TicketMatch(None, "none", quoted_tag=found.case_id)
    decision = decide(disposition.value, case, now, ctx.config.gateway.reopen_window)
    sender = sender_of(mail)
    facts = staff_repo.sender_facts(session, sender, case.id if case else None) if sender else None
    staff_id = facts.staff_id if facts else None
    consulted = None
    if facts and case is not None and staff_id is None and disposition is Disposition.PERSONAL:
        consulted = facts.consultation_id
    checked = verdicts(mail.header("authentication-results"), ctx.config.gateway.authserv_id)
    return Analysis(row, mail, disposition, found, case, decision, sender, staff_id,
                    ctx.command_word(row.rcpt_to), consulted, checked.get("dmarc", ""),
                    _blocked(session, row, mail), bounced=bool(facts and facts.bounced))


def _blocked(session: Session, row: Received, mail: ParsedMail) -> str:
    """The entry that catches the envelope sender, the From address (trusted or not) or the
    SMTP client, else ''."""
    entries = blocks.entries(session)
    if not entries:
        return ""
    for address, ip in ((row.mail_from, row.client_ip), (mail.sender.addr if mail.sender else "", "")):
        hit = blocklist.match(entries, address, ip)
        if hit is not None:
            return hit.value
    return ""


def _case_view(session: Session, case_id: int | None) -> CaseView | None:
    state = cases.case_state(session, case_id) if case_id is not None else None
    if state is None:
        return None
    ticket_id, category, owner_id, closed_at = state
    return CaseView(ticket_id, Category(category), owner_id is not None, closed_at)

