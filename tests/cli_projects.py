"""A small failing project, and `kimi-lsp` run as a program against the stand-in: shared by the CLI tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from kimi_lsp.testing import STAND_IN_KEY, StandIn

TEST_COMMAND = f"{sys.executable} -m unittest"


def make_project(root: Path, test_body: str = "") -> Path:
    """``shapes.area`` adds where it should multiply; its one test, with ``test_body`` run first, fails."""
    root.mkdir()
    (root / "shapes.py").write_text("def area(width, height):\n    return width + height\n", encoding="utf-8")
    (root / "test_shapes.py").write_text(
        "import os, unittest\n\nfrom shapes import area\n\n\nclass AreaTest(unittest.TestCase):\n"
        "    def test_area(self):\n" + test_body + "        self.assertEqual(area(3, 4), 12)\n",
        encoding="utf-8",
    )
    return root


def cli_env(tmp_path: Path, stand_in: StandIn | None, **extra: str) -> dict[str, str]:
    """This environment without keys or endpoint, then the stand-in's (when given) and ``extra``."""
    env = {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY", "KIMI_BASE_URL")}
    env.update(KIMI_LSP_STATE_DIR=str(tmp_path / "state"), KIMI_API_KEY=STAND_IN_KEY)
    if stand_in is not None:
        env["KIMI_BASE_URL"] = stand_in.url
    env.update(extra)
    return env


def run_cli(root: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``python -m kimi_lsp ARGS`` in ``root``, with no standard input."""
    return subprocess.run(
        [sys.executable, "-m", "kimi_lsp", *args],
        env=env,
        cwd=root,
        capture_output=True,
        text=True,
        timeout=180,
        stdin=subprocess.DEVNULL,
    )
