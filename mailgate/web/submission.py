"""What a browser sent to a form: read within the limits while it streams, its fields checked,
and the mail it becomes (the submission goes through the same door as mail)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formataddr, formatdate
from typing import Final

from aiohttp import BodyPartReader, web

from mailgate.cases.context import Context
from mailgate.config import FieldConfig
from mailgate.mail.addresses import is_valid

TEXT_LIMIT: Final = 256_000            # the text fields of one submission, together


class TooLarge(Exception):
    """The submission is over ``max_upload`` (attachments) or the text limit."""


@dataclass
class Submission:
    values: dict[str, str] = field(default_factory=dict)
    files: list[tuple[str, str, bytes]] = field(default_factory=list)


async def read(request: web.Request, max_upload: int) -> Submission:
    """The body, counted while it streams: over the limits it stops at once."""
    if request.content_type == "application/x-www-form-urlencoded":     # a form without files
        if (request.content_length or 0) > TEXT_LIMIT:
            raise TooLarge
        posted = await request.post()
        return Submission({k: _clean(v) for k, v in posted.items() if isinstance(v, str)})
    if request.content_type != "multipart/form-data":
        raise ValueError(f"a form is multipart/form-data, not {request.content_type}")
    sent = Submission()
    reader = await request.multipart()
    counted = {"files": 0, "text": 0}
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            raise ValueError("nested multipart")
        if part.filename is not None:
            data = await _part(part, counted, "files", max_upload)
            if part.filename and data:
                sent.files.append((part.filename[:200],
                                   part.headers.get("Content-Type", "application/octet-stream"), data))
        elif part.name:
            sent.values[part.name] = _clean((await _part(part, counted, "text", TEXT_LIMIT))
                                            .decode("utf-8", "replace"))
    return sent


async def _part(part: BodyPartReader, counted: dict[str, int], kind: str, limit: int) -> bytes:
    data = bytearray()
    while chunk := await part.read_chunk(65536):
        counted[kind] += len(chunk)
        if counted[kind] > limit:
            raise TooLarge
        data += chunk
    return bytes(data)


def problems(fields: list[FieldConfig], values: dict[str, str]) -> dict[str, str]:
    """What is wrong with the fields, by field name (empty: nothing)."""
    errors: dict[str, str] = {}
    if not values.get("name", "").strip():
        errors["name"] = "Please enter your name."
    if not is_valid(values.get("email", "").strip().lower()):
        errors["email"] = "Please enter an e-mail address like name@example.com."
    if not values.get("subject", "").strip():
        errors["subject"] = "Please say in a few words what it is about."
    if not values.get("message", "").strip():
        errors["message"] = "Please write your message."
    for spec in fields:
        value = values.get(spec.name, "").strip()
        if spec.required and not value:
            errors[spec.name] = f"Please fill in {spec.label or spec.name}."
        elif value and spec.choices and value not in spec.choices:
            errors[spec.name] = f"Please choose one of: {', '.join(spec.choices)}."
    return errors


def as_mail(ctx: Context, to: str, sent: Submission, email: str, fields: list[FieldConfig]) -> bytes:
    """The submission as the customer's mail: what they typed, the form's fields, the files."""
    msg = EmailMessage()
    msg["From"] = formataddr((" ".join(sent.values.get("name", "").split())[:200], email))
    msg["To"] = to
    msg["Subject"] = " ".join(sent.values.get("subject", "").split())[:500]
    msg["Date"] = formatdate(ctx.clock.now().timestamp(), usegmt=True)
    msg["Message-ID"] = f"<mg.web.{secrets.token_hex(12)}@{ctx.config.message_id_domain}>"
    text = sent.values.get("message", "").replace("\r\n", "\n").strip() + "\n"
    extra = [f"{f.label or f.name}: {sent.values.get(f.name, '').strip()}" for f in fields
             if sent.values.get(f.name, "").strip()]
    msg.set_content(text + ("\n" + "\n".join(extra) + "\n" if extra else ""))
    for filename, ctype, data in sent.files:
        maintype, _, subtype = ctype.partition("/")
        msg.add_attachment(data, maintype=maintype or "application", subtype=subtype or "octet-stream",
                           filename=filename)
    return msg.as_bytes()


def _clean(value: str) -> str:
    return value.replace("\x00", "\ufffd")
