"""Fixtures for the model client tests: a sleep that records instead of waiting, and a client factory."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from kimi_lsp.model.client import ModelClient
from kimi_lsp.testing import RecordedSleep, StandIn


@pytest.fixture
def sleep() -> RecordedSleep:
    return RecordedSleep()


@pytest.fixture
async def make_client(stand_in: StandIn, sleep: RecordedSleep) -> AsyncIterator[Callable[..., ModelClient]]:
    """``make_client(**settings_overrides)``: a client for the shared stand-in, closed after the test."""
    clients: list[ModelClient] = []

    def make(**overrides: Any) -> ModelClient:
        client = ModelClient(stand_in.settings(**overrides), sleep=sleep)
        clients.append(client)
        return client

    yield make
    for client in clients:
        await client.aclose()
