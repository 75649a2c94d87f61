"""Only our MTA's topmost Authentication-Results header is believed (RFC 8601)."""

from __future__ import annotations

import pytest

from mailgate.mail.authresults import verdicts


@pytest.mark.parametrize(("header", "expected"), [
    ("mx.example.com; spf=pass smtp.mailfrom=a.example; dkim=pass header.d=a.example; dmarc=pass",
     {"spf": "pass", "dkim": "pass", "dmarc": "pass"}),
    ("MX.Example.COM 1; dmarc=fail (p=reject; dis=none) header.from=a.example",
     {"dmarc": "fail"}),                                    # id case, a version, a comment with ';'
    ("mx.example.com (a (nested; comment)) ; dkim/1 = neutral ; dmarc=none", {"dkim": "neutral",
                                                                              "dmarc": "none"}),
    ("mx.example.com; dkim=fail header.b=abc; dkim=pass header.b=def", {"dkim": "fail"}),
    ("mx.example.com; none", {}),
    ("other.example; dmarc=pass", {}),                      # another server's header: not ours
    ("mx.example.com.evil.example; dmarc=pass", {}),
    ("", {}),
])
def test_verdicts_of_our_header(header: str, expected: dict[str, str]) -> None:
    assert verdicts(header, "mx.example.com") == expected


def test_without_a_configured_id_nothing_is_authenticated() -> None:
    assert verdicts("mx.example.com; dmarc=pass", "") == {}
