"""Typed chat messages and their exact wire form.

The wire form follows DESIGN.md: an assistant turn keeps its reasoning; an assistant turn with tool calls
and no visible text omits ``content``; each tool call is answered by a ``tool`` message. The serialization is
deterministic so that every request extends the previous one byte for byte and Moonshot's prefix cache keeps
hitting.

Servers name the reasoning differently and each reads only its own name back (Moonshot and SGLang
``reasoning_content``, vLLM since 0.16 ``reasoning``, OpenRouter ``reasoning`` plus structured
``reasoning_details``), silently dropping the other. So an assistant turn remembers the names it arrived
under and goes back under exactly those: whatever the server, it gets its model's thinking back.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]
REASONING_FIELDS = ("reasoning_content", "reasoning")  # the names servers give the thinking text


@dataclass(frozen=True)
class ToolCall:
    """One function call the model asked for. ``arguments`` is the raw JSON text as streamed."""

    id: str
    name: str
    arguments: str

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Message:
    """One chat message. ``reasoning_content`` is the assistant's thinking text whatever the server called
    it; ``reasoning_fields`` are the names it came under (sent back under the same), and
    ``reasoning_details`` OpenRouter's structured reasoning as received, sent back unchanged."""

    role: Role
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # the tool's name on tool results (Kimi accepts and uses it)
    reasoning_fields: tuple[str, ...] = ("reasoning_content",)
    # JSON objects are not hashable; messages are hashed (the request cache) but these are never mutated.
    reasoning_details: tuple[Mapping[str, Any], ...] | None = field(default=None, hash=False)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role}
        if self.role == "assistant":
            if self.content:
                out["content"] = self.content
            elif not self.tool_calls:
                out["content"] = ""
            if self.reasoning_content is not None:
                for name in self.reasoning_fields:
                    out[name] = self.reasoning_content
            if self.reasoning_details is not None:
                out["reasoning_details"] = [dict(detail) for detail in self.reasoning_details]
            if self.tool_calls:
                out["tool_calls"] = [call.to_wire() for call in self.tool_calls]
        elif self.role == "tool":
            out["tool_call_id"] = self.tool_call_id
            if self.name:
                out["name"] = self.name
            out["content"] = self.content or ""
        else:
            out["content"] = self.content or ""
        return out

    def with_reasoning(self, text: str) -> Message:
        """This turn with its thinking replaced by ``text`` (kept under the same names, details dropped:
        they hold the text being replaced)."""
        return dataclasses.replace(self, reasoning_content=text, reasoning_details=None)

    @staticmethod
    def system(text: str) -> Message:
        return Message("system", text)

    @staticmethod
    def user(text: str) -> Message:
        return Message("user", text)

    @staticmethod
    def tool_result(call: ToolCall, text: str) -> Message:
        return Message("tool", text, tool_call_id=call.id, name=call.name)


@dataclass(frozen=True)
class Usage:
    """Tokens a turn (or, summed, a job) cost: prompt, completion, and the prompt's share the cache served."""

    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.cached_tokens + other.cached_tokens,
        )

    def to_json(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cached_tokens": self.cached_tokens,
        }


@dataclass(frozen=True)
class ToolSpec:
    """A tool offered to the model: name, description, JSON schema of its parameters."""

    name: str
    description: str
    parameters: dict[str, Any]

    def to_wire(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }


@dataclass
class Completion:
    """One assistant turn, assembled from the stream."""

    message: Message
    usage: Usage = field(default_factory=Usage)
    finish_reason: str | None = None
    attempts: int = 1
