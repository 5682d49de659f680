"""Cancelling the task that awaits a turn closes the connection at once; the server sees it go."""

from __future__ import annotations

import asyncio
import time

from kimi_lsp.model.types import Message
from kimi_lsp.testing import Fault, StandIn, Turn


async def test_cancel_during_a_slow_answer_closes_the_connection_within_a_second(stand_in: StandIn, make_client):
    # 40 chunks at 0.25 s each: a ten-second answer unless the cancel cuts it short.
    stand_in.push(Turn(content="word " * 160, fault=Fault.slow_stream(0.25)))
    client = make_client()
    task = asyncio.create_task(client.complete([Message.user("go")]))
    asked = await asyncio.to_thread(stand_in.wait_for, lambda api: len(api.chat_requests) == 1)
    assert asked, "the request never reached the server"

    started = time.monotonic()
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    else:
        raise AssertionError("the turn finished although it was cancelled")
    noticed = await asyncio.to_thread(stand_in.wait_for, lambda api: api.disconnects == 1, 1.0)

    assert noticed, "the server never saw the client hang up"
    assert time.monotonic() - started < 1.0
    assert len(stand_in.chat_requests) == 1  # and no retry was attempted after the cancel
