"""Large base64 bodies kept out of the stdlib parser (``parse`` reads the skeleton instead).

A big attachment costs the stdlib parser several times its size in line strings; here each long
run of base64 lines is replaced by a token line, and decoded straight from the raw bytes.
"""

from __future__ import annotations

import re
import secrets
from binascii import a2b_base64
from email.message import Message
from typing import Final

_NO_TOKEN: Final = re.compile(r"(?!)")     # matches nothing


class Blobs:
    """Large base64 bodies, kept out of the stdlib parser.

    The parser turns a message into Python strings line by line, several times its size for a
    big attachment (a 39 MB message peaked at 290 MB). Every run of 150 KB or more of whole lines
    of base64 characters, a whole number of 4-character groups, is replaced in the ``skeleton``
    the parser reads by a token line; ``decode`` turns a part's payload back into bytes straight
    from the raw message's memory, so the parser never sees the big bodies at all.
    """

    _RUN: Final = re.compile(rb"(?<=\n)[A-Za-z0-9+/][A-Za-z0-9+/\r\n]{149999,}")

    def __init__(self, raw: bytes) -> None:
        self.raw = raw
        self.spans: list[tuple[int, int]] = []
        self.prefix = f"MGBLOB{secrets.token_hex(8)}x"
        pieces: list[bytes] = []
        last = 0
        for found in self._RUN.finditer(raw):
            span = _whole_groups(raw, found.start(), found.end())
            if span is None:
                continue
            pieces += [raw[last:span[0]], f"{self.prefix}{len(self.spans)}x\r\n".encode()]
            self.spans.append(span)
            last = span[1]
        self.skeleton = b"".join([*pieces, raw[last:]]) if self.spans else raw
        # Compiled only for a message that has such runs: a fresh pattern per message cost a
        # regex compile (~0.3 ms) on every parse.
        self.token = re.compile(rf"{self.prefix}(\d+)x\r?\n?") if self.spans else _NO_TOKEN

    def holds(self, part: Message) -> bool:
        payload = part.get_payload()
        return bool(self.spans) and isinstance(payload, str) and self.prefix in payload

    def restore(self, text: str) -> str:
        """``text`` with each token put back as the base64 lines it stands for."""
        return self.token.sub(lambda m: self._span(int(m[1])).decode("ascii"), text)

    def decode(self, part: Message) -> bytes:
        """The decoded body of a part whose payload holds tokens, exactly as the stdlib decodes
        it: clean base64 is decoded piece by piece from the raw bytes; anything damaged (stray
        characters, missing padding, a group split oddly) is put back together and left to the
        stdlib, which repairs it its own way."""
        payload = str(part.get_payload())
        if str(part.get("content-transfer-encoding", "")).strip().lower() == "base64":
            found = list(self.token.finditer(payload))
            gaps = [payload[a.end() if a else 0:b.start() if b else len(payload)]
                    for a, b in zip([None, *found], [*found, None], strict=True)]
            if all(_clean_base64(gap, last=i == len(gaps) - 1) for i, gap in enumerate(gaps)):
                pieces = [a2b_base64(gaps[0])]
                for token, gap in zip(found, gaps[1:], strict=True):
                    start, end = self.spans[int(token[1])]
                    pieces += [a2b_base64(memoryview(self.raw)[start:end]), a2b_base64(gap)]  # no copy
                pieces = [piece for piece in pieces if piece]
                return pieces[0] if len(pieces) == 1 else b"".join(pieces)   # one piece: no copy
        part.set_payload(self.restore(payload))
        decoded = part.get_payload(decode=True)
        return decoded if isinstance(decoded, bytes) else b""

    def _span(self, index: int) -> bytes:
        start, end = self.spans[index]
        return self.raw[start:end]


_BASE64: Final = re.compile(r"[A-Za-z0-9+/\r\n]*")
_BASE64_END: Final = re.compile(r"[A-Za-z0-9+/\r\n]*(?:={1,2}[\r\n]*)?")


def _clean_base64(text: str, last: bool) -> bool:
    """Whole groups of base64 (padding only at the end of the last piece)."""
    if not (_BASE64_END if last else _BASE64).fullmatch(text):
        return False
    return (len(text) - text.count("\r") - text.count("\n")) % 4 == 0


def _whole_groups(raw: bytes, start: int, end: int) -> tuple[int, int] | None:
    """The longest ``raw[start:e]`` (e <= end) of whole lines holding a multiple of 4 characters."""
    while end > start:
        end = raw.rfind(b"\n", start, end) + 1          # whole lines only
        if end <= start:
            return None
        chars = end - start - raw.count(b"\n", start, end) - raw.count(b"\r", start, end)
        if chars % 4 == 0:
            return start, end
        end -= 1                                           # drop the last line and try again
    return None
