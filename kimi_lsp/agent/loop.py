"""The debugging loop: ask the model, run the tools it calls, repeat until it answers without tool calls.

One append-only history per job is the trajectory. The system prompt and the tool list are fixed for the job
and serialized identically on every request, so each request extends the previous one and the provider's
prefix cache keeps hitting. The only rewrite of earlier history is compaction near the context window, done
in one large batch so that it happens rarely.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from kimi_lsp.agent.compaction import compact_history, estimate_tokens, schema_tokens
from kimi_lsp.agent.progress import StepEvent
from kimi_lsp.model.types import Completion, Message, ToolCall, ToolSpec, Usage

CONTEXT_WINDOW = 262_144
CUT_OFF_NOTE = (
    "Your last answer was cut off at the output limit before it finished. Continue from where you were, "
    "thinking more briefly; call a tool or give your final summary."
)


class ToolRunner(Protocol):
    def specs(self) -> list[ToolSpec]: ...

    def read_only(self, name: str) -> bool:
        """True for tools that change nothing: consecutive calls of them may run at once."""
        ...

    async def run(self, call: ToolCall) -> ToolOutcome: ...


class ToolOutcome(Protocol):
    text: str
    ok: bool
    target: str | None


class ChatModel(Protocol):
    async def complete(
        self,
        messages: Sequence[Message],
        tools: Sequence[ToolSpec] = (),
        *,
        on_retry: Callable[[int, float, str], None] | None = None,
    ) -> Completion: ...


@dataclass(frozen=True)
class LoopLimits:
    max_steps: int = 100
    max_job_tokens: int = 100_000_000
    max_wall_time: float = 3600.0
    window: int = CONTEXT_WINDOW
    output_reserve: int = 16_384
    margin: int = 8_192
    # Compaction shrinks the history to this share of the usable window, so it need not happen again soon.
    compact_target: float = 0.35
    keep_recent_messages: int = 12


@dataclass
class LoopResult:
    summary: str
    steps: int
    usage: Usage
    stop_reason: str  # "done" | "max_steps" | "max_tokens" | "wall_time"
    requests: int = 0
    rewrites: int = 0
    history: list[Message] = field(default_factory=list)


class AgentLoop:
    """``run()`` repeats ``step()`` = query the model, then execute the tool calls it made."""

    def __init__(
        self,
        model: ChatModel,
        tools: ToolRunner,
        system_prompt: str,
        *,
        limits: LoopLimits | None = None,
        on_event: Callable[[StepEvent], None] | None = None,
        on_record: Callable[[str, dict[str, object]], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
        redact: Callable[[str], str] = str,
    ) -> None:
        self.model = model
        self._redact = redact  # every text that reaches the model from outside it passes through here
        self.tools = tools
        self.limits = limits or LoopLimits()
        self.tool_specs = tools.specs()
        self.history: list[Message] = [Message.system(system_prompt)]
        self.usage = Usage()
        self.steps = 0
        self.requests = 0
        self.rewrites = 0
        self._on_event = on_event
        self._on_record = on_record
        self._clock = clock
        self._last_prompt_tokens = 0
        self._messages_at_last_usage = 0
        self._started = clock()
        self.first_estimate = 0  # the character estimate of the first request, and what the provider counted
        self.first_prompt_tokens = 0

    def _emit(self, phase: str, **kw: object) -> None:
        if self._on_event is not None:
            tokens = self.usage.prompt_tokens + self.usage.completion_tokens
            self._on_event(StepEvent(self.steps, self.limits.max_steps, phase, tokens=tokens, **kw))  # type: ignore[arg-type]

    def _record(self, kind: str, data: dict[str, object]) -> None:
        if self._on_record is not None:
            self._on_record(kind, data)

    async def run(self, task: str) -> LoopResult:
        """Start on ``task`` and go until the model answers without tool calls or a limit is hit."""
        self._started = self._clock()
        return await self.resume(task)

    async def resume(self, message: str) -> LoopResult:
        """Append a user message (the task, or news such as "the tests still fail") and go on.

        Steps, tokens and time count across resumptions: the limits are the job's, not the turn's.
        """
        self.history.append(Message.user(self._redact(message)))
        started = self._started
        stop_reason = "max_steps"
        summary = ""
        while self.steps < self.limits.max_steps:
            if self._clock() - started > self.limits.max_wall_time:
                stop_reason = "wall_time"
                break
            if self.usage.prompt_tokens + self.usage.completion_tokens >= self.limits.max_job_tokens:
                stop_reason = "max_tokens"
                break
            self.steps += 1
            completion = await self.query()
            calls = completion.message.tool_calls
            if not calls and completion.finish_reason == "length":
                # Cut off at max_tokens mid-thought: that is not an answer. Say so and let it go on.
                self.history.append(Message.user(CUT_OFF_NOTE))
                continue
            if not calls:
                summary = (completion.message.content or "").strip()
                stop_reason = "done"
                break
            await self.execute(calls)
        if stop_reason != "done":
            summary = self._limit_summary(stop_reason)
        return LoopResult(
            summary, self.steps, self.usage, stop_reason, self.requests, self.rewrites, list(self.history)
        )

    def _limit_summary(self, reason: str) -> str:
        limits = {
            "max_steps": f"the step limit ({self.limits.max_steps})",
            "max_tokens": f"the token limit ({self.limits.max_job_tokens})",
            "wall_time": f"the time limit ({self.limits.max_wall_time:g} s)",
        }
        return f"Stopped at {limits[reason]} before the model finished."

    def projected_tokens(self) -> int:
        """Estimated size of the next request: the last reported prompt plus what was appended since."""
        if self._last_prompt_tokens:
            added = estimate_tokens(self.history[self._messages_at_last_usage :])
            return self._last_prompt_tokens + added
        return estimate_tokens(self.history) + schema_tokens(self.tool_specs)

    async def query(self) -> Completion:
        if self.projected_tokens() > self.limits.window - self.limits.output_reserve - self.limits.margin:
            self.compact()
        self._emit("thinking")

        def on_retry(attempt: int, delay: float, reason: str) -> None:
            self._emit("retry", detail=f"{reason} (attempt {attempt + 1}, waiting {delay:.1f} s)")

        self.requests += 1
        if self.requests == 1:
            self.first_estimate = estimate_tokens(self.history) + schema_tokens(self.tool_specs)
        self._record("request", {"step": self.steps, "messages": len(self.history)})
        completion = await self.model.complete(self.history, self.tool_specs, on_retry=on_retry)
        self.usage = self.usage + completion.usage
        if self.requests == 1:
            self.first_prompt_tokens = completion.usage.prompt_tokens
        if completion.usage.prompt_tokens:
            self._last_prompt_tokens = completion.usage.prompt_tokens + completion.usage.completion_tokens
            self._messages_at_last_usage = len(self.history) + 1
        self.history.append(completion.message)
        self._record(
            "response",
            {
                "step": self.steps,
                "message": completion.message.to_wire(),
                "usage": completion.usage.to_json(),
                "finish_reason": completion.finish_reason,
                "attempts": completion.attempts,
            },
        )
        return completion

    async def execute(self, calls: Sequence[ToolCall]) -> None:
        """Run the calls in order; consecutive read-only calls run concurrently. Every call gets an answer."""
        index = 0
        while index < len(calls):
            batch = [calls[index]]
            if self.tools.read_only(calls[index].name):
                while index + len(batch) < len(calls) and self.tools.read_only(calls[index + len(batch)].name):
                    batch.append(calls[index + len(batch)])
            results = await asyncio.gather(*(self._run_one(call) for call in batch))
            for call, text in zip(batch, results, strict=True):
                self.history.append(Message.tool_result(call, text))
            index += len(batch)

    async def _run_one(self, call: ToolCall) -> str:
        began = time.monotonic()
        try:
            outcome = await self.tools.run(call)
            text, ok, target = self._redact(outcome.text), outcome.ok, outcome.target
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool bug must not end the job: the model hears about it
            text, ok, target = f"Error: {call.name} failed unexpectedly: {exc}", False, None
        self._emit("tool", tool=call.name, target=target)
        self._record(
            "tool",
            {
                "id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "ok": ok,
                "chars": len(text),
                "seconds": round(time.monotonic() - began, 4),
                "result": text,
            },
        )
        return text

    def compact(self) -> None:
        """Shorten old bulky history in one batch, oldest first: tool outputs, then old reasoning.

        Stubbing down to ``compact_target`` of the usable window (not just under the limit) is what keeps
        the rewrite rare: the next one is needed only after the history grows by the same amount again.
        Recent messages are kept whole unless nothing else brings the request under the window.
        """
        usable = self.limits.window - self.limits.output_reserve - self.limits.margin
        protected_from = max(2, len(self.history) - self.limits.keep_recent_messages)
        projected, changed = compact_history(
            self.history, self.projected_tokens(), int(usable * self.limits.compact_target), usable, protected_from
        )
        if not changed:
            return
        self.rewrites += 1
        # The reported size no longer describes this history: fall back to estimating until the next usage.
        self._last_prompt_tokens = max(0, projected - estimate_tokens(self.history[self._messages_at_last_usage :]))
        self._emit("compacted")
        self._record("compacted", {"step": self.steps, "projected_tokens": projected})
