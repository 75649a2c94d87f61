"""Subjects: the case tag ``[MG#1042]`` and reply/forward prefixes in many languages."""

from __future__ import annotations

import re
from typing import Final

_PREFIX: Final = re.compile(
    r"^\s*(?:(?:re|aw|sv|vs|antw|wg|fw|fwd|tr|rif|r|ref|odp|vl|doorst|antwort|réf|enc)"
    r"\s*(?:\[\d+\])?\s*:\s*)+",
    re.IGNORECASE,
)


def tag_pattern(prefix: str) -> re.Pattern[str]:
    """Compile the tolerant matcher for ``[PREFIX#123]``.

    Tolerates case, a space before or after ``#``, and clients that turn the tag into a link
    (``[MG#1042 <https://…>]``).
    """
    return re.compile(
        rf"\[\s*{re.escape(prefix)}\s*#\s*(\d{{1,12}})(?:\s*<[^>\]]{{0,300}}>)?\s*\]", re.IGNORECASE
    )


def find_tag(subject: str, pattern: re.Pattern[str]) -> int | None:
    """Return the case number of the first tag in ``subject``, if any."""
    match = pattern.search(subject)
    return int(match[1]) if match else None


def strip_prefixes(subject: str) -> str:
    """Drop leading ``Re:``/``AW:``/``Fwd:``… prefixes, however many and however spaced."""
    return _PREFIX.sub("", subject).strip()


def canonical_subject(subject: str, pattern: re.Pattern[str]) -> str:
    """The subject without tags or reply prefixes: what a case is called."""
    previous = None
    text = subject
    while previous != text:
        previous = text
        text = strip_prefixes(pattern.sub("", text)).strip()
    return text or "(no subject)"
