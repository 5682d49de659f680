"""Git signals for the prompt: what changed in the working tree, and recent commits touching files.

Everything returns empty (never raises) outside a repository, in a repository without commits, or
when git itself is missing: these are hints, not requirements.

The git commands are started together as background processes (``PendingSignals``, through
``workspace.git.start``) so they run on another core while Python scans the workspace;
``PendingSignals.result`` collects them.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from kimi_lsp.context.imports import prepare_imports
from kimi_lsp.workspace import git
from kimi_lsp.workspace.index import WorkspaceIndex
from kimi_lsp.workspace.policy import is_secret_path, links_to_secret

__all__ = [
    "Commit",
    "GitSignals",
    "PendingSignals",
    "request_signals",
    "signals",
]

_DIFF_CAP = 2_000_000  # characters; a larger diff is cut, the budget trims it further anyway
_TIMEOUT = 20.0  # seconds for all the commands of one request together
_SEPARATOR = "\x1f"
_DIFF_HEADER = re.compile(r'diff --git "?a/(.*?)"? "?b/(.*?)"?$')


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
    """The working tree diff against HEAD, the paths it touches, and recent commits on the target.

    ``mentions`` are the tracked files whose working-tree text contains the word ``mention``
    (from ``git grep``), or None when that was not asked for or could not be answered.
    """

    diff: str
    changed: tuple[str, ...]
    commits: tuple[Commit, ...]
    mention: str | None = None
    mentions: frozenset[str] | None = None


_EMPTY = GitSignals(diff="", changed=(), commits=())


class PendingSignals:
    """Git commands for one request, running in the background until ``result`` collects them."""

    def __init__(
        self,
        root: Path,
        target_paths: list[str],
        *,
        commit_limit: int = 5,
        list_untracked: bool = True,
        mention: str | None = None,
    ) -> None:
        self.root = root
        self.mention = mention
        self._deadline = time.monotonic() + _TIMEOUT
        self._processes: dict[str, subprocess.Popen[bytes] | None] = {}
        if not git.inside_git(root):
            return
        commands: dict[str, list[str]] = {
            # One diff gives the changed paths (--raw, NUL-separated) and then the patch.
            # --relative and "." keep everything inside the workspace root (a repository subfolder).
            "diff": [
                "diff", "HEAD", "--raw", "-z", "-p", "--no-color", "--no-ext-diff", "--no-textconv", "--relative",
                "--src-prefix=a/", "--dst-prefix=b/", "--", ".",
            ],
        }  # fmt: skip
        if list_untracked:
            commands["untracked"] = ["ls-files", "-z", "--others", "--exclude-standard", "--", "."]
        if target_paths and commit_limit > 0:
            commands["log"] = [
                "log", f"-n{commit_limit}", f"--format=%x1e%h{_SEPARATOR}%an{_SEPARATOR}%ad{_SEPARATOR}%s",
                "--date=short", "--name-only", "--relative", "--", *target_paths,
            ]  # fmt: skip
        if mention:
            # Tracked Python files naming the word; -F: a fixed string, no pattern syntax.
            commands["grep"] = ["grep", "-z", "-l", "-F", "--no-full-name", "-e", mention, "--", "*.py"]
        for name, args in commands.items():
            self._processes[name] = git.start(root, args)

    def _output(self, name: str, ok_codes: tuple[int, ...] = (0,)) -> bytes | None:
        return git.finish(self._processes.get(name), self._deadline, ok_codes)

    def result(self, untracked: Iterable[str] | None = None) -> GitSignals:
        """Wait for the commands; ``untracked`` are the workspace's untracked files when the caller
        knows them already (then the ``list_untracked`` command was not needed)."""
        try:
            return self._collect(untracked)
        finally:
            self.close()

    def _collect(self, untracked: Iterable[str] | None) -> GitSignals:
        if not self._processes:
            return _EMPTY
        diff_out = self._output("diff")
        untracked_out = self._output("untracked")
        log_out = self._output("log")
        grep_out = self._output("grep", ok_codes=(0, 1))  # 1: no file names the word
        mentions = None if grep_out is None else frozenset(git.split_z(grep_out))
        if diff_out is None:
            # No HEAD yet (before the first commit every file is "changed": no signal in that).
            return GitSignals("", (), (), self.mention, mentions)
        names, patch = _split_raw(diff_out)
        if untracked is not None:
            # The caller's untracked files come from its index, which left secret files out already.
            checked, trusted = set(names), set(untracked)
        else:
            checked, trusted = set(names) | set(git.split_z(untracked_out or b"")), set()
        root = str(self.root.resolve())
        changed = sorted({name for name in checked if not _is_secret(root, name)} | trusted)
        diff = _drop_secret_files(patch.decode("utf-8", errors="replace"), root)[:_DIFF_CAP]
        commits = _parse_log(log_out.decode("utf-8", errors="replace")) if log_out else []
        return GitSignals(diff, tuple(changed), tuple(commits), self.mention, mentions)

    def close(self) -> None:
        """Stop whatever still runs (a result that is no longer wanted)."""
        for process in self._processes.values():
            git.stop(process)
        self._processes = {}


def signals(root: Path, target_paths: list[str], commit_limit: int = 5) -> GitSignals:
    """Diff, changed paths (untracked files included) and recent commits, in one call."""
    return PendingSignals(root, target_paths, commit_limit=commit_limit).result()


def _split_raw(out: bytes) -> tuple[list[str], bytes]:
    """The paths of ``git diff --raw -z -p`` output that still exist (no deletions), and the patch.

    Raw records read ``:modes shas STATUS\0path\0`` (two paths for a rename or copy, the new one
    last); a NUL ends the raw part.
    """
    names: list[str] = []
    position = 0
    while out.startswith(b":", position):
        meta_end = out.find(b"\0", position)
        path_end = out.find(b"\0", meta_end + 1) if meta_end >= 0 else -1
        if path_end < 0:
            break
        status = out[position:meta_end].rsplit(b" ", 1)[-1][:1]
        if status in (b"R", b"C"):
            path_start, path_end = path_end + 1, out.find(b"\0", path_end + 1)
            if path_end < 0:
                break
        else:
            path_start = meta_end + 1
        if status != b"D":
            names.append(out[path_start:path_end].decode("utf-8", errors="surrogateescape"))
        position = path_end + 1
    if out.startswith(b"\0", position):
        position += 1
    return names, out[position:]


def _is_secret(root: str, relpath: str) -> bool:
    """``is_secret_path``, and for a link in the working tree also where it leads (git lists no path
    through a folder link, so only the file's own name can be one)."""
    if is_secret_path(relpath):
        return True
    try:
        is_link = os.path.islink(os.path.join(root, relpath))
    except ValueError:  # a NUL in a mangled name
        return False
    return is_link and links_to_secret(root, relpath)


def _drop_secret_files(diff: str, root: str) -> str:
    """``diff`` less the files that are secret by name, or links to a secret file.

    git shows a link as the path it holds, never the linked text; the link's chunk still names a
    secret file, and a textconv driver could show more, so it goes too.
    """
    kept: list[str] = []
    for chunk in re.split(r"(?m)^(?=diff --git )", diff):
        header = chunk.split("\n", 1)[0]
        # Paths with special characters come quoted ("a/x\ty"); the name part still shows a secret.
        match = _DIFF_HEADER.match(header)
        if match and (_is_secret(root, match.group(1)) or _is_secret(root, match.group(2))):
            continue
        kept.append(chunk)
    return "".join(kept)


def _parse_log(out: str) -> list[Commit]:
    commits: list[Commit] = []
    for record in out.split("\x1e"):
        lines = [line for line in record.splitlines() if line.strip()]
        if not lines:
            continue
        fields = lines[0].split(_SEPARATOR)
        if len(fields) != 4:
            continue
        commits.append(Commit(fields[0], fields[1], fields[2], fields[3], tuple(lines[1:])))
    return commits


def request_signals(root: Path, index: WorkspaceIndex, target: str | None) -> GitSignals:
    """Scan the index if it never was, and get the git signals, remembered on the index until a file
    or the repository's state changes.

    The git commands run in the background while the workspace is scanned. On a cold index they
    also ``git grep`` for the target's module name, so finding its importers reads only the files
    that name it (a warm index has every file's text already).
    """
    stamp = _git_stamp(root)
    cached = index.caches.get("git")
    if index.scanned and stamp is not None and cached is not None and cached[0] == (index.generation, stamp, target):
        return cached[1]  # type: ignore[no-any-return]
    mention = None if index.scanned or target is None else _module_word(target)
    cold = not index.scanned
    if cold:
        index.begin_scan()  # first: the scan waits on this listing, the signals are needed later
    try:
        pending = PendingSignals(root, [target] if target else [], list_untracked=False, mention=mention)
    except BaseException:
        index.cancel_scan()
        raise
    try:
        if cold:
            if target is not None and target.endswith(".py"):
                # Parsing the target's imports is the one big piece of work that needs no listing:
                # done now, it fills time the scan would spend waiting for git.
                index.preload(target)
                prepare_imports(index, target)
            index.scan()
    except BaseException:
        index.cancel_scan()
        pending.close()
        raise
    result = pending.result(untracked=index.untracked() if index.is_git else ())
    index.caches["git"] = ((index.generation, stamp, target), result)
    return result


def _module_word(target: str) -> str | None:
    """The last part of the target's dotted module name (what every import of it spells out)."""
    if not target.endswith(".py"):
        return None
    folder, _, name = target[:-3].rpartition("/")
    word = folder.rpartition("/")[2] if name == "__init__" else name
    return word if word.isidentifier() else None


def _git_stamp(root: Path) -> tuple[int, ...] | None:
    """Modification times of the files git rewrites on add, commit, checkout and reset; None outside git."""
    for folder in (root, *root.parents):
        git_dir = folder / ".git"
        if git_dir.is_dir():
            stamp = []
            for name in ("index", "HEAD", "logs/HEAD", "packed-refs"):
                try:
                    stamp.append((git_dir / name).stat().st_mtime_ns)
                except OSError:
                    stamp.append(0)
            return tuple(stamp)
        if git_dir.exists():
            return None  # a worktree's .git file: do not cache
    return None
