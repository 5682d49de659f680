"""Every serving stack gets its model's thinking back: Moonshot, vLLM, SGLang and OpenRouter as the stand-in
plays them (what each emits, reads back and silently drops)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable

import pytest

from kimi_lsp.errors import ModelAuthError, ModelNotFound
from kimi_lsp.model.client import ModelClient, request_body
from kimi_lsp.model.dialect import describe_dialect, dialect_from_models, dialect_from_url
from kimi_lsp.model.sse import StreamAssembler
from kimi_lsp.model.types import Message, ToolCall, ToolSpec
from kimi_lsp.settings import Settings
from kimi_lsp.testing import RecordedSleep, ScriptedCall, StandIn, Turn
from kimi_lsp.testing.dialects import DIALECTS
from kimi_lsp.testing.render import TurnUsage, plain_completion

TOOLS = [ToolSpec("ReadFile", "Read a file", {"type": "object", "properties": {"path": {"type": "string"}}})]
THOUGHTS = ["First, read the failing test.", "Now the code it calls.", "The sign is wrong: patch it."]
DIALECT_NAMES = list(DIALECTS)


def tool_turns() -> list[Turn]:
    calls = [ScriptedCall("ReadFile", {"path": f"f{n}.py"}) for n in range(len(THOUGHTS))]
    return [Turn(reasoning=t, tool_calls=[c]) for t, c in zip(THOUGHTS, calls, strict=True)] + [
        Turn(reasoning="Tests pass now.", content="Fixed the sign.")
    ]


@pytest.fixture
async def clients() -> AsyncIterator[Callable[[StandIn], ModelClient]]:
    made: list[ModelClient] = []

    def make(api: StandIn) -> ModelClient:
        made.append(ModelClient(api.settings(), sleep=RecordedSleep()))
        return made[-1]

    yield make
    for client in made:
        await client.aclose()


async def converse(client: ModelClient, history: list[Message]) -> list[Message]:
    """The agent loop's shape: ask, append the answer, answer its tool calls, until it stops calling."""
    while True:
        answer = (await client.complete(history, TOOLS)).message
        history.append(answer)
        if not answer.tool_calls:
            return history
        history.extend(Message.tool_result(call, f"contents of {call.id}") for call in answer.tool_calls)


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_the_thinking_of_turn_n_reaches_the_model_unchanged_in_turn_n_plus_1(dialect, clients) -> None:
    with StandIn(tool_turns(), dialect=dialect) as api:
        await converse(clients(api), [Message.system("You fix tests."), Message.user("test_a fails")])
        requests = api.chat_requests
        assert api.violations == []
        assert len(requests) == len(THOUGHTS) + 1
        for n, request in enumerate(requests):
            assert api.thinking_seen(request) == THOUGHTS[:n], f"request {n} on {dialect}"
    sent = [m for m in requests[-1].json["messages"] if m["role"] == "assistant"]
    expected_fields = {DIALECTS[dialect].reasoning_out} | ({"reasoning_details"} if dialect == "openrouter" else set())
    assert all(expected_fields <= set(m) for m in sent)
    other = {"reasoning_content", "reasoning"} - {DIALECTS[dialect].reasoning_out}
    assert not any(other & set(m) for m in sent)  # the thinking goes back once, under the server's name
    assert all("content" not in m for m in sent)  # tool-call turns without text omit content


@pytest.mark.parametrize(
    ("dialect", "wrong_field"),
    [("vllm", "reasoning_content"), ("sglang", "reasoning"), ("openrouter", "reasoning_content")],
)
async def test_a_stack_silently_drops_thinking_sent_under_the_other_name(dialect, wrong_field, clients) -> None:
    """What the old client did to vLLM (always ``reasoning_content``): no error anywhere, the thinking gone."""
    with StandIn(
        [Turn(reasoning="think", tool_calls=[ScriptedCall("ReadFile", {"path": "a.py"})])], dialect=dialect
    ) as api:
        client = clients(api)
        history = [Message.user("go")]
        answer = (await client.complete(history, TOOLS)).message
        renamed = Message(
            "assistant", None, answer.reasoning_content, answer.tool_calls, reasoning_fields=(wrong_field,)
        )
        api.push(Turn(content="done"))
        await client.complete([*history, renamed, Message.tool_result(answer.tool_calls[0], "x")], TOOLS)
        assert api.violations == []
        assert api.thinking_seen(api.chat_requests[-1]) == [None]


async def test_openrouter_reasoning_details_go_back_exactly_as_they_came(clients) -> None:
    details = [
        {"type": "reasoning.text", "text": "Read the test, then the code.", "format": "unknown", "index": 0,
         "signature": "sig-Zm9vYmFy"},
        {"type": "reasoning.encrypted", "data": "ZW5jcnlwdGVkIGJsb2IgdGhhdCBvbmx5IHRoZSBwcm92aWRlciByZWFkcw==",
         "id": "rs_42", "format": "unknown", "index": 1},
    ]  # fmt: skip
    turn = Turn(
        reasoning="Read the test, then the code.",
        reasoning_details=details,
        tool_calls=[ScriptedCall("ReadFile", {"path": "a.py"})],
    )
    with StandIn([turn, Turn(content="done")], dialect="openrouter") as api:
        await converse(clients(api), [Message.user("go")])
        second = api.chat_requests[1].json
    assert second["messages"][1]["reasoning_details"] == details
    assert second["messages"][1]["reasoning"] == "Read the test, then the code."
    assert second["tools"]  # OpenRouter wants the tools on every request


async def test_openrouter_refuses_tool_history_without_tools(clients) -> None:
    with StandIn(
        [Turn(reasoning="r", tool_calls=[ScriptedCall("ReadFile", {"path": "a.py"})])], dialect="openrouter"
    ) as api:
        client = clients(api)
        answer = (await client.complete([Message.user("go")], TOOLS)).message
        with pytest.raises(Exception, match="tools must be included in every request"):
            await client.complete([Message.user("go"), answer, Message.tool_result(answer.tool_calls[0], "x")])
        assert len(api.violations) == 1


def test_a_compacted_turn_keeps_the_name_its_thinking_came_under() -> None:
    call = ToolCall("functions.ReadFile:0", "ReadFile", "{}")
    details = ({"type": "reasoning.text", "text": "long thinking " * 50, "index": 0},)
    turn = Message(
        "assistant", None, "long thinking " * 50, (call,), reasoning_fields=("reasoning",), reasoning_details=details
    )
    wire = turn.with_reasoning("[omitted]").to_wire()
    assert wire == {"role": "assistant", "reasoning": "[omitted]", "tool_calls": [call.to_wire()]}


def test_request_bytes_stay_stable_and_append_only_with_every_dialects_fields() -> None:
    plain_settings = Settings(api_key="k")

    def history(turns: int) -> list[Message]:
        messages = [Message.system("s"), Message.user("u")]
        for n in range(turns):
            call = ToolCall(f"functions.ReadFile:{n}", "ReadFile", json.dumps({"path": f"f{n}.py"}))
            details = ({"type": "reasoning.text", "text": f"think {n}", "format": "unknown", "index": 0},)
            fields = ("reasoning",) if n % 2 else ("reasoning_content",)
            messages.append(
                Message("assistant", None, f"think {n}", (call,), reasoning_fields=fields, reasoning_details=details)
            )
            messages.append(Message.tool_result(call, f"contents {n}"))
        return messages

    short = request_body(plain_settings, history(2), TOOLS).decode()
    long = request_body(plain_settings, history(3), TOOLS).decode()
    assert request_body(plain_settings, history(3), TOOLS).decode() == long
    assert long.startswith(short[: short.index(',"tools"') - 1])
    plain = {"model": plain_settings.model, "messages": [m.to_wire() for m in history(3)]}
    assert json.loads(long)["messages"] == plain["messages"]


def test_the_dialect_is_named_from_the_url_or_the_model_list() -> None:
    assert dialect_from_url("https://api.moonshot.ai/v1") == "moonshot"
    assert dialect_from_url("https://api.moonshot.cn/v1") == "moonshot"
    assert dialect_from_url("https://openrouter.ai/api/v1") == "openrouter"
    assert dialect_from_url("http://gpu-box:8000/v1") is None
    for name, dialect in DIALECTS.items():
        assert dialect_from_models(dialect.model_cards(["m"])) == name
    assert dialect_from_models([{"id": "m", "owned_by": "system"}]) is None
    assert describe_dialect("http://gpu-box:8000/v1").startswith("unknown")
    assert describe_dialect("https://api.moonshot.ai/v1") == "moonshot (from the endpoint URL)"


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
async def test_each_stacks_error_answers_become_clear_errors(dialect) -> None:
    with StandIn(dialect=dialect) as api:
        async with ModelClient(api.settings(model="kimi-k2-thinkin"), sleep=RecordedSleep()) as client:
            with pytest.raises(ModelNotFound) as missing:
                await client.complete([Message.user("hi")])
        async with ModelClient(api.settings(api_key="wrong-key"), sleep=RecordedSleep()) as client:
            with pytest.raises(ModelAuthError):
                await client.complete([Message.user("hi")])
    shown = str(missing.value)
    assert "kimi-k2-thinkin or Permission denied" in shown  # the server's own message, not a dict's repr
    assert "{'" not in shown and "available models: kimi-k2-thinking" in shown


@pytest.mark.parametrize("dialect", DIALECT_NAMES)
def test_a_whole_answer_from_a_server_that_ignored_stream_goes_back_in_its_own_form(dialect) -> None:
    details = [{"type": "reasoning.text", "text": "think", "format": "unknown", "index": 0, "signature": "s"}]
    turn = Turn(reasoning="think", reasoning_details=details, tool_calls=[ScriptedCall("ReadFile", {"path": "a"})])
    assembler = StreamAssembler()
    assembler.feed(plain_completion(turn, call_offset=0, usage=TurnUsage(1, 1, 0), dialect=DIALECTS[dialect]))
    wire = assembler.message().to_wire()
    assert wire[DIALECTS[dialect].reasoning_out] == "think"
    assert wire.get("reasoning_details") == (details if dialect == "openrouter" else None)
    assert DIALECTS[dialect].thinking_seen(wire) == "think"
