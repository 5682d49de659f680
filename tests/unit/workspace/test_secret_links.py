"""A link with an innocent name must not carry a secret file's text into a prompt."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_lsp.context import ContextRequest, WorkspaceIndex, build_context
from kimi_lsp.context.git import signals
from kimi_lsp.errors import ConfigError

SECRET = "DB_PASSWORD=hunter2-LINKED-SECRET-6161\n"
AWS = "[default]\naws_secret_access_key = AWS-LINKED-SECRET-7272\n"


@pytest.fixture
def linked(make_workspace: Callable[..., Path], git: Callable[..., str]) -> Path:
    """A repository with an ignored ``.env.production`` and an untracked link ``deploy.cfg`` to it."""
    root = make_workspace({"app.py": "def f():\n    return 1\n"})
    (root / ".env.production").write_text(SECRET)
    (root / ".gitignore").write_text(".env*\n")
    os.symlink(".env.production", root / "deploy.cfg")
    assert "deploy.cfg" in git(root, "ls-files", "--others", "--exclude-standard").split()
    return root


@pytest.mark.parametrize("in_git", [True, False])
def test_link_to_a_secret_file_never_reaches_the_prompt(linked: Path, in_git: bool) -> None:
    if not in_git:
        (linked / ".git").rename(linked / "not-git")  # the .gitignore-aware walk lists the link too
    for budget in (2_000, 8_000, 64_000):
        result = build_context(ContextRequest(root=linked, target="app.py", budget=budget))
        assert "hunter2" not in result.prompt
        assert "deploy.cfg" not in {item.path for item in result.files}
    with pytest.raises(ConfigError, match=r"deploy\.cfg links to \.env\.production.*secret"):
        build_context(ContextRequest(root=linked, target="deploy.cfg"))


def test_index_refuses_links_to_secrets_on_every_way_in(linked: Path) -> None:
    index = WorkspaceIndex(linked)
    index.preload("deploy.cfg")  # before the first scan
    index.scan()
    assert "deploy.cfg" not in index.files()
    index.update("deploy.cfg")  # an editor or watcher event
    assert "deploy.cfg" not in index and index.text("deploy.cfg") is None
    index.set_overlay("deploy.cfg", SECRET)  # the editor shows the linked file's text as the buffer
    assert index.text("deploy.cfg") is None and index.outline("deploy.cfg") == ()
    assert "deploy.cfg" not in index.files()


def test_link_through_a_linked_folder_is_judged_by_where_it_leads(tmp_path: Path) -> None:
    root = tmp_path / "ws"
    (root / ".aws").mkdir(parents=True)
    (root / ".aws" / "config").write_text(AWS)
    (root / "settings").mkdir()
    (root / "settings" / "config").write_text("PLAIN = 1\n")
    os.symlink(".aws", root / "awsconf")  # "awsconf/config" names no secret; it reads .aws/config
    os.symlink("settings", root / "alias")
    index = WorkspaceIndex(root)
    index.scan()

    index.update("awsconf/config")
    index.preload("awsconf/config")
    assert "awsconf/config" not in index and index.text("awsconf/config") is None
    index.update("alias/config")  # a folder link to ordinary files still works
    assert index.text("alias/config") == "PLAIN = 1\n"


def test_file_turned_into_a_link_after_the_scan_is_not_read_through(linked: Path) -> None:
    # Text is read lazily: a file listed as a plain file may be a link to a secret by then.
    (linked / "notes.txt").write_text("harmless notes\n")
    index = WorkspaceIndex(linked)
    index.scan()
    assert "notes.txt" in index.files()
    (linked / "notes.txt").unlink()
    os.symlink(".env.production", linked / "notes.txt")

    assert index.text("notes.txt") is None
    assert "notes.txt" not in index.files()  # known unreadable now


def test_tracked_link_retargeted_at_a_secret_leaves_git_signals(
    make_workspace: Callable[..., Path], git: Callable[..., str]
) -> None:
    root = make_workspace({"app.py": "A = 1\n", "app.cfg": "plain = 1\n", ".env.production": SECRET})
    os.symlink("app.cfg", root / "deploy.cfg")
    os.symlink("app.cfg", root / "other.cfg")
    git(root, "add", "deploy.cfg", "other.cfg")
    git(root, "commit", "-q", "-m", "links")
    (root / "deploy.cfg").unlink()
    os.symlink(".env.production", root / "deploy.cfg")  # git shows the new path the link holds
    (root / "other.cfg").unlink()
    os.symlink("app.py", root / "other.cfg")
    os.symlink(".env.production", root / "fresh.cfg")  # untracked

    found = signals(root, [])

    assert "deploy.cfg" not in found.changed and "fresh.cfg" not in found.changed
    assert "other.cfg" in found.changed  # a link to an ordinary file is an ordinary change
    assert "deploy.cfg" not in found.diff and "+app.py" in found.diff
