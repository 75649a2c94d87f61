"""RenderedMail + threading facts → RFC 5322 bytes with safe headers.

Nothing from a customer reaches a header unchecked: values go through ``one_line`` (no CR/LF or
control characters: CVE-2024-6923 on 3.11.7) and addresses must be plain addr-specs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr

from mailgate.errors import UsageError
from mailgate.mail.addresses import is_valid
from mailgate.mail.headers import one_line


@dataclass(frozen=True, slots=True)
class Envelope:
    """Who the mail is from and to, and how it threads."""

    from_addr: str
    from_name: str
    to: tuple[str, ...]
    message_id: str
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    reply_to: str = ""
    auto_submitted: str = ""       # RFC 3834: auto-replied | auto-generated
    loop_marker: str = ""


def _checked(addresses: Sequence[str]) -> tuple[str, ...]:
    bad = [a for a in addresses if not is_valid(a)]
    if bad:
        raise UsageError(f"refusing to send to an invalid address: {one_line(bad[0])!r}")
    return tuple(addresses)


def compose(envelope: Envelope, subject: str, text: str, now: datetime) -> bytes:
    """Build the message bytes; lines are encoded so none exceeds 998 octets."""
    to = _checked(envelope.to)
    _checked([envelope.from_addr] + ([envelope.reply_to] if envelope.reply_to else []))
    msg = EmailMessage(policy=SMTP)
    msg["From"] = formataddr((one_line(envelope.from_name), envelope.from_addr), charset="utf-8")
    msg["To"] = ", ".join(to)
    msg["Subject"] = one_line(subject)[:900]
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = f"<{envelope.message_id}>"
    if envelope.in_reply_to:
        msg["In-Reply-To"] = f"<{one_line(envelope.in_reply_to)}>"
    refs = [one_line(r) for r in envelope.references if r][-10:]
    if refs:
        msg["References"] = " ".join(f"<{r}>" for r in refs)
    if envelope.reply_to:
        msg["Reply-To"] = envelope.reply_to
    if envelope.auto_submitted:
        msg["Auto-Submitted"] = envelope.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
    if envelope.loop_marker:
        msg["X-Mailgate-Loop"] = envelope.loop_marker
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    return msg.as_bytes(policy=SMTP)
