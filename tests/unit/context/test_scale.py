"""Bad and big inputs, and the shortcuts that keep a cold ``kimi-lsp context`` fast: git signals run as
plain background processes, ``git grep`` narrows the search for importers, names decide the map's
binaries. Each shortcut is checked against what the slow path gives."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kimi_lsp.context import ContextRequest, WorkspaceIndex, build_context
from kimi_lsp.context.git import signals
from kimi_lsp.errors import ConfigError

IMPORTED = {
    "pkg/__init__.py": "",
    "pkg/core.py": "def compute(value: int) -> int:\n    return value + 1\n",
    "pkg/views.py": "from pkg.core import compute\n\n\ndef show() -> str:\n    return str(compute(2))\n",
    "pkg/later.py": "LATER = 1\n",
    "pkg/plain.py": "# mentions core in a comment only\nPLAIN = 1\n",
    "pkg/nested/__init__.py": "",
    "pkg/nested/deep.py": "from ..core import compute\n\nDEEP = compute(1)\n",
}


def _reasons(result_files: list) -> dict[str, str]:  # type: ignore[type-arg]
    return {item.path: item.reason for item in result_files}


def test_importers_found_through_git_grep_match_a_full_read(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(IMPORTED)
    (root / "pkg" / "fresh.py").write_text("import pkg.core\n")  # untracked: git grep does not see it
    overlays = {"pkg/later.py": "from pkg.core import compute\nLATER = compute(1)\n"}  # unsaved buffer

    cold = build_context(ContextRequest(root=root, target="pkg/core.py", overlays=overlays))
    # A warm index has every text cached and takes the slow path (no grep): the same answer.
    warm_index = WorkspaceIndex(root)
    warm_index.scan()
    for path in warm_index.files():
        warm_index.text(path)
    warm = build_context(ContextRequest(root=root, target="pkg/core.py", overlays=overlays), index=warm_index)

    importers = {path for path, reason in _reasons(cold.files).items() if reason == "imports target"}
    assert importers == {"pkg/views.py", "pkg/nested/deep.py", "pkg/later.py"}
    # Untracked, ranked first as such, and keeping its other reason.
    assert _reasons(cold.files)["pkg/fresh.py"] == "changed in working tree, imports target"
    assert _reasons(cold.files)["pkg/plain.py"] == "source file"  # no signal: shown only because all source fits
    assert cold.prompt == warm.prompt


def test_git_signals_without_gitpython_see_changes_untracked_files_and_commits(
    make_workspace: Callable[..., Path], git: Callable[..., str]
) -> None:
    root = make_workspace(IMPORTED)
    (root / "pkg" / "core.py").write_text("def compute(value: int) -> int:\n    return value + 2  # CHANGED\n")
    (root / "pkg" / "new.py").write_text("NEW = 1\n")
    (root / "pkg" / "plain.py").unlink()  # deleted files are not "changed" files to show
    git(root, "add", "pkg/plain.py")

    found = signals(root, ["pkg/core.py"])

    assert found.changed == ("pkg/core.py", "pkg/new.py")
    assert "+    return value + 2  # CHANGED" in found.diff
    assert [commit.subject for commit in found.commits] == ["initial commit"]
    assert found.commits[0].paths == ("pkg/core.py",)


def test_git_signals_are_relative_to_a_workspace_inside_a_larger_repository(
    tmp_path: Path, git: Callable[..., str]
) -> None:
    top = tmp_path / "mono"
    (top / "service" / "app").mkdir(parents=True)
    (top / "other").mkdir()
    (top / "service" / "app" / "main.py").write_text("MAIN = 1\n")
    (top / "other" / "x.py").write_text("X = 1\n")
    git(top, "init", "-q")
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "first")
    (top / "service" / "app" / "main.py").write_text("MAIN = 2\n")
    (top / "other" / "x.py").write_text("X = 2\n")
    (top / "service" / "loose.py").write_text("LOOSE = 1\n")

    found = signals(top / "service", ["app/main.py"])

    assert found.changed == ("app/main.py", "loose.py")
    assert "other/x.py" not in found.diff and "+MAIN = 2" in found.diff
    assert found.commits[0].paths == ("app/main.py",)


def test_changed_secret_with_a_quoted_path_stays_out_of_the_diff(
    make_workspace: Callable[..., Path], git: Callable[..., str]
) -> None:
    # A tab in the folder name makes git quote the diff header ("a/we\tird/.env").
    root = make_workspace({"we\tird/.env": "TOKEN=old\n", "ok.py": "OK = 1\n"})
    (root / "we\tird" / ".env").write_text("TOKEN=SECRET-QUOTED-5150\n")
    (root / "ok.py").write_text("OK = 2\n")

    found = signals(root, [])

    assert "SECRET-QUOTED-5150" not in found.diff
    assert "+OK = 2" in found.diff


def test_map_leaves_out_binaries_by_name_and_by_their_bytes(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(
        {
            "main.py": "MAIN = 1\n",
            "locale/fr/django.mo": b"\xde\x12\x04\x95 no NUL in here, still a compiled catalog",
            "data.blob": b"header\x00\x01\x02",  # unknown suffix: sniffed
            "notes.blob": "plain text under an unknown suffix\n",
            "logo.png": b"\x89PNG\r\n\x1a\n\x00\x00",
        }
    )
    index = WorkspaceIndex(root)

    result = build_context(ContextRequest(root=root, target="main.py"), index=index)

    map_text = result.prompt.split("## Repository map", 1)[1].split("## Files", 1)[0]
    assert "notes.blob" in map_text
    for binary in ("django.mo", "data.blob", "logo.png"):
        assert binary not in map_text
    assert index.looks_binary("locale/fr/django.mo") and not index.looks_binary("main.py")
    assert index.is_binary("data.blob") and index.looks_binary("data.blob")


def test_file_vanishing_after_the_scan_is_left_out_without_error(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(IMPORTED)
    index = WorkspaceIndex(root)
    index.scan()
    (root / "pkg" / "views.py").unlink()  # gone between the listing and the reading
    (root / "pkg" / "nested" / "deep.py").unlink()

    result = build_context(ContextRequest(root=root, target="pkg/core.py"), index=index)

    assert result.files[0].path == "pkg/core.py"
    assert not {"pkg/views.py", "pkg/nested/deep.py"} & set(_reasons(result.files))
    assert "pkg/views.py" not in index.files()  # known unreadable once read


def test_target_vanishing_after_the_scan_is_a_clear_error(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(IMPORTED)
    index = WorkspaceIndex(root)
    index.scan()
    (root / "pkg" / "core.py").unlink()

    with pytest.raises(ConfigError, match=r"no such file in the workspace: pkg/core\.py"):
        build_context(ContextRequest(root=root, target="pkg/core.py"), index=index)


def _many_files(root: Path, count: int, per_folder: int = 1000) -> None:
    for start in range(0, count, per_folder):
        folder = root / f"d{start // per_folder:03d}"
        folder.mkdir(parents=True)
        for number in range(start, min(count, start + per_folder)):
            os.close(os.open(folder / f"f{number}.txt", os.O_CREAT | os.O_WRONLY, 0o644))


@pytest.fixture
def fast_tmp(tmp_path: Path) -> Iterator[Path]:
    """A scratch folder in memory when the machine has one: creating 100,000 files on a busy disk
    takes most of a minute, in tmpfs about a second."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path
        return
    folder = Path(tempfile.mkdtemp(dir=shm, prefix="kimi-context-test-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def test_folder_with_100000_files_is_cut_off_in_bounded_time_with_a_clear_message(fast_tmp: Path) -> None:
    root = fast_tmp / "huge"
    _many_files(root, 100_000)
    (root / "main.py").write_text("MAIN = 1\n")

    start = time.monotonic()
    result = build_context(ContextRequest(root=root, target="main.py", budget=8_000))
    elapsed = time.monotonic() - start

    assert elapsed < 20  # the scan's own deadline, with room to spare on a busy machine
    assert result.files[0].path == "main.py"
    assert result.tokens <= 8_000
    assert any("more than 50000 files" in warning for warning in result.warnings)
