"""Errors a server reports with a 200 (inside the stream) and answers with nothing in them."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from kimi_lsp.errors import ModelBadRequest, ModelQuotaExceeded
from kimi_lsp.model.client import ModelClient
from kimi_lsp.model.types import Message
from kimi_lsp.testing import StandIn, Turn

HELLO = [Message.user("hello")]
GOOD = Turn(reasoning="fine", content="hello back")


async def test_overload_reported_inside_the_stream_is_retried(
    stand_in: StandIn, make_client: Callable[..., ModelClient]
) -> None:
    stand_in.push(Turn(chunks=[{"error": {"message": "engine overloaded", "type": "engine_overloaded_error"}}]), GOOD)
    completion = await make_client().complete(HELLO)
    assert completion.message.content == "hello back" and completion.attempts == 2


async def test_a_request_too_long_reported_inside_the_stream_is_not_retried(
    stand_in: StandIn, make_client: Callable[..., ModelClient]
) -> None:
    error = {"message": "context length exceeded: 300000 > 262144", "type": "invalid_request_error"}
    stand_in.push(Turn(chunks=[{"error": error}]), GOOD, GOOD)
    with pytest.raises(ModelBadRequest, match="context length"):
        await make_client().complete(HELLO)
    assert len(stand_in.chat_requests) == 1


async def test_quota_reported_inside_the_stream_is_not_retried(
    stand_in: StandIn, make_client: Callable[..., ModelClient]
) -> None:
    stand_in.push(Turn(chunks=[{"object": "error", "message": "no money", "type": "exceeded_current_quota_error"}]))
    with pytest.raises(ModelQuotaExceeded):
        await make_client().complete(HELLO)
    assert len(stand_in.chat_requests) == 1


async def test_an_empty_answer_is_a_failed_attempt_not_a_silent_done(
    stand_in: StandIn, make_client: Callable[..., ModelClient]
) -> None:
    stand_in.push(Turn(chunks=[]), GOOD)
    completion = await make_client().complete(HELLO)
    assert completion.message.content == "hello back" and completion.attempts == 2
