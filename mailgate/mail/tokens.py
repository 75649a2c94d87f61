"""Signed tokens: reply addresses and Message-IDs that carry (case, staff, purpose) and a MAC.

Format: ``c<case>s<staff><purpose>.<mac>`` where the MAC is HMAC-SHA256 under the gateway secret,
truncated to 16 base32 characters (80 bits) and compared in constant time. The same token goes in a
reply address (``support+c42s7r.k9f2…@example.com``) and in Message-IDs
(``<mg.c42s0m.k9f2….<nonce>@example.com>``), so a reply whose client drops the address still threads.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

_TOKEN: Final = re.compile(r"^c(\d{1,12})s(\d{1,12})([a-z])\.([a-z2-7]{16})$")
_MSGID: Final = re.compile(r"^mg\.(c\d{1,12}s\d{1,12}[a-z]\.[a-z2-7]{16})\.[a-z0-9]{1,32}@(.+)$")


class Purpose(StrEnum):
    CUSTOMER = "m"      # mail to the customer
    REPLY = "r"         # a staff member's reply on a case
    APPROVAL = "a"
    CONSULTATION = "d"
    NOTICE = "n"        # notices to staff


@dataclass(frozen=True, slots=True)
class Token:
    case_id: int
    staff_id: int
    purpose: Purpose


def _mac(secret: str, body: str) -> str:
    digest = hmac.new(secret.encode(), body.encode(), hashlib.sha256).digest()[:10]
    return base64.b32encode(digest).decode().lower()


def sign(token: Token, secret: str) -> str:
    """Return the signed text form of ``token``."""
    body = f"c{token.case_id}s{token.staff_id}{token.purpose.value}"
    return f"{body}.{_mac(secret, body)}"


def verify(text: str, secret: str) -> Token | None:
    """Return the token in ``text`` if its MAC is valid, else None (constant-time compare)."""
    match = _TOKEN.match(text.lower())
    if not match:
        return None
    body = f"c{match[1]}s{match[2]}{match[3]}"
    if not hmac.compare_digest(_mac(secret, body), match[4]):
        return None
    try:
        purpose = Purpose(match[3])
    except ValueError:
        return None
    return Token(int(match[1]), int(match[2]), purpose)


def looks_signed(text: str) -> bool:
    """True if ``text`` has the shape of a token, whether or not its MAC is right."""
    return bool(_TOKEN.match(text.lower()))


def message_id(token: Token, secret: str, domain: str) -> str:
    """Mint a unique Message-ID (without angle brackets) that carries ``token``."""
    return f"mg.{sign(token, secret)}.{secrets.token_hex(6)}@{domain}"


def from_message_id(mid: str, secret: str, domain: str) -> Token | None:
    """Return the verified token in one of our Message-IDs, else None."""
    match = _MSGID.match(mid.lower())
    if not match or match[2] != domain.lower():
        return None
    return verify(match[1], secret)


def reply_address(token: Token, secret: str, local: str, domain: str, delimiter: str = "+") -> str:
    """The signed reply address ``<local>+<token>@<domain>``."""
    return f"{local}{delimiter}{sign(token, secret)}@{domain}"


def loop_marker(secret: str) -> str:
    """A stable per-installation value for our loop header that outsiders cannot guess."""
    return _mac(secret, "loop-marker")
