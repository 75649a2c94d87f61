"""The pure pieces of intake.imap: UID sets, FETCH response parsing, first-start policies."""

from __future__ import annotations

import pytest

from mailgate.intake.imap import parse_fetch, parse_sizes, search_criteria, uid_set
from mailgate.intake.poller import Backoff


@pytest.mark.parametrize(("uids", "expected"), [
    ([5], "5:5"), ([1, 2, 3], "1:3"), ([7, 1, 2, 3, 9, 10], "1:3,7:7,9:10"), ([4, 4], "4:4"),
])
def test_uid_set(uids: list[int], expected: str) -> None:
    assert uid_set(uids) == expected


def test_parse_fetch_pairs_literals_with_uids_before_or_after_the_body() -> None:
    lines = [
        b"1 FETCH (UID 7 BODY[] {5}", bytearray(b"hello"), b")",
        b"2 FETCH (BODY[] {3}", bytearray(b"abc"), b" UID 9)",
        b"3 FETCH (UID 11 BODY[] {10}", bytearray(b"short"), b")",     # truncated literal: skipped
        b"Fetch completed.",
    ]
    assert parse_fetch(lines) == [(7, b"hello"), (9, b"abc")]


def test_parse_sizes_in_either_order() -> None:
    assert parse_sizes([b"1 FETCH (UID 4 RFC822.SIZE 120)", b"2 FETCH (RFC822.SIZE 99 UID 5)",
                        b"done"]) == {4: 120, 5: 99}


@pytest.mark.parametrize(("start", "last", "expected"), [
    ("all", None, "ALL"), ("unseen", None, "UNSEEN"), ("since:2026-03-07", None, "SINCE 7-Mar-2026"),
    ("unseen", 41, "UID 42:*"), ("all", 0, "UID 1:*"),
])
def test_search_criteria(start: str, last: int | None, expected: str) -> None:
    assert search_criteria(start, last) == expected


def test_backoff_is_capped_and_jittered() -> None:
    backoff = Backoff(1.0, 300.0)
    delays = [backoff.next() for _ in range(20)]
    assert 0.8 <= delays[0] <= 1.2
    assert all(d <= 360 for d in delays) and delays[-1] >= 240
    backoff.reset()
    assert backoff.next() <= 1.2
