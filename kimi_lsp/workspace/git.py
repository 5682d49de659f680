"""The one way kimi-lsp talks to git.

Two doors, one module. A job's one-off questions (which files to copy into the shadow, which of the files a
test left behind the user's ignore rules exclude) go through GitPython. The context engine's hot path (the
index's listing, the prompt's diff, log and grep, started in the background while Python scans the tree)
starts plain ``git`` processes instead: importing GitPython costs 80-400 ms on these machines, more than all
of those commands together, and `kimi-lsp context` must stay near the cost of reading the files.

Every command runs without optional locks (beside the user's own git, never blocking it), without prompts,
with paths unquoted, and never raises: outside a repository or without git, callers get None.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from kimi_lsp.settings import KEY_ENV_VARS

__all__ = ["finish", "ignored", "inside_git", "list_files", "split_z", "start"]

ENV_EXTRA = {"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0"}
# A repository's own config can name commands for git to run (an fsmonitor hook runs on every index refresh):
# switched off, and git never sees the key.
_BASE = ("-c", "core.quotepath=off", "-c", "core.fsmonitor=false", "-c", "core.hooksPath=/dev/null")
_NO_KEY = {name: "" for name in KEY_ENV_VARS}


def inside_git(root: Path) -> bool:
    """True when ``root`` or a folder above it has a ``.git`` (folder, or file for worktrees)."""
    return any(os.path.lexists(folder / ".git") for folder in (root, *root.parents))


def start(root: Path, args: Sequence[str]) -> subprocess.Popen[bytes] | None:
    """``git ARGS`` started in ``root`` in the background (stdout piped); None when git cannot start."""
    try:
        return subprocess.Popen(
            ["git", *_BASE, *args],
            cwd=root,
            env={**{k: v for k, v in os.environ.items() if k not in KEY_ENV_VARS}, **ENV_EXTRA},
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None


def finish(process: subprocess.Popen[bytes] | None, deadline: float, ok_codes: tuple[int, ...] = (0,)) -> bytes | None:
    """The output of a process ``start`` gave; None when it failed, could not start or ran past ``deadline``
    (then it is killed)."""
    if process is None:
        return None
    try:
        out, _ = process.communicate(timeout=max(0.01, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        stop(process)
        return None
    return out if process.returncode in ok_codes else None


def stop(process: subprocess.Popen[bytes] | None) -> None:
    """Kill a process ``start`` gave, if it still runs, and reap it."""
    if process is not None and process.poll() is None:
        process.kill()
        process.communicate()


def split_z(out: bytes) -> list[str]:
    """NUL-separated git output as paths (undecodable bytes kept as surrogates, so names round-trip)."""
    return [name for name in out.decode("utf-8", errors="surrogateescape").split("\0") if name]


def _git(root: Path) -> Any:
    import git  # GitPython; imported here, off the context engine's hot path (see the module's docstring)

    return git.Git(str(root))


def _run(root: Path, args: Sequence[str], *, timeout: float, stdin: bytes | None = None) -> bytes | None:
    import git

    try:
        out = _git(root).execute(
            ["git", *_BASE, *args],
            env={**ENV_EXTRA, **_NO_KEY},
            istream=subprocess.PIPE if stdin is not None else None,
            as_process=stdin is not None,
            stdout_as_string=False,
            kill_after_timeout=timeout,
            strip_newline_in_stdout=False,
            with_extended_output=False,
        )
    except (git.GitCommandError, git.GitCommandNotFound, OSError):
        return None
    if stdin is None:
        return bytes(out)
    process = out.proc
    try:
        data, _ = process.communicate(stdin, timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        return None
    return data if process.returncode in (0, 1) else None  # check-ignore: 1 = none of them ignored


def list_files(root: Path, *, timeout: float = 120.0) -> list[str] | None:
    """Tracked plus untracked-not-ignored files under ``root`` (relative to it), sorted; None outside git."""
    if not inside_git(root):
        return None
    out = _run(root, ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], timeout=timeout)
    return None if out is None else sorted(set(split_z(out)))


def ignored(work_tree: Path, git_dir: Path, paths: Sequence[str], *, timeout: float = 60.0) -> list[str]:
    """Those of ``paths`` (relative to ``work_tree``) that the ignore rules of ``git_dir``'s repository
    exclude, judged by name alone (``--no-index``), so ``work_tree`` may be a copy of the repository."""
    if not paths or not git_dir.exists():
        return []
    args = [f"--git-dir={git_dir}", f"--work-tree={work_tree}", "check-ignore", "--no-index", "-z", "--stdin"]
    out = _run(work_tree, args, timeout=timeout, stdin="\0".join(paths).encode("utf-8", "surrogateescape"))
    return split_z(out or b"")
