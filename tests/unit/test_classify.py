"""mail.classify: auto-replies, bounces, bulk mail and loops, on hand-made and real messages."""

from __future__ import annotations

import pytest

from mailgate.mail.classify import Disposition, classify
from mailgate.mail.parse import parse
from tests.corpus import CORPORA, available

OWN = frozenset({"support@example.com"})
MARKER = "secretmarker"


def kind(headers: str, body: str = "hi\r\n") -> Disposition:
    raw = (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode()
    return classify(parse(raw), MARKER, OWN)


BASE = "From: carol@customer.example\nTo: support@example.com\nMessage-ID: <m@c.example>"


@pytest.mark.parametrize(("extra", "expected"), [
    ("Subject: Printer", Disposition.PERSONAL),
    ("Subject: x\nAuto-Submitted: no", Disposition.PERSONAL),
    ("Subject: x\nAuto-Submitted: auto-replied", Disposition.AUTO_REPLY),
    ("Subject: Automatic reply: your mail", Disposition.AUTO_REPLY),
    ("Subject: Out of Office: your mail", Disposition.AUTO_REPLY),
    ("Subject: Abwesenheitsnotiz: Ihre Mail", Disposition.AUTO_REPLY),
    ("Subject: x\nX-Autoreply: yes", Disposition.AUTO_REPLY),
    ("Subject: x\nAuto-Submitted: auto-generated", Disposition.AUTO_GENERATED),
    ("Subject: x\nPrecedence: bulk", Disposition.AUTO_GENERATED),
    ("Subject: x\nList-Id: <l.example>", Disposition.AUTO_GENERATED),
    ("Subject: x\nX-Mailgate-Loop: secretmarker", Disposition.LOOP),
    ("Subject: x\nX-Mailgate-Loop: guessed", Disposition.PERSONAL),
])
def test_headers_and_subjects(extra: str, expected: Disposition) -> None:
    assert kind(f"{BASE}\n{extra}") is expected


def test_mail_from_our_own_address_or_subaddress_is_a_loop() -> None:
    assert kind(BASE.replace("carol@customer.example", "support+x@example.com") + "\nSubject: x") is \
        Disposition.LOOP


def test_mailer_daemon_with_bounce_subject_is_a_bounce() -> None:
    headers = BASE.replace("carol@customer.example", "MAILER-DAEMON@mx.example")
    assert kind(headers + "\nSubject: Undelivered Mail Returned to Sender") is Disposition.BOUNCE


@pytest.mark.skipif(not available(), reason="shared corpora not found")
def test_real_rfc3834_vacation_messages_are_automatic() -> None:
    paths = sorted(CORPORA.glob("sisimai-set-of-emails/maildir/*/rfc3834-*.eml"))
    assert paths
    for path in paths:
        assert classify(parse(path.read_bytes()), MARKER, OWN).automatic, path.name


@pytest.mark.skipif(not available(), reason="shared corpora not found")
def test_real_bounces_are_recognised() -> None:
    paths = sorted(CORPORA.glob("sisimai-set-of-emails/maildir/bsd/*.eml"))
    assert len(paths) > 600
    results = [classify(parse(p.read_bytes()), MARKER, OWN) for p in paths]
    bounces = sum(r is Disposition.BOUNCE for r in results)
    automatic = sum(r.automatic for r in results)
    assert bounces / len(results) > 0.93      # 596 of 629 measured
    assert automatic / len(results) > 0.98    # the rest is at least never answered


@pytest.mark.skipif(not available(), reason="shared corpora not found")
def test_bounce_look_alikes_written_by_people_stay_personal() -> None:
    paths = sorted(CORPORA.glob("sisimai-set-of-emails/maildir/not/is-not-bounce-*.eml"))
    assert paths
    for path in paths:
        assert classify(parse(path.read_bytes()), MARKER, OWN) is Disposition.PERSONAL, path.name
