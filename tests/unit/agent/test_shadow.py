"""The shadow workspace: a private copy whose diff is the model's work and never touches the user's files."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from kimi_lsp.agent.shadow import Shadow


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "mod.py").write_text("def f():\n    return 1\n")
    (root / "pkg" / "gone.py").write_text("old = True\n")
    (root / "README.md").write_text("hello\n")
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / ".gitignore").write_text(".venv/\nignored.txt\n*.log\n")
    (root / "ignored.txt").write_text("not copied\n")
    (root / ".env").write_text("KIMI_API_KEY=sk-do-not-copy\n")
    (root / "id_rsa").write_text("-----BEGIN OPENSSH PRIVATE KEY-----\n")
    (root / ".venv" / "lib").mkdir(parents=True)
    (root / ".venv" / "lib" / "site.py").write_text("# venv\n")
    (root / "untracked.py").write_text("u = 1\n")
    _git(root, "init", "-q")
    _git(root, "add", "pkg", "README.md", "run.sh", ".gitignore")
    return root


def test_copies_tracked_and_untracked_files_links_heavy_dirs_and_skips_secrets(repo: Path) -> None:
    with Shadow.create(repo) as shadow:
        names = shadow.snapshot.paths()
        assert names == [".gitignore", "README.md", "pkg/gone.py", "pkg/mod.py", "run.sh", "untracked.py"]
        assert not (shadow.root / ".env").exists()
        assert not (shadow.root / "id_rsa").exists()
        assert not (shadow.root / "ignored.txt").exists()
        venv = shadow.root / ".venv"
        assert venv.is_symlink() and os.path.realpath(venv) == os.path.realpath(repo / ".venv")
        assert shadow.linked == [".venv"]
        assert os.access(shadow.root / "run.sh", os.X_OK)
        # A copy, not a hard link: writing the shadow leaves the user's file alone.
        assert (shadow.root / "pkg" / "mod.py").stat().st_ino != (repo / "pkg" / "mod.py").stat().st_ino
        assert shadow.root.name.startswith("kimi-shadow-")
        assert shadow.diff().unified == ""


def test_diff_shows_modified_new_and_deleted_files_git_style(repo: Path) -> None:
    with Shadow.create(repo) as shadow:
        (shadow.root / "pkg" / "mod.py").write_text("def f():\n    return 2\n")
        (shadow.root / "pkg" / "new.py").write_text("n = 1\n")
        (shadow.root / "pkg" / "gone.py").unlink()
        (shadow.root / "pkg" / "__pycache__").mkdir()
        (shadow.root / "pkg" / "__pycache__" / "mod.cpython-311.pyc").write_bytes(b"\x00junk")
        (shadow.root / "test.log").write_text("ignored by .gitignore\n")
        diff = shadow.diff()
        assert [c.path for c in diff.changes] == ["pkg/gone.py", "pkg/mod.py", "pkg/new.py"]
        gone, mod, new = diff.changes
        assert (gone.old_text, gone.new_text) == ("old = True\n", None)
        assert (mod.old_text, mod.new_text) == ("def f():\n    return 1\n", "def f():\n    return 2\n")
        assert (new.old_text, new.new_text) == (None, "n = 1\n")
        assert diff.unified == (
            "diff --git a/pkg/gone.py b/pkg/gone.py\n"
            "deleted file mode 100644\n"
            "--- a/pkg/gone.py\n"
            "+++ /dev/null\n"
            "@@ -1 +0,0 @@\n"
            "-old = True\n"
            "diff --git a/pkg/mod.py b/pkg/mod.py\n"
            "--- a/pkg/mod.py\n"
            "+++ b/pkg/mod.py\n"
            "@@ -1,2 +1,2 @@\n"
            " def f():\n"
            "-    return 1\n"
            "+    return 2\n"
            "diff --git a/pkg/new.py b/pkg/new.py\n"
            "new file mode 100644\n"
            "--- /dev/null\n"
            "+++ b/pkg/new.py\n"
            "@@ -0,0 +1 @@\n"
            "+n = 1\n"
        )
        assert (repo / "pkg" / "mod.py").read_text() == "def f():\n    return 1\n"
        assert (repo / "pkg" / "gone.py").exists()


def test_diff_notes_binary_files_and_missing_final_newline(repo: Path) -> None:
    with Shadow.create(repo) as shadow:
        (shadow.root / "blob.bin").write_bytes(b"\x00\x01\x02")
        (shadow.root / "README.md").write_text("hello\nworld")
        diff = shadow.diff()
        assert "Binary files /dev/null and b/blob.bin differ\n" in diff.unified
        assert "+world\n\\ No newline at end of file\n" in diff.unified
        assert [c.binary for c in diff.changes] == [False, True]


def test_overlays_replace_disk_text_and_count_as_the_starting_point(repo: Path) -> None:
    overlays = {"pkg/mod.py": "def f():\n    return 10  # unsaved\n", "pkg/draft.py": "d = 1\n"}
    with Shadow.create(repo, overlays) as shadow:
        assert (shadow.root / "pkg" / "mod.py").read_text() == overlays["pkg/mod.py"]
        assert (shadow.root / "pkg" / "draft.py").read_text() == "d = 1\n"
        assert shadow.diff().changes == []  # the overlay is the snapshot, not a change
        (shadow.root / "pkg" / "mod.py").write_text("def f():\n    return 11\n")
        (change,) = shadow.diff().changes
        assert change.old_text == overlays["pkg/mod.py"]


def test_overlay_outside_the_root_is_refused(repo: Path, tmp_path: Path) -> None:
    from kimi_lsp.errors import ToolError

    with pytest.raises(ToolError):
        Shadow.create(repo, {"../escape.py": "x = 1\n"})
    assert not (tmp_path / "escape.py").exists()


def test_works_without_git_by_walking_and_skipping_heavy_dirs(tmp_path: Path) -> None:
    root = tmp_path / "plain"
    (root / "node_modules" / "dep").mkdir(parents=True)
    (root / "node_modules" / "dep" / "index.js").write_text("x\n")
    (root / "__pycache__").mkdir()
    (root / "__pycache__" / "a.pyc").write_bytes(b"x")
    (root / "a.py").write_text("a = 1\n")
    with Shadow.create(root) as shadow:
        assert shadow.snapshot.paths() == ["a.py"]
        assert (shadow.root / "node_modules").is_symlink()


def test_cleanup_is_idempotent_and_leaves_linked_folders_alone(repo: Path) -> None:
    shadow = Shadow.create(repo)
    shadow.cleanup()
    shadow.cleanup()
    assert not shadow.root.exists()
    assert (repo / ".venv" / "lib" / "site.py").exists()


def test_explicit_file_list_is_copied(repo: Path) -> None:
    with Shadow.create(repo, files=["README.md", "../outside.txt", ".env"]) as shadow:
        assert shadow.snapshot.paths() == ["README.md"]


def test_copy_strategy_follows_the_destination_and_both_copy_the_same(tmp_path: Path, repo: Path) -> None:
    from kimi_lsp.agent.shadow import _memory_backed

    shm = Path("/dev/shm")
    if not (shm.is_dir() and _memory_backed(shm)):
        pytest.skip("no tmpfs at /dev/shm")
    assert not _memory_backed(tmp_path) or str(tmp_path).startswith("/dev/shm")
    disk_base = tmp_path / "on-disk"
    disk_base.mkdir()
    with Shadow.create(repo, base_dir=shm) as in_memory, Shadow.create(repo, base_dir=disk_base) as on_disk:
        assert in_memory.snapshot.paths() == on_disk.snapshot.paths()
        for rel in in_memory.snapshot.paths():
            assert (in_memory.root / rel).read_bytes() == (on_disk.root / rel).read_bytes()
