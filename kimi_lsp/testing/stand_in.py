"""A strict stand-in for the Kimi chat-completions API: a real HTTP/1.1 server on 127.0.0.1.

It streams scripted turns as SSE exactly like the API (reasoning, content and tool-call deltas with the
arguments in fragments, usage in either shape, ``[DONE]``), plays faults (rate limits, 5xx, quota, cut and
slow streams, truncated arguments, 404, 401) and refuses what the real API refuses, recording every 400
in ``violations`` so a test can assert the client never broke the protocol. ``dialect`` makes it play
vLLM, SGLang or OpenRouter instead of Moonshot (see ``dialects``): what each emits, reads back and drops;
``streams=False`` a server (or gateway) that ignores ``stream`` and answers each request whole.

    with StandIn([Turn(reasoning="look", tool_calls=[ScriptedCall("ReadFile", {"path": "a.py"})]),
                  Turn(content="fixed")]) as api:
        client = ModelClient(api.settings())
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from kimi_lsp.settings import DEFAULT_MODEL, Settings
from kimi_lsp.testing.dialects import DIALECTS, DialectName
from kimi_lsp.testing.render import UsageCounter, fault_error, plain_completion, stream_payloads
from kimi_lsp.testing.script import Turn
from kimi_lsp.testing.serving import AnswerHandler, ClientGone, LoopbackServer, Stopping
from kimi_lsp.testing.strict import (
    UNAUTHORIZED,
    ApiError,
    bad_request,
    check_chat_request,
    check_tools_offered,
    unknown_path,
)

Responder = Callable[[dict[str, Any]], Turn]
STAND_IN_KEY = "stand-in-key-not-a-secret"
_T = TypeVar("_T")


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
        port: int = 0,
        dialect: DialectName = "moonshot",
        streams: bool = True,
    ) -> None:
        self.dialect = DIALECTS[dialect]
        self.streams = streams  # False: a server (or a gateway before it) that ignores ``stream`` and answers whole
        self.models = tuple(models)
        self.api_key = STAND_IN_KEY
        self._responder = responder
        self._turns: deque[Turn] = deque(turns)
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._violations: list[Violation] = []
        self._notes: list[str] = []
        self._disconnects = 0
        self._usage_counter = UsageCounter()
        self._server = _Server(self, port)
        self._server.start()

    # --- public surface -------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The base URL a client is given, with the dialect's path (``/v1``, OpenRouter's ``/api/v1``)."""
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
        """How many queued turns no request has taken yet."""
        return len(self._snapshot(self._turns))

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, in order, refused ones included."""
        return self._snapshot(self._requests)

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
        return self._snapshot(self._violations)

    @property
    def notes(self) -> list[str]:
        """What went wrong on the stand-in's side (a failing responder, an empty queue): the test's doing."""
        return self._snapshot(self._notes)

    @property
    def disconnects(self) -> int:
        """How many streams the client hung up on before they ended."""
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
        self._server.stop()

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

    # --- what the handler threads record, and the test thread reads --------------------------------------

    def _snapshot(self, items: Iterable[_T]) -> list[_T]:
        with self._cond:
            return list(items)

    def _append(self, items: list[_T], item: _T) -> int:
        """Add ``item`` to one of the records, waking ``wait_for``; its index there."""
        with self._cond:
            items.append(item)
            self._cond.notify_all()
            return len(items) - 1

    def _note(self, text: str) -> None:
        self._append(self._notes, text)

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


class _Server(LoopbackServer):
    def __init__(self, stand_in: StandIn, port: int) -> None:
        super().__init__(port, _Handler, on_error=stand_in._note)
        self.stand_in = stand_in


class _Handler(AnswerHandler):
    """Answers as the Kimi API would: checks the key and the request, then plays the next scripted turn."""

    server: _Server

    @property
    def api(self) -> StandIn:
        return self.server.stand_in

    def do_GET(self) -> None:
        self._record(b"")
        if not self._authorized():
            return
        if self.path.rstrip("/").endswith("/v1/models"):
            self.send_json(200, {"object": "list", "data": self.api.dialect.model_cards(self.api.models)})
        else:
            self._send_error(unknown_path(self.path))

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
            self._send_error(unknown_path(self.path))
            return
        try:
            body = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._refuse(index, bad_request(f"Invalid request: malformed JSON body ({exc})"))
            return
        dialect = self.api.dialect
        error = check_chat_request(body, self.api.models, thinking=dialect.requires_reasoning)
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
        self._answer(index, body, raw, turn)

    def _answer(self, index: int, body: dict[str, Any], raw: bytes, turn: Turn) -> None:
        usage = self.api._usage_counter.usage(turn, body, raw)
        fault = turn.fault
        if fault is not None and fault.is_error_response:
            self._send_error(*fault_error(fault, body.get("model")))
            return
        dialect = self.api.dialect
        offset = sum(len(m.get("tool_calls") or []) for m in body["messages"] if m.get("role") == "assistant")
        truncated = fault is not None and fault.kind == "truncated_arguments"
        envelope = {"id": f"chatcmpl-{index}", "created": int(time.time()), "model": body["model"]}
        if not body.get("stream") or not self.api.streams:
            answer = plain_completion(turn, call_offset=offset, usage=usage, truncated=truncated, dialect=dialect)
            self.send_json(200, {**envelope, "object": "chat.completion", **answer})
            return
        if turn.chunks is not None:
            payloads = [dict(chunk) for chunk in turn.chunks]
        else:
            payloads = stream_payloads(turn, call_offset=offset, usage=usage, truncated=truncated, dialect=dialect)
        try:
            self.send_events(
                [{**envelope, "object": "chat.completion.chunk", **p} for p in payloads],
                comment=b"OPENROUTER PROCESSING" if dialect.name == "openrouter" else b"",  # its keep-alive
                delay=fault.delay if fault is not None and fault.kind == "slow_stream" else 0.0,
                cut_after=fault.after_chunks if fault is not None and fault.kind == "cut_stream" else None,
                clean_cut=fault is not None and fault.clean_end,
            )
        except ClientGone:
            self.close_connection = True
            self.api._disconnected()
        except Stopping:
            self.close_connection = True

    def _record(self, raw: bytes) -> int:
        try:
            parsed = json.loads(raw) if raw else None
        except (UnicodeDecodeError, json.JSONDecodeError):
            parsed = None
        request = RecordedRequest(self.command, self.path, dict(self.headers.items()), raw, parsed)
        return self.api._append(self.api._requests, request)

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.api.api_key}":
            return True
        self._send_error(UNAUTHORIZED)
        return False

    def _refuse(self, index: int, error: ApiError) -> None:
        if error.status == 400:
            self.api._append(self.api._violations, Violation(index, error.message))
        self._send_error(error)

    def _send_error(self, error: ApiError, headers: dict[str, str] | None = None) -> None:
        self.send_json(error.status, self.api.dialect.error_body(error), headers)
