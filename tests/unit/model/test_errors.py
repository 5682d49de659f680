"""Failures retrying cannot fix are reported once, clearly, and without the key."""

from __future__ import annotations

import pytest

from kimi_lsp.errors import (
    ModelAuthError,
    ModelBadRequest,
    ModelNotFound,
    ModelQuotaExceeded,
)
from kimi_lsp.model.client import ModelClient
from kimi_lsp.model.failures import redact
from kimi_lsp.model.types import Message, ToolCall
from kimi_lsp.settings import Settings
from kimi_lsp.testing import Fault, RecordedSleep, StandIn, Turn

HI = [Message.user("hi")]


async def test_bad_request_carries_the_api_message_and_is_not_retried(stand_in: StandIn, make_client, sleep):
    call = ToolCall("functions.ReadFile:0", "ReadFile", "{}")
    unanswered = [Message.user("hi"), Message("assistant", reasoning_content="r", tool_calls=(call,))]

    with pytest.raises(ModelBadRequest) as caught:
        await make_client().complete(unanswered)

    assert "did not have response messages: functions.ReadFile:0" in str(caught.value)
    assert caught.value.status == 400
    assert len(stand_in.chat_requests) == 1 and sleep.delays == []


@pytest.mark.parametrize("source", ["KIMI_API_KEY", "MOONSHOT_API_KEY"])
async def test_wrong_key_names_the_variable_and_never_the_key(stand_in: StandIn, source):
    secret = "sk-live-THIS-MUST-NOT-LEAK-0123456789"
    settings = stand_in.settings(api_key=secret, api_key_source=source)

    async with ModelClient(settings, sleep=RecordedSleep()) as client:
        with pytest.raises(ModelAuthError) as caught:
            await client.complete(HI)
        assert secret not in repr(client)

    error = caught.value
    assert source in str(error) and "invalid_authentication_error" in str(error)
    assert error.status == 401
    for text in (str(error), repr(error), repr(error.args)):
        assert secret not in text and "THIS-MUST-NOT-LEAK" not in text
    assert len(stand_in.chat_requests) == 1


def test_keys_and_masked_keys_echoed_by_the_api_are_redacted():
    """Some APIs echo a masked key in a 401 message; neither form may reach ours."""
    assert redact("Incorrect API key provided: sk-abc***jkl.", "sk-abcdefghijkl") == (
        "Incorrect API key provided: sk-[redacted]."
    )
    assert "abcdefghijkl" not in redact("key sk-abcdefghijkl was wrong", "sk-abcdefghijkl")
    assert redact("token xyz-123-secret rejected", "xyz-123-secret") == "token [redacted] rejected"


async def test_missing_key_fails_before_any_request(stand_in: StandIn):
    async with ModelClient(stand_in.settings(api_key=None, api_key_source=None)) as client:
        with pytest.raises(ModelAuthError) as caught:
            await client.complete(HI)

    assert "KIMI_API_KEY" in str(caught.value) and "MOONSHOT_API_KEY" in str(caught.value)
    assert stand_in.requests == []


async def test_unknown_model_lists_the_available_models():
    with StandIn(models=("kimi-k2-thinking", "kimi-k2-thinking-turbo")) as api:
        async with ModelClient(api.settings(model="kimi-k3-imaginary")) as client:
            with pytest.raises(ModelNotFound) as caught:
                await client.complete(HI)

    message = str(caught.value)
    assert "'kimi-k3-imaginary'" in message
    assert "available models: kimi-k2-thinking, kimi-k2-thinking-turbo" in message
    assert [r.path for r in api.requests] == ["/v1/chat/completions", "/v1/models"]
    assert api.violations == []  # a 404 is not a protocol violation


async def test_scripted_404_is_not_found_too(stand_in: StandIn, make_client):
    stand_in.push(Turn(fault=Fault.unknown_model()))

    with pytest.raises(ModelNotFound) as caught:
        await make_client().complete(HI)

    assert "available models: kimi-k2-thinking" in str(caught.value)


async def test_quota_exhausted_is_reported_after_exactly_one_request(stand_in: StandIn, make_client, sleep):
    stand_in.push(Turn(fault=Fault.quota()), Turn(content="never reached"))

    with pytest.raises(ModelQuotaExceeded) as caught:
        await make_client(max_retries=5).complete(HI)

    assert "balance or quota is exhausted" in str(caught.value)
    assert caught.value.error_type == "exceeded_current_quota_error"
    assert len(stand_in.chat_requests) == 1 and sleep.delays == []
    assert stand_in.remaining == 1


async def test_list_models(stand_in: StandIn, make_client):
    assert await make_client().list_models() == ["kimi-k2-thinking"]


async def test_settings_repr_and_client_repr_hide_the_key():
    settings = Settings(api_key="sk-secret-value", api_key_source="KIMI_API_KEY")
    async with ModelClient(settings) as client:
        assert "sk-secret-value" not in repr(client) and "sk-secret-value" not in repr(settings)


async def test_scripted_401_is_an_auth_error_without_retry(stand_in: StandIn, make_client, sleep):
    stand_in.push(Turn(fault=Fault.unauthorized()))

    with pytest.raises(ModelAuthError) as caught:
        await make_client().complete(HI)

    assert "KIMI_API_KEY" in str(caught.value) and stand_in.api_key not in str(caught.value)
    assert len(stand_in.chat_requests) == 1 and sleep.delays == []
