"""Header decoding that never raises: RFC 2047 words, raw 8-bit bytes and unknown charsets."""

from __future__ import annotations

import re
from email.errors import HeaderParseError
from email.header import Header, decode_header, make_header
from typing import Final

_CONTROL: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]+")
_DECODE_ERRORS: Final = (
    HeaderParseError, LookupError, UnicodeError, ValueError, AssertionError, IndexError,
)
_SPACES: Final = re.compile(r"[ \t]+")
_SURROGATE: Final = re.compile("[\udc80-\udcff]")


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` in ``charset``, falling back to UTF-8 then Latin-1, never raising.

    A NUL becomes U+FFFD: every text column must take the result (PostgreSQL refuses NUL in
    text), while the raw bytes keep the exact original.
    """
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(_alias(candidate)).replace("\x00", "\ufffd")
        except (LookupError, UnicodeDecodeError):
            continue
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def _alias(charset: str) -> str:
    name = charset.strip().strip('"').lower()
    if name in ("unknown-8bit", "x-unknown", "8bit", "us-ascii", "ascii"):
        return "utf-8" if name != "us-ascii" and name != "ascii" else "ascii"
    if name in ("iso-gb2312", "gb2312", "x-gbk"):
        return "gb18030"
    return name


def decode_value(value: str | Header | None) -> str:
    """Decode a header value into one line of text: RFC 2047 words, 8-bit bytes, folding."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    if _SURROGATE.search(text):
        text = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    if "=?" not in text:
        return one_line(text)
    decoded = _decode_words(text)
    # A word that decodes to nothing (broken base64) would blank the subject: keep the raw text.
    return decoded if decoded else one_line(text)


def _decode_words(text: str) -> str:
    try:
        parts = decode_header(text)
        return one_line(str(make_header(parts)))
    except _DECODE_ERRORS:
        pass
    try:
        parts = decode_header(text)
    except _DECODE_ERRORS:
        return one_line(text)
    pieces = [decode_bytes(c, cs) if isinstance(c, bytes) else c for c, cs in parts]
    return one_line("".join(pieces))


def one_line(text: str) -> str:
    """Collapse folding and strip control characters: safe to show, log or put in a header."""
    return _SPACES.sub(" ", _CONTROL.sub(" ", text)).strip()
