"""Fixtures for the Neovim end-to-end tests: a project, and Neovim started against the stand-in."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import StandIn
from tests.e2e.nvim.neovim import BUGGY, TEST_COMMAND, TESTS, Neovim


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "pyproject.toml").write_text('[project]\nname = "shapes"\nversion = "0"\n', encoding="utf-8")
    (root / "shapes.py").write_text(BUGGY, encoding="utf-8")
    (root / "test_shapes.py").write_text(TESTS, encoding="utf-8")
    return root


@pytest.fixture
def neovim_for(tmp_path: Path, stand_in: StandIn) -> Iterator[Callable[..., Neovim]]:
    """Start Neovim with ``setup({cmd = <this python> -m kimi_lsp, settings = {baseUrl = stand-in, ...}})``.
    A setting given as None is left out; ``cmd_env`` goes to setup as is."""
    started: list[Neovim] = []

    def start(cmd_env: dict[str, str] | None = None, **settings: Any) -> Neovim:
        merged = {"baseUrl": stand_in.url, "testCommand": TEST_COMMAND, "maxSteps": 20, **settings}
        options: dict[str, Any] = {
            "cmd": [sys.executable, "-m", "kimi_lsp"],
            "settings": {key: value for key, value in merged.items() if value is not None},
        }
        if cmd_env is not None:
            options["cmd_env"] = cmd_env
        editor = Neovim(tmp_path, options)
        started.append(editor)
        return editor

    yield start
    for editor in started:
        editor.close()
