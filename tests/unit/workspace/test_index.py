"""The workspace index: which files are visible, their text, and staying correct as files change."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_lsp.context import WorkspaceIndex, is_secret_path


@pytest.mark.parametrize(
    "path",
    [
        ".env",
        ".env.production",
        "config/.env.local",
        "deploy/id_rsa",
        "home/.ssh/id_ed25519.pub",
        "certs/server.pem",
        "certs/server.key",
        "store.p12",
        "store.pfx",
        ".netrc",
        ".npmrc",
        ".pypirc",
        "credentials.json",
        ".aws/credentials",
        "app/secrets.yaml",
        "android/release.keystore",
    ],
)
def test_secret_paths_are_recognised(path: str) -> None:
    assert is_secret_path(path)


@pytest.mark.parametrize(
    "path",
    [
        "src/app.py",
        "environment.py",
        "docs/keys.md",
        "README.md",
        "env/config.py",
        "tests/test_secrets_util.py",
    ],
)
def test_ordinary_paths_are_not_secret(path: str) -> None:
    assert not is_secret_path(path)


def test_git_index_lists_tracked_and_untracked_but_not_ignored_binary_or_secret(
    make_workspace: Callable[..., Path],
) -> None:
    root = make_workspace(
        {
            ".gitignore": "ignored/\n*.log\n",
            "src/app.py": "print('hi')\n",
            "ignored/junk.py": "x = 1\n",
            "debug.log": "log line\n",
            ".env": "TOKEN=abc\n",
            "keys/id_rsa": "PRIVATE\n",
            "image.png": b"\x89PNG\r\n\x1a\n\x00\x00\x00binary",
            "node_modules/lib/index.js": "module.exports = 1\n",
        }
    )
    (root / "untracked.py").write_text("y = 2\n")
    index = WorkspaceIndex(root)
    index.scan()

    assert index.is_git
    files = index.files()
    assert "src/app.py" in files and "untracked.py" in files and ".gitignore" in files
    for hidden in ("ignored/junk.py", "debug.log", ".env", "keys/id_rsa", "node_modules/lib/index.js"):
        assert hidden not in files
        assert index.text(hidden) is None
    assert index.is_binary("image.png")
    assert index.text("image.png") is None
    assert "image.png" not in index.files()


def test_walk_without_git_honours_gitignore_and_skips_vendored_folders(
    make_workspace: Callable[..., Path],
) -> None:
    root = make_workspace(
        {
            ".gitignore": "/build_out/\n*.tmp\n!keep.tmp\ndocs/**/draft.md\n",
            "main.py": "x = 1\n",
            "build_out/gen.py": "gen = 1\n",
            "a.tmp": "t\n",
            "keep.tmp": "k\n",
            "docs/a/b/draft.md": "draft\n",
            "docs/a/b/final.md": "final\n",
            ".venv/lib/site.py": "v = 1\n",
            "pkg/__pycache__/m.cpython-311.pyc": b"\x00\x01",
            "pkg/m.py": "m = 1\n",
        },
        git=False,
    )
    index = WorkspaceIndex(root)
    index.scan()

    assert not index.is_git
    assert index.files() == [".gitignore", "docs/a/b/final.md", "keep.tmp", "main.py", "pkg/m.py"]


def test_overlay_overrides_disk_and_clearing_returns_to_disk(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"app.py": "on_disk = 1\n"})
    index = WorkspaceIndex(root)
    index.scan()

    index.set_overlay("app.py", "unsaved = 2\n")
    index.set_overlay("new_buffer.py", "brand_new = 3\n")
    assert index.text("app.py") == "unsaved = 2\n"
    assert index.text("new_buffer.py") == "brand_new = 3\n"
    assert "new_buffer.py" in index.files()

    index.clear_overlay("app.py")
    assert index.text("app.py") == "on_disk = 1\n"
    index.clear_overlay()
    assert "new_buffer.py" not in index.files()


def test_overlay_cannot_smuggle_a_secret_in(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"app.py": "x = 1\n"})
    index = WorkspaceIndex(root)
    index.scan()
    index.set_overlay(".env", "TOKEN=unsaved-secret\n")

    assert index.text(".env") is None
    assert ".env" not in index.files()


def test_non_utf8_file_is_decoded_with_replacement_and_flagged(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"latin.txt": "caf\xe9 ol\xe9\n".encode("latin-1"), "ok.txt": "café\n"})
    index = WorkspaceIndex(root)
    index.scan()

    assert index.is_lossy("latin.txt")
    assert index.text("latin.txt") == "caf\ufffd ol\ufffd\n"
    assert not index.is_lossy("ok.txt")


def test_symlink_loops_and_links_outside_do_not_hang_or_leak(tmp_path: Path, git: Callable[..., str]) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("OUTSIDE-CONTENT\n")
    for in_repo in (False, True):
        root = tmp_path / f"ws_{in_repo}"
        root.mkdir()
        (root / "real.py").write_text("r = 1\n")
        (root / "sub").mkdir()
        os.symlink("..", root / "sub" / "loop")  # a folder link back up
        os.symlink("self_link", root / "self_link")  # a link to itself
        os.symlink(outside, root / "escape.txt")
        os.symlink("real.py", root / "alias.py")
        if in_repo:
            git(root, "init", "-q")
        index = WorkspaceIndex(root)
        index.scan()

        assert "real.py" in index.files()
        assert "alias.py" in index.files()  # a link that stays inside is fine
        assert "escape.txt" not in index.files() and "self_link" not in index.files()
        assert all("loop" not in path for path in index.files())


def test_huge_folder_is_cut_off_with_a_flag_and_a_message(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({f"d{i // 100}/f{i}.txt": "x\n" for i in range(600)}, git=False)
    index = WorkspaceIndex(root, max_files=250)
    index.scan()

    assert index.truncated
    assert len(index.files()) == 250
    assert "250" in index.warnings[0]


def test_files_over_the_size_cap_are_left_out(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"big.txt": "a" * 5000, "small.txt": "b\n"})
    index = WorkspaceIndex(root, max_file_bytes=1000)
    index.scan()

    assert index.text("big.txt") is None
    assert index.text("small.txt") == "b\n"


def test_tracked_file_deleted_before_scan_is_skipped(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"gone.py": "g = 1\n", "here.py": "h = 1\n"})
    (root / "gone.py").unlink()  # git still lists it as tracked
    index = WorkspaceIndex(root)
    index.scan()

    assert index.files() == ["here.py"]


def test_update_and_remove_follow_changes_on_disk(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"a.py": "def first():\n    pass\n"})
    index = WorkspaceIndex(root)
    index.scan()
    assert index.outline("a.py") == ("    1 def first()",)

    (root / "a.py").write_text("def second(x: int) -> int:\n    return x\n")
    os.utime(root / "a.py", ns=(1, 1))  # a different mtime even on coarse clocks
    index.update("a.py")
    assert index.text("a.py") == "def second(x: int) -> int:\n    return x\n"
    assert index.outline("a.py") == ("    1 def second(x: int) -> int",)

    (root / "b.py").write_text("b = 1\n")
    index.update("b.py")
    assert "b.py" in index.files()
    index.remove("a.py")
    assert "a.py" not in index.files()
    assert index.text("a.py") is None


def test_rescan_keeps_cached_text_of_unchanged_files(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"a.py": "a = 1\n", "b.py": "b = 1\n"})
    index = WorkspaceIndex(root)
    index.scan()
    first = index.text("a.py")
    index.text("b.py")
    (root / "b.py").write_text("b = 22\n")
    os.utime(root / "b.py", ns=(2, 2))
    index.scan()

    assert index.text("a.py") is first  # the cached object, not a re-read
    assert index.text("b.py") == "b = 22\n"
