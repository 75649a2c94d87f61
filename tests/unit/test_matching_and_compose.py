"""matching (with an in-memory ThreadLookup) and outbound.compose header safety."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest

from mailgate.domain.intake import Parties
from mailgate.errors import UsageError
from mailgate.mail import tokens
from mailgate.mail.normalize import tag_pattern
from mailgate.mail.parse import parse
from mailgate.matching import MatchContext, match
from mailgate.outbound.compose import Envelope, compose

SECRET = "s" * 32
CTX = MatchContext(SECRET, "example.com", "+", tag_pattern("MG"))


class FakeLookup:
    def __init__(self, by_mid: dict[str, int], people: dict[int, Parties]) -> None:
        self.by_mid = by_mid
        self.people = people

    def case_for_message_ids(self, ids: Sequence[str]) -> int | None:
        return next((self.by_mid[i] for i in ids if i in self.by_mid), None)

    def parties(self, case_id: int) -> Parties | None:
        return self.people.get(case_id)


LOOKUP = FakeLookup({"first@customer.example": 3}, {7: Parties("carol@customer.example")})


def mail(sender: str = "carol@customer.example", subject: str = "x", extra: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: support@example.com\r\nSubject: {subject}\r\n"
            f"Message-ID: <n@customer.example>\r\n{extra}\r\nbody\r\n").encode()


def test_token_in_recipient_wins() -> None:
    token = tokens.sign(tokens.Token(9, 1, tokens.Purpose.REPLY), SECRET)
    result = match(parse(mail(subject="[MG#7] x")), [f"support+{token}@example.com"], LOOKUP, CTX)
    assert (result.case_id, result.reason) == (9, "token")


def test_our_own_message_id_in_references_threads_without_the_database() -> None:
    mid = tokens.message_id(tokens.Token(11, 0, tokens.Purpose.CUSTOMER), SECRET, "example.com")
    result = match(parse(mail(extra=f"In-Reply-To: <{mid}>\r\n")), [], LOOKUP, CTX)
    assert (result.case_id, result.reason) == (11, "reference")


def test_received_message_id_threads_through_the_lookup() -> None:
    result = match(parse(mail(extra="References: <first@customer.example>\r\n")), [], LOOKUP, CTX)
    assert (result.case_id, result.reason) == (3, "reference")


def test_foreign_reference_alone_does_not_match() -> None:
    result = match(parse(mail(extra="References: <other@elsewhere.example>\r\n")), [], LOOKUP, CTX)
    assert result.case_id is None


def test_tag_only_from_participants() -> None:
    ok = match(parse(mail(subject="Re: [MG#7] x")), [], LOOKUP, CTX)
    assert (ok.case_id, ok.reason) == (7, "tag")
    stranger = match(parse(mail("mallory@evil.example", "Re: [MG#7] x")), [], LOOKUP, CTX)
    assert (stranger.case_id, stranger.quoted_tag) == (None, 7)
    unknown = match(parse(mail(subject="Re: [MG#99] x")), [], LOOKUP, CTX)
    assert (unknown.case_id, unknown.quoted_tag) == (None, 99)


NOW = datetime(2026, 11, 23, tzinfo=UTC)


def test_compose_strips_line_breaks_from_subject_and_names() -> None:
    env = Envelope("support@example.com", "Help\r\nBcc: x@evil.example", ("carol@customer.example",),
                   "mid@example.com", in_reply_to="a@b\r\nX-Evil: 1")
    raw = compose(env, "Hi\r\nBcc: x@evil.example", "text\n", NOW)
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert msg["Bcc"] is None and msg["X-Evil"] is None
    assert "\n" not in str(msg["Subject"])


@pytest.mark.parametrize("bad", ["carol@customer.example\r\nRCPT TO:<x@evil.example>", "no-at-sign",
                                 "a@b.example>, <c@d.example"])
@pytest.mark.reliability(43)
def test_compose_refuses_invalid_recipients(bad: str) -> None:  # row 43
    with pytest.raises(UsageError):
        compose(Envelope("support@example.com", "Help", (bad,), "m@example.com"), "s", "t", NOW)


def test_long_lines_are_encoded_below_998_octets() -> None:
    raw = compose(Envelope("support@example.com", "Help", ("c@customer.example",), "m@example.com"),
                  "s", "x" * 5000 + "\n", NOW)
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
