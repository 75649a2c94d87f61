"""HTML → plain text, through inscriptis (a maintained, layout-aware converter)."""

from __future__ import annotations

import re
from typing import Final

_BLANKS: Final = re.compile(r"\n[ \t]*\n(?:[ \t]*\n)+")


def to_text(markup: str) -> str:
    """Render HTML as readable text; scripts and styles are dropped, never run."""
    if not markup.strip():
        return ""
    # Imported on first use: most mail has a text part, and lxml behind inscriptis costs ~7 MB.
    from inscriptis import get_text
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.model.config import ParserConfig

    try:
        text = get_text(markup, ParserConfig(css=CSS_PROFILES["relaxed"], display_links=False))
    except (ValueError, TypeError, RecursionError):
        text = re.sub(r"<[^>]*>", " ", markup)
    lines = [line.rstrip() for line in text.splitlines()]
    return _BLANKS.sub("\n\n", "\n".join(lines)).strip("\n")
