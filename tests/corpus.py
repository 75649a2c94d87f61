"""The shared real-world corpus (../shared/corpora), read in place through its manifest."""

from __future__ import annotations

import fnmatch
import json
import mailbox
import os
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(os.environ.get("MAILGATE_SHARED", Path(__file__).resolve().parents[2] / "shared"))
CORPORA = ROOT / "corpora"
_ORDER = ("other", "expected", "bodies", "mbox", "messages")


def _role(rules: dict[str, list[str]], rel: str) -> str | None:
    for role in _ORDER:
        if any(fnmatch.fnmatch(rel, pattern) for pattern in rules.get(role, [])):
            return role
    return None


def raw_messages() -> Iterator[tuple[str, bytes]]:
    """Yield (name, raw bytes) for every raw message, mbox members one by one."""
    manifest = json.loads((CORPORA / "manifest.json").read_text())
    for corpus, rules in sorted(manifest["corpora"].items()):
        base = CORPORA / corpus
        for path in sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(base).as_posix()
            role = _role(rules, rel)
            if role == "messages":
                yield f"{corpus}/{rel}", path.read_bytes()
            elif role == "mbox":
                box = mailbox.mbox(path, create=False)
                try:
                    members = [m.as_bytes(unixfrom=False) for m in box]
                finally:
                    box.close()
                for i, data in enumerate(members):
                    yield f"{corpus}/{rel}#{i}", data


def available() -> bool:
    return (CORPORA / "manifest.json").exists()
