"""The server's stdin as pygls reads it, with limits: no header or body can exhaust memory or crash the reader.

pygls reads a header line with ``readline()`` and then ``read(Content-Length)`` bytes. A client (or anything
writing to the pipe) can declare a body of a terabyte, send a header line without end, or a length of ten
thousand digits (``int()`` refuses those). Each is refused with a log line; the declared bytes are read and
dropped in small pieces, and pygls gets a harmless notification in their place, so the server goes on.
"""

from __future__ import annotations

import logging
import re
from typing import BinaryIO

__all__ = ["MAX_BODY_BYTES", "BoundedStdin"]

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
