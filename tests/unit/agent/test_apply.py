"""Writing a job's verified result into the user's tree (`fix --apply`): all or nothing, never over their edits."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from kimi_lsp.agent.shadow import Shadow
from kimi_lsp.agent.snapshot import FileChange
from kimi_lsp.agent.writeback import apply_changes
from kimi_lsp.errors import KimiError


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f():\n    return 1\n", encoding="utf-8")
    (root / "pkg" / "gone.py").write_text("x = 1\n", encoding="utf-8")
    (root / "run.sh").write_text("echo hi\n", encoding="utf-8")
    os.chmod(root / "run.sh", 0o755)
    return root


def test_the_shadows_changes_land_in_the_tree_keeping_modes(tree: Path) -> None:
    with Shadow.create(tree) as shadow:
        (shadow.root / "pkg" / "mod.py").write_text("def f():\n    return 2\n", encoding="utf-8")
        (shadow.root / "pkg" / "new.py").write_text("n = 1\n", encoding="utf-8")
        (shadow.root / "pkg" / "gone.py").unlink()
        (shadow.root / "run.sh").write_text("echo bye\n", encoding="utf-8")
        changes = shadow.diff().changes
    apply_changes(tree, changes)
    assert (tree / "pkg" / "mod.py").read_text(encoding="utf-8") == "def f():\n    return 2\n"
    assert (tree / "pkg" / "new.py").read_text(encoding="utf-8") == "n = 1\n"
    assert not (tree / "pkg" / "gone.py").exists()
    assert stat.S_IMODE((tree / "run.sh").stat().st_mode) == 0o755
    assert not list(tree.rglob("*.kimi-tmp"))


def test_nothing_is_written_when_the_user_edited_one_of_the_files(tree: Path) -> None:
    with Shadow.create(tree) as shadow:
        (shadow.root / "pkg" / "mod.py").write_text("def f():\n    return 2\n", encoding="utf-8")
        (shadow.root / "run.sh").write_text("echo bye\n", encoding="utf-8")
        changes = shadow.diff().changes
    (tree / "pkg" / "mod.py").write_text("def f():\n    return 'typed by the user'\n", encoding="utf-8")
    with pytest.raises(KimiError, match=r"pkg/mod\.py"):
        apply_changes(tree, changes)
    assert (tree / "pkg" / "mod.py").read_text(encoding="utf-8") == "def f():\n    return 'typed by the user'\n"
    assert (tree / "run.sh").read_text(encoding="utf-8") == "echo hi\n"  # all or nothing


def test_binary_changes_and_paths_outside_are_refused(tree: Path) -> None:
    with pytest.raises(KimiError, match="binary"):
        apply_changes(tree, [FileChange("logo.png", None, None, binary=True)])
    with pytest.raises(KimiError, match="not applied"):
        apply_changes(tree, [FileChange("../escape.py", None, "x = 1\n")])
    assert not (tree.parent / "escape.py").exists()
