"""Reply trimming, measured against the expected results shipped with ../shared/corpora and
against our own set of replies as mail clients write them in two dozen languages
(tests/data/replies.py).

The rates are asserted as floors and printed (pytest -s) so the note can quote them; the cases
mailgate deliberately decides otherwise are named below with the reason.
"""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from mailgate.mail import html
from mailgate.mail.quotes import courtesy_only, split_signature, trim_reply
from tests.corpus import CORPORA
from tests.data.replies import CASES, LANGUAGES

TRIMMER = CORPORA / "email-reply-trimmer"
TALON = CORPORA / "talon"
pytestmark = pytest.mark.skipif(not TRIMMER.is_dir(), reason="../shared/corpora is not here")

# Upstream fixtures whose expectation mailgate does not share:
#  - embedded_email_7 / _17 keep part of a quote or drop half a sentence (Discourse quirks);
#  - forwarded_message: a mail that is only a forward keeps the forwarded text upstream;
#    an operator's reply that is only a forward has nothing new to relay.
#  - talon iphone / sparrow expect "Sent from my iPhone" to stay; mailgate strips client
#    footers because the operator's own footer is added.
KNOWN_DIFFERENT = {"embedded_email_7.txt", "embedded_email_17.txt", "forwarded_message.txt",
                   "iphone.eml", "sparrow.eml"}


def test_email_reply_trimmer_expected_results() -> None:
    cases = sorted((TRIMMER / "emails").glob("*.txt"))
    wrong = [c.name for c in cases
             if trim_reply(c.read_text(encoding="utf-8")).strip()
             != (TRIMMER / "trimmed" / c.name).read_text(encoding="utf-8").strip()]
    print(f"email-reply-trimmer exact match: {len(cases) - len(wrong)}/{len(cases)}")
    assert set(wrong) <= KNOWN_DIFFERENT, wrong
    assert len(cases) == 64


def _first_plain(raw: bytes) -> str:
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(msg, EmailMessage)
    part = next(p for p in msg.walk() if p.get_content_type() == "text/plain")
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


def test_talon_standard_replies() -> None:
    folder = TALON / "standard_replies"
    cases = sorted(folder.glob("*.eml"))
    wrong = []
    for case in cases:
        expected_file = folder / f"{case.stem}_reply_text"
        expected = expected_file.read_text().strip() if expected_file.exists() else "Hello"
        if trim_reply(_first_plain(case.read_bytes())).strip() != expected:
            wrong.append(case.name)
    print(f"talon standard replies exact match: {len(cases) - len(wrong)}/{len(cases)}")
    assert set(wrong) <= KNOWN_DIFFERENT, wrong
    # The two differ only by what mailgate removes on purpose (the client's "Sent from/with …"
    # footer, and what follows a "-- " delimiter): compared without it, all twelve match.
    for name in ("iphone.eml", "sparrow.eml"):
        expected = (folder / f"{name[:-4]}_reply_text").read_text().split("\n-- \n")[0]
        without_footer = "\n".join(line.rstrip() for line in expected.split("\n")
                                   if not line.startswith("Sent "))
        assert trim_reply(_first_plain((folder / name).read_bytes())) == without_footer.strip(), name


def test_talon_html_replies_via_the_html_converter() -> None:
    cases = sorted((TALON / "html_replies").glob("*.html"))
    got = {c.name: "".join(trim_reply(html.to_text(c.read_text(encoding="utf-8", errors="replace"))).split())
           for c in cases}
    print(f"talon html replies: {sum(v == 'Hi.Iamfine.Thanks,Alex' for v in got.values())}/{len(cases)}")
    assert got == {name: "Hi.Iamfine.Thanks,Alex" for name in got}


def test_talon_signatures_by_sender_name() -> None:
    folder = TALON / "signature" / "emails" / "stripped"
    named = 0
    for body_file in sorted(folder.glob("*_body")):
        stem = body_file.name.removesuffix("_body")
        sender = (folder / f"{stem}_sender").read_text().strip()
        if "@" in sender:
            continue    # only an address: no name to recognise the signature by
        body = body_file.read_text(encoding="utf-8").strip()
        signature = (folder / f"{stem}_signature").read_text(encoding="utf-8").strip()
        expected = body[: len(body) - len(signature)].strip() if signature else body
        assert split_signature(trim_reply(body), sender)[0] == expected, stem
        named += 1
    assert named == 5


@pytest.mark.parametrize(("client", "body", "expected"), [
    ("thunderbird", "Yes, the refund is on its way.\n\nOn 23.11.26 14:02, Ann Customer wrote:\n"
                    "> Where is my refund?\n>\n> Ann\n", "Yes, the refund is on its way."),
    ("outlook", "Yes, the refund is on its way.\r\n\r\nBob Operator\r\nExample Support\r\n\r\n"
                "________________________________\r\nFrom: Ann Customer <ann@example.org>\r\n"
                "Sent: Monday, November 23, 2026 2:02 PM\r\nTo: support@example.com\r\n"
                "Subject: [MG#7] Refund\r\n\r\nWhere is my refund?\r\n",
     "Yes, the refund is on its way.\n\nBob Operator\nExample Support"),      # the sign-off stays
    ("apple mail", "Yes, the refund is on its way.\n\nSent from my iPhone\n\n"
                   "> On 23. Nov 2026, at 14:02, Ann Customer <ann@example.org> wrote:\n>\n> Where?\n",
     "Yes, the refund is on its way."),
    ("gmail", "Yes, the refund is on its way.\n\nOn Mon, Nov 23, 2026 at 2:02 PM Ann Customer <\n"
              "ann@example.org> wrote:\n\n> Where is my refund?\n", "Yes, the refund is on its way."),
    ("mutt", "* Ann Customer <ann@example.org> [2026-11-23 14:02]:\n> Where is my refund?\n\n"
             "Yes, the refund is on its way.\n\n-- \nBob Operator | Example Support\n",
     "Yes, the refund is on its way."),
    ("german outlook", "Die Erstattung ist unterwegs.\n\nVon: Ann Kundin <ann@example.org>\n"
                       "Gesendet: Montag, 23. November 2026 14:02\nAn: support@example.com\n"
                       "Betreff: Erstattung\n\nWo bleibt sie?\n", "Die Erstattung ist unterwegs."),
])
def test_operator_client_replies(client: str, body: str, expected: str) -> None:
    assert trim_reply(body) == expected, client


def test_text_without_quotes_is_left_alone() -> None:
    text = "Line one.\n\n  indented code\n\nOn second thought: this stays.\n"
    assert trim_reply(text) == text.strip("\n").rstrip()


@pytest.mark.parametrize(("case", "text", "expected"), CASES, ids=[c[0] for c in CASES])
def test_clients_and_languages(case: str, text: str, expected: str) -> None:
    assert trim_reply(text) == expected


def test_the_own_set_covers_the_languages_asked_for() -> None:
    wanted = {"cs", "ro", "el", "ar", "ja", "zh", "hu", "vi", "fi", "tr", "nl", "nl-be", "pt", "pt-br", "pl"}
    assert wanted <= set(LANGUAGES)
    print(f"own set: {len(CASES)} cases, {len(LANGUAGES)} languages and variants")


@pytest.mark.parametrize(("text", "name", "courtesy"), [
    ("Bob", "Bob Builder", True),
    ("Thanks,\nAlice", "Alice Smith", True),
    ("Hi Carol,\n\nBest regards,\nBob Builder\nExample Support", "Bob Builder", True),
    ("Kind regards,\nBob Builder\nExample Support\n+1 555 0100", "Bob Builder", True),
    ("Danke!\n\nMit freundlichen Grüßen\nBob", "Bob Builder", True),
    ("", "Bob", True),
    ("Thanks, the refund is on its way.\n\nBob", "Bob Builder", False),
    ("Bobby will call you.", "Bob", False),
    ("Done.", "Bob", False),
    ("Hi Carol,\n\nyour refund left today.\n\nBest,\nBob", "Bob", False),
])
def test_courtesy_only(text: str, name: str, courtesy: bool) -> None:
    assert courtesy_only(text, name) is courtesy
