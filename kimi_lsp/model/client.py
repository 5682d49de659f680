"""The streaming chat-completions client: one ``complete()`` call is one assistant turn.

It sends byte-stable requests (so Moonshot's prefix cache keeps hitting), assembles the SSE stream (``sse``)
and tries again, after the delay ``failures`` sets, whatever that module calls worth another attempt (rate
limits, 5xx, connection failures, timeouts, streams cut before ``[DONE]``); everything else is one clear
``ModelError``. The API key never appears in a message, a repr or a log line.
"""

from __future__ import annotations

import asyncio
import functools
import json
import random
import ssl
import weakref
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource

from kimi_lsp.errors import ModelAuthError, ModelError, ModelNotFound, ModelUnavailable
from kimi_lsp.model.failures import (
    Retry,
    backoff_delay,
    display_url,
    event_error,
    json_object,
    raise_if_error,
    response_failure,
)
from kimi_lsp.model.sse import StreamAssembler
from kimi_lsp.model.types import Completion, Message, ToolSpec, Usage
from kimi_lsp.settings import KEY_ENV_VARS, Settings

_ENCODED: weakref.WeakKeyDictionary[Message, str] = weakref.WeakKeyDictionary()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _message_json(message: Message) -> str:
    # A job's history is append-only, so each message is encoded once instead of on every request.
    try:
        return _ENCODED[message]
    except KeyError:
        encoded = _ENCODED[message] = _dumps(message.to_wire())
        return encoded


def request_body(settings: Settings, messages: Sequence[Message], tools: Sequence[ToolSpec] = ()) -> bytes:
    """The exact bytes of a chat request. Same inputs give identical bytes, and a longer history gives
    bytes that extend the shorter one's messages unchanged, which is what prefix caching needs."""
    rest: dict[str, Any] = {}
    if tools:
        rest["tools"] = [tool.to_wire() for tool in tools]
    rest.update(
        temperature=settings.temperature,
        top_p=settings.top_p,
        max_tokens=settings.max_tokens,
        stream=True,
        stream_options={"include_usage": True},
    )
    # Byte for byte what json.dumps gives for {"model", "messages", **rest}, built from cached fragments.
    text = (
        '{"model":'
        + _dumps(settings.model)
        + ',"messages":['
        + ",".join(_message_json(m) for m in messages)
        + "],"
        + _dumps(rest)[1:]
    )
    return text.encode("utf-8")


class ModelClient:
    """Talks to ``{settings.base_url}/chat/completions``. Use as ``async with ModelClient(s) as client``."""

    def __init__(
        self,
        settings: Settings,
        *,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._base = settings.base_url.rstrip("/")
        timeout = httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout)
        self._http = httpx.AsyncClient(timeout=timeout, follow_redirects=False, verify=_ssl_context())

    def __repr__(self) -> str:
        return f"ModelClient(base_url={display_url(self._base)!r}, model={self._settings.model!r})"

    async def __aenter__(self) -> ModelClient:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- the turn -------------------------------------------------------------------------------------

    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        on_retry: Callable[[int, float, str], None] | None = None,
    ) -> Completion:
        """One assistant turn for ``messages``. ``on_retry(attempt, delay, reason)`` hears of each failed
        attempt before the client waits ``delay`` seconds and tries again.

        Raises ``ModelError`` subclasses: bad request, auth, not found, quota (none retried) and
        ``ModelUnavailable`` once ``settings.max_retries`` retries are spent.
        """
        headers = self._headers(stream=True)
        body = request_body(self._settings, messages, tools)
        offset = sum(len(message.tool_calls) for message in messages)
        total = self._settings.max_retries + 1
        for attempt in range(1, total + 1):
            assembler = StreamAssembler(call_offset=offset)
            try:
                await self._attempt(body, headers, assembler)
            except Retry as failure:
                if attempt == total:
                    raise ModelUnavailable(
                        f"the model API at {display_url(self._base)} failed {total} time(s); last: {failure.reason}",
                        status=failure.status,
                    ) from None
                delay = backoff_delay(
                    attempt, failure.retry_after, base_delay=self._settings.retry_base_delay, rng=self._rng
                )
                if on_retry:
                    on_retry(attempt, delay, failure.reason)
                await self._sleep(delay)
                continue
            return Completion(assembler.message(), assembler.usage or Usage(), assembler.finish_reason, attempt)
        raise AssertionError("unreachable")  # the loop either returns or raises

    async def _attempt(self, body: bytes, headers: dict[str, str], assembler: StreamAssembler) -> None:
        url = f"{self._base}/chat/completions"
        key = self._settings.api_key
        try:
            async with self._http.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise await self._failure(response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    await response.aread()  # a server that ignored ``stream``: one plain completion
                    answer = json_object(response.content)
                    raise_if_error(answer, key)
                    assembler.feed(answer)
                    _require_answer(assembler)
                    return
                async for event in EventSource(response).aiter_sse():
                    data = event.data.strip()
                    if data == "[DONE]":
                        _require_answer(assembler)
                        return
                    if event.event == "error":
                        raise_if_error({"error": event_error(data)}, key)
                    if data:
                        chunk = json_object(data.encode())
                        raise_if_error(chunk, key)
                        assembler.feed(chunk)
        except httpx.TimeoutException as exc:
            raise Retry(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise Retry(f"connection failed or stream cut ({type(exc).__name__}: {exc})") from exc
        raise Retry("the stream ended before [DONE]")

    # --- models ---------------------------------------------------------------------------------------

    async def list_models(self) -> list[str]:
        """The model ids ``GET {base}/models`` offers."""
        return [str(card["id"]) for card in await self.model_cards()]

    async def model_cards(self) -> list[dict[str, Any]]:
        """The entries of ``GET {base}/models`` as the server wrote them (each has an ``id``)."""
        try:
            response = await self._http.get(f"{self._base}/models", headers=self._headers(stream=False))
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"cannot list models at {display_url(self._base)}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            failure = response_failure(self._settings, response, listing=True)
            if isinstance(failure, Retry):
                raise ModelUnavailable(f"cannot list models: {failure.reason}", status=failure.status)
            raise failure
        try:
            data = json_object(response.content).get("data")
        except Retry as failure:
            raise ModelUnavailable(f"cannot list models: {failure.reason}") from None
        return [item for item in data or () if isinstance(item, dict) and "id" in item]

    # --- requests and refusals ------------------------------------------------------------------------

    async def _failure(self, response: httpx.Response) -> ModelError | Retry:
        """What a non-200 answer to a chat request means; an unknown model's error names the ones offered."""
        failure = response_failure(self._settings, response)
        if not isinstance(failure, ModelNotFound):
            return failure
        try:
            models = await self.list_models()
        except (ModelError, httpx.HTTPError, ValueError):
            return failure
        if not models:
            return failure
        return ModelNotFound(
            f"{failure}; available models: {', '.join(models)}", status=failure.status, error_type=failure.error_type
        )

    def _headers(self, *, stream: bool) -> dict[str, str]:
        key = self._settings.api_key
        if not key:
            raise ModelAuthError(f"no API key: {' and '.join(KEY_ENV_VARS)} are not set")
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "kimi-lsp"}
        if stream:
            headers |= {"Content-Type": "application/json", "Accept": "text/event-stream"}
        return headers


def _require_answer(assembler: StreamAssembler) -> None:
    # A stream that "finished" with nothing in it (no text, no tool call, no finish reason) is a
    # failed answer, not a model that chose to say nothing: the loop would take it as "done".
    message = assembler.message()
    if not message.content and not message.tool_calls and not message.reasoning_content and not assembler.finish_reason:
        raise Retry("the API sent an empty answer")


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one reads the CA bundle, ~50 ms each time."""
    return httpx.create_ssl_context()
