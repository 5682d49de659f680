"""Requests are byte-stable so Moonshot's prefix cache keeps hitting as the history grows."""

from __future__ import annotations

import json

from kimi_lsp.model.client import request_body
from kimi_lsp.model.types import Message, ToolCall, ToolSpec
from kimi_lsp.settings import Settings
from kimi_lsp.testing import StandIn, Turn

SETTINGS = Settings(api_key="k", temperature=1.0, top_p=0.95, max_tokens=16384)
TOOLS = [ToolSpec("ReadFile", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})]


def _history(turns: int) -> list[Message]:
    messages = [Message.system("You fix tests. ünïcødé stays as is."), Message.user("fix test_a")]
    for n in range(turns):
        call = ToolCall(f"functions.ReadFile:{n}", "ReadFile", json.dumps({"path": f"f{n}.py"}))
        messages.append(Message("assistant", reasoning_content=f"think {n}", tool_calls=(call,)))
        messages.append(Message.tool_result(call, f"contents {n}"))
    return messages


def test_same_inputs_give_identical_bytes():
    assert request_body(SETTINGS, _history(3), TOOLS) == request_body(SETTINGS, _history(3), TOOLS)


def test_a_longer_history_extends_the_shorter_messages_byte_for_byte():
    short = request_body(SETTINGS, _history(2), TOOLS).decode()
    long = request_body(SETTINGS, _history(3), TOOLS).decode()
    prefix = short[: short.index(',"tools"') - 1]  # everything up to the end of the last message

    assert long.startswith(prefix)


def test_body_fields_follow_the_model_card():
    body = json.loads(request_body(SETTINGS, _history(1), TOOLS))

    assert list(body) == [
        "model",
        "messages",
        "tools",
        "temperature",
        "top_p",
        "max_tokens",
        "stream",
        "stream_options",
    ]
    assert body["model"] == "kimi-k2-thinking"
    assert (body["temperature"], body["top_p"], body["max_tokens"]) == (1.0, 0.95, 16384)
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}
    assert "ünïcødé" in request_body(SETTINGS, _history(0)).decode()  # not \\u-escaped
    assert "tools" not in json.loads(request_body(SETTINGS, _history(0)))


async def test_the_client_sends_exactly_request_body_and_the_bearer_key(stand_in: StandIn, make_client):
    stand_in.push(Turn(content="ok"))
    client = make_client()

    await client.complete(_history(1), TOOLS)

    sent = stand_in.chat_requests[0]
    assert sent.body == request_body(stand_in.settings(), _history(1), TOOLS)
    assert sent.headers["Authorization"] == f"Bearer {stand_in.api_key}"


async def test_the_cache_estimate_grows_with_a_stable_prefix(stand_in: StandIn, make_client):
    stand_in.push(Turn(content="one"), Turn(content="two"))
    client = make_client()

    first = await client.complete(_history(2), TOOLS)
    second = await client.complete(_history(3), TOOLS)

    assert first.usage.cached_tokens == 0
    assert second.usage.cached_tokens > 0.6 * first.usage.prompt_tokens


def test_cached_fragments_give_exactly_the_plain_json_encoding() -> None:
    """The body is assembled from per-message fragments; it must equal one json.dumps of the whole request."""
    settings = Settings()
    call = ToolCall("functions.ReadFile:0", "ReadFile", '{"path": "ü.py"}')
    history = [
        Message.system("system ✓"),
        Message.user('quote " and newline\n'),
        Message("assistant", None, "thinking…", (call,)),
        Message.tool_result(call, "1\tprint('𝒳')"),
    ]
    tools = [ToolSpec("ReadFile", "read", {"type": "object", "properties": {"path": {"type": "string"}}})]
    for messages, offered in ((history, tools), (history, []), ([], tools)):
        plain: dict = {"model": settings.model, "messages": [m.to_wire() for m in messages]}
        if offered:
            plain["tools"] = [t.to_wire() for t in offered]
        plain.update(
            temperature=settings.temperature,
            top_p=settings.top_p,
            max_tokens=settings.max_tokens,
            stream=True,
            stream_options={"include_usage": True},
        )
        expected = json.dumps(plain, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        assert request_body(settings, messages, offered) == expected
        assert request_body(settings, messages, offered) == expected  # and again, from the cache
