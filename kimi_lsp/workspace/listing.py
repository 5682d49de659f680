"""Which files a workspace has: git's listing in a repository, a walk elsewhere, and the walk the tools search.

The index, the shadow workspace and the tools all list files here, each with the folders it skips taken
from ``policy``; none walks a tree on its own.
"""

from __future__ import annotations

import math
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from kimi_lsp.workspace import git
from kimi_lsp.workspace.ignore import IgnoreRules
from kimi_lsp.workspace.policy import is_secret_path, is_skipped_dir
from kimi_lsp.workspace.reading import read_listed

__all__ = ["GitListing", "is_safe_link", "walk", "walk_shown"]

_IGNORE_MAX_BYTES = 1024 * 1024


class GitListing:
    """Tracked and untracked-not-ignored files from two ``git ls-files`` started at once: the tracked list
    comes straight from git's index while the other walks the folders for untracked files."""

    def __init__(self, tracked: subprocess.Popen[bytes], others: subprocess.Popen[bytes] | None) -> None:
        self._tracked_process = tracked
        self._others = others
        self.tracked: frozenset[str] = frozenset()

    @classmethod
    def start(cls, root: Path) -> GitListing | None:
        """Start listing ``root``; None outside a repository or when git cannot start."""
        if not git.inside_git(root):
            return None
        tracked = git.start(root, ["ls-files", "-z", "--cached"])
        if tracked is None:
            return None
        return cls(tracked, git.start(root, ["ls-files", "-z", "--others", "--exclude-standard"]))

    def names(self, deadline: float, warnings: list[str]) -> Iterator[str] | None:
        """Tracked files (``tracked`` is set when this returns), then the untracked ones as they come;
        None when git failed or ran out of time (walk instead). Closing the iterator stops git."""
        out = git.finish(self._tracked_process, deadline)
        if out is None:
            self.cancel()
            return None
        names = git.split_z(out)
        self.tracked = frozenset(names)
        return self._then_untracked(names, deadline, warnings)

    def _then_untracked(self, tracked: list[str], deadline: float, warnings: list[str]) -> Iterator[str]:
        try:
            # --cached lists a file once per merge stage during a conflict; keep one of each.
            yield from dict.fromkeys(tracked)
            out = git.finish(self._others, deadline)
            if out is None:
                warnings.append("git did not list the untracked files; only tracked files are indexed")
                return
            yield from (name for name in git.split_z(out) if name not in self.tracked)
        finally:  # the scan stopped early (too many files, out of time): stop the walk too
            git.stop(self._others)

    def cancel(self) -> None:
        """Stop both processes (a listing nobody will collect)."""
        git.stop(self._tracked_process)
        git.stop(self._others)


def walk(
    root: Path,
    deadline: float = math.inf,
    *,
    max_files: int | None = None,
    rules: IgnoreRules | None = None,
    skip_dir: Callable[[str], bool] = is_skipped_dir,
) -> tuple[list[str], bool]:
    """Files under ``root`` (relative POSIX paths) and whether the walk finished in time.

    Never follows folder links (a link to a folder is listed as the link it is, so loops cannot trap it).
    With ``rules``, ``.gitignore`` files are read into them on the way and what they ignore is left out.
    """
    found: list[str] = []
    stack: list[str] = [""]
    while stack:
        if time.monotonic() > deadline:
            return found, False
        if max_files is not None and len(found) > max_files:
            break  # the caller reports the truncation
        folder = stack.pop()
        full = os.path.join(root, folder) if folder else str(root)
        if rules is not None:
            # Read as any listed file is: a FIFO, a link out or a huge file here gives no rules, not a hang.
            data = read_listed(str(root), f"{folder}/.gitignore" if folder else ".gitignore", _IGNORE_MAX_BYTES)
            if data:
                rules.add_file(folder, data.decode("utf-8", errors="replace"))
        try:
            with os.scandir(full) as iterator:
                children = sorted(iterator, key=lambda item: item.name)
        except OSError:
            continue
        subfolders: list[str] = []
        for child in children:
            relpath = f"{folder}/{child.name}" if folder else child.name
            try:
                is_dir = child.is_dir(follow_symlinks=False)
            except OSError:
                continue
            if is_dir:
                if not skip_dir(child.name) and (rules is None or not rules.ignored(relpath, True)):
                    subfolders.append(relpath)
            elif rules is None or not rules.ignored(relpath, False):
                found.append(relpath)
        stack.extend(reversed(subfolders))
    return found, True


def walk_shown(root: Path, top: Path) -> Iterator[tuple[str, Path]]:
    """``(relpath, path)`` of the files under ``top`` the model may search, in sorted order, lazily.

    Skips hidden folders (``.venv``, ``node_modules``, caches), folder links, links that lead outside
    ``root`` and secret files. A link counts as secret when its own name or its target's is.
    """
    real_root = Path(os.path.realpath(root))
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(
            d for d in dirnames if not is_skipped_dir(d) and not os.path.islink(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            path = Path(dirpath) / name
            rel = path.relative_to(real_root).as_posix()
            if is_secret_path(rel) or (path.is_symlink() and not is_safe_link(real_root, path)):
                continue
            yield rel, path


def is_safe_link(real_root: Path, link: Path) -> bool:
    """True when the symlink ``link`` leads to a regular file inside ``real_root`` that is not a secret."""
    real = Path(os.path.realpath(link))
    if not real.is_relative_to(real_root) or not real.is_file():
        return False
    return not is_secret_path(real.relative_to(real_root).as_posix())
