"""RenderedMail + threading facts → RFC 5322 bytes with safe headers.

Nothing from a customer reaches a header unchecked: values go through ``one_line`` (no CR/LF or
control characters: CVE-2024-6923 on 3.11.7) and addresses must be plain addr-specs. Built with
the compat32 classes: a quarter of the cost of ``EmailMessage`` with ``policy.SMTP``.
"""

from __future__ import annotations

import io
import re
import secrets
from base64 import encodebytes
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.encoders import encode_base64
from email.header import Header
from email.message import Message
from email.mime.base import MIMEBase
from email.mime.multipart import MIMEMultipart
from email.mime.nonmultipart import MIMENonMultipart
from email.utils import format_datetime, formataddr
from typing import Final

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
    cc: tuple[str, ...] = ()
    in_reply_to: str = ""
    references: tuple[str, ...] = ()
    reply_to: str = ""
    auto_submitted: str = ""       # RFC 3834: auto-replied | auto-generated
    loop_marker: str = ""


@dataclass(frozen=True, slots=True)
class Part:
    """A file to attach; with ``content_id`` and ``inline`` it is shown in the HTML body."""

    filename: str
    content_type: str
    data: bytes
    content_id: str = ""
    inline: bool = False


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


def _text_part(text: str, subtype: str = "plain") -> MIMENonMultipart:
    part = MIMENonMultipart("text", subtype)
    part.set_payload(text, _UTF8_QP)
    return part


class _Large:
    """Large attachments stand in the MIME tree as tokens, and are base64-encoded straight into
    the finished bytes (``splice``): the stdlib would hold the bytes, their encoded text, the
    serialised message and its line-ending copies at once (a 24 MB file cost 178 MB)."""

    def __init__(self) -> None:
        self.prefix = f"MGPART{secrets.token_hex(8)}x"
        self.parts: list[bytes] = []

    def token(self, data: bytes) -> str:
        self.parts.append(data)
        return f"{self.prefix}{len(self.parts) - 1}x"

    def splice(self, skeleton: bytes) -> bytes:
        if not self.parts:
            return skeleton
        out = io.BytesIO()
        last = 0
        for found in re.finditer(rf"{self.prefix}(\d+)x".encode(), skeleton):
            out.write(memoryview(skeleton)[last:found.start()])
            data = memoryview(self.parts[int(found[1])])
            for start in range(0, len(data), _B64_BLOCK):
                out.write(encodebytes(data[start:start + _B64_BLOCK]).replace(b"\n", b"\r\n"))
            last = found.end() + 2 if skeleton[found.end():found.end() + 2] == b"\r\n" else found.end()
        out.write(memoryview(skeleton)[last:])
        return out.getvalue()


_LARGE_PART: Final = 1 << 20
_B64_BLOCK: Final = 57 * 1024          # whole 76-character lines


def _file_part(part: Part, large: _Large) -> MIMEBase:
    maintype, _, subtype = part.content_type.partition("/")
    if not maintype or not subtype or any(c in part.content_type for c in "\r\n;\"' "):
        maintype, subtype = "application", "octet-stream"
    mime = MIMEBase(maintype, subtype)
    if len(part.data) > _LARGE_PART:
        mime.set_payload(large.token(part.data))
        mime["Content-Transfer-Encoding"] = "base64"
    else:
        mime.set_payload(part.data)
        encode_base64(mime)
    name = one_line(part.filename)[:200] or "attachment"
    mime.add_header("Content-Disposition", "inline" if part.inline else "attachment",
                    filename=("utf-8", "", name) if not name.isascii() else name)
    if part.content_id:
        mime["Content-ID"] = _msgid(part.content_id)
    return mime


def _body(text: str, parts: Sequence[Part], html: str | None, large: _Large) -> Message:
    """text/plain alone, or alternative(plain, html); with inline images (which only an HTML part
    shows), related(alternative, images); with files, mixed(body, files)."""
    images = [p for p in parts if p.inline and p.content_id] if html else []
    files = [p for p in parts if p not in images and not (p.inline and not html)]
    body: Message = _text_part(text)
    if html:
        body = MIMEMultipart("alternative", _boundary(), [_text_part(text), _text_part(html, "html")])
    if images:
        body = MIMEMultipart("related", _boundary(), [body, *(_file_part(p, large) for p in images)])
    if files:
        body = MIMEMultipart("mixed", _boundary(), [body, *(_file_part(p, large) for p in files)])
    return body


def _boundary() -> str:
    """A MIME boundary that no part can contain: every part here is quoted-printable or base64,
    and neither encoding can produce ``=_`` (the stdlib instead compiles a regex per message to
    search the text for its random boundary)."""
    return f"=_mg{secrets.token_hex(12)}"


def compose(envelope: Envelope, subject: str, text: str, now: datetime,
            parts: Sequence[Part] = (), html: str | None = None) -> bytes:
    """Build the message bytes; body lines are quoted-printable so none exceeds 998 octets."""
    to, cc = _checked(envelope.to), _checked(envelope.cc)
    _checked([envelope.from_addr] + ([envelope.reply_to] if envelope.reply_to else []))
    large = _Large()
    msg = _body(text, parts, html, large)
    msg["From"] = formataddr((one_line(envelope.from_name), envelope.from_addr), charset="utf-8")
    msg["To"] = ", ".join(to)
    if cc:
        msg["Cc"] = ", ".join(cc)
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
    return large.splice(msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n"))
