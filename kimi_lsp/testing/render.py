"""Turn a scripted ``Turn`` into what the API sends: SSE chunk payloads, or one plain JSON completion."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kimi_lsp.testing.script import ScriptedCall, Turn


@dataclass(frozen=True)
class TurnUsage:
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


def fragments(text: str, pieces: int = 4, min_size: int = 8) -> list[str]:
    """``text`` cut into at most ``pieces`` consecutive parts of at least ``min_size`` characters."""
    if not text:
        return []
    size = max(min_size, -(-len(text) // pieces))
    return [text[i : i + size] for i in range(0, len(text), size)]


def arguments_text(call: ScriptedCall, *, truncated: bool = False) -> str:
    text = call.arguments if isinstance(call.arguments, str) else json.dumps(call.arguments, ensure_ascii=False)
    if truncated:
        # Cut inside the JSON so it cannot parse: keep at most half, and never the closing brace.
        text = text[: max(1, min(len(text) // 2, len(text) - 1))]
    return text


def call_ids(calls: Sequence[ScriptedCall], offset: int) -> list[str]:
    """Kimi-style ids, numbered across the conversation from ``offset``."""
    return [call.id or f"functions.{call.name}:{offset + i}" for i, call in enumerate(calls)]


def completion_tokens(turn: Turn) -> int:
    if turn.completion_tokens is not None:
        return turn.completion_tokens
    size = len(turn.reasoning) + len(turn.content)
    size += sum(len(arguments_text(call)) + len(call.name) for call in turn.tool_calls)
    return max(1, size // 4)


def stream_payloads(turn: Turn, *, call_offset: int, usage: TurnUsage, truncated: bool = False) -> list[dict[str, Any]]:
    """The ``choices[0].delta`` chunks of one streamed answer (without the envelope), then usage."""
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": ""}]
    deltas += [{"reasoning_content": part} for part in fragments(turn.reasoning)]
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
    if turn.usage_shape == "openai":
        chunks.append({"choices": [last]})
        chunks.append({"choices": [], "usage": usage.to_wire("openai")})
    else:
        last["usage"] = usage.to_wire("moonshot")
        chunks.append({"choices": [last]})
    return chunks


def plain_completion(turn: Turn, *, call_offset: int, usage: TurnUsage, truncated: bool = False) -> dict[str, Any]:
    """The ``stream: false`` answer body (without the envelope fields)."""
    message: dict[str, Any] = {"role": "assistant", "content": turn.content}
    if turn.reasoning:
        message["reasoning_content"] = turn.reasoning
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
        "usage": usage.to_wire(turn.usage_shape),
    }
