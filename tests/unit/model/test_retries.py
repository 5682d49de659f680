"""What retrying can fix is retried, with backoff, and nothing from a failed attempt leaks into the result."""

from __future__ import annotations

import random
import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from kimi_lsp.errors import ModelUnavailable
from kimi_lsp.model.client import ModelClient
from kimi_lsp.model.failures import MAX_BACKOFF, parse_retry_after
from kimi_lsp.model.types import Message
from kimi_lsp.settings import Settings
from kimi_lsp.testing import STAND_IN_KEY, Fault, RecordedSleep, ScriptedCall, StandIn, Turn

HI = [Message.user("hi")]


async def test_rate_limit_waits_exactly_retry_after(stand_in: StandIn, make_client, sleep: RecordedSleep):
    stand_in.push(Turn(fault=Fault.rate_limit(retry_after=7)), Turn(content="after the wait"))
    retries: list[tuple[int, float, str]] = []

    completion = await make_client().complete(HI, on_retry=lambda *r: retries.append(r))

    assert completion.message.content == "after the wait"
    assert completion.attempts == 2
    assert sleep.delays == [7.0]
    assert retries[0][:2] == (1, 7.0) and "429" in retries[0][2] and "rate_limit_reached_error" in retries[0][2]
    assert len(stand_in.chat_requests) == 2


def test_retry_after_accepts_an_http_date():
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now=now) == 30.0
    assert parse_retry_after("2.5") == 2.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried_with_jittered_backoff(stand_in: StandIn, sleep: RecordedSleep, status):
    stand_in.push(Turn(fault=Fault.server_error(status)), Turn(fault=Fault.server_error(status)), Turn(content="up"))
    settings = stand_in.settings(retry_base_delay=2.0, max_retries=5)

    async with ModelClient(settings, sleep=sleep, rng=random.Random(1)) as client:
        completion = await client.complete(HI)

    assert completion.message.content == "up" and completion.attempts == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 2.0 and 0 <= sleep.delays[1] <= 4.0  # full jitter under base * 2^n
    rng = random.Random(1)
    assert sleep.delays == [rng.uniform(0, 2.0), rng.uniform(0, 4.0)]


async def test_backoff_is_capped(stand_in: StandIn, sleep: RecordedSleep):
    stand_in.push(*[Turn(fault=Fault.server_error())] * 8, Turn(content="finally"))

    class Top(random.Random):
        def uniform(self, a: float, b: float) -> float:
            return b  # always the ceiling, so the cap is what we see

    async with ModelClient(stand_in.settings(retry_base_delay=1.0, max_retries=10), sleep=sleep, rng=Top()) as client:
        await client.complete(HI)

    assert sleep.delays == [1, 2, 4, 8, 16, MAX_BACKOFF, MAX_BACKOFF, MAX_BACKOFF]


@pytest.mark.parametrize("clean_end", [False, True], ids=["connection-cut", "body-ends-without-done"])
async def test_cut_stream_is_retried_and_nothing_from_it_leaks(stand_in: StandIn, make_client, clean_end):
    first = Turn(
        reasoning="partial thoughts that will be cut",
        content="half",
        fault=Fault.cut_stream(3, clean_end=clean_end),
    )
    second = Turn(reasoning="fresh", tool_calls=[ScriptedCall("ReadFile", {"path": "a.py"})])
    stand_in.push(first, second)
    retries: list[str] = []

    completion = await make_client().complete(HI, on_retry=lambda attempt, delay, reason: retries.append(reason))

    assert completion.message.reasoning_content == "fresh"
    assert completion.message.content is None
    assert [c.name for c in completion.message.tool_calls] == ["ReadFile"]
    assert len(retries) == 1
    if clean_end:
        assert "[DONE]" in retries[0]


async def test_connection_refused_is_retried_then_reported(sleep: RecordedSleep):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = Settings(base_url=f"http://127.0.0.1:{port}/v1", api_key="k-123", max_retries=2, retry_base_delay=0.5)
    retries: list[str] = []

    async with ModelClient(settings, sleep=sleep) as client:
        with pytest.raises(ModelUnavailable) as caught:
            await client.complete(HI, on_retry=lambda a, d, reason: retries.append(reason))

    assert len(retries) == 2 and len(sleep.delays) == 2
    assert "ConnectError" in str(caught.value)
    assert "3 time" in str(caught.value)
    assert "k-123" not in str(caught.value) and "k-123" not in repr(caught.value)


async def test_connection_refused_then_the_server_comes_up(sleep: RecordedSleep):
    """A retry really reconnects: the first attempt finds nothing, the second finds the server."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    holder: dict[str, StandIn] = {}

    async def start_server_then_return(delay: float) -> None:
        sleep.delays.append(delay)
        holder["api"] = StandIn([Turn(content="hello")], port=port)

    settings = Settings(base_url=f"http://127.0.0.1:{port}/v1", api_key=STAND_IN_KEY, max_retries=1)
    try:
        async with ModelClient(settings, sleep=start_server_then_return) as client:
            completion = await client.complete(HI)
    finally:
        if "api" in holder:
            holder["api"].close()

    assert completion.message.content == "hello" and completion.attempts == 2


async def test_retries_exhausted_name_the_last_reason(stand_in: StandIn, make_client, sleep: RecordedSleep):
    stand_in.push(*[Turn(fault=Fault.server_error(503))] * 3)

    with pytest.raises(ModelUnavailable) as caught:
        await make_client(max_retries=2).complete(HI)

    assert "engine_overloaded_error" in str(caught.value)
    assert caught.value.status == 503
    assert len(stand_in.chat_requests) == 3 and len(sleep.delays) == 2


async def test_a_stalled_stream_times_out_and_is_retried(stand_in: StandIn, make_client):
    stand_in.push(Turn(content="stalls " * 20, fault=Fault.slow_stream(2.0)), Turn(content="prompt answer"))
    retries: list[str] = []

    completion = await make_client(request_timeout=0.2).complete(
        HI, on_retry=lambda a, d, reason: retries.append(reason)
    )

    assert completion.message.content == "prompt answer"
    assert len(retries) == 1 and "ReadTimeout" in retries[0]
    assert stand_in.wait_for(lambda api: api.disconnects == 1, 2.0)  # the stalled connection was dropped


async def test_truncated_arguments_reach_the_caller_unchanged(stand_in: StandIn, make_client):
    """The client does not judge arguments; the loop answers bad JSON to the model as a tool error."""
    stand_in.push(Turn(tool_calls=[ScriptedCall("ReadFile", {"path": "a.py"})], fault=Fault.truncated_arguments()))

    completion = await make_client().complete(HI)

    arguments = completion.message.tool_calls[0].arguments
    assert arguments and '{"path": "a.py"}'.startswith(arguments) and arguments != '{"path": "a.py"}'
    assert completion.attempts == 1
