"""What the stand-in model says: scripted turns, the tool calls in them, and the faults it can play.

A test queues ``Turn`` objects (or gives a responder that builds one per request). Each chat request
consumes one turn; a turn with a ``Fault`` plays that fault instead of (or while) answering, so a retried
request consumes the next turn.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from kimi_lsp.model.types import ToolCall

FaultKind = Literal[
    "rate_limit",  # 429 rate_limit_reached_error with Retry-After
    "server_error",  # 5xx engine_overloaded_error
    "quota",  # 429 exceeded_current_quota_error
    "cut_stream",  # close the connection after N chunks, no [DONE]
    "slow_stream",  # sleep between chunks (cancellation tests)
    "truncated_arguments",  # tool-call arguments cut short: invalid JSON
    "unknown_model",  # 404 resource_not_found_error
    "unauthorized",  # 401 invalid_authentication_error
]


@dataclass(frozen=True)
class Fault:
    """One misbehaviour of the API, played for one request. Build it with the class methods."""

    kind: FaultKind
    status: int | None = None
    retry_after: str | None = None
    after_chunks: int = 2
    clean_end: bool = False  # cut_stream: finish the HTTP body properly, only [DONE] is missing
    delay: float = 0.0

    @classmethod
    def rate_limit(cls, retry_after: float | str | None = 1) -> Fault:
        return cls("rate_limit", 429, None if retry_after is None else str(retry_after))

    @classmethod
    def server_error(cls, status: int = 503) -> Fault:
        return cls("server_error", status)

    @classmethod
    def quota(cls) -> Fault:
        return cls("quota", 429)

    @classmethod
    def cut_stream(cls, after_chunks: int = 2, *, clean_end: bool = False) -> Fault:
        return cls("cut_stream", after_chunks=after_chunks, clean_end=clean_end)

    @classmethod
    def slow_stream(cls, delay: float = 0.5) -> Fault:
        return cls("slow_stream", delay=delay)

    @classmethod
    def truncated_arguments(cls) -> Fault:
        return cls("truncated_arguments")

    @classmethod
    def unknown_model(cls) -> Fault:
        return cls("unknown_model", 404)

    @classmethod
    def unauthorized(cls) -> Fault:
        return cls("unauthorized", 401)

    @property
    def is_error_response(self) -> bool:
        """True when the fault replaces the whole answer with an HTTP error."""
        return self.status is not None


@dataclass(frozen=True)
class ScriptedCall:
    """A tool call the stand-in makes. ``id`` defaults to Kimi's ``functions.{name}:{n}``, n counted
    across the conversation (the tool calls already in the request's history, then this turn's order)."""

    name: str
    arguments: Mapping[str, Any] | str
    id: str | None = None


def tool_call(name: str, arguments: object | str, n: int = 0) -> ToolCall:
    """The call the model would make, as the loop hands it to a toolbox: Kimi's id ``functions.{name}:{n}``,
    the arguments as JSON text (a string is taken as the raw text, to send broken JSON)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCall(f"functions.{name}:{n}", name, text)


UsageShape = Literal["moonshot", "openai"]


@dataclass(frozen=True)
class Turn:
    """One assistant answer.

    ``chunks``, when given, are streamed verbatim as the ``data:`` payloads (before ``[DONE]``), for tests
    of odd delta shapes; everything else about the turn is then ignored except ``fault``.
    """

    reasoning: str = ""
    content: str = ""
    tool_calls: Sequence[ScriptedCall] = ()
    usage_shape: UsageShape = "moonshot"
    prompt_tokens: int | None = None  # default: len(request body) / 4
    cached_tokens: int | None = None  # default: common prefix with the previous request's messages / 4
    completion_tokens: int | None = None  # default: len(reasoning + content + arguments) / 4
    fault: Fault | None = None
    chunks: Sequence[Mapping[str, Any]] | None = None
    # OpenRouter only: the structured reasoning, each detail with its ``index``, streamed in fragments.
    # Default: one ``reasoning.text`` detail holding ``reasoning``.
    reasoning_details: Sequence[Mapping[str, Any]] | None = None

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"
