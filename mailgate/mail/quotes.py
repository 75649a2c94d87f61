"""Reply trimming: the new text of a reply, without quoted history, signatures or client footers.

Pure text in, text out. Each line is looked at for what it can start: a quote header ("On … wrote:"
in a dozen languages, possibly wrapped), an Outlook-style header block ("From:/Sent:/To:"), a
"Original Message"/"Forwarded message" separator, a signature delimiter ("-- "), a mobile-client
footer ("Sent from my iPhone"), or a run of ``>`` quotes that lasts to the end. The reply is what
comes before the first of these. Fenced code blocks are left alone. If the cut would leave nothing
but the mail is all quotation, the quotation is kept (someone forwarded only a quote); if it
starts with a quote header, nothing of the reply is left.

Measured against the reply-trimming fixtures in ../shared/corpora (see tests/unit/test_quotes.py).
"""

from __future__ import annotations

import re
from typing import Final

_WROTE: Final = re.compile(
    r"^\s*>?[-\s]*("
    r"on\b.{0,300}\b(wrote|writes|said)\s*(:|-{2,})"         # en
    r"|.{0,200}(<[^<>]*@[^<>]*>|\S@\S+)\s*(wrote|writes)\s*:"  # "Name <addr> wrote:"
    r"|\*\s.{0,200}<[^<>\s]+@[^<>\s]+>\s*\[.{0,40}\]\s*:"      # Debian mutt: "* Name <a> [date]:"
    r"|.{0,300}\d.{0,300}\b(wrote|writes)\s*:"                # "At 6/16/2016 08:32 PM, you wrote:"
    r"|am\b.{0,300}\bschrieb.{0,100}:"                       # de
    r"|.{0,300}\bschrieb\b.{0,100}:"                          # de (name first)
    r"|le\b.{0,300}\ba\s+[ée]crit\s*:"                       # fr
    r"|el\b.{0,300}\bescribi[óo]\s*:"                        # es
    r"|.{0,300}\bescribi[óo]\s*:"
    r"|op\b.{0,300}\bschreef.{0,100}:"                       # nl
    r"|.{0,300}\bschreef.{0,100}:"
    r"|il\b.{0,300}\bha\s+scritto\s*:"                       # it
    r"|em\b.{0,300}\bescreveu\s*:"                           # pt
    r"|w\s+dniu\b.{0,300}\b(napisał|pisze)\w*(\(a\))?\s*:"    # pl
    r"|.{0,300}\b(napisał|pisze)\w*(\(a\))?\s*:"
    r"|.{0,100}\d.{0,100}\"[^\"]{1,100}\"\s*<[^<>\s]+@[^<>\s]+>\s*\S{1,30}\s*:"   # 'date "Name" <a> says:'
    r"|(den\s+)?.{0,300}\bskrev\b.{0,100}:"                  # sv, no, da
    r"|.{0,300}(написал|написала|пишет|написав|пише)\w*\s*:"       # ru, uk
    r"|.{0,300}\bkirjoitti\s*:"                              # fi
    r"|.{0,300}\b(yazdı|írta)\s*:"                           # tr, hu
    r"|在.{0,300}写道\s*[:：]"                                  # zh
    r"|.{0,200}\d{1,2}:\d{2}.{0,40}\s+(от|from|de|von)\s+.{0,200}[:：]"   # "<date> от <name>:"
    r")\s*$",
    re.IGNORECASE,
)
_HEADER_START: Final = re.compile(r"^\s*>?[-\s]*(on|am|le|el|op|il|em|w dniu|den|在)\b", re.IGNORECASE)
_DATE_HEADERS: Final = (
    re.compile(r"^\s*>?\s*\d{1,4}[-./]\d{1,2}[-./]\d{1,4}.{0,200}(@|<).{0,100}[:：]\s*$"),
    re.compile(r"^\s*\d{4}/\d{1,2}/\d{1,2}\s.{0,100}<[^<>\s]+@[^<>\s]+>\s*$"),
    re.compile(r"^\s*\d{4}-\d{2}-\d{2} \d{1,2}:\d{2}\b.{0,20}\b(GMT|UTC)?[+-]?[\d:]*\s+\S.{0,100}$"),
)
_HEADER_FIELD: Final = re.compile(
    r"^\s*[*_]*\s*(from|von|de|van|da|od|från|fra|от|від|kimden|feladó|lähettäjä|发件人|寄件者|"
    r"sent|date|gesendet|datum|envoy[ée]|enviado|verzonden|inviato|wysłane|skickat|sendt|отправлено|"
    r"надіслано|дата|to|an|à|para|aan|a|do|till|til|кому|subject|betreff|objet|asunto|onderwerp|"
    r"oggetto|temat|ämne|emne|тема|cc)\s*[*_]*\s*[:：]",
    re.IGNORECASE,
)
_FROM_FIELD: Final = re.compile(
    r"^\s*[*_]*\s*(from|von|de|van|da|od|från|fra|от|від|kimden|feladó|lähettäjä|发件人|寄件者)"
    r"\s*[*_]*\s*[:：]", re.IGNORECASE)
_SEPARATOR: Final = re.compile(
    r"^\s*\*?\s*(-{2,}|_{2,}|={2,})?\s*("
    r"original message|forwarded message|begin forwarded message|ursprüngliche nachricht|"
    r"weitergeleitete nachricht|message d'origine|message transféré|mensaje original|"
    r"mensaje reenviado|oorspronkelijk bericht|doorgestuurd bericht|messaggio originale|"
    r"messaggio inoltrato|oryginalna wiadomość|ursprungligt meddelande|opprinnelig melding|"
    r"исходное сообщение|пересылаемое сообщение|reply above this line"
    r")\s*:?\s*(-{2,}|_{2,}|={2,})?\s*\*?\s*$",
    re.IGNORECASE,
)
_RULE: Final = re.compile(r"^\s*[-_=*~#+\u1427]{2,}\s*$|^\s*\u1427\s*$")
_SIG_DELIMITER: Final = re.compile(r"^--\s?$")
_MOBILE: Final = re.compile(
    r"^\s*[(<]*\s*("
    r"sent (from|via|with|using|by)\b|sent from my|get (outlook|\[outlook)|from my (iphone|ipad|android)|"
    r"envoy[ée] (de|depuis)\b|von meinem .{0,60}gesendet|gesendet von|enviado (desde|de)\b|"
    r"verzonden (met|vanaf|van)\b|inviato da\b|wysłane z\b|skickat från\b|sendt fra\b|"
    r"отправлено с\b|diese nachricht wurde von meinem|sent by\b.{0,30}galaxy|"
    r".{0,20}iphone\s*から送信|.{0,20}从我的\s*iphone"
    r").{0,200}$",
    re.IGNORECASE,
)
_FENCE: Final = re.compile(r"^\s*(```|~~~)")


def _quote_header_at(lines: list[str], i: int) -> int:
    """How many lines starting at ``i`` form a quote header like "On … wrote:", else 0."""
    line = lines[i].strip()
    if not line or len(line) > 400:
        return 0
    if _WROTE.match(line) or _date_header(line):
        return 1
    return _wrapped_header(lines, i)


def _wrapped_header(lines: list[str], i: int) -> int:
    """A quote header wrapped over up to four lines (Gmail wraps before the address)."""
    line = lines[i].strip()
    starts_like_header = (_HEADER_START.match(line) or re.search(r"@|<", line)
                          or re.match(r"^\s*\d{1,4}[-./]\d", line))
    if _looks_like_text(line) or not starts_like_header:
        return 0
    joined, taken = line, 1
    for extra in range(1, 7):
        if i + extra >= len(lines) or taken == 4 or len(joined) > 400:
            break
        nxt = lines[i + extra].strip()
        if _looks_like_text(nxt):
            break
        if nxt:
            joined, taken = f"{joined} {nxt}", taken + 1
            if _WROTE.match(joined):
                return extra + 1
    return 0


def _date_header(line: str) -> bool:
    """A date-and-sender line: "2016-03-03 17:21 GMT+01:00 Bob <b@x>:" (Gmail's non-English form)."""
    return any(pattern.match(line) for pattern in _DATE_HEADERS)


def _looks_like_text(line: str) -> bool:
    """A sentence, not the start of a wrapped quote header (those carry an address or a date)."""
    return line.endswith(("!", "?")) or (line.endswith(".") and not re.search(r"@|<|\d\.$", line))


def _header_block_at(lines: list[str], i: int) -> bool:
    """An Outlook-style block: From: and another field, or three fields one of which is From:."""
    if not _HEADER_FIELD.match(lines[i]):
        return False
    fields, has_from = 1, bool(_FROM_FIELD.match(lines[i]))
    for line in lines[i + 1:i + 8]:
        if _HEADER_FIELD.match(line):
            fields += 1
            has_from = has_from or bool(_FROM_FIELD.match(line))
        elif not line.strip() and fields >= 2:
            break
    return (bool(_FROM_FIELD.match(lines[i])) and fields >= 2) or (has_from and fields >= 3)


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


def _starts_here(lines: list[str], i: int) -> tuple[int, str] | None:
    """If line ``i`` starts what is not the reply: (where it really starts, what it is)."""
    line = lines[i]
    if _SEPARATOR.match(line):
        return i, "separator"
    if _quote_header_at(lines, i):
        return i, "header"
    if _header_block_at(lines, i):
        start = i       # take the rule and blank lines Outlook puts above the block along
        while start > 0 and (_RULE.match(lines[start - 1]) or not lines[start - 1].strip()):
            start -= 1
            if _RULE.match(lines[start]):
                break
        return start, "header"
    if _SIG_DELIMITER.match(line) or (_RULE.match(line) and _only_footer_after(lines, i)):
        return i, "signature"
    if _MOBILE.match(line) and i > 0:
        return i, "signature"
    return None


def _cut(lines: list[str]) -> tuple[int, str]:
    """(index of the first line that is not part of the reply, what starts there)."""
    in_code = False
    for i, line in enumerate(lines):
        if _FENCE.match(line):
            in_code = not in_code
        elif not in_code and (found := _starts_here(lines, i)) is not None:
            return found
    start = _trailing_quotes_from(lines)
    return (start, "quote") if start is not None else (len(lines), "")


def _only_footer_after(lines: list[str], i: int) -> bool:
    """True when everything after a rule line is short (a footer or more rules), not a body."""
    rest = [line for line in lines[i + 1:] if line.strip()]
    return len(rest) <= 12 and all(len(line) < 120 for line in rest)


def _bottom_posted(lines: list[str]) -> list[str]:
    """A reply written under the quote ("On … wrote:", "> …", then the text): drop the quote."""
    size = _quote_header_at(lines, 0) if lines else 0
    if not size:
        return lines
    i = size
    while i < len(lines) and (lines[i].lstrip().startswith(">") or not lines[i].strip()):
        i += 1
    return lines[i:] if i > size and i < len(lines) else lines


_VALEDICTION: Final = re.compile(
    r"^\s*(thanks|thank you|many thanks|thx|cheers|best|regards|kind regards|best regards|"
    r"warm regards|sincerely|yours|mit freundlichen grüßen|viele grüße|grüße|gruß|cordialement|"
    r"bien à vous|saludos|un saluto|met vriendelijke groet|groeten|pozdrawiam|med vänlig hälsning)"
    r"[\s,.!]*$", re.IGNORECASE)


def strip_signature(text: str, name: str) -> str:
    """Cut a signature that starts with the writer's name in the last lines (with "Thanks," before it)."""
    words = [w for w in re.split(r"[\s,]+", name.strip()) if len(w) > 1]
    if not words:
        return text
    lines = text.split("\n")
    first = max(len(lines) - 10, 1)
    for i in range(first, len(lines)):
        line = lines[i].strip()
        lowered = line.lower()
        full_name = lowered.startswith(words[0].lower()) and all(w.lower() in lowered for w in words[:2])
        if (len(line) < 60 and full_name) or lowered == words[0].lower():
            cut = i - 1 if _VALEDICTION.match(lines[i - 1]) else i
            kept = _strip_blank_edges("\n".join(lines[:cut]))
            return kept or text
    return text


def trim_reply(text: str, name: str = "") -> str:
    """The new text of a reply: quoted history, signature and client footers removed.

    ``name`` is the writer's display name, if known: a signature that starts with it goes too.
    """
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    lines = _bottom_posted(lines)
    cut, kind = _cut(lines)
    kept = "\n".join(lines[:cut]).strip("\n")
    if not kept.strip() and kind == "quote":
        kept = "\n".join(lines).strip("\n")     # nothing but a quote: keep it
    return strip_signature(_strip_blank_edges(kept), name) if name else _strip_blank_edges(kept)


def _strip_blank_edges(text: str) -> str:
    lines = text.split("\n")
    while lines and not lines[0].strip():
        lines.pop(0)
    while lines and not lines[-1].strip():
        lines.pop()
    return "\n".join(line.rstrip() for line in lines)
