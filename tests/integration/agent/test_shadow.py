"""The shadow sweep against real processes: a shadow whose owner died is removed, a live owner's is kept."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from kimi_lsp.agent.shadow import Shadow


def test_shadows_orphaned_by_dead_processes_are_swept_live_ones_kept(tmp_path: Path) -> None:
    import sys

    from kimi_lsp.agent.shadow import SHADOW_PREFIX

    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(finished.stdout)
    base = tmp_path / "shm"
    base.mkdir()
    orphan = base / f"{SHADOW_PREFIX}{dead_pid}-abc"
    (orphan / "pkg").mkdir(parents=True)
    (orphan / "pkg" / "x.py").write_text("x = 1\n", encoding="utf-8")
    live = base / f"{SHADOW_PREFIX}{os.getpid()}-def"
    live.mkdir()
    unrelated = base / "someone-elses-folder"
    unrelated.mkdir()
    project = tmp_path / "proj"
    project.mkdir()
    (project / "a.py").write_text("a = 1\n", encoding="utf-8")

    with Shadow.create(project, base_dir=base) as shadow:
        assert shadow.root.name.startswith(f"{SHADOW_PREFIX}{os.getpid()}-")
        assert not orphan.exists()
        assert live.exists() and unrelated.exists()
