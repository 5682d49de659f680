"""The client assembles streamed deltas into one assistant turn, whatever shape the server uses."""

from __future__ import annotations

import json

import pytest

from kimi_lsp.model.client import ModelClient
from kimi_lsp.model.types import Message, ToolCall, Usage
from kimi_lsp.testing import ScriptedCall, StandIn, Turn


def _delta(delta: dict, finish: str | None = None) -> dict:
    return {"choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}


async def test_parallel_tool_calls_split_into_fragments_are_assembled_in_order(stand_in: StandIn, make_client):
    long_patch = "--- a/x.py\n+++ b/x.py\n@@\n-old\n+new\n" * 5
    stand_in.push(
        Turn(
            reasoning="I should read both files and patch one.",
            content="Looking.",
            tool_calls=[
                ScriptedCall("ReadFile", {"path": "src/a.py", "line_offset": 10}),
                ScriptedCall("Grep", {"pattern": "def main", "ignore_case": True}),
                ScriptedCall("ApplyPatch", {"patch": long_patch}),
            ],
        )
    )

    completion = await make_client().complete([Message.user("fix it")])

    message = completion.message
    assert [call.name for call in message.tool_calls] == ["ReadFile", "Grep", "ApplyPatch"]
    assert [call.id for call in message.tool_calls] == [
        "functions.ReadFile:0",
        "functions.Grep:1",
        "functions.ApplyPatch:2",
    ]
    assert json.loads(message.tool_calls[2].arguments) == {"patch": long_patch}
    assert json.loads(message.tool_calls[0].arguments) == {"path": "src/a.py", "line_offset": 10}
    assert message.reasoning_content == "I should read both files and patch one."
    assert message.content == "Looking."
    assert completion.finish_reason == "tool_calls"
    assert completion.attempts == 1


async def test_interleaved_calls_with_repeated_and_split_ids_and_names(stand_in: StandIn, make_client):
    stand_in.push(
        Turn(
            chunks=[
                _delta({"role": "assistant"}),
                _delta({"tool_calls": [{"index": 1, "id": "call_b", "function": {"name": "Gr", "arguments": ""}}]}),
                _delta({"tool_calls": [{"index": 0, "id": "call_a", "function": {"name": "ReadFile"}}]}),
                _delta({"tool_calls": [{"index": 1, "function": {"name": "ep", "arguments": '{"pat'}}]}),
                # some servers repeat id and name on every delta
                _delta(
                    {
                        "tool_calls": [
                            {
                                "index": 0,
                                "id": "call_a",
                                "function": {"name": "ReadFile", "arguments": '{"path":'},
                            }
                        ]
                    }
                ),
                _delta({"tool_calls": [{"index": 0, "function": {"arguments": '"a.py"}'}}]}),
                _delta({"tool_calls": [{"index": 1, "function": {"arguments": 'tern":"x"}'}}]}),
                _delta({}, finish="tool_calls"),
            ]
        )
    )

    message = (await make_client().complete([Message.user("go")])).message

    assert message.tool_calls == (
        ToolCall("call_a", "ReadFile", '{"path":"a.py"}'),
        ToolCall("call_b", "Grep", '{"pattern":"x"}'),
    )
    assert message.reasoning_content is None  # the server never sent the field


async def test_calls_without_ids_get_kimi_ids_counted_across_the_conversation(stand_in: StandIn, make_client):
    stand_in.push(
        Turn(
            chunks=[
                _delta({"reasoning_content": ""}),
                _delta({"tool_calls": [{"index": 0, "function": {"name": "Glob", "arguments": "{}"}}]}),
                _delta({}, finish="tool_calls"),
            ]
        )
    )
    earlier = Message(
        "assistant", reasoning_content="r", tool_calls=(ToolCall("functions.ReadFile:0", "ReadFile", "{}"),)
    )
    history = [Message.user("go"), earlier, Message("tool", "text", tool_call_id="functions.ReadFile:0")]

    message = (await make_client().complete(history)).message

    assert message.tool_calls[0].id == "functions.Glob:1"
    assert message.reasoning_content == ""  # sent, though empty: kept as ""


@pytest.mark.parametrize("shape", ["moonshot", "openai"])
async def test_usage_and_cached_tokens_are_read_in_both_shapes(stand_in: StandIn, make_client, shape):
    stand_in.push(Turn(content="ok", usage_shape=shape, prompt_tokens=1200, cached_tokens=1024, completion_tokens=7))

    completion = await make_client().complete([Message.user("hi")])

    assert completion.usage == Usage(prompt_tokens=1200, completion_tokens=7, cached_tokens=1024)
    assert completion.message.content == "ok"
    assert completion.finish_reason == "stop"
    body = stand_in.chat_requests[0].json
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


async def test_a_server_that_ignores_stream_still_gives_a_completion():
    turn = Turn(reasoning="think", content="plain", prompt_tokens=5, cached_tokens=2)
    with StandIn([turn], streams=False) as api:
        async with ModelClient(api.settings()) as client:
            completion = await client.complete([Message.user("hi")])

    assert completion.message.content == "plain"
    assert completion.message.reasoning_content == "think"
    assert completion.usage.cached_tokens == 2
