"""Mail from files for ``mailgate import``: an mbox file, a Maildir, or a folder of ``.eml`` files.

Read one message at a time (stdlib ``mailbox``: an mbox is indexed by offsets, never loaded
whole), so importing 20,000 messages takes no more memory than the largest of them.
"""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from pathlib import Path

from mailgate.errors import UsageError


def kind_of(path: Path) -> str:
    """``maildir``, ``eml`` (a folder of .eml files) or ``mbox``.

    Raises:
        UsageError: the path is none of them.
    """
    if path.is_dir():
        if (path / "cur").is_dir() and (path / "new").is_dir():
            return "maildir"
        return "eml"
    if path.is_file():
        return "mbox"
    raise UsageError(f"{path}: no such file or folder")


def count(path: Path) -> int:
    """How many messages ``read(path)`` yields (for the progress bar)."""
    kind = kind_of(path)
    if kind == "eml":
        return sum(1 for _ in _eml_files(path))
    box = mailbox.Maildir(path, create=False) if kind == "maildir" else mailbox.mbox(path, create=False)
    try:
        return len(box)
    finally:
        box.close()


def read(path: Path) -> Iterator[tuple[str, bytes]]:
    """(where it came from, its exact bytes) for each message, in the source's order."""
    kind = kind_of(path)
    if kind == "eml":
        for file in _eml_files(path):
            yield file.name, file.read_bytes()
        return
    box = mailbox.Maildir(path, create=False) if kind == "maildir" else mailbox.mbox(path, create=False)
    try:
        for key in sorted(box.iterkeys()) if kind == "maildir" else box.iterkeys():
            yield str(key), box.get_bytes(key)
    finally:
        box.close()


def _eml_files(folder: Path) -> Iterator[Path]:
    return iter(sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".eml"))
