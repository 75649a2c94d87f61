"""Logging set-up: structured ``event key=value`` lines on stderr, never bodies or secrets."""

from __future__ import annotations

import logging
import sys
import threading
from dataclasses import dataclass
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


@dataclass(frozen=True, slots=True)
class Alert:
    kind: str
    key: str
    detail: str
    at: datetime


#: Alerts that are also mailed to ``[gateway] admin_address`` (a case nobody can take is mailed
#: as a case notice of its own, once per case).
MAILED: Final = frozenset({"sender_storm", "relay_unavailable", "database_unavailable", "report_failed"})


class Alerts:
    """Operational alerts for the admin: one ``alert kind=… key=…`` WARNING line per (kind, key)
    and window, however often the condition recurs (a mail storm, a relay that stays down). The
    ones in ``MAILED`` wait in ``pending`` for the daemon to mail them."""

    def __init__(self, window: timedelta = timedelta(hours=1)) -> None:
        self.window = window
        self._last: dict[tuple[str, str], datetime] = {}
        self._lock = threading.Lock()
        self._log = logging.getLogger("mailgate.alert")
        self._pending: list[Alert] = []

    def fire(self, kind: str, key: str, detail: str, now: datetime) -> bool:
        """Log the alert unless it was logged within the window; True if it was logged now."""
        with self._lock:
            last = self._last.get((kind, key))
            if last is not None and now - last < self.window:
                return False
            self._last[(kind, key)] = now
            if kind in MAILED:
                self._pending.append(Alert(kind, key, detail[:500], now))
        self._log.warning("alert kind=%s key=%s %s", kind, key, detail)
        return True

    def take(self) -> list[Alert]:
        """The alerts waiting to be mailed (each is handed out once)."""
        with self._lock:
            pending, self._pending = self._pending, []
        return pending

    def put_back(self, alerts: list[Alert]) -> None:
        """Alerts that could not be mailed yet."""
        with self._lock:
            self._pending[:0] = alerts
