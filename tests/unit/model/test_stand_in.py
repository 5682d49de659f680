"""The stand-in refuses what the real API refuses, plays its faults faithfully, and records everything."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx
import pytest

from kimi_lsp.testing import STAND_IN_KEY, Fault, ScriptedCall, StandIn, Turn

# One TLS context for the module: httpx builds a new one per client otherwise (~50 ms; all traffic is http).
TLS = httpx.create_ssl_context()
CALL = {"id": "functions.ReadFile:0", "type": "function", "function": {"name": "ReadFile", "arguments": "{}"}}


def _post(api: StandIn, body: Any, *, key: str | None = STAND_IN_KEY, raw: bytes | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    content = raw if raw is not None else json.dumps(body).encode()
    return httpx.post(f"{api.url}/chat/completions", content=content, headers=headers, timeout=5, verify=TLS)


def _chat(*messages: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"model": "kimi-k2-thinking", "messages": list(messages), **extra}


def _events(response: httpx.Response) -> list[Any]:
    lines = [line[len("data: ") :] for line in response.text.splitlines() if line.startswith("data: ")]
    return [line if line == "[DONE]" else json.loads(line) for line in lines]


USER = {"role": "user", "content": "hi"}
ASSISTANT_CALL = {"role": "assistant", "reasoning_content": "r", "tool_calls": [CALL]}
ANSWER = {"role": "tool", "tool_call_id": "functions.ReadFile:0", "content": "text"}


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (_chat(USER, ASSISTANT_CALL), "did not have response messages: functions.ReadFile:0"),
        (_chat(USER, ASSISTANT_CALL, USER), "did not have response messages: functions.ReadFile:0"),
        (
            _chat(USER, {**ANSWER, "tool_call_id": "functions.Nope:9"}),
            "tool_call_id functions.Nope:9 is not found",
        ),
        (
            _chat({"role": "user", "content": [{"type": "text", "text": ""}]}),
            "text content of message at index 0 is empty",
        ),
        (
            _chat(
                USER,
                tools=[
                    {
                        "type": "function",
                        "function": {
                            "name": "T",
                            "parameters": {
                                "type": "object",
                                "properties": {"edit": {"type": "object", "properties": {"old": {"description": "x"}}}},
                            },
                        },
                    }
                ],
            ),
            "property 'edit.old' has no type",
        ),
        (_chat(USER, tool_choice="required"), "tool_choice 'required' is not supported"),
        (
            _chat(
                USER,
                ASSISTANT_CALL,
                ANSWER,
                {"role": "assistant", "tool_calls": [{**CALL, "id": "x:1"}]},
                {**ANSWER, "tool_call_id": "x:1"},
            ),
            "reasoning_content is missing in assistant tool call message at index 3",
        ),
    ],
    ids=[
        "unanswered-at-end",
        "unanswered-before-user",
        "unknown-id",
        "empty-text-part",
        "untyped-nested-property",
        "tool-choice",
        "missing-reasoning",
    ],
)
def test_protocol_breaches_get_400_and_are_recorded(stand_in: StandIn, body, fragment):
    response = _post(stand_in, body)

    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"
    assert fragment in response.json()["error"]["message"]
    assert [v.message for v in stand_in.violations] == [response.json()["error"]["message"]]
    assert stand_in.remaining == 0 and stand_in.notes == []  # a refused request consumes no turn


def test_a_correct_conversation_passes(stand_in: StandIn):
    stand_in.push(Turn(content="fine"))
    tools = [
        {
            "type": "function",
            "function": {
                "name": "T",
                "parameters": {
                    "type": "object",
                    "properties": {
                        "edit": {
                            "anyOf": [
                                {"type": "object", "properties": {"old": {"type": "string"}}},
                                {"type": "array"},
                            ],
                            "type": ["object", "array"],
                        }
                    },
                },
            },
        }
    ]

    response = _post(stand_in, _chat(USER, ASSISTANT_CALL, ANSWER, tools=tools, tool_choice="auto", stream=True))

    assert response.status_code == 200 and stand_in.violations == []
    assert _events(response)[-1] == "[DONE]"


def test_malformed_json_is_a_400(stand_in: StandIn):
    response = _post(stand_in, None, raw=b'{"model": "kimi-k2-thinking", "messages": [')

    assert response.status_code == 400 and "malformed JSON" in response.json()["error"]["message"]
    assert len(stand_in.violations) == 1
    assert stand_in.requests[0].json is None and stand_in.requests[0].body.startswith(b'{"model"')


@pytest.mark.parametrize("key", [None, "wrong"])
def test_missing_or_wrong_key_is_401(stand_in: StandIn, key):
    response = _post(stand_in, _chat(USER), key=key)

    assert response.status_code == 401
    assert response.json()["error"]["type"] == "invalid_authentication_error"
    assert httpx.get(f"{stand_in.url}/models", verify=TLS).status_code == 401


def test_unknown_model_is_404(stand_in: StandIn):
    response = _post(stand_in, {**_chat(USER), "model": "gpt-nope"})

    assert response.status_code == 404
    assert response.json()["error"] == {
        "message": "Not found the model gpt-nope or Permission denied",
        "type": "resource_not_found_error",
    }
    assert stand_in.violations == []


@pytest.mark.parametrize(
    ("fault", "status", "error_type"),
    [
        (Fault.rate_limit(3), 429, "rate_limit_reached_error"),
        (Fault.server_error(500), 500, "engine_overloaded_error"),
        (Fault.server_error(503), 503, "engine_overloaded_error"),
        (Fault.quota(), 429, "exceeded_current_quota_error"),
        (Fault.unknown_model(), 404, "resource_not_found_error"),
        (Fault.unauthorized(), 401, "invalid_authentication_error"),
    ],
)
def test_error_faults_answer_like_the_api_and_consume_one_turn(stand_in: StandIn, fault, status, error_type):
    stand_in.push(Turn(fault=fault), Turn(content="next"))

    first = _post(stand_in, _chat(USER, stream=True))
    second = _post(stand_in, _chat(USER, stream=True))

    assert first.status_code == status and first.json()["error"]["type"] == error_type
    assert first.headers.get("Retry-After") == ("3" if fault.kind == "rate_limit" else None)
    assert second.status_code == 200
    assert "".join(e["choices"][0]["delta"].get("content", "") for e in _events(second)[:-1] if e["choices"]) == "next"


def test_stream_shape_parallel_calls_fragments_and_usage(stand_in: StandIn):
    stand_in.push(
        Turn(
            reasoning="why",
            tool_calls=[
                ScriptedCall("ReadFile", {"path": "a.py"}),
                ScriptedCall("Grep", {"pattern": "x"}, id="custom"),
            ],
            prompt_tokens=100,
            cached_tokens=40,
            completion_tokens=9,
        )
    )

    events = _events(_post(stand_in, _chat(USER, stream=True)))

    assert events[-1] == "[DONE]"
    deltas = [e["choices"][0]["delta"] for e in events[:-1]]
    call_deltas = [c for d in deltas for c in d.get("tool_calls", [])]
    heads = [c for c in call_deltas if "id" in c]
    assert [(c["index"], c["id"], c["function"]["name"]) for c in heads] == [
        (0, "functions.ReadFile:0", "ReadFile"),
        (1, "custom", "Grep"),
    ]
    fragments = [c["function"]["arguments"] for c in call_deltas if c["index"] == 0 and "id" not in c]
    assert len(fragments) >= 2 and json.loads("".join(fragments)) == {"path": "a.py"}
    last = events[-2]["choices"][0]
    assert last["finish_reason"] == "tool_calls"
    assert last["usage"] == {
        "prompt_tokens": 100,
        "completion_tokens": 9,
        "total_tokens": 109,
        "cached_tokens": 40,
    }


def test_openai_usage_shape_is_a_separate_top_level_chunk(stand_in: StandIn):
    stand_in.push(Turn(content="ok", usage_shape="openai", prompt_tokens=10, cached_tokens=4, completion_tokens=1))

    events = _events(_post(stand_in, _chat(USER, stream=True)))

    assert events[-2]["choices"] == []
    assert events[-2]["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}
    assert events[-3]["choices"][0]["finish_reason"] == "stop"


def test_cut_stream_closes_without_done(stand_in: StandIn):
    stand_in.push(Turn(content="a long answer " * 10, fault=Fault.cut_stream(2)))

    with pytest.raises(httpx.RemoteProtocolError):
        _post(stand_in, _chat(USER, stream=True))


def test_truncated_arguments_are_invalid_json(stand_in: StandIn):
    stand_in.push(
        Turn(
            tool_calls=[ScriptedCall("ReadFile", {"path": "a.py", "n_lines": 20})],
            fault=Fault.truncated_arguments(),
        )
    )

    events = _events(_post(stand_in, _chat(USER, stream=True)))

    arguments = "".join(
        c["function"]["arguments"]
        for e in events[:-1]
        if e["choices"]
        for c in e["choices"][0]["delta"].get("tool_calls", [])
    )
    assert arguments and events[-1] == "[DONE]"
    with pytest.raises(json.JSONDecodeError):
        json.loads(arguments)


def test_non_streaming_answer_and_models_listing(stand_in: StandIn):
    stand_in.push(Turn(reasoning="r", content="plain", tool_calls=[ScriptedCall("Glob", {"pattern": "*"})]))

    body = _post(stand_in, _chat(USER, stream=False)).json()
    models = httpx.get(f"{stand_in.url}/models", headers={"Authorization": f"Bearer {STAND_IN_KEY}"}, verify=TLS).json()

    message = body["choices"][0]["message"]
    assert (message["content"], message["reasoning_content"]) == ("plain", "r")
    assert message["tool_calls"][0]["function"] == {"name": "Glob", "arguments": '{"pattern": "*"}'}
    assert body["object"] == "chat.completion" and "usage" in body
    assert [m["id"] for m in models["data"]] == ["kimi-k2-thinking"]


def test_a_server_that_ignores_stream_answers_a_streamed_request_whole():
    with StandIn([Turn(content="whole")], streams=False) as api:
        response = _post(api, _chat(USER, stream=True))

    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["choices"][0]["message"]["content"] == "whole"


def test_empty_queue_answers_done_and_notes_it(stand_in: StandIn):
    events = _events(_post(stand_in, _chat(USER, stream=True)))

    assert "".join(e["choices"][0]["delta"].get("content", "") for e in events[:-1] if e["choices"]) == "done"
    assert stand_in.notes == ["no scripted turn left: answered 'done'"]


def test_responder_builds_turns_from_the_request():
    seen: list[int] = []

    def respond(request: dict[str, Any]) -> Turn:
        seen.append(len(request["messages"]))
        return Turn(content=f"{len(request['messages'])} messages")

    with StandIn(responder=respond) as api:
        response = _post(api, _chat(USER, {"role": "assistant", "content": "a"}, USER, stream=False))

    assert response.json()["choices"][0]["message"]["content"] == "3 messages" and seen == [3]


def test_default_ids_count_tool_calls_across_the_conversation(stand_in: StandIn):
    stand_in.push(Turn(reasoning="r", tool_calls=[ScriptedCall("Grep", {"pattern": "x"})]))

    body = _post(stand_in, _chat(USER, ASSISTANT_CALL, ANSWER, stream=False)).json()

    assert body["choices"][0]["message"]["tool_calls"][0]["id"] == "functions.Grep:1"


def test_concurrent_requests_are_all_recorded(stand_in: StandIn):
    stand_in.push(*[Turn(content=str(n)) for n in range(8)])
    answers: list[int] = []
    lock = threading.Lock()

    def ask() -> None:
        status = _post(stand_in, _chat(USER, stream=True)).status_code
        with lock:
            answers.append(status)

    threads = [threading.Thread(target=ask) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert answers == [200] * 8 and len(stand_in.chat_requests) == 8 and stand_in.remaining == 0


def test_close_is_prompt_even_with_a_slow_stream_open():
    api = StandIn([Turn(content="x " * 200, fault=Fault.slow_stream(1.0))])
    with (
        httpx.Client(timeout=5, verify=TLS) as client,
        client.stream(
            "POST",
            f"{api.url}/chat/completions",
            content=json.dumps(_chat(USER, stream=True)),
            headers={"Authorization": f"Bearer {STAND_IN_KEY}"},
        ) as response,
    ):
        assert response.status_code == 200
        closer = threading.Thread(target=api.close)
        closer.start()
        closer.join(timeout=3)
        assert not closer.is_alive()


def test_a_failing_responder_answers_500_and_leaves_a_note():
    def broken(request: dict[str, Any]) -> Turn:
        raise RuntimeError("script bug")

    with StandIn(responder=broken) as api:
        response = _post(api, _chat(USER, stream=True))

    assert response.status_code == 500 and "script bug" in response.json()["error"]["message"]
    assert api.notes == ["responder failed: RuntimeError('script bug')"]


async def test_usable_as_an_async_context_manager():
    async with StandIn([Turn(content="hi")]) as api, httpx.AsyncClient(verify=TLS) as client:
        response = await client.post(
            f"{api.url}/chat/completions",
            content=json.dumps(_chat(USER, stream=False)),
            headers={"Authorization": f"Bearer {STAND_IN_KEY}"},
        )
    assert response.json()["choices"][0]["message"]["content"] == "hi"
    async with httpx.AsyncClient(verify=TLS) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"{api.url}/models")  # closed means closed
