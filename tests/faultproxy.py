"""An asyncio TCP proxy that misbehaves on demand (RELIABILITY §3, harness F): pass, blackhole
(stop forwarding, keep the sockets open: a half-open link), cut the server's answer after N
bytes, or act when the client sends a command (run something first, or cut the connection
before the command reaches the server). Loopback only; it stops with the test."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass
class Hook:
    """When the client's data matches ``pattern``: await ``action`` (if any), then either pass the
    data on or, with ``cut``, close both sides without passing it. ``times`` hooks at most."""

    pattern: re.Pattern[bytes]
    action: Callable[[], Awaitable[None]] | None = None
    cut: bool = False
    times: int = 1
    hits: int = 0


@dataclass
class _Link:
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    writers: list[asyncio.StreamWriter] = field(default_factory=list)
    blackholed: bool = False


class FaultProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.links: list[_Link] = []
        self.cut_next_after: int | None = None    # cut the next connection's downstream after N bytes
        self.hooks: list[Hook] = []
        self.server: asyncio.Server | None = None

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    def on_command(self, pattern: bytes, action: Callable[[], Awaitable[None]] | None = None,
                   cut: bool = False, times: int = 1) -> Hook:
        """Hook the client's commands matching ``pattern`` (a regex, case-insensitive)."""
        hook = Hook(re.compile(pattern, re.IGNORECASE), action, cut, times)
        self.hooks.append(hook)
        return hook

    def blackhole(self) -> None:
        """Existing connections go silent both ways; new ones pass."""
        for link in self.links:
            link.blackholed = True

    async def _hooked(self, data: bytes) -> bool:
        """Run the hooks that match ``data``; True if one of them cuts the connection."""
        cut = False
        for hook in self.hooks:
            if hook.hits < hook.times and hook.pattern.search(data):
                hook.hits += 1
                if hook.action is not None:
                    await hook.action()
                cut = cut or hook.cut
        return cut

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for link in self.links:
            for task in link.tasks:
                task.cancel()
            await asyncio.gather(*link.tasks, return_exceptions=True)
            for writer in link.writers:
                writer.close()
        if self.server is not None:
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        link = _Link(writers=[writer, up_writer])
        self.links.append(link)
        cut, self.cut_next_after = self.cut_next_after, None
        link.tasks = [asyncio.create_task(self._pump(reader, up_writer, link, None, upstream=True)),
                      asyncio.create_task(self._pump(up_reader, writer, link, cut))]

    async def _pump(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link,
                    cut_after: int | None, upstream: bool = False) -> None:
        sent = 0
        with contextlib.suppress(ConnectionError, asyncio.CancelledError):
            while data := await reader.read(65536):
                if link.blackholed:
                    continue
                if upstream and await self._hooked(data):
                    for w in link.writers:
                        w.close()
                    return
                if cut_after is not None and sent + len(data) > cut_after:
                    writer.write(data[: cut_after - sent])
                    await writer.drain()
                    for w in link.writers:
                        w.close()
                    return
                writer.write(data)
                await writer.drain()
                sent += len(data)
        if not link.blackholed:
            writer.close()
