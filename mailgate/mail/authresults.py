"""What our own MTA reported about a message's authentication (RFC 8601 Authentication-Results).

Anyone can write an ``Authentication-Results`` header into a message. Only the topmost one is
believed, and only when it carries our MTA's authserv-id (``[gateway] authserv_id``): an MTA adds
its header above those already there (and should remove copies of its own id), so a header
below it, or one naming our id with nothing of ours above it, was written by the sender.
"""

from __future__ import annotations

import re
from typing import Final

_COMMENT: Final = re.compile(r"\([^()]*\)")
_RESULT: Final = re.compile(r"^\s*([a-z0-9-]+)(?:\s*/\s*\d+)?\s*=\s*([a-z0-9]+)", re.IGNORECASE)


def _uncommented(value: str) -> str:
    previous = None
    while previous != value:                    # nested comments, innermost first
        previous, value = value, _COMMENT.sub(" ", value)
    return value


def verdicts(topmost: str, authserv_id: str) -> dict[str, str]:
    """``{method: result}`` of the topmost Authentication-Results header if it is our MTA's.

    ``{}`` (unauthenticated) when no authserv-id is configured, the header is absent, or it names
    another server. The first result of a method counts (``dkim`` may be listed per signature).
    """
    if not authserv_id or not topmost:
        return {}
    fields = _uncommented(topmost).split(";")
    server = fields[0].split()
    if not server or server[0].lower() != authserv_id.lower():
        return {}
    found: dict[str, str] = {}
    for resinfo in fields[1:]:
        hit = _RESULT.match(resinfo)
        if hit:
            found.setdefault(hit.group(1).lower(), hit.group(2).lower())
    return found
