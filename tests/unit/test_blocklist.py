"""The blocklist's pure rules: what an admin may type, and who it catches."""

from __future__ import annotations

import pytest

from mailgate.domain.blocklist import Entry, Kind, entry, match


@pytest.mark.parametrize(("typed", "expected"), [
    ("Fraud@Evil.Example", Entry("fraud@evil.example", Kind.ADDRESS)),
    ("@Evil.Example.", Entry("@evil.example", Kind.DOMAIN)),
    ("203.0.113.9", Entry("203.0.113.9", Kind.IP)),
    ("203.0.113.9/24", Entry("203.0.113.0/24", Kind.IP)),
    ("2001:DB8::1", Entry("2001:db8::1", Kind.IP)),
    ("2001:db8::/32", Entry("2001:db8::/32", Kind.IP)),
    ("203.0.113.9/32", Entry("203.0.113.9", Kind.IP)),
])
def test_entries_are_canonical(typed: str, expected: Entry) -> None:
    assert entry(typed) == expected


@pytest.mark.parametrize("typed", ["", "evil", "@", "@evil", "a@b", "fraud@", "300.1.1.1", "1.2.3.4/33",
                                   "@-evil.example", "a b@evil.example"])
def test_nonsense_is_refused_with_a_reason(typed: str) -> None:
    with pytest.raises(ValueError, match="not"):
        entry(typed)


ENTRIES = [entry(v) for v in ("fraud@evil.example", "@spam.example", "203.0.113.0/24", "2001:db8::/32")]


@pytest.mark.parametrize(("sender", "ip", "hit"), [
    ("FRAUD@evil.example", "", "fraud@evil.example"),
    ("other@evil.example", "", None),                     # an address entry is that address only
    ("x@spam.example", "", "@spam.example"),
    ("x@mx.eu.spam.example", "", "@spam.example"),        # subdomains too
    ("x@notspam.example", "", None),                      # not a suffix match on the name
    ("x@spam.example.org", "", None),
    ("carol@customer.example", "203.0.113.77", "203.0.113.0/24"),
    ("carol@customer.example", "::ffff:203.0.113.77", "203.0.113.0/24"),   # IPv4 mapped in IPv6
    ("carol@customer.example", "2001:db8:1::5", "2001:db8::/32"),
    ("carol@customer.example", "198.51.100.1", None),
    ("carol@customer.example", "not an ip", None),
    ("", "", None),
])
def test_who_is_caught(sender: str, ip: str, hit: str | None) -> None:
    found = match(ENTRIES, sender, ip)
    assert (found.value if found else None) == hit
