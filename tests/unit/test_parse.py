"""mail.parse and mail.addresses against hostile and broken input (RELIABILITY rows 1-19)."""

from __future__ import annotations

import time

import pytest

from mailgate.errors import ParseError
from mailgate.mail.parse import content_digest, parse


def msg(headers: str, body: str = "hello\r\n") -> bytes:
    return (headers.strip().replace("\n", "\r\n") + "\r\n\r\n" + body).encode("utf-8", "surrogateescape")


BASIC = ("From: Carol <carol@customer.example>\nTo: support@example.com\nSubject: Hi\n"
         "Message-ID: <a@b.example>")


def test_basic_fields() -> None:
    p = parse(msg(BASIC, "Line one\r\nLine two\r\n"))
    assert p.sender is not None and p.sender.addr == "carol@customer.example"
    assert p.sender.name == "Carol" and p.sender_trusted
    assert [a.addr for a in p.to] == ["support@example.com"]
    assert (p.subject, p.message_id, p.text) == ("Hi", "a@b.example", "Line one\nLine two")


def test_invalid_charset_in_encoded_word_is_decoded_best_effort() -> None:  # row 7
    p = parse(msg(BASIC.replace("Subject: Hi", "Subject: =?x-klingon?Q?abc?= ok")))
    assert p.subject == "abc ok"


def test_broken_base64_word_falls_back_to_raw_text() -> None:  # row 8
    p = parse(msg(BASIC.replace("Subject: Hi", "Subject: =?utf-8?B?####?=")))
    assert p.subject == "=?utf-8?B?####?="


def test_identity_is_the_addr_spec_not_the_display_name() -> None:  # row 9
    p = parse(msg(BASIC.replace("From: Carol <carol@customer.example>",
                                "From: =?utf-8?q?op=40corp.example?= <evil@bad.example>")))
    assert p.sender is not None and p.sender.addr == "evil@bad.example"
    assert p.sender.name == "op@corp.example"


@pytest.mark.parametrize("header", ["a@x.example <b@y.example>", "a@x.example(<b@y.example>",
                                    "a@x.example, b@y.example"])
def test_ambiguous_from_is_untrusted(header: str) -> None:  # row 10, CVE-2023-27043
    p = parse(msg(BASIC.replace("Carol <carol@customer.example>", header)))
    assert not p.sender_trusted


def test_quoted_address_as_display_name_is_still_trusted() -> None:
    p = parse(msg(BASIC.replace("Carol <carol@customer.example>",
                                '"carol@customer.example" <carol@customer.example>')))
    assert p.sender_trusted


@pytest.mark.parametrize("disposition", [
    'attachment; filename="../../etc/passwd"',
    "attachment; filename*=UTF-8''..%2F..%2Fetc%2Fpasswd",
    'attachment; filename="evil\r\n Bcc: x@evil.example\x00.txt"',
])
def test_attachment_names_are_display_only(disposition: str) -> None:  # rows 11, 12
    body = ("--B\r\nContent-Type: text/plain\r\n\r\nsee file\r\n--B\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Disposition: {disposition}\r\n\r\n"
            "data\r\n--B--\r\n")
    p = parse(msg(BASIC + '\nContent-Type: multipart/mixed; boundary="B"', body))
    [att] = p.attachments
    assert "/" not in att.filename and "\\" not in att.filename
    assert not any(ord(c) < 32 for c in att.filename)
    assert att.data == b"data"


def test_one_megabyte_header_is_refused_quickly() -> None:  # row 14
    started = time.monotonic()
    with pytest.raises(ParseError, match="header section"):
        parse(msg(BASIC + "\nX-Big: " + "a" * 1_000_000))
    assert time.monotonic() - started < 1


def test_twenty_thousand_cc_lines_are_refused_quickly() -> None:  # row 2
    started = time.monotonic()
    with pytest.raises(ParseError):
        parse(msg(BASIC + "".join(f"\nCc: u{i}@x.example" for i in range(20_000))))
    assert time.monotonic() - started < 1


def test_five_thousand_recipients_are_capped() -> None:  # row 1
    to = ", ".join(f"u{i}@x.example" for i in range(5000))
    p = parse(msg(BASIC.replace("To: support@example.com", f"To: {to}")))
    assert len(p.to) == 500


def test_invalid_utf8_becomes_replacement_characters() -> None:  # row 15
    raw = msg(BASIC + "\nContent-Type: text/plain; charset=utf-8", "bad \udcff\udcfe bytes\r\n")
    p = parse(raw)
    assert "bad" in p.text and "\ufffd" in p.text


def test_unknown_body_charset_still_gives_text() -> None:
    p = parse(msg(BASIC + "\nContent-Type: text/plain; charset=x-unknown-thing", "plain ascii\r\n"))
    assert p.text == "plain ascii"


def test_duplicate_identity_headers_make_the_sender_untrusted() -> None:  # row 16
    p = parse(msg(BASIC + "\nFrom: boss@corp.example"))
    assert not p.sender_trusted
    p = parse(msg(BASIC + "\nMessage-ID: <other@b.example>"))
    assert not p.sender_trusted and "DuplicateIdentityHeader" in p.defects


def test_missing_message_id_gets_a_stable_synthetic_one() -> None:  # row 17
    raw = msg(BASIC.replace("\nMessage-ID: <a@b.example>", ""))
    assert parse(raw).message_id == parse(raw).message_id
    assert parse(raw).message_id.endswith("@synthetic.invalid")


def test_same_message_id_different_body_has_a_different_digest() -> None:  # row 18
    assert content_digest(msg(BASIC, "one\r\n")) != content_digest(msg(BASIC, "two\r\n"))


def test_trace_headers_do_not_change_the_digest() -> None:
    raw = msg(BASIC)
    assert content_digest(b"Received: from mx1\r\n" + raw) == content_digest(b"Received: from mx2\r\n" + raw)


def test_ten_thousand_references_keep_only_the_newest() -> None:  # row 19
    refs = " ".join(f"<r{i}@x.example>" for i in range(10_000))
    p = parse(msg(BASIC + f"\nReferences: {refs}"))
    assert len(p.references) == 20 and p.references[-1] == "r9999@x.example"


def _nested(levels: int) -> bytes:
    inner = msg(BASIC)
    for _ in range(levels):
        inner = b"Content-Type: message/rfc822\r\n\r\n" + inner
    return msg(BASIC + "\nContent-Type: multipart/mixed; boundary=Z",
               "--Z\r\n" + inner.decode() + "\r\n--Z--\r\n")


def test_twenty_nested_messages_are_accepted() -> None:  # row 4
    assert parse(_nested(20)).sender is not None


def test_two_thousand_nested_messages_are_refused() -> None:  # row 5
    with pytest.raises(ParseError):
        parse(_nested(2000))


def test_three_thousand_nested_multiparts_are_refused() -> None:  # row 5
    body, head = "", BASIC
    for i in range(3000):
        body += f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n"
    with pytest.raises(ParseError):
        parse(msg(head + "\nContent-Type: multipart/mixed; boundary=b0", body))


def test_a_deep_nest_is_refused_before_the_stdlib_parses_it() -> None:  # row 5
    # 745 levels in 52 kB: the stdlib parser alone took 0.44 s over it (the depth squared).
    nest = "".join(f"Content-Type: multipart/mixed; boundary=b{i}\r\n\r\n--b{i}\r\n" for i in range(745))
    with pytest.raises(ParseError, match="more than 100 multipart containers"):
        parse(msg(BASIC, "").replace(b"\r\n\r\n", b"\r\n" + nest.encode(), 1))
    forty = "".join(f"--b{i}\r\nContent-Type: multipart/mixed; boundary=b{i + 1}\r\n\r\n" for i in range(39))
    assert parse(msg(BASIC + "\nContent-Type: multipart/mixed; boundary=b0", forty + "--b39\r\n\r\nhi\r\n"))


def test_a_hundred_thousand_parts_are_refused_quickly() -> None:  # row 3
    body = "".join("--B\r\nContent-Type: text/plain\r\n\r\nx\r\n" for _ in range(100_000)) + "--B--\r\n"
    started = time.monotonic()
    with pytest.raises(ParseError, match="MIME parts"):
        parse(msg(BASIC + "\nContent-Type: multipart/mixed; boundary=B", body))
    assert time.monotonic() - started < 2


def test_twenty_thousand_parameters_are_refused() -> None:  # row 6
    with pytest.raises(ParseError, match="parameters"):
        parse(msg(BASIC + "\nContent-Type: text/plain; " + "a=b;" * 20_000))


def test_html_only_mail_becomes_text_without_script() -> None:  # row 20 (stored raw, text inert)
    html = "<html><body><p>Hello <b>there</b></p><script>alert(1)</script></body></html>"
    p = parse(msg(BASIC + "\nContent-Type: text/html; charset=utf-8", html))
    assert "Hello there" in p.text and "alert" not in p.text


def test_delivery_status_notification_facts() -> None:
    body = ("--B\r\nContent-Type: text/plain\r\n\r\nfailed\r\n--B\r\n"
            "Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx\r\n\r\n"
            "Final-Recipient: rfc822; carol@customer.example\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
            "--B\r\nContent-Type: message/rfc822\r\n\r\n"
            "Message-ID: <orig@example.com>\r\nSubject: x\r\n\r\nbody\r\n"
            "--B--\r\n")
    p = parse(msg(BASIC + "\nContent-Type: multipart/report; report-type=delivery-status; boundary=B", body))
    assert p.bounce is not None
    assert (p.bounce.actions, p.bounce.statuses) == (("failed",), ("5.1.1",))
    assert p.embedded_ids == ("orig@example.com",)


def test_empty_input_is_refused() -> None:
    with pytest.raises(ParseError):
        parse(b"\r\n\r\n")
