"""Reply trimming: the new text of a reply, without quoted history, client footers or signature.

Pure text in, text out. Each line is looked at for what it can start: an attribution ("On …
wrote:" in two dozen languages, possibly wrapped over up to four lines), an Outlook-style header
block ("From:/Sent:/To:"), an "original message" or "forwarded message" separator, a signature
delimiter ("-- "), a mobile client's footer ("Sent from my iPhone"), or a run of ``>`` quotes that
lasts to the end (``quote_patterns`` has the data). The reply is what comes before the first of
these, and text typed *below* a quote is kept too: a bottom-posted answer keeps its text, an
interleaved one its quoted questions and answers. The writer's valediction ("Best regards,
Bob") stays; what follows a signature delimiter goes. Fenced code blocks are left alone. If the
cut would leave nothing but the mail is all quotation, the quotation is kept (someone forwarded
only a quote); if it starts with a quote header, nothing of the reply is left.

``split_signature`` finds a signature that starts with the writer's name; ``courtesy_only``
tells a reply that says nothing but hello, thanks and the writer's name.

Measured against the reply-trimming fixtures in ../shared/corpora and tests/data/replies.py.
"""

from __future__ import annotations

import re
from typing import Final

from mailgate.mail.quote_patterns import (
    FROM_FIELD,
    GREETING,
    HEADER_FIELD,
    HEADER_START,
    MOBILE,
    SEPARATOR,
    VALEDICTION,
    is_attribution,
)

_RULE: Final = re.compile(r"^\s*[-_=*~#+\u1427]{2,}\s*$|^\s*\u1427\s*$")
_SIG_DELIMITER: Final = re.compile(r"^--\s?$")
_FENCE: Final = re.compile(r"^\s*(```|~~~)")
_WRAP_LINES: Final = 4


def _quote_header_at(lines: list[str], i: int) -> int:
    """How many lines starting at ``i`` form an attribution like "On … wrote:", else 0."""
    line = lines[i].strip()
    if not line or len(line) > 400:
        return 0
    if is_attribution(line):
        return 1
    return _wrapped_header(lines, i)


def _wrapped_header(lines: list[str], i: int) -> int:
    """An attribution wrapped over up to four lines (Gmail wraps before the address)."""
    line = lines[i].strip()
    starts_like_header = HEADER_START.match(line) or re.search(r"@|<|\d", line)
    if _looks_like_text(line) or not starts_like_header:
        return 0
    joined, taken = line, 1
    for extra in range(1, 7):
        if i + extra >= len(lines) or taken == _WRAP_LINES or len(joined) > 400:
            break
        nxt = lines[i + extra].strip()
        if _looks_like_text(nxt):
            break
        if nxt:
            joined, taken = f"{joined} {nxt}", taken + 1
            if is_attribution(joined):
                return extra + 1
    return 0


def _looks_like_text(line: str) -> bool:
    """A sentence, not the start of a wrapped quote header (those carry an address or a date)."""
    return line.endswith(("!", "?")) or (line.endswith(".") and not re.search(r"@|<|\d\.$", line))


def _header_block_at(lines: list[str], i: int) -> bool:
    """An Outlook-style block: From: and another field, or three fields one of which is From:."""
    if not HEADER_FIELD.match(lines[i]):
        return False
    fields, has_from = 1, bool(FROM_FIELD.match(lines[i]))
    for line in lines[i + 1:i + 8]:
        if HEADER_FIELD.match(line):
            fields += 1
            has_from = has_from or bool(FROM_FIELD.match(line))
        elif not line.strip() and fields >= 2:
            break
    return (bool(FROM_FIELD.match(lines[i])) and fields >= 2) or (has_from and fields >= 3)


def _trailing_quotes_from(lines: list[str]) -> int | None:
    """Index where a final run of ``>`` lines (blank lines allowed) begins, if the text ends so."""
    start = None
    for i in range(len(lines) - 1, -1, -1):
        stripped = lines[i].strip()
        if stripped.startswith(">"):
            start = i
        elif stripped:
            break
    return start


def _starts_here(lines: list[str], i: int, first_line_footer: bool) -> tuple[int, str, int] | None:
    """If line ``i`` starts what is not the reply: (where it really starts, what it is, its size)."""
    line = lines[i]
    if SEPARATOR.match(line):
        return i, "separator", 1
    size = _quote_header_at(lines, i)
    if size:
        return i, "header", size
    if _header_block_at(lines, i):
        start = i       # take the rule and blank lines Outlook puts above the block along
        while start > 0 and (_RULE.match(lines[start - 1]) or not lines[start - 1].strip()):
            start -= 1
            if _RULE.match(lines[start]):
                break
        return start, "block", i - start + 1
    if _SIG_DELIMITER.match(line) or (_RULE.match(line) and _only_footer_after(lines, i)):
        return i, "signature", 1
    if MOBILE.match(line) and (i > 0 or first_line_footer):
        return i, "signature", 1
    return None


def _cut(lines: list[str], first_line_footer: bool = False) -> tuple[int, str, int]:
    """(index of the first line that is not part of the reply, what starts there, its size)."""
    in_code = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and (found := _starts_here(lines, i, first_line_footer)) is not None:
            return found
    start = _trailing_quotes_from(lines)
    return (start, "quote", 0) if start is not None else (len(lines), "", 0)


def _only_footer_after(lines: list[str], i: int) -> bool:
    """True when everything after a rule line is short (a footer or more rules), not a body."""
    rest = [line for line in lines[i + 1:] if line.strip()]
    return len(rest) <= 12 and all(len(line) < 120 for line in rest)


def _quoted(line: str) -> bool:
    return line.lstrip().startswith(">")


def _answers_below(lines: list[str], after: int, at_top: bool) -> list[str] | None:
    """Text typed under the ``>`` quote that follows an attribution ending at ``after``.

    One answer under the quote (bottom posting): that answer. Answers between several quoted
    parts (interleaved): the quoted questions and the answers. None when the quote has no text
    under it. An attribution that is not followed by a ``>`` quote starts the quoted history,
    unless it is the first thing in the mail: then what follows it is the answer.
    """
    i = after
    while i < len(lines) and not lines[i].strip():
        i += 1
    if i >= len(lines) or not _quoted(lines[i]):
        return _trim_lines(lines[i:], first_line_footer=True) or None if at_top else None
    first_quote = i
    while i < len(lines) and (_quoted(lines[i]) or not lines[i].strip()):
        i += 1
    below = _trim_lines(lines[i:], first_line_footer=True)
    if not below:
        return None
    if any(_quoted(line) for line in below):          # interleaved: keep the questions too
        return _trim_lines(lines[first_quote:], first_line_footer=True)
    return below


def _trim_lines(lines: list[str], first_line_footer: bool = False) -> list[str]:
    cut, kind, size = _cut(lines, first_line_footer)
    kept = lines[:cut]
    if kind in ("header", "block"):
        at_top = kind == "header" and not any(line.strip() for line in kept)
        below = _answers_below(lines, cut + size, at_top)
        if below is not None:
            kept = [*kept, "", *below] if any(line.strip() for line in kept) else below
    elif kind == "quote" and not any(line.strip() for line in kept):
        kept = lines                                   # nothing but a quote: keep it
    return _strip_blank_edges(kept)


def trim_reply(text: str) -> str:
    """The new text of a reply: quoted history, client footers and what follows ``-- `` removed."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\n".join(line.rstrip() for line in _trim_lines(lines))


def split_signature(text: str, name: str) -> tuple[str, str]:
    """(body, signature) where the signature starts with the writer's ``name`` (and the
    valediction before it, "Thanks,") in the last ten lines; ('' signature when there is none)."""
    words = [w for w in re.split(r"[\s,]+", name.strip()) if len(w) > 1]
    lines = text.split("\n")
    if not words:
        return text, ""
    for i in range(max(len(lines) - 10, 1), len(lines)):
        line = lines[i].strip()
        lowered = line.lower()
        full_name = lowered.startswith(words[0].lower()) and all(w.lower() in lowered for w in words[:2])
        if (len(line) < 60 and full_name) or lowered == words[0].lower():
            cut = i - 1 if VALEDICTION.match(lines[i - 1]) else i
            body = "\n".join(_strip_blank_edges(lines[:cut]))
            if body:
                return body, "\n".join(_strip_blank_edges(lines[cut:]))
            break
    return text, ""


def before_footer(text: str, name: str, footer: str) -> str:
    """``text`` without its closing name block when the footer that follows repeats it.

    "Best regards,⏎Bob Builder⏎Example Support" followed by a footer that starts "Bob Builder"
    keeps "Best regards," and lets the footer carry the name once.
    """
    first = next((line.strip() for line in footer.split("\n") if line.strip()), "")
    body, signature = split_signature(text, name) if first else (text, "")
    if not signature:
        return text
    sign_off, *block = signature.split("\n")
    if VALEDICTION.match(sign_off):
        body, block = f"{body}\n\n{sign_off}", block
    else:
        block = [sign_off, *block]
    named = next((line.strip() for line in block if line.strip()), "")
    return body if named.lower() == first.lower() else text


def courtesy_only(text: str, name: str = "") -> bool:
    """True when ``text`` says nothing but a greeting, a valediction, the writer's name and their
    signature ("Thanks,⏎Alice"; "Hi Carol,⏎⏎Best regards,⏎Bob Builder⏎Example Support")."""
    words = [w.lower() for w in re.split(r"[\s,]+", name) if len(w) > 1]
    for line in text.split("\n"):
        stripped = line.strip().strip("-\u2013\u2014,.!;: ").lower()
        if not stripped:
            continue
        if words and (stripped == words[0] or (len(words) > 1 and len(stripped) < 60
                                               and stripped.startswith(words[0]) and words[1] in stripped)):
            return True                 # the writer's name: what follows is their signature
        if not (GREETING.match(line) or VALEDICTION.match(line)):
            return False
    return True


def _strip_blank_edges(lines: list[str]) -> list[str]:
    start, end = 0, len(lines)
    while start < end and not lines[start].strip():
        start += 1
    while end > start and not lines[end - 1].strip():
        end -= 1
    return lines[start:end]
