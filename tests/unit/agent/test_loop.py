"""The loop against the strict stand-in, with the real tools on a real folder."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from kimi_lsp.agent.loop import AgentLoop, LoopLimits, StepEvent
from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.model.client import ModelClient
from kimi_lsp.testing import ScriptedCall, StandIn, Turn


def workspace(tmp_path: Path, files: int = 30, lines: int = 400) -> Path:
    root = tmp_path / "ws"
    root.mkdir()
    for i in range(files):
        body = "".join(f"def function_{i}_{n}(value):  # line {n} of module {i}\n" for n in range(lines))
        (root / f"mod_{i}.py").write_text(body, encoding="utf-8")
    return root


async def test_parallel_reads_each_get_an_answer_in_order(tmp_path: Path) -> None:
    root = workspace(tmp_path, files=3, lines=5)
    turns = [
        Turn(
            reasoning="read all three",
            tool_calls=[ScriptedCall("ReadFile", {"path": f"mod_{i}.py"}) for i in range(3)],
        ),
        Turn(reasoning="done", content="read them"),
    ]
    with StandIn(turns) as stand_in:
        async with ModelClient(stand_in.settings()) as client:
            loop = AgentLoop(client, Toolbox(root, test_command=None), "system")
            result = await loop.run("read the modules")
        assert result.stop_reason == "done" and result.summary == "read them"
        second = stand_in.chat_requests[1].json["messages"]
        answers = [m for m in second if m["role"] == "tool"]
        assert [a["tool_call_id"] for a in answers] == [c["id"] for c in second[2]["tool_calls"]]
        for i, answer in enumerate(answers):
            assert f"function_{i}_0" in answer["content"]
        assert not stand_in.violations


async def test_tool_errors_go_back_to_the_model_and_the_loop_continues(tmp_path: Path) -> None:
    root = workspace(tmp_path, files=1, lines=3)
    turns = [
        Turn(reasoning="a", tool_calls=[ScriptedCall("ReadFile", {"path": "../../etc/passwd"})]),
        Turn(reasoning="b", tool_calls=[ScriptedCall("NoSuchTool", {"x": 1})]),
        Turn(reasoning="c", tool_calls=[ScriptedCall("ReadFile", '{"path": "mod_0.py"')]),  # truncated JSON
        Turn(reasoning="d", content="gave up politely"),
    ]
    with StandIn(turns) as stand_in:
        async with ModelClient(stand_in.settings()) as client:
            result = await AgentLoop(client, Toolbox(root, test_command=None), "system").run("task")
        assert result.stop_reason == "done" and result.steps == 4
        tool_texts = [m.content or "" for m in result.history if m.role == "tool"]
        assert "outside" in tool_texts[0].lower() and "root:" not in tool_texts[0]
        assert "NoSuchTool" in tool_texts[1]
        assert "json" in tool_texts[2].lower()
        assert not stand_in.violations


async def test_step_limit_ends_the_loop_with_a_clear_summary(tmp_path: Path) -> None:
    root = workspace(tmp_path, files=1, lines=3)

    def forever(_body: dict[str, Any]) -> Turn:
        return Turn(reasoning="again", tool_calls=[ScriptedCall("Glob", {"pattern": "*.py"})])

    events: list[StepEvent] = []
    with StandIn(responder=forever) as stand_in:
        async with ModelClient(stand_in.settings()) as client:
            loop = AgentLoop(
                client,
                Toolbox(root, test_command=None),
                "system",
                limits=LoopLimits(max_steps=5),
                on_event=events.append,
            )
            result = await loop.run("task")
    assert result.stop_reason == "max_steps" and result.steps == 5
    assert "step limit (5)" in result.summary
    assert [e.step for e in events if e.phase == "thinking"] == [1, 2, 3, 4, 5]
    assert any(e.phase == "tool" and e.tool == "Glob" and "listing" in e.describe() for e in events)


async def test_240_call_run_stays_in_the_window_with_rare_rewrites(tmp_path: Path) -> None:
    """A long session of big reads: no request over the window, at most 5% of requests rewrite history."""
    root = workspace(tmp_path, files=30, lines=400)
    calls = 240

    def responder(body: dict[str, Any]) -> Turn:
        done = sum(len(m.get("tool_calls", [])) for m in body["messages"] if m["role"] == "assistant")
        if done >= calls:
            return Turn(reasoning="enough", content="finished the survey")
        return Turn(
            reasoning=f"step {done}",
            tool_calls=[ScriptedCall("ReadFile", {"path": f"mod_{done % 30}.py"})],
        )

    window = 262_144
    with StandIn(responder=responder) as stand_in:
        async with ModelClient(stand_in.settings()) as client:
            loop = AgentLoop(
                client,
                Toolbox(root, test_command=None),
                "system",
                limits=LoopLimits(max_steps=300, window=window),
            )
            result = await loop.run("survey every module")
        requests = stand_in.chat_requests
    assert result.stop_reason == "done" and result.steps == calls + 1
    assert not stand_in.violations
    sizes = [len(r.body) / 4 for r in requests]
    assert max(sizes) < window - 16_384, max(sizes)
    rewrites = _count_rewrites([r.json["messages"] for r in requests])
    assert rewrites == result.rewrites
    assert 1 <= rewrites <= 0.05 * len(requests), (rewrites, len(requests))


def _count_rewrites(histories: list[list[dict[str, Any]]]) -> int:
    """Requests whose messages are not the previous request's messages plus new ones."""
    count = 0
    for before, after in itertools.pairwise(histories):
        prefix = after[: len(before)]
        if json.dumps(prefix, sort_keys=True) != json.dumps(before, sort_keys=True):
            count += 1
    return count


async def test_long_reasoning_is_compacted_too_and_no_request_exceeds_the_window(tmp_path: Path) -> None:
    """Small tool outputs but long thinking: old reasoning gets stubbed (the field kept), the window holds."""
    root = workspace(tmp_path, files=2, lines=3)
    turns = 60

    def responder(body: dict[str, Any]) -> Turn:
        done = sum(1 for m in body["messages"] if m["role"] == "assistant")
        if done >= turns:
            return Turn(reasoning="enough", content="done thinking")
        return Turn(reasoning=f"thought {done} " + "x" * 20_000, tool_calls=[ScriptedCall("Glob", {"pattern": "*.py"})])

    window = 120_000
    with StandIn(responder=responder) as stand_in:
        async with ModelClient(stand_in.settings()) as client:
            loop = AgentLoop(
                client,
                Toolbox(root, test_command=None),
                "system",
                limits=LoopLimits(max_steps=100, window=window, output_reserve=8_000, margin=4_000),
            )
            result = await loop.run("think a lot")
        requests = stand_in.chat_requests
        assert not stand_in.violations  # every assistant tool-call turn still carries reasoning_content
    assert result.stop_reason == "done"
    assert max(len(r.body) / 4 for r in requests) < window - 8_000
    assert 1 <= result.rewrites <= 0.1 * len(requests)
    stubbed = [m for m in result.history if m.reasoning_content and "omitted" in m.reasoning_content]
    assert stubbed


async def test_an_answer_cut_off_at_max_tokens_is_not_taken_as_done(tmp_path: Path) -> None:
    root = workspace(tmp_path, files=1, lines=3)
    cut = [
        {"choices": [{"index": 0, "delta": {"role": "assistant", "reasoning_content": "thinking " * 50}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]},
    ]
    turns = [Turn(chunks=cut), Turn(reasoning="shorter", content="the real summary")]
    with StandIn(turns) as stand_in:
        async with ModelClient(stand_in.settings()) as client:
            result = await AgentLoop(client, Toolbox(root, test_command=None), "system").run("task")
        second = stand_in.chat_requests[1].json["messages"]
        assert not stand_in.violations
    assert result.stop_reason == "done" and result.summary == "the real summary" and result.steps == 2
    assert second[-1]["role"] == "user" and "cut off" in second[-1]["content"]
