"""The server's stdin as pygls reads it, with limits: no header or body can exhaust memory or crash the reader.

pygls reads a header line with ``readline()`` and then ``read(Content-Length)`` bytes. A client (or anything
writing to the pipe) can declare a body of a terabyte, send a header line without end, or a length of ten
thousand digits (``int()`` refuses those). Each is refused with a log line; the declared bytes are read and
dropped in small pieces, and pygls gets a harmless notification in their place, so the server goes on.
"""

from __future__ import annotations

import asyncio
import logging
import re
import threading
from typing import Any, BinaryIO

from pygls.io_ import run_async

__all__ = ["MAX_BODY_BYTES", "BoundedStdin", "serve_tcp"]

MAX_BODY_BYTES = 64 * 1024 * 1024  # far above any real LSP message (a whole file in didOpen is a few MB)
MAX_HEADER_LINE = 8192
_CHUNK = 1 << 16
_LENGTH = re.compile(rb"^content-length:\s*(\S*)\s*$", re.IGNORECASE)
# What pygls receives instead of a refused body: a notification every server may ignore.
REFUSED_BODY = b'{"jsonrpc": "2.0", "method": "$/kimi/refusedMessage", "params": {}}'

log = logging.getLogger(__name__)


class BoundedStdin:
    """Wraps a binary stream with pygls's ``readline``/``read`` and refuses what is oversized or absurd."""

    def __init__(self, raw: BinaryIO, *, max_body: int = MAX_BODY_BYTES, max_line: int = MAX_HEADER_LINE) -> None:
        self.raw = raw
        self.max_body = max_body
        self.max_line = max_line
        self._drop: int | None = None  # a refused body's declared length (-1: unknown, drop to the end)

    def readline(self) -> bytes:
        line = self.raw.readline(self.max_line)
        if len(line) >= self.max_line and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = self.raw.readline(self.max_line)
            log.error("refused an LSP header line longer than %d bytes", self.max_line)
            return b"X-Kimi-Refused: header line too long\r\n"
        match = _LENGTH.match(line)
        if match is None:
            return line
        digits = match.group(1)
        declared = int(digits) if digits.isdigit() and len(digits) <= 15 else -1
        if 0 <= declared <= self.max_body:
            return line
        shown = digits[:20].decode("ascii", "replace") + ("…" if len(digits) > 20 else "")
        log.error("refused an LSP message with Content-Length %s (the limit is %d bytes)", shown, self.max_body)
        self._drop = declared
        return b"Content-Length: %d\r\n" % len(REFUSED_BODY)

    def read(self, n: int) -> bytes:
        if self._drop is None:
            return self.raw.read(n)
        left, self._drop = self._drop, None
        while left != 0:
            chunk = self.raw.read(_CHUNK if left < 0 else min(left, _CHUNK))
            if not chunk:
                return b""  # the writer went away: end of input, as for any closed stream
            if left > 0:
                left -= len(chunk)
        return REFUSED_BODY


class _FirstLineAgain:
    """An asyncio stream reader that hands back a line already read, then reads on."""

    def __init__(self, first: bytes, reader: asyncio.StreamReader) -> None:
        self._first: bytes | None = first
        self._reader = reader

    async def readline(self) -> bytes:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return await self._reader.readline()

    async def readexactly(self, n: int) -> bytes:
        if n > MAX_BODY_BYTES:
            log.error("refused an LSP message with Content-Length %d over TCP; closing the connection", n)
            return b""  # ends the session: a TCP peer that lies about lengths is not an editor
        return await self._reader.readexactly(n)


def serve_tcp(server: Any, host: str, port: int) -> None:
    """Serve one editor over TCP: the first connection that speaks LSP, and no other.

    pygls's own TCP server hands every new connection the one session's writer, so any local process (or a
    web page's cross-site POST) could read the editor's answers or drive its session. Here a connection whose
    first line is not an LSP header is closed at once, and so is every connection after the editor's.
    """
    stop = server._stop_event = threading.Event()
    taken = False

    async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal taken
        peer = writer.get_extra_info("peername")
        if taken:
            log.error("refused a second TCP connection from %s: this server serves one editor", peer)
            writer.close()
            return
        try:
            first = await reader.readline()
        except (ValueError, ConnectionError):
            first = b""
        if not first.lower().startswith(b"content-length:"):
            log.error("refused a TCP connection from %s that does not speak LSP (%r)", peer, first[:40])
            writer.close()
            return
        taken = True
        server.protocol.set_writer(writer)
        await run_async(
            stop_event=stop,
            reader=_FirstLineAgain(first, reader),
            protocol=server.protocol,
            logger=log,
            error_handler=server.report_server_error,
        )
        server.shutdown()

    async def main() -> None:
        listener = await asyncio.start_server(connection, host, port, limit=MAX_HEADER_LINE)
        server._server = listener  # pygls's shutdown closes it
        async with listener:
            try:
                await listener.serve_forever()
            except asyncio.CancelledError:
                pass

    try:
        asyncio.run(main())
    except (KeyboardInterrupt, SystemExit):
        pass
