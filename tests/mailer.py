"""Build and send customer mail the way a mail program would."""

from __future__ import annotations

from email.message import EmailMessage, Message
from email.utils import make_msgid

import aiosmtplib

from mailgate.app import App


def mail(sender: str = "Carol Customer <carol@customer.example>", to: str = "support@example.com",
         subject: str = "Printer broken", body: str = "My printer is on fire.\n",
         **headers: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = headers.pop("message_id", None) or make_msgid(domain="customer.example")
    for name, value in headers.items():
        msg[name.replace("_", "-")] = value
    msg.set_content(body)
    return msg


async def send(app: App, msg: EmailMessage | bytes, mail_from: str = "carol@customer.example",
               rcpts: list[str] | None = None) -> tuple[dict[str, object], str]:
    """Send over SMTP to mailgate's receiver; return aiosmtplib's (errors, reply)."""
    if rcpts is None:
        rcpts = ["support@example.com"]
    data = msg if isinstance(msg, bytes) else msg.as_bytes()
    client = aiosmtplib.SMTP(hostname="127.0.0.1", port=app.smtp_port, start_tls=False, use_tls=False)
    async with client:
        return await client.sendmail(mail_from, rcpts, data)  # type: ignore[return-value]


def text_of(msg: Message) -> str:
    """The text/plain body of a mail as its reader sees it (the first text/plain part)."""
    for part in msg.walk():
        if part.get_content_type() == "text/plain" and not part.get_filename():
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8", "replace").replace("\r\n", "\n")
    raise AssertionError("no text/plain part")


def html_of(msg: Message) -> str:
    """The text/html alternative of a mail."""
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True)
            assert isinstance(payload, bytes)
            return payload.decode(part.get_content_charset() or "utf-8", "replace")
    raise AssertionError("no text/html part")
