"""Fixtures for the Emacs (eglot) end-to-end tests: a git project, and Emacs started against the stand-in."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import StandIn
from tests.e2e.emacs.emacs import Emacs
from tests.e2e.nvim.neovim import BUGGY, TEST_COMMAND, TESTS


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shapes.py").write_text(BUGGY, encoding="utf-8")
    (root / "test_shapes.py").write_text(TESTS, encoding="utf-8")
    # eglot finds the project through version control, as it does for a user.
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    return root


@pytest.fixture
def emacs_for(tmp_path: Path, project: Path, stand_in: StandIn) -> Iterator[Callable[..., Emacs]]:
    """Start ``emacs -nw`` visiting shapes.py with eglot on kimi-lsp (settings as initializationOptions)."""
    started: list[Emacs] = []

    def start(env: dict[str, str] | None = None, **settings: Any) -> Emacs:
        options = {"baseUrl": stand_in.url, "testCommand": TEST_COMMAND, "maxSteps": 20, **settings}
        editor = Emacs(tmp_path / f"emacs{len(started)}", project / "shapes.py", options, env)
        started.append(editor)
        return editor

    yield start
    for editor in started:
        editor.close()
