"""Attacks that need a second process: a folder swapped for a link during writes, globs built to hang the job."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from pathlib import Path

import pytest

from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.testing import tool_call as call
from tests.unit.workspace.test_attack_round2 import SLOW_GLOB, make_ws

_SWAPPER = """
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
a, b = os.fsencode(sys.argv[1]), os.fsencode(sys.argv[2])
while True:
    libc.renameat2(-100, a, -100, b, 2)  # RENAME_EXCHANGE: the folder and the link trade places atomically
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_ws(tmp_path)


@pytest.mark.timeout(120)
def test_writes_never_land_outside_when_a_folder_on_the_way_is_swapped_for_a_link(ws: Path) -> None:
    # A process a test left behind swaps pkg/ with a link to a folder outside, over and over.
    outside = ws.parent / "outside-folder"
    outside.mkdir()
    (ws / "pkg").mkdir()
    (ws / ".spare").symlink_to(outside)
    box = Toolbox(ws, test_command=None)

    async def write_until_one_escapes() -> None:
        for number in range(3000):
            await box.run(call("WriteFile", {"path": f"pkg/f{number}.txt", "content": "written by the model\n"}))
            if any(outside.iterdir()):
                return

    swapper = subprocess.Popen([sys.executable, "-c", _SWAPPER, str(ws / "pkg"), str(ws / ".spare")])
    try:
        asyncio.run(write_until_one_escapes())
    finally:
        swapper.kill()
        swapper.wait()
    assert not list(outside.iterdir())


_GLOB_RUN = """
import asyncio, json, sys
from pathlib import Path
from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.model.types import ToolCall
args = json.loads(sys.argv[3])
result = asyncio.run(Toolbox(Path(sys.argv[1]), test_command=None).run(ToolCall("c:0", sys.argv[2], json.dumps(args))))
print(result.text)
"""


@pytest.mark.parametrize(
    ("tool", "args"), [("Glob", {"pattern": SLOW_GLOB}), ("Grep", {"pattern": "x", "glob": SLOW_GLOB})]
)
def test_a_glob_from_the_model_cannot_hang_the_job(ws: Path, tool: str, args: dict[str, str]) -> None:
    # In the job the call runs in a thread that cancelling does not stop: the job waits, a core burns.
    (ws / ("a" * 100)).write_text("", encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-c", _GLOB_RUN, str(ws), tool, json.dumps(args)],
        capture_output=True,
        text=True,
        timeout=20,  # Grep's own deadline is 10 s; a tool must answer well within this
    )
    assert done.returncode == 0, done.stderr
