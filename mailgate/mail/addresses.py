"""Strict e-mail address handling that does not trust the stdlib's lenient parser.

CPython 3.11.7 still has CVE-2023-27043: ``getaddresses`` can split ``a@x(<b@y>`` or
``a@x <b@y>`` into an address the sender did not mean. A sender identity is trusted only when the
header holds exactly one plainly written address; anything ambiguous is untrusted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Final

from mailgate.mail.headers import decode_value

_LOCAL: Final = r"[^\s@<>()\[\],;:\"\\\x00-\x1f\x7f]+"
_DOMAIN: Final = r"[A-Za-z0-9\u00a0-\uffff](?:[A-Za-z0-9\u00a0-\uffff-]*[A-Za-z0-9\u00a0-\uffff])?"
ADDR_SPEC: Final = re.compile(rf"^{_LOCAL}@{_DOMAIN}(?:\.{_DOMAIN})+$")
_QUOTED: Final = re.compile(r'"(?:[^"\\]|\\.)*"')
_ENCODED_WORD: Final = re.compile(r"=\?[^?]*\?[bBqQ]\?[^?]*\?=")


@dataclass(frozen=True, slots=True)
class Address:
    """A display name and an addr-spec with the domain lower-cased."""

    name: str
    addr: str


def normalize_addr(addr: str) -> str:
    """Lower-case the domain (and, as mail systems do in practice, the local part)."""
    return addr.strip().lower()


def is_valid(addr: str) -> bool:
    """Tell whether ``addr`` is a plain addr-spec safe to put in a header or SMTP command."""
    return bool(ADDR_SPEC.match(addr)) and len(addr) <= 254


def parse_list(raw_values: list[str], limit: int) -> tuple[Address, ...]:
    """Return up to ``limit`` valid addresses from address-list header values."""
    result: list[Address] = []
    seen: set[str] = set()
    for name, addr in getaddresses(raw_values):
        addr = normalize_addr(addr)
        if is_valid(addr) and addr not in seen:
            seen.add(addr)
            result.append(Address(decode_value(name), addr))
            if len(result) >= limit:
                break
    return tuple(result)


def parse_single(raw_values: list[str]) -> tuple[Address | None, bool]:
    """Parse a single-address header (From, Sender); return (address, trusted).

    Trusted means: one header field, one address in it, a valid addr-spec, and no second ``@``
    outside quoted strings that a lenient parser could have taken instead.
    """
    if not raw_values:
        return None, False
    pairs = [(n, a) for n, a in getaddresses(raw_values) if a]
    if not pairs:
        return None, False
    name, addr = pairs[0]
    addr = normalize_addr(addr)
    if not is_valid(addr):
        return None, False
    unquoted = _ENCODED_WORD.sub("", _QUOTED.sub("", raw_values[0]))
    trusted = len(raw_values) == 1 and len(pairs) == 1 and unquoted.count("@") == 1
    return Address(decode_value(name), addr), trusted


def split_subaddress(addr: str, delimiter: str) -> tuple[str, str]:
    """``support+next@example.com`` → (``support@example.com``, ``next``); lower-cased.

    The subaddress is what follows the first ``delimiter`` in the local part ('' when none).
    """
    local, _, domain = addr.lower().rpartition("@")
    base, _, sub = local.partition(delimiter) if delimiter else (local, "", "")
    return f"{base}@{domain}", sub
