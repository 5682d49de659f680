"""Git signals for the prompt: what changed in the working tree, and recent commits touching files.

Everything returns empty (never raises) outside a repository, in a repository without commits, or
when git itself is missing: these are hints, not requirements.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from kimi_lsp.context.secrets import is_secret_path

__all__ = ["Commit", "GitSignals", "changed_paths", "recent_commits", "signals", "working_diff"]

_DIFF_CAP = 2_000_000  # characters; a larger diff is cut, the budget trims it further anyway


@dataclass(frozen=True)
class Commit:
    """One commit in a file's recent history."""

    sha: str
    author: str
    date: str
    subject: str
    paths: tuple[str, ...]


@dataclass(frozen=True)
class GitSignals:
    """The working tree diff against HEAD, the paths it touches, and recent commits on the target."""

    diff: str
    changed: tuple[str, ...]
    commits: tuple[Commit, ...]


def _repo(root: Path):  # type: ignore[no-untyped-def]
    """A GitPython ``Repo`` for ``root``, or None when it is not in a repository or git is unusable."""
    try:
        import git  # GitPython; imported here so the context engine loads without git on PATH

        return git.Repo(root, search_parent_directories=True)
    except Exception:  # GitPython raises several unrelated types for "not a repo" / "no git"
        return None


def _has_head(repo) -> bool:  # type: ignore[no-untyped-def]
    try:
        repo.head.commit  # noqa: B018 - raises ValueError on a repository without commits
        return True
    except Exception:
        return False


def _prefix(repo, root: Path) -> str:  # type: ignore[no-untyped-def]
    """``root`` relative to the repository top, with a trailing slash ("" when they are the same)."""
    try:
        top = Path(repo.working_tree_dir).resolve()
        rel = root.resolve().relative_to(top).as_posix()
    except (TypeError, ValueError, OSError):
        return ""
    return "" if rel == "." else rel + "/"


def working_diff(root: Path) -> str:
    """``git diff HEAD`` (staged and unstaged changes) limited to ``root``; "" when there is none.

    Files that may hold secrets are left out of the diff, whole.
    """
    return _working_diff(_repo(root))


def _working_diff(repo) -> str:  # type: ignore[no-untyped-def]
    if repo is None or not _has_head(repo):
        return ""
    try:
        text: str = repo.git.diff("HEAD", "--no-color", "--no-ext-diff", "--relative", "--", ".")
    except Exception:
        return ""
    return _drop_secret_files(text)[:_DIFF_CAP]


def _drop_secret_files(diff: str) -> str:
    kept: list[str] = []
    for chunk in re.split(r"(?m)^(?=diff --git )", diff):
        header = chunk.split("\n", 1)[0]
        match = re.match(r"diff --git a/(.*?) b/(.*)$", header)
        if match and (is_secret_path(match.group(1)) or is_secret_path(match.group(2))):
            continue
        kept.append(chunk)
    return "".join(kept)


def changed_paths(root: Path) -> list[str]:
    """Workspace-relative paths changed against HEAD (staged, unstaged) plus untracked files."""
    return _changed_paths(_repo(root), root)


def _changed_paths(repo, root: Path) -> list[str]:  # type: ignore[no-untyped-def]
    """One ``git status`` covers staged, unstaged and untracked files, with or without a HEAD."""
    if repo is None or not _has_head(repo):
        return []  # before the first commit every file is "changed": no signal in that
    try:
        out: str = repo.git.status(
            "--porcelain=v1", "-z", "--untracked-files=all", "--", ".", strip_newline_in_stdout=False
        )
    except Exception:
        return []
    prefix = _prefix(repo, root)
    paths: set[str] = set()
    entries = out.split("\0")
    index = 0
    while index < len(entries):
        entry = entries[index]
        index += 1
        if len(entry) < 4:
            continue
        status, path = entry[:2], entry[3:]
        if "R" in status or "C" in status:
            index += 1  # the rename's source path follows; the new path is what exists now
        if "D" in status:
            continue
        if path.startswith(prefix):
            paths.add(path[len(prefix) :])
    return sorted(paths)


def recent_commits(root: Path, paths: list[str], limit: int = 5) -> list[Commit]:
    """Up to ``limit`` most recent commits touching any of ``paths`` (workspace-relative)."""
    return _recent_commits(_repo(root), paths, limit)


def _recent_commits(repo, paths: list[str], limit: int) -> list[Commit]:  # type: ignore[no-untyped-def]
    if repo is None or not paths or limit <= 0 or not _has_head(repo):
        return []
    separator = "\x1f"
    try:
        out: str = repo.git.log(
            f"-n{limit}",
            f"--format=%x1e%h{separator}%an{separator}%ad{separator}%s",
            "--date=short",
            "--name-only",
            "--relative",
            "--",
            *paths,
        )
    except Exception:
        return []
    commits: list[Commit] = []
    for record in out.split("\x1e"):
        lines = [line for line in record.splitlines() if line.strip()]
        if not lines:
            continue
        fields = lines[0].split(separator)
        if len(fields) != 4:
            continue
        commits.append(Commit(fields[0], fields[1], fields[2], fields[3], tuple(lines[1:])))
    return commits


def signals(root: Path, target_paths: list[str], commit_limit: int = 5) -> GitSignals:
    """Diff, changed paths and recent commits in one call (one repository lookup)."""
    repo = _repo(root)
    return GitSignals(
        diff=_working_diff(repo),
        changed=tuple(_changed_paths(repo, root)),
        commits=tuple(_recent_commits(repo, target_paths, commit_limit)),
    )
