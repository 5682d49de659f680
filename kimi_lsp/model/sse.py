"""Assemble streamed chat-completion chunks into one assistant ``Message``.

Servers differ in the details: Moonshot puts usage in ``choices[0].usage``, OpenAI in a top-level chunk;
some repeat a tool call's id and name on every delta, others split them; OpenRouter and vLLM name the
thinking ``reasoning`` instead of ``reasoning_content``, and OpenRouter adds ``reasoning_details`` in
fragments. The assembler accepts all of these and remembers which names the thinking came under, so the
turn goes back to the server in the form the server reads (see ``types``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from kimi_lsp.model.types import REASONING_FIELDS, Message, ToolCall, Usage

# Fields of a reasoning detail that stream in pieces; every other field is whole in whichever fragment has it.
_DETAIL_TEXT_FIELDS = ("text", "summary", "data")


def parse_usage(raw: Any) -> Usage | None:
    """``Usage`` from either shape; cached tokens from ``cached_tokens`` or ``prompt_tokens_details``."""
    if not isinstance(raw, Mapping):
        return None
    details = raw.get("prompt_tokens_details")
    cached = raw.get("cached_tokens")
    if not cached and isinstance(details, Mapping):
        cached = details.get("cached_tokens")
    return Usage(_int(raw.get("prompt_tokens")), _int(raw.get("completion_tokens")), _int(cached))


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def merge_fragment(current: str, incoming: str) -> str:
    """Join an id or name that may arrive repeated (the same text again), cumulative or split in parts."""
    if not incoming or incoming == current:
        return current
    if incoming.startswith(current):
        return incoming
    return current + incoming


@dataclass
class _PartialCall:
    index: int
    id: str = ""
    name: str = ""
    arguments: list[str] = field(default_factory=list)


@dataclass
class StreamAssembler:
    """Feed it each chunk's JSON; ``message()`` is the assistant turn so far.

    ``call_offset`` is the number of tool calls earlier in the conversation: a call that arrives without
    an id gets Kimi's own form ``functions.{name}:{offset + index}``, stable and unique in the history.
    """

    call_offset: int = 0
    reasoning: list[str] | None = None
    content: list[str] | None = None
    usage: Usage | None = None
    finish_reason: str | None = None
    _calls: dict[int, _PartialCall] = field(default_factory=dict)
    _reasoning_fields: list[str] = field(default_factory=list)
    _details: dict[tuple[Any, Any], dict[str, Any]] | None = None

    def feed(self, chunk: Mapping[str, Any]) -> None:
        """Take one parsed ``data:`` chunk (or a whole non-streamed completion); malformed parts are skipped."""
        usage = parse_usage(chunk.get("usage"))
        if usage is not None:
            self.usage = usage
        for choice in chunk.get("choices") or ():
            if not isinstance(choice, Mapping):
                continue
            usage = parse_usage(choice.get("usage"))
            if usage is not None:
                self.usage = usage
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
            # A non-streaming answer carries the whole turn as ``message``; it reads the same as one delta.
            delta = choice.get("delta") or choice.get("message")
            if isinstance(delta, Mapping):
                self._feed_delta(delta)

    def _feed_delta(self, delta: Mapping[str, Any]) -> None:
        names = [name for name in REASONING_FIELDS if isinstance(delta.get(name), str)]
        for name in names:
            if name not in self._reasoning_fields:
                self._reasoning_fields.append(name)
        details = delta.get("reasoning_details")
        if isinstance(details, list):
            self._feed_details(details)
        if names:
            thinking = delta[names[0]]  # a server that sends both names sends the same text twice
            if self.reasoning is None:
                self.reasoning = []
            self.reasoning.append(thinking)
        text = delta.get("content")
        if isinstance(text, str):
            if self.content is None:
                self.content = []
            self.content.append(text)
        for raw in delta.get("tool_calls") or ():
            if isinstance(raw, Mapping):
                self._feed_call(raw)

    def _feed_details(self, fragments: list[Any]) -> None:
        """Merge streamed ``reasoning_details`` fragments: one detail per (type, index), its text fields
        concatenated in arrival order, any other field taken as sent."""
        if self._details is None:
            self._details = {}
        for fragment in fragments:
            if not isinstance(fragment, Mapping):
                continue
            index = fragment.get("index")
            key = (fragment.get("type"), index if isinstance(index, int) else f"#{len(self._details)}")
            merged = self._details.get(key)
            if merged is None:
                self._details[key] = dict(fragment)
                continue
            for name, value in fragment.items():
                if name in _DETAIL_TEXT_FIELDS and isinstance(value, str):
                    before = merged.get(name)
                    merged[name] = (before if isinstance(before, str) else "") + value
                elif value is not None:
                    merged[name] = value

    def _feed_call(self, raw: Mapping[str, Any]) -> None:
        function = raw.get("function")
        if not isinstance(function, Mapping):
            function = {}
        call = self._call_for(raw)
        call.id = merge_fragment(call.id, raw.get("id") or "")
        call.name = merge_fragment(call.name, function.get("name") or "")
        arguments = function.get("arguments")
        if isinstance(arguments, str):
            call.arguments.append(arguments)
        elif isinstance(arguments, Mapping):  # a few servers send parsed objects
            call.arguments.append(json.dumps(arguments, ensure_ascii=False))

    def _call_for(self, raw: Mapping[str, Any]) -> _PartialCall:
        index = raw.get("index")
        if not isinstance(index, int) or isinstance(index, bool):
            # No index: a known id continues its call, a new id starts one, nothing continues the last one.
            call_id = raw.get("id")
            match = next((c for c in self._calls.values() if call_id and c.id == call_id), None)
            if match is not None:
                return match
            if call_id or not self._calls:
                index = len(self._calls)
            else:
                index = max(self._calls)
        if index not in self._calls:
            self._calls[index] = _PartialCall(index)
        return self._calls[index]

    def _default_id(self, call: _PartialCall) -> str:
        return f"functions.{call.name}:{self.call_offset + call.index}"

    def message(self) -> Message:
        calls = tuple(
            ToolCall(call.id or self._default_id(call), call.name, "".join(call.arguments))
            for _, call in sorted(self._calls.items())
        )
        details = tuple(self._details.values()) if self._details is not None else None
        return Message(
            "assistant",
            content="".join(self.content or ()) or None,
            reasoning_content="".join(self.reasoning) if self.reasoning is not None else None,
            tool_calls=calls,
            reasoning_fields=tuple(self._reasoning_fields) or ("reasoning_content",),
            reasoning_details=details,
        )
