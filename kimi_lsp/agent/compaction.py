"""Compaction: shortening old history, in one batch, when the next request would not fit the context window.

The history is otherwise append-only (each request extends the last, so the provider's prefix cache hits);
compaction is the one rewrite. It stubs old bulky parts, oldest first (tool outputs, then reasoning), down to
a share of the window well below the limit, so that the next rewrite is needed only after as much growth again.
Token counts are estimates from characters (there is no offline tokenizer for Kimi).
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from kimi_lsp.model.types import Message, ToolSpec

__all__ = ["REASONING_STUB", "STUB_TEMPLATE", "compact_history", "estimate_tokens", "schema_tokens"]

STUB_TEMPLATE = (
    "[earlier output of {tool} removed to keep the conversation inside the context window; "
    "call the tool again if you need it]"
)
REASONING_STUB = "[earlier reasoning omitted to keep the conversation inside the context window]"
CHARS_PER_TOKEN = 4.0


def estimate_tokens(messages: Sequence[Message]) -> int:
    chars = 0
    for message in messages:
        chars += len(message.content or "") + len(message.reasoning_content or "") + 16
        for call in message.tool_calls:
            chars += len(call.arguments) + len(call.name) + len(call.id) + 16
    return int(chars / CHARS_PER_TOKEN)


def schema_tokens(specs: Sequence[ToolSpec]) -> int:
    return int(sum(len(json.dumps(spec.to_wire())) for spec in specs) / CHARS_PER_TOKEN)


def compact_history(
    history: list[Message], projected: int, target: int, limit: int, protected_from: int
) -> tuple[int, bool]:
    """Stub bulky messages of ``history`` in place until the estimate is at ``target``, sparing the messages
    from ``protected_from`` on unless nothing else brings it under ``limit``; the new estimate, and whether
    anything changed. The system prompt (0) and the task (1) are never touched."""
    changed = False
    for end, goal in ((protected_from, target), (max(2, len(history) - 2), limit)):
        for kind in ("tool", "reasoning"):
            for i in range(2, end):
                if projected <= goal:
                    break
                shorter = _shortened(history[i], kind)
                if shorter is None:
                    continue
                projected -= estimate_tokens([history[i]]) - estimate_tokens([shorter])
                history[i] = shorter
                changed = True
    return projected, changed


def _shortened(message: Message, kind: str) -> Message | None:
    """``message`` with its bulky part replaced by a stub, or None when there is nothing worth cutting."""
    if kind == "tool" and message.role == "tool" and len(message.content or "") >= 400:
        stub = STUB_TEMPLATE.format(tool=message.name or "the tool")
        return Message("tool", stub, tool_call_id=message.tool_call_id, name=message.name)
    if kind == "reasoning" and message.role == "assistant" and len(message.reasoning_content or "") >= 400:
        # The field stays (the API requires it on tool-call turns); only its text goes.
        return message.with_reasoning(REASONING_STUB)
    return None
