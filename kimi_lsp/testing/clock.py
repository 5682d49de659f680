"""A sleep that records instead of waiting, injected where code under test backs off."""

from __future__ import annotations


class RecordedSleep:
    """Stands in for ``asyncio.sleep``: remembers each requested delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
