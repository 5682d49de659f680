"""Turn a scripted ``Turn`` into what the API sends: SSE chunk payloads, one plain JSON completion, or the
error answer of its fault; and the token counts the answer reports."""

from __future__ import annotations

import json
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kimi_lsp.testing.dialects import DIALECTS, Dialect, default_details
from kimi_lsp.testing.script import Fault, ScriptedCall, Turn
from kimi_lsp.testing.strict import UNAUTHORIZED, ApiError, unknown_model

MOONSHOT = DIALECTS["moonshot"]
_RATE_LIMIT = "Your account reached its rate limit (requests per minute), please retry after a short wait"
_OVERLOADED = "The engine is currently overloaded, please try again later"
_QUOTA = "Your account is suspended due to insufficient balance, please recharge your account or check your plan"
_DETAIL_TEXT_FIELDS = ("text", "summary", "data")
_LATE_DETAIL_FIELDS = ("signature",)  # sent with a detail's last fragment, as streaming providers do


@dataclass(frozen=True)
class TurnUsage:
    """The token counts one answer reports; ``to_wire`` writes them in Moonshot's or OpenAI's shape."""

    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int

    def to_wire(self, shape: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }
        if shape == "openai":
            out["prompt_tokens_details"] = {"cached_tokens": self.cached_tokens}
        else:
            out["cached_tokens"] = self.cached_tokens
        return out


class UsageCounter:
    """The usage each answer reports, unless its turn sets the numbers: prompt tokens a quarter of the request's
    bytes, cached tokens a quarter of the characters its messages share, as a prefix, with the previous
    request's (how a prefix cache behaves)."""

    def __init__(self) -> None:
        self._previous: str | None = None
        self._lock = threading.Lock()

    def usage(self, turn: Turn, body: Mapping[str, Any], raw: bytes) -> TurnUsage:
        messages = json.dumps(body["messages"], ensure_ascii=False, separators=(",", ":"))
        with self._lock:
            previous, self._previous = self._previous, messages
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


def fault_error(fault: Fault, model: object) -> tuple[ApiError, dict[str, str]]:
    """The error answer, and its extra headers, that a fault with a status plays instead of the turn."""
    if fault.kind == "rate_limit":
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        return ApiError(429, _RATE_LIMIT, "rate_limit_reached_error"), headers
    if fault.kind == "quota":
        return ApiError(429, _QUOTA, "exceeded_current_quota_error"), {}
    if fault.kind == "unknown_model":
        return unknown_model(model), {}
    if fault.kind == "unauthorized":
        return UNAUTHORIZED, {}
    return ApiError(fault.status or 503, _OVERLOADED, "engine_overloaded_error"), {}


def fragments(text: str, pieces: int = 4, min_size: int = 8) -> list[str]:
    """``text`` cut into at most ``pieces`` consecutive parts of at least ``min_size`` characters."""
    if not text:
        return []
    size = max(min_size, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def arguments_text(call: ScriptedCall, *, truncated: bool = False) -> str:
    """A scripted call's arguments as the JSON text the model streams, or cut short so it cannot parse."""
    text = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments, ensure_ascii=False)
    if truncated:
        # Cut inside the JSON so it cannot parse: keep at most half, and never the closing brace.
        text = text[: max(1, min(len(text) // 2, len(text) - 1))]
    return text


def call_ids(calls: Sequence[ScriptedCall], offset: int) -> list[str]:
    """Kimi-style ids, numbered across the conversation from ``offset``."""
    return [call.id or f"functions.{call.name}:{offset + i}" for i, call in enumerate(calls)]


def completion_tokens(turn: Turn) -> int:
    """The completion tokens an answer reports: the turn's own number, else a quarter of what it says."""
    if turn.completion_tokens is not None:
        return turn.completion_tokens
    size = len(turn.reasoning) + len(turn.content)
    size += sum(len(arguments_text(call)) + len(call.name) for call in turn.tool_calls)
    return max(1, size // 4)


def detail_fragments(detail: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One ``reasoning_details`` entry cut as a stream sends it: its text in pieces, each piece naming the
    detail's ``type`` and ``index``; the first piece carries the other fields, the last the signature."""
    text_field = next((name for name in _DETAIL_TEXT_FIELDS if isinstance(detail.get(name), str)), None)
    if text_field is None:
        return [dict(detail)]
    pieces = fragments(detail[text_field]) or [""]
    label = {key: detail[key] for key in ("type", "index") if key in detail}
    out = [{**label, text_field: piece} for piece in pieces]
    out[0] = {key: value for key, value in detail.items() if key not in _LATE_DETAIL_FIELDS} | out[0]
    out[-1] |= {key: detail[key] for key in _LATE_DETAIL_FIELDS if key in detail}
    return out


def reasoning_deltas(turn: Turn, dialect: Dialect) -> list[dict[str, Any]]:
    """The deltas that stream the thinking: under the dialect's field name, with OpenRouter's details."""
    parts = fragments(turn.reasoning)
    deltas: list[dict[str, Any]] = [{dialect.reasoning_out: part} for part in parts]
    if not dialect.details or (turn.reasoning_details is None and not parts):
        return deltas
    if turn.reasoning_details is None:
        # Plain thinking: each piece also arrives as a fragment of the one reasoning.text detail.
        for delta, fragment in zip(deltas, detail_fragments(default_details(turn.reasoning)[0]), strict=True):
            delta["reasoning_details"] = [fragment]
        return deltas
    for detail in turn.reasoning_details:
        deltas += [{"reasoning_details": [fragment]} for fragment in detail_fragments(detail)]
    return deltas


def stream_payloads(
    turn: Turn, *, call_offset: int, usage: TurnUsage, truncated: bool = False, dialect: Dialect = MOONSHOT
) -> list[dict[str, Any]]:
    """The ``choices[0].delta`` chunks of one streamed answer (without the envelope), then usage."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += reasoning_deltas(turn, dialect)
    deltas += [{"content": part} for part in fragments(turn.content)]
    for index, (call, call_id) in enumerate(zip(turn.tool_calls, call_ids(turn.tool_calls, call_offset), strict=True)):
        head = {
            "index": index,
            "id": call_id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        deltas.append({"tool_calls": [head]})
        for part in fragments(arguments_text(call, truncated=truncated), pieces=3, min_size=1):
            deltas.append({"tool_calls": [{"index": index, "function": {"arguments": part}}]})
    chunks: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
    last: dict[str, Any] = {"index": 0, "delta": {}, "finish_reason": turn.finish_reason}
    if (dialect.usage_shape or turn.usage_shape) == "openai":
        chunks.append({"choices": [last]})
        chunks.append({"choices": [], "usage": usage.to_wire("openai")})
    else:
        last["usage"] = usage.to_wire("moonshot")
        chunks.append({"choices": [last]})
    return chunks


def plain_completion(
    turn: Turn, *, call_offset: int, usage: TurnUsage, truncated: bool = False, dialect: Dialect = MOONSHOT
) -> dict[str, Any]:
    """The ``stream: false`` answer body (without the envelope fields)."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.reasoning:
        message[dialect.reasoning_out] = turn.reasoning
    if dialect.details and (turn.reasoning or turn.reasoning_details):
        given = turn.reasoning_details
        message["reasoning_details"] = (
            [dict(d) for d in given] if given is not None else default_details(turn.reasoning)
        )
    if turn.tool_calls:
        message["tool_calls"] = [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": call.name, "arguments": arguments_text(call, truncated=truncated)},
            }
            for call, call_id in zip(turn.tool_calls, call_ids(turn.tool_calls, call_offset), strict=True)
        ]
    return {
        "choices": [{"index": 0, "message": message, "finish_reason": turn.finish_reason}],
        "usage": usage.to_wire(dialect.usage_shape or turn.usage_shape),
    }
