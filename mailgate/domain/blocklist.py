"""The blocklist's rules (SPEC §11 "Blocklist", seed FRAUD-STOP), free of I/O.

An entry is an address (``fraud@evil.example``), a domain written ``@evil.example`` (which also
covers its subdomains, ``mx.evil.example``), or an IPv4/IPv6 address or CIDR (``203.0.113.0/24``,
``2001:db8::/32``). ``entry`` reads what an admin typed into its canonical form; ``match`` says
which entry, if any, a sender hits.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import Final

_LABEL: Final = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_DOMAIN: Final = re.compile(rf"^{_LABEL}(?:\.{_LABEL})+$")
_ADDRESS: Final = re.compile(rf"^[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+$")


class Kind(StrEnum):
    ADDRESS = "address"
    DOMAIN = "domain"
    IP = "ip"


@dataclass(frozen=True, slots=True)
class Entry:
    value: str                  # canonical: lower-case address, "@domain", or a network in CIDR form
    kind: Kind


def entry(text: str) -> Entry:
    """The canonical entry for what an admin typed.

    Raises:
        ValueError: it is none of an address, ``@domain``, or IP address/CIDR.
    """
    value = text.strip().lower()
    if value.startswith("@"):
        domain = value[1:].rstrip(".")
        if not _DOMAIN.match(domain):
            raise ValueError(f"not a domain: {text!r} (write @example.com)")
        return Entry(f"@{domain}", Kind.DOMAIN)
    if "@" in value:
        if not _ADDRESS.match(value):
            raise ValueError(f"not an e-mail address: {text!r}")
        return Entry(value, Kind.ADDRESS)
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError:
        raise ValueError(f"not an address, @domain or IP/CIDR: {text!r}") from None
    single = network.num_addresses == 1
    return Entry(str(network.network_address) if single else str(network), Kind.IP)


def match(entries: Iterable[Entry], sender: str = "", ip: str = "") -> Entry | None:
    """The first entry ``sender`` (an address) or ``ip`` (the client's address) hits, else None."""
    address = sender.strip().lower()
    domain = address.rpartition("@")[2] if "@" in address else ""
    try:
        client = ipaddress.ip_address(ip.split("%")[0]) if ip else None
    except ValueError:
        client = None
    if client is not None and client.version == 6 and client.ipv4_mapped is not None:
        client = client.ipv4_mapped                      # ::ffff:203.0.113.9 is 203.0.113.9
    for item in entries:
        if item.kind is Kind.ADDRESS and address and address == item.value:
            return item
        if item.kind is Kind.DOMAIN and domain and (
                domain == item.value[1:] or domain.endswith("." + item.value[1:])):
            return item
        if item.kind is Kind.IP and client is not None:
            network = ipaddress.ip_network(item.value, strict=False)
            if client.version == network.version and client in network:
                return item
    return None
