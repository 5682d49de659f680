"""The streaming chat-completions client: one ``complete()`` call is one assistant turn.

It sends byte-stable requests (so Moonshot's prefix cache keeps hitting), assembles the SSE stream, retries
what retrying can fix (429 rate limits, 5xx, connection failures, timeouts, streams cut before ``[DONE]``)
with exponential backoff and full jitter, honouring ``Retry-After``, and turns everything else into one
clear ``ModelError``. The API key never appears in a message, a repr or a log line.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import json
import random
import re
import ssl
import weakref
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import httpx
from httpx_sse import EventSource

from kimi_lsp.errors import (
    ModelAuthError,
    ModelBadRequest,
    ModelError,
    ModelNotFound,
    ModelQuotaExceeded,
    ModelUnavailable,
)
from kimi_lsp.model.sse import StreamAssembler
from kimi_lsp.model.types import Completion, Message, ToolSpec, Usage
from kimi_lsp.settings import KEY_ENV_VARS, Settings

MAX_BACKOFF = 30.0  # seconds; the cap of the exponential backoff
MAX_RETRY_AFTER = 300.0  # a Retry-After beyond this is treated as this
QUOTA_ERROR_TYPES = frozenset({"exceeded_current_quota_error", "insufficient_quota"})
NOT_FOUND_ERROR_TYPES = frozenset({"resource_not_found_error", "model_not_found", "not_found_error"})
# Partial keys that some APIs echo back ("Incorrect API key provided: sk-ab***yz").
_KEYLIKE = re.compile(r"\b(sk-|Bearer\s+)[A-Za-z0-9*_\-]{3,}")

ReasonCallback = Callable[[str], None]


_FRAGMENTS: weakref.WeakKeyDictionary[Message, str] = weakref.WeakKeyDictionary()


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _message_json(message: Message) -> str:
    # A job's history is append-only, so each message is encoded once instead of on every request.
    try:
        return _FRAGMENTS[message]
    except KeyError:
        encoded = _FRAGMENTS[message] = _dumps(message.to_wire())
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


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date), None if absent/bad."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


class _Retry(Exception):
    """An attempt failed in a way another attempt may fix."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


class ModelClient:
    """Talks to ``{settings.base_url}/chat/completions``. Use as ``async with ModelClient(s) as client``."""

    def __init__(
        self,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self._settings = settings
        self._sleep = sleep
        self._rng = rng or random.Random()
        self._base = settings.base_url.rstrip("/")
        timeout = httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout)
        self._http = httpx.AsyncClient(
            transport=transport, timeout=timeout, follow_redirects=False, verify=_ssl_context()
        )

    def __repr__(self) -> str:
        return f"ModelClient(base_url={_display_url(self._base)!r}, model={self._settings.model!r})"

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
        on_reasoning: ReasonCallback | None = None,
        on_content: Callable[[str], None] | None = None,
        on_tool_call: Callable[[int, str, str], None] | None = None,
        on_retry: Callable[[int, float, str], None] | None = None,
    ) -> Completion:
        """One assistant turn for ``messages``. Callbacks see the deltas as they stream; when an attempt
        fails part-way, ``on_retry(attempt, delay, reason)`` tells the caller to forget what it saw.

        Raises ``ModelError`` subclasses: bad request, auth, not found, quota (none retried) and
        ``ModelUnavailable`` once ``settings.max_retries`` retries are spent.
        """
        headers = self._headers(stream=True)
        body = request_body(self._settings, messages, tools)
        offset = sum(len(message.tool_calls) for message in messages)
        total = self._settings.max_retries + 1
        for attempt in range(1, total + 1):
            assembler = StreamAssembler(on_reasoning, on_content, on_tool_call, call_offset=offset)
            try:
                await self._attempt(body, headers, assembler)
            except _Retry as failure:
                if attempt == total:
                    raise ModelUnavailable(
                        f"the model API at {_display_url(self._base)} failed {total} time(s); last: {failure.reason}",
                        status=failure.status,
                    ) from None
                delay = self._delay(attempt, failure.retry_after)
                if on_retry:
                    on_retry(attempt, delay, failure.reason)
                await self._sleep(delay)
                continue
            return Completion(assembler.message(), assembler.usage or Usage(), assembler.finish_reason, attempt)
        raise AssertionError("unreachable")  # the loop either returns or raises

    async def _attempt(self, body: bytes, headers: dict[str, str], assembler: StreamAssembler) -> None:
        url = f"{self._base}/chat/completions"
        try:
            async with self._http.stream("POST", url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    await response.aread()
                    raise await self._failure(response)
                if "text/event-stream" not in response.headers.get("content-type", ""):
                    await response.aread()  # a server that ignored ``stream``: one plain completion
                    answer = _json_object(response.content)
                    self._raise_if_error(answer)
                    assembler.feed(answer)
                    self._require_answer(assembler)
                    return
                async for event in EventSource(response).aiter_sse():
                    data = event.data.strip()
                    if data == "[DONE]":
                        self._require_answer(assembler)
                        return
                    if event.event == "error":
                        self._raise_if_error({"error": _json_or_text(data)})
                    if data:
                        self._feed(assembler, data)
        except httpx.TimeoutException as exc:
            raise _Retry(f"timed out ({type(exc).__name__})") from exc
        except httpx.TransportError as exc:
            raise _Retry(f"connection failed or stream cut ({type(exc).__name__}: {exc})") from exc
        raise _Retry("the stream ended before [DONE]")

    def _feed(self, assembler: StreamAssembler, data: str) -> None:
        chunk = _json_object(data.encode())
        self._raise_if_error(chunk)
        assembler.feed(chunk)

    def _raise_if_error(self, chunk: dict[str, Any]) -> None:
        """An error sent with a 200 (inside the stream or as the body): raise it as what it is.

        Overload and rate errors are worth retrying; a request the API cannot serve (too long, invalid)
        or an exhausted quota is not, and retrying it would only repeat the failure.
        """
        error = chunk.get("error")
        if error is None and chunk.get("object") == "error":
            error = chunk
        if error is None:
            return
        if isinstance(error, dict):
            message = str(error.get("message") or error)
            kind = str(error.get("type") or error.get("code") or "")
        else:
            message, kind = str(error), ""
        message = self._redact(message)
        shown = f"{kind}: {message}" if kind else message
        lowered = f"{kind} {message}".lower()
        if kind in QUOTA_ERROR_TYPES or "quota" in kind or "insufficient balance" in lowered:
            raise ModelQuotaExceeded(
                f"the account balance or quota is exhausted ({shown}); "
                "top up or raise the quota, retrying will not help",
                error_type=kind,
            )
        if any(word in lowered for word in ("invalid_request", "context_length", "too long", "maximum context")):
            raise ModelBadRequest(f"the model API rejected the request mid-answer ({shown})", error_type=kind)
        raise _Retry(f"the stream reported an error: {shown}")

    @staticmethod
    def _require_answer(assembler: StreamAssembler) -> None:
        # A stream that "finished" with nothing in it (no text, no tool call, no finish reason) is a
        # failed answer, not a model that chose to say nothing: the loop would take it as "done".
        message = assembler.message()
        if (
            not message.content
            and not message.tool_calls
            and not message.reasoning_content
            and not assembler.finish_reason
        ):
            raise _Retry("the API sent an empty answer")

    def _delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, MAX_RETRY_AFTER)
        ceiling = min(MAX_BACKOFF, self._settings.retry_base_delay * 2 ** (attempt - 1))
        return self._rng.uniform(0, ceiling)

    # --- models ---------------------------------------------------------------------------------------

    async def list_models(self) -> list[str]:
        """The model ids ``GET {base}/models`` offers."""
        return [str(card["id"]) for card in await self.model_cards()]

    async def model_cards(self) -> list[dict[str, Any]]:
        """The entries of ``GET {base}/models`` as the server wrote them (each has an ``id``)."""
        try:
            response = await self._http.get(f"{self._base}/models", headers=self._headers(stream=False))
        except httpx.HTTPError as exc:
            raise ModelUnavailable(f"cannot list models at {_display_url(self._base)}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            failure = await self._failure(response, listing=True)
            if isinstance(failure, _Retry):
                raise ModelUnavailable(f"cannot list models: {failure.reason}", status=failure.status)
            raise failure
        try:
            data = _json_object(response.content).get("data")
        except _Retry as failure:
            raise ModelUnavailable(f"cannot list models: {failure.reason}") from None
        return [item for item in data or () if isinstance(item, dict) and "id" in item]

    # --- errors ---------------------------------------------------------------------------------------

    async def _failure(self, response: httpx.Response, *, listing: bool = False) -> ModelError | _Retry:
        """What a non-200 answer means: something to retry, or the error to raise."""
        status = response.status_code
        message, error_type = _api_error(response)
        message = self._redact(message)
        shown = f"{status} {error_type}: {message}" if error_type else f"{status}: {message}"
        if status == 429 and (error_type in QUOTA_ERROR_TYPES or "quota" in error_type):
            return ModelQuotaExceeded(
                f"the account balance or quota is exhausted at {_display_url(self._base)} ({shown}); "
                "top up or raise the quota, retrying will not help",
                status=status,
                error_type=error_type,
            )
        if status == 429 or status == 408 or status >= 500:
            return _Retry(shown, status=status, retry_after=parse_retry_after(response.headers.get("Retry-After")))
        if status in (401, 403):
            return ModelAuthError(self._auth_message(shown), status=status, error_type=error_type)
        if not listing and (status == 404 or error_type in NOT_FOUND_ERROR_TYPES or _names_unknown_model(message)):
            return ModelNotFound(await self._not_found_message(shown), status=status, error_type=error_type)
        if status == 400:
            return ModelBadRequest(f"the model API rejected the request ({shown})", status=400, error_type=error_type)
        return ModelError(f"the model API answered {shown}", status=status, error_type=error_type)

    def _auth_message(self, shown: str) -> str:
        source = self._settings.api_key_source
        holder = f"the key in {source}" if source else f"the API key ({' / '.join(KEY_ENV_VARS)})"
        return (
            f"the model API at {_display_url(self._base)} refused {holder} ({shown}); "
            f"check that it is a valid key for this endpoint"
        )

    async def _not_found_message(self, shown: str) -> str:
        text = f"model {self._settings.model!r} is not available at {_display_url(self._base)} ({shown})"
        try:
            models = await self.list_models()
        except (ModelError, httpx.HTTPError, ValueError):
            return text
        if models:
            text += f"; available models: {', '.join(models)}"
        return text

    def _headers(self, *, stream: bool) -> dict[str, str]:
        key = self._settings.api_key
        if not key:
            raise ModelAuthError(f"no API key: {' and '.join(KEY_ENV_VARS)} are not set")
        headers = {"Authorization": f"Bearer {key}", "User-Agent": "kimi-lsp"}
        if stream:
            headers |= {"Content-Type": "application/json", "Accept": "text/event-stream"}
        return headers

    def _redact(self, text: str) -> str:
        return redact(text, self._settings.api_key)


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One verifying TLS context per process: building one reads the CA bundle, ~50 ms each time."""
    return httpx.create_ssl_context()


def redact(text: str, key: str | None) -> str:
    """``text`` without ``key`` and without anything shaped like a key (``sk-…``, ``Bearer …``)."""
    if key:
        text = text.replace(key, "[redacted]")
    return _KEYLIKE.sub(r"\1[redacted]", text)


def _json_object(data: bytes) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _Retry(f"the API sent malformed JSON ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise _Retry("the API sent JSON that is not an object")
    return value


def _json_or_text(data: str) -> Any:
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        return data
    return value.get("error", value) if isinstance(value, dict) else value


def _api_error(response: httpx.Response) -> tuple[str, str]:
    """``(message, type)`` of an error answer; plain text bodies (proxies) become the message."""
    try:
        body = json.loads(response.content)
    except (UnicodeDecodeError, json.JSONDecodeError):
        text = response.text.strip()[:300]
        return text or response.reason_phrase, ""
    error = body.get("error") if isinstance(body, dict) else None
    if error is None and isinstance(body, dict) and body.get("object") == "error":
        error = body  # SGLang's shape: the error's fields beside "object", not under "error"
    if isinstance(error, dict):
        kind = error.get("type") or error.get("code") or ""
        return str(error.get("message") or response.reason_phrase), str(kind)
    if isinstance(error, str):
        return error, ""
    return str(body)[:300], ""


def _names_unknown_model(message: str) -> bool:
    lowered = message.lower()
    return "model" in lowered and any(p in lowered for p in ("not found", "does not exist", "unknown model"))


def _display_url(url: str) -> str:
    """The URL without any user:password part."""
    return re.sub(r"//[^/@]*@", "//", url)
