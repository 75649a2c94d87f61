"""mail.tokens (signed reply addresses and Message-IDs) and mail.normalize (subject tags)."""

from __future__ import annotations

import pytest

from mailgate.mail import tokens
from mailgate.mail.normalize import canonical_subject, find_tag, tag_pattern

SECRET = "s" * 32
TAG = tag_pattern("MG")


def test_token_round_trip_and_tamper_detection() -> None:
    token = tokens.Token(1042, 7, tokens.Purpose.REPLY)
    signed = tokens.sign(token, SECRET)
    assert tokens.verify(signed, SECRET) == token
    assert tokens.verify(signed.upper(), SECRET) == token          # mail clients change case
    altered = signed.replace("c1042", "c1043")
    assert tokens.verify(altered, SECRET) is None                  # row 36: altered case id
    assert tokens.verify(signed[:-3], SECRET) is None              # row 36: truncated MAC
    assert tokens.verify(signed, "other-secret-xxxxxxxx") is None


def test_message_ids_carry_a_verifiable_token() -> None:
    token = tokens.Token(5, 0, tokens.Purpose.CUSTOMER)
    mid = tokens.message_id(token, SECRET, "example.com")
    assert tokens.from_message_id(mid, SECRET, "example.com") == token
    assert tokens.from_message_id(mid, SECRET, "other.example") is None
    assert tokens.message_id(token, SECRET, "example.com") != mid   # unique per mail
    forged = mid.replace("c5s0m", "c6s0m")                         # row 38
    assert tokens.from_message_id(forged, SECRET, "example.com") is None


def test_reply_address_form() -> None:
    addr = tokens.reply_address(tokens.Token(1, 2, tokens.Purpose.REPLY), SECRET, "support", "example.com")
    assert addr.startswith("support+c1s2r.") and addr.endswith("@example.com")


@pytest.mark.parametrize("subject", [
    "[MG#1042] Printer", "Re: [MG#1042] Printer", "AW: [mg #1042] Printer", "SV:[MG# 1042] x",
    "RE : Fwd: [MG#1042] Printer", "Re: [MG#1042 <https://help.example.com/1042>] Printer",
    "Printer [MG#1042]",
])
def test_tag_is_found_however_clients_mangle_it(subject: str) -> None:
    assert find_tag(subject, TAG) == 1042


@pytest.mark.parametrize("subject", ["[XY#1042] Printer", "MG#1042 without brackets", "[MG#] x"])
def test_other_tags_are_not_ours(subject: str) -> None:
    assert find_tag(subject, TAG) is None


def test_canonical_and_tagged_subjects() -> None:
    assert canonical_subject("Re: AW: [MG#7] Fwd: Printer", TAG) == "Printer"
    assert canonical_subject("   ", TAG) == "(no subject)"
