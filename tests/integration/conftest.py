"""Tests that run programs: kimi-lsp's CLI, real test commands, the sandbox. Each one is marked ``spawns``.

They live apart from ``tests/unit/`` (whose guard fails any test that starts a program but git) so that the
unit suite stays in-process and quick; ``pytest -m 'not spawns'`` runs without them.
"""

from __future__ import annotations

from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.spawns)
