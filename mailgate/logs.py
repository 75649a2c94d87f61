"""Logging set-up: structured ``event key=value`` lines on stderr, never bodies or secrets."""

from __future__ import annotations

import logging
import sys
from typing import Final

FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"


def configure(level: str = "INFO") -> None:
    """Send mailgate's log lines to stderr at ``level``; quieten chatty libraries."""
    root = logging.getLogger()
    if not any(getattr(h, "_mailgate", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT))
        handler._mailgate = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("mail.log", "sqlalchemy.engine", "apscheduler", "asyncio"):
        logging.getLogger(name).setLevel(logging.WARNING)
