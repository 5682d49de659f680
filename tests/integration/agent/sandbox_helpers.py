"""Shared by the sandbox tests: the two ways a run can go (bubblewrap, or none) and process checks."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from kimi_lsp.agent.sandbox import sandbox_problem

BWRAP_PROBLEM = sandbox_problem()
needs_bwrap = pytest.mark.skipif(
    BWRAP_PROBLEM is not None, reason=f"bubblewrap cannot sandbox here ({BWRAP_PROBLEM}); .ci/run installs it"
)
# Every behaviour the fallback promises is checked both ways.
BOTH = pytest.mark.parametrize("with_bwrap", [pytest.param(True, marks=needs_bwrap, id="bwrap"), False], ids=str)


def path_without_bwrap(tmp_path: Path) -> str:
    """A PATH with every folder that holds bwrap left out, and git (which lives beside it) kept."""
    keep = tmp_path / "bin-without-bwrap"
    keep.mkdir(exist_ok=True)
    for tool in ("git", "sh", "setsid", "sleep"):
        found = shutil.which(tool)
        if found and not (keep / tool).exists():
            (keep / tool).symlink_to(found)
    folders = [d for d in os.environ.get("PATH", "").split(os.pathsep) if d and not Path(d, "bwrap").exists()]
    return os.pathsep.join([str(keep), *folders])


def processes_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (zombies excluded: they are dead)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if marker.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found
