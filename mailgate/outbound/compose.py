"""RenderedMail + threading facts → RFC 5322 bytes with safe headers.

Nothing from a customer reaches a header unchecked: values go through ``one_line`` (no CR/LF or
control characters: CVE-2024-6923 on 3.11.7) and addresses must be plain addr-specs. Built with
the compat32 classes: a quarter of the cost of ``EmailMessage`` with ``policy.SMTP``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr

from mailgate.errors import UsageError
from mailgate.mail.addresses import is_valid
from mailgate.mail.headers import one_line

_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP


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


def _header_text(name: str, value: str) -> str:
    """One line, RFC 2047-encoded when not ASCII, folded to stay under 998 octets."""
    text = one_line(value)[:900]
    charset = "us-ascii" if text.isascii() else "utf-8"
    return Header(text, charset, maxlinelen=76, header_name=name).encode()


def _msgid(value: str) -> str:
    return "<" + "".join(c for c in one_line(value) if c not in "<> ") + ">"


def compose(envelope: Envelope, subject: str, text: str, now: datetime) -> bytes:
    """Build the message bytes; body lines are quoted-printable so none exceeds 998 octets."""
    to = _checked(envelope.to)
    _checked([envelope.from_addr] + ([envelope.reply_to] if envelope.reply_to else []))
    msg = MIMENonMultipart("text", "plain")
    msg.set_payload(text, _UTF8_QP)
    msg["From"] = formataddr((one_line(envelope.from_name), envelope.from_addr), charset="utf-8")
    msg["To"] = ", ".join(to)
    msg["Subject"] = _header_text("Subject", subject)
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = _msgid(envelope.message_id)
    if envelope.in_reply_to:
        msg["In-Reply-To"] = _msgid(envelope.in_reply_to)
    refs = [_msgid(r) for r in envelope.references if r][-10:]
    if refs:
        msg["References"] = "\r\n ".join(refs)
    if envelope.reply_to:
        msg["Reply-To"] = envelope.reply_to
    if envelope.auto_submitted:
        msg["Auto-Submitted"] = envelope.auto_submitted
        msg["X-Auto-Response-Suppress"] = "All"
    if envelope.loop_marker:
        msg["X-Mailgate-Loop"] = envelope.loop_marker
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
