"""Compaction on its own, without a model server: which messages are stubbed, in what order, and what is spared."""

from __future__ import annotations

from kimi_lsp.agent.compaction import REASONING_STUB, compact_history, estimate_tokens
from kimi_lsp.model.types import Message, ToolCall

BULK = "x" * 4_000


def _history(turns: int) -> list[Message]:
    """System, task, then ``turns`` pairs of (assistant call with long reasoning, long tool output)."""
    history = [Message("system", "system prompt " + BULK), Message("user", "the task " + BULK)]
    for n in range(turns):
        call = ToolCall(f"functions.ReadFile:{n}", "ReadFile", '{"path": "a.py"}')
        history.append(Message("assistant", None, reasoning_content=f"thought {n} " + BULK, tool_calls=(call,)))
        history.append(Message("tool", f"output {n} " + BULK, tool_call_id=call.id, name="ReadFile"))
    return history


def test_tool_outputs_go_first_oldest_first_and_stop_at_the_target() -> None:
    history = _history(6)
    projected = estimate_tokens(history)
    target = projected - 2_500  # about two and a half tool outputs' worth

    after, changed = compact_history(history, projected, target, limit=projected, protected_from=len(history) - 2)

    assert changed and after <= target
    assert (
        abs(after - estimate_tokens(history)) <= 3
    )  # the running estimate matches a fresh count (per-message rounding)
    stubbed = [i for i, m in enumerate(history) if m.role == "tool" and "removed" in (m.content or "")]
    assert stubbed == [3, 5, 7]  # the three oldest outputs, nothing newer
    assert all(m.reasoning_content and m.reasoning_content.startswith("thought") for m in history[2::2])


def test_reasoning_is_stubbed_after_tool_outputs_and_keeps_its_field() -> None:
    history = _history(4)
    projected = estimate_tokens(history)
    tool_outputs = sum(estimate_tokens([m]) for m in history if m.role == "tool")

    after, changed = compact_history(history, projected, projected - tool_outputs, projected, len(history))

    assert changed and after <= projected - tool_outputs
    assert all("removed" in (m.content or "") for m in history if m.role == "tool")  # every output went first
    assert next(m.reasoning_content for m in history if m.role == "assistant") == REASONING_STUB
    assert all(m.tool_calls for m in history if m.role == "assistant")  # calls and their ids stay
    assert [m.tool_call_id for m in history if m.role == "tool"] == [f"functions.ReadFile:{n}" for n in range(4)]


def test_the_system_prompt_task_and_recent_turns_are_spared_while_the_target_is_reachable() -> None:
    history = _history(5)
    before = list(history)
    projected = estimate_tokens(history)
    protected_from = len(history) - 4  # the last two turns

    compact_history(history, projected, target=projected // 2, limit=projected, protected_from=protected_from)

    assert history[:2] == before[:2]
    assert history[protected_from:] == before[protected_from:]


def test_recent_turns_give_way_when_nothing_else_brings_it_under_the_limit() -> None:
    history = _history(5)
    before = list(history)
    projected = estimate_tokens(history)
    protected_from = 2  # everything after the task is "recent"

    after, changed = compact_history(history, projected, target=0, limit=projected // 2, protected_from=protected_from)

    assert changed and after <= projected // 2
    assert history[:2] == before[:2]
    assert history[-2:] == before[-2:]  # the very last call and its output are never cut


def test_nothing_changes_when_the_history_already_fits() -> None:
    history = _history(3)
    before = list(history)
    projected = estimate_tokens(history)

    assert compact_history(history, projected, projected, projected, 2) == (projected, False)
    assert history == before
