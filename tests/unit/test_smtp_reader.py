"""The SMTP receiver's own reading of DATA and of MAIL/RCPT addresses, against their specifications.

``_read_data`` reads DATA up to each ``.<CRLF>`` instead of a line at a time; it is checked
against RFC 5321 §4.5.2 written out plainly over the whole stream (``_spec``), with the stream
arriving in pieces of every size and a reader limit small enough that long stretches come in
pieces too. ``MailgateSMTP._getaddr`` takes plain ``<local@domain>`` by a regular expression and
must answer exactly as aiosmtpd's own ``SMTP._getaddr`` does, for anything, except where the
library's header parser raises (``<0@[>``): that address is malformed, not a reason to retry.
"""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta
from types import SimpleNamespace

import pytest
from aiosmtpd.smtp import SMTP
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mailgate.intake.smtp import MailgateSMTP, _read_data

EXAMPLES = int(os.environ.get("MAILGATE_FUZZ_EXAMPLES", "400"))
FUZZ = settings(max_examples=EXAMPLES, deadline=timedelta(seconds=5), database=None,
                suppress_health_check=[HealthCheck.too_slow])
TOO_LONG = "500 Line too long (see RFC5321 4.5.3.1.6)"
TOO_MUCH = "552 Error: Too much mail data"


def _spec(stream: bytes, size_limit: int, line_limit: int) -> tuple[bytes, set[str], bytes]:
    """DATA by the letter: it ends at the first ``.<CRLF>`` that starts a line; a line starting
    with a dot loses that dot; the refusals that apply (either may be given when both do); and
    what follows the end, which belongs to the next command."""
    framed = b"\r\n" + stream
    end = framed.index(b"\r\n.\r\n")
    content, rest = framed[2:end + 2], framed[end + 5:]
    lines = content.split(b"\r\n")[:-1]
    refusals = set()
    if size_limit and len(content) > size_limit:
        refusals.add(TOO_MUCH)
    if any(len(line) > line_limit for line in lines):
        refusals.add(TOO_LONG)
    data = b"".join((line[1:] if line.startswith(b".") else line) + b"\r\n" for line in lines)
    return data, refusals, rest


async def _read_in_pieces(stream: bytes, cuts: list[int], size_limit: int,
                          line_limit: int) -> tuple[bytes, str, bytes]:
    """``_read_data`` over ``stream`` arriving cut at ``cuts``; what it read, and what it left."""
    reader = asyncio.StreamReader(limit=line_limit)

    async def arrive() -> None:
        start = 0
        for cut in [*sorted(set(cuts)), len(stream)]:
            if start < cut <= len(stream):
                reader.feed_data(stream[start:cut])
                start = cut
                await asyncio.sleep(0)
        reader.feed_eof()

    feeding = asyncio.ensure_future(arrive())
    data, refusal = await _read_data(reader, size_limit, line_limit)
    await feeding
    return data, refusal, await reader.read()


_BYTES = st.lists(st.sampled_from([b".", b"\r", b"\n", b"\r\n", b"x", b"yz", b".\r\n", b"\r\n.", b"=" * 9]),
                  max_size=60).map(b"".join)


@FUZZ
@given(body=_BYTES, after=st.sampled_from([b"", b"QUIT\r\n", b"MAIL FROM:<a@b.c>\r\n.\r\n"]),
       cuts=st.lists(st.integers(0, 200), max_size=12), line_limit=st.integers(4, 40),
       size_limit=st.sampled_from([0, 30, 100]))
@example(body=b"", after=b"", cuts=[], line_limit=8, size_limit=0)                  # no data at all
@example(body=b".\r\n..\r\n", after=b"", cuts=[1, 2, 3, 4], line_limit=8, size_limit=0)
@example(body=b"a\r", after=b"", cuts=[2], line_limit=4, size_limit=0)
@example(body=b"abcd\r\n.x", after=b"", cuts=[7], line_limit=4, size_limit=0)       # a piece ends in CR
@example(body=b"first\n.\r\nx\r\n", after=b"", cuts=[], line_limit=40, size_limit=0)  # bare LF dot
def test_data_is_read_as_rfc_5321_says_however_it_arrives(body: bytes, after: bytes, cuts: list[int],
                                                        line_limit: int, size_limit: int) -> None:
    stream = body + (b"" if not body or body.endswith(b"\r\n") else b"\r\n") + b".\r\n" + after
    data, refusals, rest = _spec(stream, size_limit, line_limit)
    got, refusal, left = asyncio.run(_read_in_pieces(stream, cuts, size_limit, line_limit))
    assert left == rest
    if refusals:
        assert refusal in refusals and got == b""
    else:
        assert (got, refusal) == (data, "")


def test_a_large_message_keeps_its_bytes_and_a_line_over_64_kib_is_refused() -> None:
    line_limit = 65536
    body = b"".join(b".%06d " % i + b"ABCDEFGHIJ" * 7 + b"\r\n" for i in range(20_000))   # 1.6 MB
    stream = body + b".\r\nQUIT\r\n"
    expected, _, rest = _spec(stream, 0, line_limit)
    cuts = list(range(0, len(stream), 1460))                         # as TCP segments arrive
    assert asyncio.run(_read_in_pieces(stream, cuts, 0, line_limit)) == (expected, "", rest)
    long = b"a\r\n" + b"b" * (line_limit + 1) + b"\r\nc\r\n.\r\n"
    assert asyncio.run(_read_in_pieces(long, cuts, 0, line_limit))[1] == TOO_LONG
    exact = b"a\r\n" + b"b" * line_limit + b"\r\nc\r\n.\r\n"
    assert asyncio.run(_read_in_pieces(exact, cuts, 0, line_limit))[1] == ""


_ATEXT = "abcXYZ019!#$%&'*+/=?^_`{|}~-"
_ARGS = st.one_of(
    st.builds(lambda local, domain, params: f"<{local}@{domain}>{params}",
              st.text(_ATEXT + ".", min_size=0, max_size=8), st.text(_ATEXT + ".[]", min_size=0, max_size=8),
              st.sampled_from(["", " SIZE=100", "  BODY=8BITMIME SMTPUTF8", " ", "\t", "x", " (c) SIZE=1",
                               " SIZE=(1)", "> ", '"', " é=1"])),
    st.text(_ATEXT + ".<>@\"\\ ()[]:,;é\t", max_size=24),
)


@FUZZ
@given(arg=_ARGS, limit=st.sampled_from([0, 3, 64]))
@example(arg="<carol@customer.example>", limit=0)
@example(arg="<carol@customer.example> SIZE=1234 BODY=8BITMIME", limit=0)
@example(arg='<"carol x"@customer.example>', limit=0)
@example(arg="<carol@[127.0.0.1]>", limit=0)
@example(arg="<averylongname@example.com>", limit=3)
@example(arg="<>", limit=0)
@example(arg="<0@[>", limit=0)
def test_addresses_are_read_exactly_as_aiosmtpd_reads_them(arg: str, limit: int) -> None:
    server = SimpleNamespace(local_part_limit=limit)
    try:
        expected = SMTP._getaddr(server, arg)  # type: ignore[arg-type]
    except (AttributeError, IndexError, ValueError):   # the header parser trips: malformed (553)
        expected = (None, None)
    assert MailgateSMTP._getaddr(server, arg) == expected


@pytest.mark.parametrize("arg", ["<carol@customer.example>", "<carol@customer.example> SIZE=99"])
def test_a_plain_address_does_not_go_through_the_header_parser(arg: str,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import mailgate.intake.smtp as smtp

    monkeypatch.setattr(smtp, "get_angle_addr", None)        # would fail if it were called
    assert MailgateSMTP._getaddr(SimpleNamespace(local_part_limit=0), arg)[0] == "carol@customer.example"
