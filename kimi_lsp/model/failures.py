"""What a failed answer from the model API means: try again (and after how long), or stop with one clear error.

Retrying fixes 429 rate limits, 408, 5xx, malformed or empty answers and overload errors sent inside a
stream; it cannot fix a bad request, a refused key, an unknown model or an exhausted quota, so those become
the ``ModelError`` that names them at once. The delay before the next attempt honours ``Retry-After`` and
otherwise backs off exponentially with full jitter. No message built here carries the API key.
"""

from __future__ import annotations

import email.utils
import json
import random
import re
from datetime import UTC, datetime
from typing import Any

import httpx

from kimi_lsp.errors import ModelAuthError, ModelBadRequest, ModelError, ModelNotFound, ModelQuotaExceeded
from kimi_lsp.settings import KEY_ENV_VARS, Settings

MAX_BACKOFF = 30.0  # seconds; the cap of the exponential backoff
MAX_RETRY_AFTER = 300.0  # a Retry-After beyond this is treated as this
QUOTA_ERROR_TYPES = frozenset({"exceeded_current_quota_error", "insufficient_quota"})
NOT_FOUND_ERROR_TYPES = frozenset({"resource_not_found_error", "model_not_found", "not_found_error"})
# Partial keys that some APIs echo back ("Incorrect API key provided: sk-ab***yz").
_KEYLIKE = re.compile(r"\b(sk-|Bearer\s+)[A-Za-z0-9*_\-]{3,}")
_UNSERVABLE = ("invalid_request", "context_length", "too long", "maximum context")


class Retry(Exception):
    """An attempt failed in a way another attempt may fix; ``reason`` says how, for progress and the last error."""

    def __init__(self, reason: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.retry_after = retry_after


def backoff_delay(attempt: int, retry_after: float | None, *, base_delay: float, rng: random.Random) -> float:
    """Seconds to wait after failed ``attempt`` (1-based): what the server asked for, capped, or full jitter
    under ``base_delay * 2 ** (attempt - 1)``, capped at ``MAX_BACKOFF``."""
    if retry_after is not None:
        return min(retry_after, MAX_RETRY_AFTER)
    return rng.uniform(0, min(MAX_BACKOFF, base_delay * 2 ** (attempt - 1)))


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


def response_failure(settings: Settings, response: httpx.Response, *, listing: bool = False) -> ModelError | Retry:
    """What a non-200 answer means: a ``Retry``, or the error to raise. ``listing``: the answer to ``GET
    /models``, where a 404 is about the path, not the model. A ``ModelNotFound`` does not yet list the
    models the endpoint offers (asking takes a request; the client adds them)."""
    status = response.status_code
    message, error_type = _error_fields(response)
    message = redact(message, settings.api_key)
    shown = f"{status} {error_type}: {message}" if error_type else f"{status}: {message}"
    where = display_url(settings.base_url)
    if status == 429 and (error_type in QUOTA_ERROR_TYPES or "quota" in error_type):
        return ModelQuotaExceeded(
            f"the account balance or quota is exhausted at {where} ({shown}); "
            "top up or raise the quota, retrying will not help",
            status=status,
            error_type=error_type,
        )
    if status == 429 or status == 408 or status >= 500:
        return Retry(shown, status=status, retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status in (401, 403):
        source = settings.api_key_source
        holder = f"the key in {source}" if source else f"the API key ({' / '.join(KEY_ENV_VARS)})"
        return ModelAuthError(
            f"the model API at {where} refused {holder} ({shown}); check that it is a valid key for this endpoint",
            status=status,
            error_type=error_type,
        )
    if not listing and (status == 404 or error_type in NOT_FOUND_ERROR_TYPES or _names_unknown_model(message)):
        return ModelNotFound(
            f"model {settings.model!r} is not available at {where} ({shown})", status=status, error_type=error_type
        )
    if status == 400:
        return ModelBadRequest(f"the model API rejected the request ({shown})", status=400, error_type=error_type)
    return ModelError(f"the model API answered {shown}", status=status, error_type=error_type)


def raise_if_error(chunk: dict[str, Any], key: str | None) -> None:
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
    message = redact(message, key)
    shown = f"{kind}: {message}" if kind else message
    lowered = f"{kind} {message}".lower()
    if kind in QUOTA_ERROR_TYPES or "quota" in kind or "insufficient balance" in lowered:
        raise ModelQuotaExceeded(
            f"the account balance or quota is exhausted ({shown}); top up or raise the quota, retrying will not help",
            error_type=kind,
        )
    if any(word in lowered for word in _UNSERVABLE):
        raise ModelBadRequest(f"the model API rejected the request mid-answer ({shown})", error_type=kind)
    raise Retry(f"the stream reported an error: {shown}")


def json_object(data: bytes) -> dict[str, Any]:
    """``data`` parsed as the JSON object an answer must be; anything else is a ``Retry``."""
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise Retry(f"the API sent malformed JSON ({exc.__class__.__name__})") from None
    if not isinstance(value, dict):
        raise Retry("the API sent JSON that is not an object")
    return value


def event_error(data: str) -> Any:
    """The error an SSE ``event: error`` carries: its ``error`` member, the JSON it is, or its text."""
    try:
        value = json.loads(data)
    except json.JSONDecodeError:
        return data
    return value.get("error", value) if isinstance(value, dict) else value


def redact(text: str, key: str | None) -> str:
    """``text`` without ``key`` and without anything shaped like a key (``sk-…``, ``Bearer …``)."""
    if key:
        text = text.replace(key, "[redacted]")
    return _KEYLIKE.sub(r"\1[redacted]", text)


def display_url(url: str) -> str:
    """The URL without any user:password part and without a trailing slash."""
    return re.sub(r"//[^/@]*@", "//", url.rstrip("/"))


def _error_fields(response: httpx.Response) -> tuple[str, str]:
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
