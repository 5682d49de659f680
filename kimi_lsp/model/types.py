"""Typed chat messages and their exact wire form.

The wire form follows DESIGN.md: an assistant turn keeps its ``reasoning_content``; an assistant turn with
tool calls and no visible text omits ``content``; each tool call is answered by a ``tool`` message. The
serialization is deterministic so that every request extends the previous one byte for byte and Moonshot's
prefix cache keeps hitting.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool"]


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
    role: Role
    content: str | None = None
    reasoning_content: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    name: str | None = None  # the tool's name on tool results (Kimi accepts and uses it)

    def to_wire(self) -> dict[str, Any]:
        out: dict[str, Any] = {"role": self.role}
        if self.role == "assistant":
            if self.content:
                out["content"] = self.content
            elif not self.tool_calls:
                out["content"] = ""
            if self.reasoning_content is not None:
                out["reasoning_content"] = self.reasoning_content
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
