"""Named crash points for fault-injection tests (RELIABILITY §3, harness K).

When the environment variable ``MAILGATE_FAULT`` names a checkpoint, the process dies there at
once with ``os._exit(137)``, as a SIGKILL would leave it. Unset (always, in production), a
checkpoint costs one dictionary lookup.
"""

from __future__ import annotations

import os
from typing import Final

ENV: Final = "MAILGATE_FAULT"


def checkpoint(name: str) -> None:
    """Die here if the fault-injection variable names this point."""
    if os.environ.get(ENV) == name:
        os._exit(137)
