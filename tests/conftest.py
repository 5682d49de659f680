"""Fixtures shared by every test folder: the stand-in model API, and workspaces as real folders and real git
repositories."""

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from kimi_lsp.testing import StandIn


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    """A fresh strict stand-in model API on 127.0.0.1; queue answers with ``stand_in.push(Turn(...))``
    and point a client at it with ``stand_in.settings()``."""
    with StandIn() as server:
        yield server


GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Author",
    "GIT_COMMITTER_EMAIL": "author@example.com",
    "GIT_CONFIG_NOSYSTEM": "1",
}


@pytest.fixture
def git() -> Callable[..., str]:
    """Run git in a folder with a fixed identity and no user or system config."""
    return run_git


def run_git(root: Path, *args: str) -> str:
    env = {**os.environ, **GIT_ENV, "HOME": str(root)}
    completed = subprocess.run(
        ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false", *args],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return completed.stdout


def write_files(root: Path, files: dict[str, str | bytes]) -> None:
    for relpath, content in files.items():
        path = root / relpath
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[..., Path]:
    """Build a workspace from ``{relpath: content}``; ``git=True`` makes it a repository,
    ``commit=True`` commits everything written so far."""

    def make(files: dict[str, str | bytes], *, git: bool = True, commit: bool = True) -> Path:
        root = tmp_path / "ws"
        root.mkdir(exist_ok=True)
        write_files(root, files)
        if git:
            run_git(root, "init", "-q")
            if commit:
                run_git(root, "add", "-A")
                run_git(root, "commit", "-q", "-m", "initial commit")
        return root

    return make
