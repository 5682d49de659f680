"""Fixtures shared by every test folder."""

from collections.abc import Iterator

import pytest

from kimi_lsp.testing import StandIn


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """A fresh strict stand-in model API on 127.0.0.1; queue answers with ``stand_in.push(Turn(...))``
    and point a client at it with ``stand_in.settings()``."""
    with StandIn() as server:
        yield server
