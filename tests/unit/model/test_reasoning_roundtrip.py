"""Reasoning survives a multi-turn tool conversation, and the stand-in refuses a client that drops it."""

from __future__ import annotations

import json

import httpx
import pytest

from kimi_lsp.errors import ModelBadRequest
from kimi_lsp.model.types import Message
from kimi_lsp.testing import ScriptedCall, StandIn, Turn


async def test_three_tool_turns_round_trip_reasoning_with_no_protocol_violation(stand_in: StandIn, make_client):
    stand_in.push(
        Turn(reasoning="First, read the test.", tool_calls=[ScriptedCall("ReadFile", {"path": "test_a.py"})]),
        Turn(
            reasoning="Now the code and its callers.",
            tool_calls=[
                ScriptedCall("ReadFile", {"path": "a.py"}),
                ScriptedCall("Grep", {"pattern": "add("}),
            ],
        ),
        Turn(
            reasoning="Patch it.",
            tool_calls=[ScriptedCall("StrReplaceFile", {"path": "a.py", "edit": {"old": "-", "new": "+"}})],
        ),
        Turn(reasoning="Tests pass.", content="Fixed the sign in add()."),
    )
    client = make_client()
    history = [Message.system("You fix tests."), Message.user("test_a fails")]

    while True:
        completion = await client.complete(history)
        history.append(completion.message)
        if not completion.message.tool_calls:
            break
        history.extend(Message.tool_result(call, f"result of {call.id}") for call in completion.message.tool_calls)

    assert history[-1].content == "Fixed the sign in add()."
    assert stand_in.violations == []
    assert len(stand_in.chat_requests) == 4
    last_sent = stand_in.chat_requests[-1].json["messages"]
    assistant_turns = [m for m in last_sent if m["role"] == "assistant"]
    assert [m["reasoning_content"] for m in assistant_turns] == [
        "First, read the test.",
        "Now the code and its callers.",
        "Patch it.",
    ]
    assert all("content" not in m for m in assistant_turns)  # tool-call turns without text omit content
    ids = [c["id"] for m in assistant_turns for c in m["tool_calls"]]
    assert ids == [
        "functions.ReadFile:0",
        "functions.ReadFile:1",
        "functions.Grep:2",
        "functions.StrReplaceFile:3",
    ]
    assert [m["tool_call_id"] for m in last_sent if m["role"] == "tool"] == ids


async def test_dropping_reasoning_gets_the_exact_400_from_the_stand_in(stand_in: StandIn, make_client):
    stand_in.push(Turn(reasoning="think", tool_calls=[ScriptedCall("Glob", {"pattern": "*.py"})]))
    client = make_client()
    history = [Message.user("go")]
    answer = (await client.complete(history)).message
    stripped = Message("assistant", tool_calls=answer.tool_calls)  # a client bug: the thinking is lost

    with pytest.raises(ModelBadRequest) as caught:
        await client.complete([*history, stripped, Message.tool_result(answer.tool_calls[0], "a.py")])

    expected = "thinking is enabled but reasoning_content is missing in assistant tool call message at index 1"
    assert expected in str(caught.value)
    assert [v.message for v in stand_in.violations] == [expected]
    assert stand_in.violations[0].request == 1


def test_stand_in_names_the_index_of_the_offending_message(stand_in: StandIn):
    call = {"id": "functions.Glob:0", "type": "function", "function": {"name": "Glob", "arguments": "{}"}}
    body = {
        "model": "kimi-k2-thinking",
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "reasoning_content": "r", "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "functions.Glob:0", "content": "x"},
            {"role": "assistant", "tool_calls": [{**call, "id": "functions.Glob:1"}]},
            {"role": "tool", "tool_call_id": "functions.Glob:1", "content": "y"},
        ],
    }
    response = httpx.post(
        f"{stand_in.url}/chat/completions",
        content=json.dumps(body),
        headers={"Authorization": f"Bearer {stand_in.api_key}"},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": "thinking is enabled but reasoning_content is missing in assistant tool call message at index 4",
            "type": "invalid_request_error",
        }
    }
