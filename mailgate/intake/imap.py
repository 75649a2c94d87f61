"""The IMAP client (aioimaplib, only here): connect with implicit TLS, STARTTLS or (loopback only)
plain text, and the commands the poller (``intake/poller.py``) needs, each with a deadline: SELECT,
UID SEARCH, sizes, UID FETCH ``BODY.PEEK[]``, MOVE (or COPY + ``\\Deleted`` + UID EXPUNGE), IDLE.
Also the pure helpers that build and read their arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import ssl
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final

import aioimaplib

from mailgate.config import ImapConfig
from mailgate.errors import ImapAuthError, ImapError

log = logging.getLogger(__name__)

BATCH_BYTES: Final = 2_000_000       # bounded memory per UID FETCH
READ_SLICE: Final = 16 * 1024        # bytes handed to aioimaplib's parser at a time
SIZES_PER_COMMAND: Final = 200
_FETCH_HEAD: Final = re.compile(rb"FETCH \(.*?\{(\d+)\}$")
_UID: Final = re.compile(rb"UID (\d+)")
_SIZE: Final = re.compile(rb"UID (\d+).*?RFC822\.SIZE (\d+)|RFC822\.SIZE (\d+).*?UID (\d+)")
_MONTHS: Final = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def uid_set(uids: Sequence[int]) -> str:
    """``[1, 2, 3, 7]`` → ``"1:3,7"`` (always ranges: some servers choke on a bare UID MOVE)."""
    parts: list[str] = []
    ordered = sorted(set(uids))
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid != prev + 1:
            parts.append(f"{start}:{prev}")
            start = uid
        prev = uid
    parts.append(f"{start}:{prev}")
    return ",".join(parts)


def parse_fetch(lines: Sequence[bytes | bytearray]) -> list[tuple[int, bytes]]:
    """Pair each ``* n FETCH (UID u BODY[] {size}`` line with its literal: [(uid, bytes)]."""
    found: list[tuple[int, bytes]] = []
    i = 0
    while i < len(lines):
        line = bytes(lines[i])
        head = _FETCH_HEAD.search(line)
        if head and i + 1 < len(lines):
            literal = bytes(lines[i + 1])
            tail = bytes(lines[i + 2]) if i + 2 < len(lines) else b""
            uid = _UID.search(line) or _UID.search(tail)   # UID may come before or after BODY[]
            if uid and len(literal) == int(head[1]):
                found.append((int(uid[1]), literal))
            i += 2
        else:
            i += 1
    return found


def parse_sizes(lines: Sequence[bytes | bytearray]) -> dict[int, int]:
    sizes: dict[int, int] = {}
    for line in lines:
        match = _SIZE.search(bytes(line))
        if match:
            uid, size = (match[1], match[2]) if match[1] else (match[4], match[3])
            sizes[int(uid)] = int(size)
    return sizes


def search_criteria(start: str, last_uid: int | None) -> str:
    """The UID SEARCH for what is new: above the cursor, or the first-start policy."""
    if last_uid is not None:
        return f"UID {last_uid + 1}:*"
    if start == "unseen":
        return "UNSEEN"
    if start.startswith("since:"):
        year, month, day = start[len("since:"):].split("-")
        return f"SINCE {int(day)}-{_MONTHS[int(month) - 1]}-{year}"
    return "ALL"


class _SlicedProtocol(aioimaplib.IMAP4ClientProtocol):  # type: ignore[misc]
    """aioimaplib's protocol, fed at most ``READ_SLICE`` bytes at a time.

    aioimaplib parses a read by recursing once per response line, and every level keeps the rest
    of the read alive; on a 256 KiB read holding many small messages that is quadratic. Measured
    with tracemalloc: a 0.54 MB UID FETCH peaked at 17 MB. A TCP stream may be cut anywhere, so
    slicing changes nothing but the memory.
    """

    def data_received(self, d: bytes) -> None:
        for start in range(0, len(d), READ_SLICE):
            super().data_received(d[start:start + READ_SLICE])


class _Client(aioimaplib.IMAP4):  # type: ignore[misc]
    """aioimaplib's client on the sliced protocol (``create_client`` is where it builds one),
    with STARTTLS, which aioimaplib lacks: the upgrade happens before aioimaplib sees a byte.
    """

    starttls = False
    _client_task: asyncio.Task[Any]

    def create_client(self, host: str, port: int, loop: asyncio.AbstractEventLoop | None,
                      conn_lost_cb: Callable[[Exception | None], None] | None = None,
                      ssl_context: ssl.SSLContext | None = None) -> None:
        running = loop if loop is not None else asyncio.get_running_loop()
        self.protocol = _SlicedProtocol(running, conn_lost_cb)
        if self.starttls:
            assert ssl_context is not None
            self._client_task = running.create_task(self._starttls(host, port, ssl_context))
        else:
            self._client_task = running.create_task(
                running.create_connection(lambda: self.protocol, host, port, ssl=ssl_context))

    async def _starttls(self, host: str, port: int, context: ssl.SSLContext) -> None:
        """RFC 3501 §6.2.1 by hand: greeting, STARTTLS, TLS handshake, then hand over."""
        loop = asyncio.get_running_loop()
        transport, plain = await loop.create_connection(_LineReader, host, port)
        try:
            greeting = await plain.line()
            if not greeting.startswith(b"* OK"):
                raise ImapError(f"no IMAP greeting: {greeting[:100]!r}")
            transport.write(b"MG0 STARTTLS\r\n")
            line = await plain.line()
            while line.startswith(b"* "):
                line = await plain.line()
            if not line.startswith(b"MG0 OK"):
                raise ImapError(f"STARTTLS refused: {line[:200]!r}")
            tls = await loop.start_tls(transport, self.protocol, context, server_hostname=host)
        except BaseException:
            transport.close()
            raise
        if tls is None:
            raise ImapError("STARTTLS: the TLS handshake did not complete")
        self.protocol.connection_made(tls)
        # After STARTTLS there is no new greeting; this one makes aioimaplib ask for the
        # capabilities again, over TLS, as RFC 3501 requires.
        self.protocol.data_received(b"* OK STARTTLS done\r\n")


class _LineReader(asyncio.Protocol):
    """The plain-text exchange before STARTTLS: lines in, nothing buffered past them."""

    def __init__(self) -> None:
        self.buffer = b""
        self.arrived = asyncio.Event()
        self.lost: Exception | None = None

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.arrived.set()

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = exc or ConnectionError("closed before STARTTLS")
        self.arrived.set()

    async def line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            if self.lost is not None or len(self.buffer) > 8192:
                raise ImapError(f"STARTTLS: {self.lost or 'line too long'}")
            self.arrived.clear()
            await self.arrived.wait()
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line


def tls_context() -> ssl.SSLContext:
    """Certificate and host name checked against the system's CAs; ``SSL_CERT_FILE`` adds one."""
    return ssl.create_default_context()


class ImapConnection:
    """One logged-in IMAP session: the only code that speaks aioimaplib."""

    def __init__(self, client: aioimaplib.IMAP4, capabilities: set[str], delimiter: str,
                 timeout: float, lost: asyncio.Event | None = None) -> None:
        self.client = client
        self.capabilities = capabilities
        self.delimiter = delimiter
        self.timeout = timeout
        self.lost = lost or asyncio.Event()    # set when the socket closes (a kick, a BYE, a reset)

    @classmethod
    async def open(cls, cfg: ImapConfig) -> ImapConnection:
        timeout = cfg.timeout.total_seconds()
        client_class = type("_StartTlsClient", (_Client,), {"starttls": True}) if cfg.starttls else _Client
        lost = asyncio.Event()
        client = client_class(cfg.host, cfg.port, timeout=timeout, conn_lost_cb=lambda _exc: lost.set(),
                              ssl_context=tls_context() if cfg.tls or cfg.starttls else None)
        try:
            await client.wait_hello_from_server()
            response = await client.login(cfg.username, cfg.password)
            if response.result != "OK":
                raise ImapAuthError(f"login refused for {cfg.username}: {_text(response.lines)}")
            listing = await _checked(client.list('""', '""'), "LIST", timeout)
        except (OSError, TimeoutError, aioimaplib.Abort) as exc:
            _drop(client)
            raise ImapError(f"connect {cfg.host}:{cfg.port}: {type(exc).__name__}: {exc}") from exc
        except ImapError:
            _drop(client)
            raise
        match = re.search(rb'\) "(.)"', bytes(listing[0])) if listing else None
        delimiter = match[1].decode() if match else "/"
        return cls(client, set(client.protocol.capabilities), delimiter, timeout, lost)

    def folder(self, name: str) -> str:
        """Configured folder names use '/'; the server may use another separator."""
        return name.replace("/", self.delimiter)

    async def ensure_folder(self, name: str) -> None:
        response = await self.client.create(self.folder(name))
        if response.result != "OK" and b"ALREADYEXISTS" not in b" ".join(map(bytes, response.lines)):
            raise ImapError(f"CREATE {name}: {_text(response.lines)}")

    async def select(self, folder: str) -> tuple[int, int]:
        """SELECT; return (UIDVALIDITY, UIDNEXT)."""
        lines = await self._call(self.client.select(self.folder(folder)), f"SELECT {folder}")
        text = b" ".join(map(bytes, lines))
        validity = re.search(rb"UIDVALIDITY (\d+)", text)
        uidnext = re.search(rb"UIDNEXT (\d+)", text)
        if not validity:
            raise ImapError(f"SELECT {folder}: no UIDVALIDITY")
        return int(validity[1]), int(uidnext[1]) if uidnext else 0

    async def search(self, criteria: str) -> list[int]:
        lines = await self._call(self.client.uid_search(*criteria.split(), charset=None), "UID SEARCH")
        return sorted({int(n) for line in lines[:-1] for n in bytes(line).split() if n.isdigit()})

    async def sizes(self, uids: Sequence[int]) -> dict[int, int]:
        # In chunks: aioimaplib handles each response line with a recursive call, and a few
        # thousand lines in one response exceed Python's recursion limit.
        sizes: dict[int, int] = {}
        for start in range(0, len(uids), SIZES_PER_COMMAND):
            chunk = uids[start:start + SIZES_PER_COMMAND]
            fetch = self.client.uid("fetch", uid_set(chunk), "(UID RFC822.SIZE)")
            lines = await self._call(fetch, "UID FETCH")
            sizes.update(parse_sizes(lines))
        return sizes

    async def fetch(self, uids: Sequence[int], part: str = "BODY.PEEK[]") -> list[tuple[int, bytes]]:
        lines = await self._call(self.client.uid("fetch", uid_set(uids), f"(UID {part})"), "UID FETCH")
        return parse_fetch(lines)

    async def move(self, uids: Sequence[int], folder: str) -> None:
        target = self.folder(folder)
        if "MOVE" in self.capabilities:
            await self._call(self.client.uid("move", uid_set(uids), target), "UID MOVE")
            return
        await self._call(self.client.uid("copy", uid_set(uids), target), "UID COPY")
        await self._call(self.client.uid("store", uid_set(uids), "+FLAGS.SILENT", r"(\Deleted)"), "UID STORE")
        await self._call(self.client.uid("expunge", uid_set(uids)), "UID EXPUNGE")

    async def wait_for_mail(self, seconds: float, stop: asyncio.Event) -> None:
        """IDLE until the server reports something, ``seconds`` pass, or ``stop`` is set."""
        if "IDLE" not in self.capabilities:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await stop.wait()
            await self._call(self.client.noop(), "NOOP")
            return
        idle = await self.client.idle_start(timeout=seconds + self.timeout)
        push = asyncio.ensure_future(self.client.wait_server_push(timeout=seconds))
        stopping = asyncio.ensure_future(stop.wait())
        try:
            await asyncio.wait({push, stopping, idle}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            push.cancel()
            stopping.cancel()
        if idle.done():   # the server ended IDLE itself (BYE, error): treat as a broken session
            raise ImapError(f"IDLE ended by the server: {idle.exception() or idle.result()}")
        self.client.idle_done()
        try:
            await asyncio.wait_for(idle, self.timeout)   # no DONE answer: half-open connection
        except TimeoutError as exc:
            raise ImapError("no answer to IDLE DONE") from exc

    async def _call(self, call: Awaitable[Any], what: str) -> list[bytes]:
        """The command's answer; an ImapError at once if the socket closes before it comes.

        aioimaplib leaves a command waiting when the connection is lost (``doveadm kick``, a
        server restart): without this, each such loss would cost a whole ``timeout``.
        """
        command = asyncio.ensure_future(call)
        closed = asyncio.ensure_future(self.lost.wait())
        try:
            done, _ = await asyncio.wait({command, closed}, timeout=self.timeout,
                                         return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not command.done():
            command.cancel()
            raise ImapError(f"{what}: the server closed the connection" if closed in done
                            else f"{what}: TimeoutError: no answer in {self.timeout:g} s")
        return await _checked(command, what, self.timeout)

    async def close(self) -> None:
        """LOGOUT if the server still answers; close the socket in any case."""
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.logout(), 5)
        _drop(self.client)


def _drop(client: aioimaplib.IMAP4) -> None:
    transport = getattr(client.protocol, "transport", None)
    if transport is not None:
        transport.close()


async def _checked(call: Awaitable[Any], what: str, seconds: float) -> list[bytes]:
    """Await an IMAP command with a deadline; anything but OK is an ImapError."""
    try:
        response = await asyncio.wait_for(call, seconds)
    except (OSError, TimeoutError, aioimaplib.Abort, aioimaplib.CommandTimeout) as exc:
        raise ImapError(f"{what}: {type(exc).__name__}: {exc}") from exc
    if response.result != "OK":
        raise ImapError(f"{what}: {response.result} {_text(response.lines)}")
    return list(response.lines)


def _text(lines: Sequence[bytes | bytearray]) -> str:
    return b" ".join(bytes(line) for line in lines).decode("utf-8", "replace")[:300]
