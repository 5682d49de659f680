"""HTTP/1.1 on loopback for the stand-in: a threaded server that stops at once, and JSON and SSE answers.

Knows nothing of the Kimi API. The server binds 127.0.0.1 only, serves keep-alive connections on daemon
threads and, when stopped, drops every open connection, so a client waiting on a stream sees it end. The
handler writes a JSON answer, or an SSE stream as HTTP chunks that it can slow down or cut (mid-body, or
cleanly without ``[DONE]``), noticing at once when the client hangs up.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class ClientGone(Exception):
    """The client hung up mid-stream."""


class Stopping(Exception):
    """The server is closing; abandon the stream."""


class LoopbackServer(ThreadingHTTPServer):
    """A server on ``127.0.0.1:port`` (0: any free port) for ``handler``; ``on_error`` hears what went wrong
    in a handler beyond a client hanging up."""

    daemon_threads = True
    block_on_close = False  # keep-alive connections would otherwise hold close() forever

    def __init__(self, port: int, handler: type[BaseHTTPRequestHandler], *, on_error: Callable[[str], None]) -> None:
        super().__init__(("127.0.0.1", port), handler)
        self.stopping = threading.Event()
        self._on_error = on_error
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, name="kimi-stand-in", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop serving and drop every open connection; a second call does nothing."""
        if self.stopping.is_set():
            return
        self.stopping.set()
        self.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        self.server_close()
        self._thread.join(timeout=5)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError) or self.stopping.is_set():
            return  # clients hang up on idle keep-alive connections; that is not news
        self._on_error(f"handler error: {error!r}")
        super().handle_error(request, client_address)


class AnswerHandler(BaseHTTPRequestHandler):
    """Writes whole JSON answers and SSE streams on a ``LoopbackServer`` connection."""

    protocol_version = "HTTP/1.1"
    server: LoopbackServer

    def setup(self) -> None:
        super().setup()
        # Headers, body and each SSE chunk are separate small writes: without this, Nagle plus the
        # client's delayed ACK stall every answer by ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection, True)

    def finish(self) -> None:
        self.server.track(self.connection, False)
        try:
            super().finish()
        except OSError:
            pass

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests read what the stand-in recorded, not a log on stderr

    def send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        """One whole JSON answer with ``status`` and any extra ``headers``."""
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def send_events(
        self,
        payloads: Sequence[Any],
        *,
        comment: bytes = b"",
        delay: float = 0.0,
        cut_after: int | None = None,
        clean_cut: bool = False,
    ) -> None:
        """Stream each payload as ``data: <json>``, then ``[DONE]``. ``comment`` goes first as an SSE comment;
        ``delay`` seconds pass before each payload; ``cut_after`` payloads, the stream ends without
        ``[DONE]``: dropped mid-body, or with ``clean_cut`` a well-formed body.

        Raises ``ClientGone`` when the client hangs up, ``Stopping`` when the server closes meanwhile."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if comment:
            self._write_chunk(b": " + comment + b"\n\n")
        for number, payload in enumerate(payloads):
            if cut_after is not None and number >= cut_after:
                break
            if delay:
                self._pause(delay)
            self._write_chunk(f"data: {json.dumps(payload, ensure_ascii=False)}\n\n".encode())
        if cut_after is not None:
            self._cut(clean=clean_cut)
            return
        self._write_chunk(b"data: [DONE]\n\n")
        self._write(b"0\r\n\r\n")

    def _cut(self, *, clean: bool) -> None:
        if clean:
            self._write(b"0\r\n\r\n")  # a well-formed HTTP body that simply lacks [DONE]
            return
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write_chunk(self, data: bytes) -> None:
        self._write(b"%x\r\n%s\r\n" % (len(data), data))

    def _write(self, data: bytes) -> None:
        try:
            self.wfile.write(data)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ClientGone from exc

    def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds, noticing at once when the client hangs up (its socket reads EOF)."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if self.server.stopping.is_set():
                raise Stopping
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    gone = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    raise ClientGone
                time.sleep(min(left, 0.05))  # unexpected bytes from the client: don't spin on them
