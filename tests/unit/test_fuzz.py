"""Hypothesis fuzzing of the parser, the matcher and the reply trimmer (issue 12).

Each takes anything, returns within its time bound and raises nothing but its documented error:
``parse`` raises only ``ParseError``; ``match``, ``trim_reply``, ``split_signature`` and
``courtesy_only`` raise nothing. Beyond "no crash", each checks what later stages rely on: no NUL
or line break in text that reaches a column or a header, a trusted sender is a valid address,
a token verifies only when it was signed, and the trimmer only ever drops lines.

``MAILGATE_FUZZ_EXAMPLES`` sets the examples per target (default 400; the note on issue 12 gives
the figures of a longer run).
"""

from __future__ import annotations

import base64
import os
import random
from collections.abc import Sequence
from datetime import timedelta
from email import message_from_bytes
from email.policy import compat32

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mailgate.domain.intake import Parties
from mailgate.errors import ParseError
from mailgate.mail import tokens
from mailgate.mail.addresses import is_valid
from mailgate.mail.normalize import tag_pattern
from mailgate.mail.parse import ParsedMail, content_digest, parse
from mailgate.mail.quotes import courtesy_only, split_signature, trim_reply
from mailgate.matching import MatchContext, match

EXAMPLES = int(os.environ.get("MAILGATE_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5), database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
SECRET = "fuzz-secret-0123456789abcdef"
CTX = MatchContext(secret=SECRET, domain="example.com", delimiter="+", tag=tag_pattern("MG"))

# ---- mail, from plain bytes to MIME trees built of hostile pieces -------------------------------

PIECES = ["<", ">", '"', "(", ")", ",", ";", ":", "@", "\\", " ", "\t", "=?utf-8?q?", "=?utf-8?b?",
          "?=", "=?x-unknown?q?a?=", "=", "%", "\x00", "\x7f", "\x1b", "é", "\u202e", "\U0001f600",
          "alice@customer.example", "attacker@evil.example", "<a@b.example>", "[MG#12]", "Re: ",
          "support+c1s2r.aaaaaaaaaaaaaaaa@example.com", "\r\n ", "\r\n", "\n"]
HEADERS = ["From", "To", "Cc", "Reply-To", "Subject", "Message-ID", "In-Reply-To", "References",
           "Date", "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
           "Auto-Submitted", "Precedence", "List-Id", "Return-Path", "X-Failed-Recipients",
           "X-Mailgate-Loop", "Received", "from", "X"]

value = st.lists(st.sampled_from(PIECES) | st.text(max_size=10), max_size=12).map("".join)
header = st.tuples(st.sampled_from(HEADERS), value).map(lambda h: f"{h[0]}: {h[1]}")
CTYPES = ["text/plain", "text/html", "application/octet-stream", "message/rfc822",
          "message/delivery-status", "text/rfc822-headers", "image/jpeg", "x/y", ""]
CTES = ["", "base64", "quoted-printable", "7bit", "8bit", "x-uuencode", "bogus"]
CHARSETS = ["", "utf-8", "iso-8859-1", "windows-1252", "koi8-r", "gb2312", "utf-7", "x-unknown", '"']


@st.composite
def leaf(draw: st.DrawFn) -> bytes:
    ctype, cte = draw(st.sampled_from(CTYPES)), draw(st.sampled_from(CTES))
    charset = draw(st.sampled_from(CHARSETS))
    lines = [f"Content-Type: {ctype}" + (f"; charset={charset}" if charset else "")]
    if cte:
        lines.append(f"Content-Transfer-Encoding: {cte}")
    if draw(st.booleans()):
        lines.append(f'Content-Disposition: attachment; filename="{draw(value)}"')
    body = draw(st.binary(max_size=300) | value.map(lambda v: v.encode("utf-8", "surrogatepass")))
    if cte == "base64" and draw(st.booleans()):
        body = base64.encodebytes(body)
    return "\r\n".join(lines).encode("utf-8", "surrogatepass") + b"\r\n\r\n" + body


def multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        boundary = draw(st.sampled_from(["b1", "=_x", "", "a b", '"q"', "b1"]))
        parts = draw(st.lists(children, max_size=4))
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "digest"]))
        out = f"Content-Type: multipart/{subtype}; boundary=\"{boundary}\"\r\n\r\n".encode()
        for part in parts:
            out += f"--{boundary}\r\n".encode() + part + b"\r\n"
        if draw(st.booleans()):                          # sometimes never closed
            out += f"--{boundary}--\r\n".encode()
        return out
    return build()


mime = st.recursive(leaf(), multipart, max_leaves=8)


@st.composite
def mails(draw: st.DrawFn) -> bytes:
    heads = draw(st.lists(header, max_size=14))
    body = draw(mime)
    raw = "\r\n".join(heads).encode("utf-8", "surrogatepass") + b"\r\n" + body
    if draw(st.booleans()):
        raw = raw.replace(b"\r\n", b"\n")
    return raw


anything = st.binary(max_size=2000) | mails()


def check_parsed(mail: ParsedMail) -> None:
    assert mail.message_id
    for text in (mail.subject, mail.text, *(a.name for a in (*mail.to, *mail.cc))):
        assert "\x00" not in text                        # every text column takes it (PostgreSQL)
    assert "\n" not in mail.subject and "\r" not in mail.subject
    if mail.sender_trusted and mail.sender is not None:
        assert is_valid(mail.sender.addr), mail.sender.addr
    for attachment in mail.attachments:
        assert attachment.filename and not set(attachment.filename) & set("/\\\x00\r\n")
        assert len(attachment.sha256) == 64


@FUZZ
@given(anything)
def test_parse_takes_any_bytes(raw: bytes) -> None:
    assert len(content_digest(raw)) == 64
    try:
        mail = parse(raw)
    except ParseError:
        return
    check_parsed(mail)


@settings(FUZZ, max_examples=max(EXAMPLES // 4, 10))          # 0.05 s each: a quarter as many
@given(seed=st.integers(0, 2**32), size=st.integers(150_000, 400_000),
       width=st.sampled_from([60, 64, 72, 76, 77, 998]), newline=st.sampled_from([b"\r\n", b"\n"]),
       damage=st.sampled_from(["", "star", "pad", "short", "tail"]))
def test_large_base64_bodies_decode_as_the_stdlib_does(
        seed: int, size: int, width: int, newline: bytes, damage: str) -> None:
    """The parser keeps large base64 bodies out of the stdlib parser (memory, issue 12) and
    decodes them itself: whatever the line width, line ends or damage, it must agree with it."""
    data = random.Random(seed).randbytes(size)
    text = base64.b64encode(data)
    body = newline.join(text[i:i + width] for i in range(0, len(text), width)) + newline
    if damage == "star":
        body = body[:size // 2] + b"*" + body[size // 2:]
    elif damage == "pad":
        body = body.rstrip(b"=\r\n") + newline
    elif damage == "short":
        body = body[:-(width // 2)]
    elif damage == "tail":
        body += b"not base64 at all!" + newline
    raw = (b"From: a@b.example\r\nSubject: big\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
           b"hello\r\n--zz\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
           b'Content-Disposition: attachment; filename="x.bin"\r\n\r\n' + body + b"--zz--\r\n")
    [attachment] = parse(raw).attachments
    stdlib = [p.get_payload(decode=True) for p in message_from_bytes(raw, policy=compat32).walk()
              if p.get_filename() == "x.bin"]
    assert attachment.data == stdlib[0]
    if not damage:
        assert attachment.data == data


# ---- the matcher ---------------------------------------------------------------------------------


class Lookup:
    """A thread lookup over a few known cases (the storage layer's port, without a database)."""

    known = {"known@customer.example": 7}

    def case_for_message_ids(self, ids: Sequence[str]) -> int | None:
        return next((self.known[i] for i in ids if i in self.known), None)

    def parties(self, case_id: int) -> Parties | None:
        if case_id >= 100:
            return None
        return Parties("alice@customer.example", frozenset({"cc@customer.example"}))


token_strategy = st.builds(tokens.Token, st.integers(1, 10**12 - 1), st.integers(1, 10**12 - 1),
                           st.sampled_from(list(tokens.Purpose)))


@st.composite
def recipients(draw: st.DrawFn) -> tuple[list[str], list[tokens.Token]]:
    """Envelope recipients: plain, correctly signed, tampered and token-shaped subaddresses."""
    out: list[str] = []
    signed: list[tokens.Token] = []
    kinds = st.sampled_from(["plain", "signed", "tampered", "shaped", "text"])
    for kind in draw(st.lists(kinds, max_size=5)):
        token = draw(token_strategy)
        sub = tokens.sign(token, SECRET)
        if kind == "signed":
            signed.append(token)
        elif kind == "tampered":
            i = draw(st.integers(0, len(sub) - 1))
            swapped = draw(st.sampled_from("abcdefghijklmnopqrstuvwxyz234567019.s"))
            sub = sub[:i] + swapped + sub[i + 1:]
            if sub == tokens.sign(token, SECRET):
                signed.append(token)
        elif kind == "shaped":
            mac = draw(st.text("abcdefghijklmnopqrstuvwxyz234567", min_size=16, max_size=16))
            sub = f"c{token.case_id}s{token.staff_id}r.{mac}"
        elif kind == "text":
            sub = draw(value)
        out.append("support@example.com" if kind == "plain" else f"support+{sub}@example.com")
    return out, signed


@FUZZ
@given(anything, recipients())
def test_match_takes_any_mail_and_any_recipients(
        raw: bytes, rcpt: tuple[list[str], list[tokens.Token]]) -> None:
    try:
        mail = parse(raw)
    except ParseError:
        return
    addresses, signed = rcpt
    found = match(mail, addresses, Lookup(), CTX)
    assert found.reason in {"token", "reference", "tag", "none", "forged"}
    if found.reason == "token":
        assert found.token is not None and found.token == signed[0]     # only what we signed
    elif signed:
        raise AssertionError(f"a signed token was not found: {found}")
    if found.reason == "tag":                                           # only a party's mail
        assert mail.sender_trusted and mail.sender is not None
        assert mail.sender.addr in {"alice@customer.example", "cc@customer.example"}


# ---- the trimmer ---------------------------------------------------------------------------------

QUOTE_PIECES = ["> ", ">", "On Mon, 23 Nov 2026 Carol <carol@customer.example> wrote:", "-- ", "--",
                "-----Original Message-----", "From: Carol", "Sent: Monday", "To: support", "Subject: x",
                "Sent from my iPhone", "Von meinem iPhone gesendet", "Best regards,", "Bob Builder",
                "Thanks!", "Hi Carol,", "________________________________", "#close", "\r", "\t", "\x00",
                "Le lun. 23 nov. 2026 à 10:02, Carol a écrit :", "2026-11-23 10:02 GMT+01:00 Carol:"]
lines = st.lists(st.sampled_from(QUOTE_PIECES) | st.text(max_size=40), max_size=40)


def _line_set(text: str) -> set[str]:
    return {line.rstrip() for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")}


@FUZZ
@given(lines, st.sampled_from(["", "Bob Builder", "Bob", "B", "Ünal Çelik", ",,"]))
def test_the_trimmer_takes_any_text_and_only_drops_lines(text_lines: list[str], name: str) -> None:
    text = "\n".join(text_lines)
    trimmed = trim_reply(text)
    assert "\r" not in trimmed
    assert _line_set(trimmed) <= _line_set(text) | {""}
    body, signature = split_signature(trimmed, name)
    assert _line_set(body) | _line_set(signature) <= _line_set(trimmed) | {""}
    assert isinstance(courtesy_only(trimmed, name), bool)


@FUZZ
@given(st.text(max_size=3000))
def test_the_trimmer_takes_any_unicode(text: str) -> None:
    trimmed = trim_reply(text)
    assert _line_set(trimmed) <= _line_set(text) | {""}
    split_signature(text, "Bob Builder")
    courtesy_only(text, "Bob Builder")
