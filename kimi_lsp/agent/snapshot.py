"""What a shadow workspace started with, and the diff of the model's work against it.

A :class:`Snapshot` keeps, for every file laid down in the shadow, the bytes written and the copy's stamp
as written; :meth:`Snapshot.diff` compares the shadow as it is now with them. Making the copy is
``shadow.py``'s business; this module only answers "what changed since".
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from kimi_lsp.agent.unidiff import file_diff, is_binary
from kimi_lsp.errors import ToolError
from kimi_lsp.workspace import git
from kimi_lsp.workspace.paths import is_plain_relpath
from kimi_lsp.workspace.policy import LINKED_DIRS, is_never_copied_dir, is_secret_path
from kimi_lsp.workspace.reading import open_confined

__all__ = ["FileChange", "Original", "ShadowDiff", "Snapshot", "is_heavy_dir"]

# Files a test run leaves behind; never part of the result.
_JUNK_SUFFIXES = (".pyc", ".pyo")
_JUNK_NAMES = frozenset({".coverage", ".DS_Store"})


@dataclass(frozen=True)
class FileChange:
    """One file's change: ``old_text`` None = created, ``new_text`` None = deleted; binary = no text."""

    path: str
    old_text: str | None
    new_text: str | None
    binary: bool = False


@dataclass(frozen=True)
class ShadowDiff:
    """The shadow's changes against its snapshot, as one git-style diff and per file."""

    unified: str
    changes: list[FileChange]
    refused: list[str] = field(default_factory=list)  # changed into what no result may carry (a link out, ...)

    @property
    def files(self) -> list[str]:
        return [change.path for change in self.changes]


@dataclass(frozen=True)
class Original:
    """One file as the shadow laid it down: its bytes (overlay text included), mode and stamp."""

    data: bytes
    mode: int
    # The shadow copy's (inode, size, ctime) as written. ctime moves on every write and no process can set it
    # back (unlike mtime), so a file with the same stamp still holds ``data``: no need to read it again.
    stamp: tuple[int, int, int] = (0, 0, 0)

    @classmethod
    def written(cls, path: Path, data: bytes, mode: int) -> Original:
        """The record of ``data`` just written at ``path`` (stamped now)."""
        info = os.lstat(path)
        return cls(data, mode, (info.st_ino, info.st_size, info.st_ctime_ns))

    def unchanged_at(self, path: Path) -> bool:
        """True when ``path`` is still the regular file the shadow wrote, untouched since (by its stamp)."""
        try:
            info = os.lstat(path)
        except OSError:
            return False
        stamp = (info.st_ino, info.st_size, info.st_ctime_ns)
        return stat.S_ISREG(info.st_mode) and info.st_nlink == 1 and stamp == self.stamp


def is_heavy_dir(name: str) -> bool:
    """Folders the shadow does not walk: those it never copies and those it links instead."""
    return name in LINKED_DIRS or is_never_copied_dir(name)


class _Refused:
    """What ``Snapshot._read_current`` gives for a path whose content must not leave the shadow."""


_REFUSED = _Refused()


class Snapshot:
    """The files a shadow at ``root`` started with; ``git_dir`` (the user's) judges which new files are ignored."""

    def __init__(self, root: Path, git_dir: Path, originals: dict[str, Original]) -> None:
        self.root = root
        self._git_dir = git_dir
        self._originals = originals

    def paths(self) -> list[str]:
        """The workspace-relative files the shadow started with."""
        return sorted(self._originals)

    def original(self, relpath: str) -> bytes | None:
        """What ``relpath`` held when the shadow was made (None: it did not exist)."""
        entry = self._originals.get(relpath)
        return entry.data if entry else None

    def changed_bytes(self) -> tuple[dict[str, tuple[bytes | None, bytes | None]], list[str]]:
        """``relpath -> (old, new)`` for every file the shadow changed, created or deleted; and the paths that
        changed into something whose content must not leave the shadow (reported, never carried)."""
        changed: dict[str, tuple[bytes | None, bytes | None]] = {}
        refused: list[str] = []
        for rel in [*self._originals, *self._new_files()]:
            entry = self._originals.get(rel)
            if entry is not None and entry.unchanged_at(self.root / rel):
                continue
            current = self._read_current(rel)
            if isinstance(current, _Refused):
                refused.append(rel)
            elif current != (entry.data if entry else None):
                changed[rel] = (entry.data if entry else None, current)
        return dict(sorted(changed.items())), sorted(refused)

    def diff(self) -> ShadowDiff:
        """The shadow's work so far as one git-style unified diff plus a per-file list."""
        parts: list[str] = []
        changes: list[FileChange] = []
        changed, refused = self.changed_bytes()
        for rel, (old, new) in changed.items():
            entry = self._originals.get(rel)
            mode = entry.mode if entry is not None else (self.root / rel).stat().st_mode
            parts.append(file_diff(rel, old, new, mode="100755" if mode & 0o111 else "100644"))
            binary = is_binary(old or b"") or is_binary(new or b"")
            changes.append(
                FileChange(
                    rel,
                    None if old is None or binary else old.decode("utf-8"),
                    None if new is None or binary else new.decode("utf-8"),
                    binary,
                )
            )
        return ShadowDiff("".join(parts), changes, refused)

    def _current_files(self) -> Iterator[str]:
        for dirpath, dirnames, filenames in os.walk(self.root):
            base = Path(dirpath).relative_to(self.root)
            dirnames[:] = [d for d in dirnames if not is_heavy_dir(d) and not os.path.islink(os.path.join(dirpath, d))]
            for name in filenames:
                rel = (base / name).as_posix()
                if os.path.islink(os.path.join(dirpath, name)) and rel not in self._originals:
                    continue
                yield rel

    def _new_files(self) -> list[str]:
        candidates = [
            rel
            for rel in self._current_files()
            if rel not in self._originals and not _is_junk(rel) and not is_secret_path(rel) and is_plain_relpath(rel)
        ]
        return sorted(set(candidates) - set(git.ignored(self.root, self._git_dir, candidates)))

    def _read_current(self, rel: str) -> bytes | _Refused | None:
        """The file's bytes now; None when it is gone; ``_REFUSED`` when it became something a result must not
        carry (a link or hard link to a file outside, a FIFO): a test may have made it, the model never can."""
        path = self.root / rel
        if not os.path.lexists(path):
            return None
        try:
            with open_confined(self.root, path, rel, allow_secret=True) as handle:
                return handle.read()
        except ToolError:
            return _REFUSED


def _is_junk(rel: str) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return name.endswith(_JUNK_SUFFIXES) or name in _JUNK_NAMES or name.startswith(".coverage.")
