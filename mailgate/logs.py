"""Logging set-up: structured ``event key=value`` lines on stderr, never bodies or secrets."""

from __future__ import annotations

import logging
import sys
import threading
from datetime import datetime, timedelta
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


class Alerts:
    """Operational alerts for the admin: one ``alert kind=… key=…`` WARNING line per (kind, key)
    and window, however often the condition recurs (a mail storm, a relay that stays down)."""

    def __init__(self, window: timedelta = timedelta(hours=1)) -> None:
        self.window = window
        self._last: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        self._log = logging.getLogger("mailgate.alert")

    def fire(self, kind: str, key: str, detail: str, now: datetime) -> bool:
        """Log the alert unless it was logged within the window; True if it was logged now."""
        with self._lock:
            last = self._last.get((kind, key))
            if last is not None and now - last < self.window:
                return False
            self._last[(kind, key)] = now
        self._log.warning("alert kind=%s key=%s %s", kind, key, detail)
        return True
