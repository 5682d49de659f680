"""A strict stand-in for the Kimi chat-completions API: a real HTTP/1.1 server on 127.0.0.1.

It streams scripted turns as SSE exactly like the API (reasoning, content and tool-call deltas with the
arguments in fragments, usage in either shape, ``[DONE]``), plays faults (rate limits, 5xx, quota, cut and
slow streams, truncated arguments, 404, 401) and refuses what the real API refuses, recording every 400
in ``violations`` so a test can assert the client never broke the protocol. ``dialect`` makes it play
vLLM, SGLang or OpenRouter instead of Moonshot (see ``dialects``): what each emits, reads back and drops.

    with StandIn([Turn(reasoning="look", tool_calls=[ScriptedCall("ReadFile", {"path": "a.py"})]),
                  Turn(content="fixed")]) as api:
        client = ModelClient(api.settings())
"""

from __future__ import annotations

import asyncio
import json
import select
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from kimi_lsp.settings import DEFAULT_MODEL, Settings
from kimi_lsp.testing.dialects import DIALECTS, DialectName
from kimi_lsp.testing.render import TurnUsage, completion_tokens, plain_completion, stream_payloads
from kimi_lsp.testing.script import Fault, Turn
from kimi_lsp.testing.strict import (
    UNAUTHORIZED,
    ApiError,
    bad_request,
    check_chat_request,
    check_tools_offered,
    unknown_model,
)

Responder = Callable[[dict[str, Any]], Turn]
STAND_IN_KEY = "stand-in-key-not-a-secret"

_RATE_LIMIT = "Your account reached its rate limit (requests per minute), please retry after a short wait"
_OVERLOADED = "The engine is currently overloaded, please try again later"
_QUOTA = "Your account is suspended due to insufficient balance, please recharge your account or check your plan"


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the server received it. ``json`` is None when the body is empty or malformed."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    json: Any


@dataclass(frozen=True)
class Violation:
    """A 400 given because the client broke the protocol; ``request`` indexes ``StandIn.requests``."""

    request: int
    message: str


class StandIn:
    """The stand-in API server. Start on construction; ``close()`` (or leave the ``with`` block) to stop."""

    def __init__(
        self,
        turns: Iterable[Turn] = (),
        *,
        responder: Responder | None = None,
        models: Sequence[str] = (DEFAULT_MODEL,),
        api_key: str = STAND_IN_KEY,
        thinking: bool = True,
        port: int = 0,
        dialect: DialectName = "moonshot",
    ) -> None:
        self.dialect = DIALECTS[dialect]
        self.models = tuple(models)
        self.api_key = api_key
        self.thinking = thinking
        self._responder = responder
        self._turns: deque[Turn] = deque(turns)
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._violations: list[Violation] = []
        self._notes: list[str] = []
        self._disconnects = 0
        self._previous_messages: str | None = None
        self._server = _Server(("127.0.0.1", port), _Handler)
        self._server.stand_in = self
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="kimi-stand-in",
            daemon=True,
        )
        self._thread.start()

    # --- public surface -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}{self.dialect.base_path}"

    def settings(self, **overrides: Any) -> Settings:
        """Client settings pointing at this server, with fast retries; ``overrides`` replace any field."""
        values: dict[str, Any] = {
            "base_url": self.url,
            "model": self.models[0],
            "api_key": self.api_key,
            "api_key_source": "KIMI_API_KEY",
            "retry_base_delay": 0.01,
            "max_retries": 3,
            "connect_timeout": 2.0,
            "request_timeout": 10.0,
        }
        values.update(overrides)
        return Settings(**values)

    def push(self, *turns: Turn) -> None:
        """Queue more turns (answered after those already queued)."""
        with self._cond:
            self._turns.extend(turns)

    @property
    def remaining(self) -> int:
        with self._cond:
            return len(self._turns)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.method == "POST" and r.path.endswith("/chat/completions")]

    def thinking_seen(self, request: RecordedRequest) -> list[str | None]:
        """The thinking of each assistant message in ``request`` as this server hands it to the model:
        None where the server dropped it (a field it does not read)."""
        messages = request.json.get("messages") if isinstance(request.json, dict) else None
        return [
            self.dialect.thinking_seen(m)
            for m in messages or ()
            if isinstance(m, dict) and m.get("role") == "assistant"
        ]

    @property
    def violations(self) -> list[Violation]:
        with self._cond:
            return list(self._violations)

    @property
    def notes(self) -> list[str]:
        with self._cond:
            return list(self._notes)

    @property
    def disconnects(self) -> int:
        with self._cond:
            return self._disconnects

    def wait_for(self, predicate: Callable[[StandIn], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate(self)`` holds (re-checked on each request and disconnect) or time is up."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cond.wait(min(left, 0.05))
        return True

    def close(self) -> None:
        if self._server.stopping.is_set():
            return
        self._server.stopping.set()
        self._server.shutdown()
        self._server.close_connections()
        self._server.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> StandIn:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    async def __aenter__(self) -> StandIn:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.close)

    def __repr__(self) -> str:
        return f"StandIn({self.url}, remaining={self.remaining})"

    # --- used by the handler thread -------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> int:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()
            return len(self._requests) - 1

    def _violation(self, request: int, message: str) -> None:
        with self._cond:
            self._violations.append(Violation(request, message))
            self._cond.notify_all()

    def _note(self, text: str) -> None:
        with self._cond:
            self._notes.append(text)
            self._cond.notify_all()

    def _disconnected(self) -> None:
        with self._cond:
            self._disconnects += 1
            self._cond.notify_all()

    def _next_turn(self, body: dict[str, Any]) -> Turn:
        with self._cond:
            if self._turns:
                return self._turns.popleft()
        if self._responder is not None:
            return self._responder(body)
        self._note("no scripted turn left: answered 'done'")
        return Turn(content="done")

    def _usage(self, turn: Turn, body: dict[str, Any], raw: bytes) -> TurnUsage:
        messages = json.dumps(body["messages"], ensure_ascii=False, separators=(",", ":"))
        with self._cond:
            previous, self._previous_messages = self._previous_messages, messages
        prompt = turn.prompt_tokens if turn.prompt_tokens is not None else max(1, len(raw) // 4)
        if turn.cached_tokens is not None:
            cached = turn.cached_tokens
        else:
            common = _common_prefix(previous, messages) if previous is not None else 0
            cached = min(prompt, common // 4)
        return TurnUsage(prompt, completion_tokens(turn), cached)


def _common_prefix(a: str, b: str) -> int:
    """Length of the common prefix, by bisection on slice equality (C speed; histories get long)."""
    low, high = 0, min(len(a), len(b))
    while low < high:
        middle = (low + high + 1) // 2
        if a[:middle] == b[:middle]:
            low = middle
        else:
            high = middle - 1
    return low


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # keep-alive connections would otherwise hold close() forever
    stand_in: StandIn

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._lock = threading.Lock()

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._lock:
            (self._connections.add if alive else self._connections.discard)(conn)

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, ConnectionError | TimeoutError) or self.stopping.is_set():
            return  # clients hang up on idle keep-alive connections; that is not news
        self.stand_in._note(f"handler error: {error!r}")
        super().handle_error(request, client_address)

    def close_connections(self) -> None:
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _ClientGone(Exception):
    """The client hung up mid-stream."""


class _Stopping(Exception):
    """The stand-in is closing; abandon the stream."""


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

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
        pass  # tests read .requests, not a log on stderr

    @property
    def api(self) -> StandIn:
        return self.server.stand_in

    # --- routing --------------------------------------------------------------------------------------

    def do_GET(self) -> None:
        self._record(b"")
        if not self._authorized():
            return
        if self.path.rstrip("/").endswith("/v1/models"):
            self._send_json(200, {"object": "list", "data": self.api.dialect.model_cards(self.api.models)})
        else:
            self._send_error(ApiError(404, f"Not found: {self.path}", "resource_not_found_error"))

    def do_POST(self) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        raw = self.rfile.read(length) if length > 0 else b""
        index = self._record(raw)
        if length < 0:
            self.close_connection = True  # the body's end is unknown: this connection cannot go on
            self._refuse(index, bad_request("Invalid request: bad Content-Length header"))
            return
        if not self._authorized():
            return
        if not self.path.rstrip("/").endswith("/v1/chat/completions"):
            self._send_error(ApiError(404, f"Not found: {self.path}", "resource_not_found_error"))
            return
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._refuse(index, bad_request(f"Invalid request: malformed JSON body ({exc})"))
            return
        dialect = self.api.dialect
        error = check_chat_request(body, self.api.models, thinking=self.api.thinking and dialect.requires_reasoning)
        if error is None and dialect.requires_tools:
            error = check_tools_offered(body)
        if error is not None:
            self._refuse(index, error)
            return
        try:
            turn = self.api._next_turn(body)
        except Exception as exc:  # a broken responder is the test's bug: say so loudly, answer 500
            self.api._note(f"responder failed: {exc!r}")
            self._send_error(ApiError(500, f"stand-in responder failed: {exc!r}", "stand_in_error"))
            return
        usage = self.api._usage(turn, body, raw)
        fault = turn.fault
        if fault is not None and fault.is_error_response:
            self._play_error(fault, body)
            return
        offset = sum(len(m.get("tool_calls") or []) for m in body["messages"] if m.get("role") == "assistant")
        truncated = fault is not None and fault.kind == "truncated_arguments"
        envelope = {"id": f"chatcmpl-{index}", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream"):
            answer = plain_completion(turn, call_offset=offset, usage=usage, truncated=truncated, dialect=dialect)
            self._send_json(200, {**envelope, "object": "chat.completion", **answer})
            return
        if turn.chunks is not None:
            payloads = [dict(chunk) for chunk in turn.chunks]
        else:
            payloads = stream_payloads(turn, call_offset=offset, usage=usage, truncated=truncated, dialect=dialect)
        chunks = [{**envelope, "object": "chat.completion.chunk", **p} for p in payloads]
        try:
            self._stream(chunks, fault)
        except _ClientGone:
            self.close_connection = True
            self.api._disconnected()
        except _Stopping:
            self.close_connection = True

    # --- answers --------------------------------------------------------------------------------------

    def _record(self, raw: bytes) -> int:
        try:
            parsed = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        return self.api._record(RecordedRequest(self.command, self.path, dict(self.headers.items()), raw, parsed))

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.api.api_key}":
            return True
        self._send_error(UNAUTHORIZED)
        return False

    def _refuse(self, index: int, error: ApiError) -> None:
        if error.status == 400:
            self.api._violation(index, error.message)
        self._send_error(error)

    def _play_error(self, fault: Fault, body: dict[str, Any]) -> None:
        if fault.kind == "rate_limit":
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._send_error(ApiError(429, _RATE_LIMIT, "rate_limit_reached_error"), headers)
        elif fault.kind == "quota":
            self._send_error(ApiError(429, _QUOTA, "exceeded_current_quota_error"))
        elif fault.kind == "unknown_model":
            self._send_error(unknown_model(body.get("model")))
        elif fault.kind == "unauthorized":
            self._send_error(UNAUTHORIZED)
        else:
            self._send_error(ApiError(fault.status or 503, _OVERLOADED, "engine_overloaded_error"))

    def _send_error(self, error: ApiError, headers: dict[str, str] | None = None) -> None:
        self._send_json(error.status, self.api.dialect.error_body(error), headers)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, chunks: list[dict[str, Any]], fault: Fault | None) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        delay = fault.delay if fault is not None and fault.kind == "slow_stream" else 0.0
        cut = fault.after_chunks if fault is not None and fault.kind == "cut_stream" else None
        if self.api.dialect.name == "openrouter":
            self._write_chunk(b": OPENROUTER PROCESSING\n\n")  # OpenRouter's keep-alive comment
        for number, chunk in enumerate(chunks):
            if cut is not None and number >= cut:
                self._cut(clean=fault is not None and fault.clean_end)
                return
            if delay:
                self._pause(delay)
            self._write_chunk(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
        if cut is not None:
            self._cut(clean=fault is not None and fault.clean_end)
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
            raise _ClientGone from exc

    def _pause(self, delay: float) -> None:
        """Wait ``delay`` seconds, noticing at once when the client hangs up (its socket reads EOF)."""
        deadline = time.monotonic() + delay
        while (left := deadline - time.monotonic()) > 0:
            if self.server.stopping.is_set():
                raise _Stopping
            readable, _, _ = select.select([self.connection], [], [], min(left, 0.05))
            if readable:
                try:
                    gone = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    raise _ClientGone
                time.sleep(min(left, 0.05))  # unexpected bytes from the client: don't spin on them
