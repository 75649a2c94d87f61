"""Other ways in (SPEC §4, §11): ``ticket create --channel phone|web`` and ``import PATH``.

Both go through the same door as mail (``Ingest.accept``): stored with their raw bytes, parsed,
threaded, blocklist-checked, routed and answered exactly as a mail would be. A case taken by
phone is a message written for the customer, marked with its channel.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Sequence
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from pathlib import Path
from typing import Any

from mailgate.cases import commands
from mailgate.cases.context import Context
from mailgate.errors import UsageError
from mailgate.intake import files
from mailgate.intake.inbox import Acceptor, RawMessage
from mailgate.mail.addresses import is_valid
from mailgate.services.tickets import TicketEdit, edit_ticket, show_ticket
from mailgate.storage import cases, inbound


def written_for(ctx: Context, sender: str, name: str, subject: str, body: str, to: str) -> bytes:
    """The message a phone call (or a web submission) stands for, as the customer's mail."""
    msg = EmailMessage()
    msg["From"] = formataddr((name, sender)) if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = formatdate(ctx.clock.now().timestamp(), usegmt=True)
    msg["Message-ID"] = f"<mg.{secrets.token_hex(12)}@{ctx.config.message_id_domain}>"
    msg.set_content(body or "(no text)")
    return msg.as_bytes()


async def create_ticket(ctx: Context, acceptor: Acceptor, *, channel: str, sender: str, subject: str,
                        body: str = "", name: str = "", mailbox: str = "",
                        fields: Sequence[str] = ()) -> dict[str, Any]:
    """Open a case as the customer's mail would (auto-response, routing) and return it."""
    address = sender.strip().lower()
    if not is_valid(address):
        raise UsageError(f"--from: not an e-mail address: {sender!r}")
    if not subject.strip():
        raise UsageError("--subject cannot be empty")
    for pair in fields:
        key, sep, value = pair.partition("=")
        if not sep:
            raise UsageError(f"--set takes FIELD=VALUE, not {pair!r}")
        commands.check_field(ctx, key.strip(), value.strip())
    names = [m.name for m in ctx.config.mailboxes]
    if mailbox and mailbox not in names:
        raise UsageError(f"no mailbox {mailbox!r} (mailboxes: {', '.join(names)})")
    box = ctx.config.mailbox(mailbox) if mailbox else ctx.config.mailboxes[0]
    raw = written_for(ctx, address, " ".join(name.split()), " ".join(subject.split()), body, box.address)
    receipt = await acceptor.accept(RawMessage(data=raw, source=channel, rcpt_to=(box.address,),
                                               mailbox=box.name))
    row = await ctx.db.run(lambda s: inbound.get(s, receipt.inbound_id))
    if row is None or row.ticket_id is None:
        reason = row.reason if row is not None else "not stored"
        raise UsageError(f"no case was opened: {reason or 'it is waiting to be processed'}")
    if fields:
        return await edit_ticket(ctx, row.ticket_id, TicketEdit(fields=tuple(fields)))
    return await show_ticket(ctx, row.ticket_id)


async def import_path(ctx: Context, acceptor: Acceptor, path: Path, mailbox: str = "",
                      progress: Callable[[int], None] | None = None) -> dict[str, int]:
    """Load every message of an mbox, a Maildir or a folder of .eml files through the pipeline.

    Each is threaded, deduplicated (by content: a second run of the same source stores nothing)
    and checked against the blocklist as mail is; imported mail gets no auto-response (it is
    history). Returns the counts SPEC §11 names.
    """
    names = [m.name for m in ctx.config.mailboxes]
    if mailbox and mailbox not in names:
        raise UsageError(f"no mailbox {mailbox!r} (mailboxes: {', '.join(names)})")
    box = ctx.config.mailbox(mailbox) if mailbox else ctx.config.mailboxes[0]
    before = await ctx.db.run(cases.count)
    summary = {"read": 0, "stored": 0, "duplicates": 0, "quarantined": 0, "cases": 0}
    for _, data in files.read(path):
        receipt = await acceptor.accept(RawMessage(data=data, source="import", rcpt_to=(box.address,),
                                                   mailbox=box.name))
        summary["read"] += 1
        if not receipt.created:
            summary["duplicates"] += 1
        else:
            summary["stored"] += 1
            summary["quarantined"] += receipt.quarantined
        if progress is not None:
            progress(1)
    summary["cases"] = await ctx.db.run(cases.count) - before
    return summary
