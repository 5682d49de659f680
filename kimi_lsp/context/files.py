"""The workspace index: which files the model may see, and their text, kept warm between requests.

Files are the tracked and untracked-not-ignored ones (``git ls-files`` in a repository, a
``.gitignore``-aware walk elsewhere), less binaries, files over the size cap, vendored or generated
folders and secret files. Editor buffers that are not saved yet override the disk. Text and outlines
are cached by (mtime, size), so a server that keeps one index pays for a file once per change.
"""

from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from kimi_lsp.context.ignore import IgnoreRules
from kimi_lsp.context.outline import outline_of
from kimi_lsp.context.secrets import is_secret_path, is_skipped_dir

__all__ = ["DEFAULT_MAX_FILES", "DEFAULT_MAX_FILE_BYTES", "WorkspaceIndex", "is_secret_path"]

DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_FILE_BYTES = 1_000_000
DEFAULT_SCAN_SECONDS = 20.0
_SNIFF_BYTES = 8192
T = TypeVar("T")


@dataclass
class _Entry:
    mtime_ns: int
    size: int
    text: str | None = None
    loaded: bool = False
    binary: bool = False
    lossy: bool = False
    sniffed: bool | None = None  # binary by its first 8 KB, known without loading the whole file
    outline: tuple[str, ...] | None = None
    derived: dict[str, Any] = field(default_factory=dict)


class WorkspaceIndex:
    """The files of one workspace that may go into a prompt, with cached text and outlines.

    ``scan()`` (re)lists the files in bounded time; ``truncated`` and ``warnings`` say when it stopped
    early. ``update``/``remove`` keep it current from editor or watcher events without a rescan.
    """

    def __init__(
        self,
        root: Path | str,
        *,
        max_files: int = DEFAULT_MAX_FILES,
        max_file_bytes: int = DEFAULT_MAX_FILE_BYTES,
        max_scan_seconds: float = DEFAULT_SCAN_SECONDS,
        overlays: Mapping[str, str] | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.max_scan_seconds = max_scan_seconds
        self.truncated = False
        self.warnings: list[str] = []
        self.is_git = False
        self.scanned = False
        self._entries: dict[str, _Entry] = {}
        self._overlays: dict[str, str] = {}
        self._overlay_outlines: dict[str, tuple[str, ...]] = {}
        self._overlay_derived: dict[str, dict[str, Any]] = {}
        self._sorted: list[str] | None = None
        self._rules = IgnoreRules()
        self._folder_ok: dict[str, bool] = {}
        self.generation = 0  # bumped on every change, so callers can cache what they derive from the index
        self.memo: dict[str, Any] = {}  # such caches, keyed by the caller
        for relpath, text in (overlays or {}).items():
            self.set_overlay(relpath, text)

    # --- listing -------------------------------------------------------------------------------

    def scan(self) -> None:
        """List the workspace again, keeping cached text of files whose (mtime, size) did not change."""
        deadline = time.monotonic() + self.max_scan_seconds
        self.truncated = False
        self.warnings = []
        candidates = self._git_files()
        self.is_git = candidates is not None
        if candidates is None:
            candidates = self._walk(deadline)
        old = self._entries
        entries: dict[str, _Entry] = {}
        for count, relpath in enumerate(candidates):
            if len(entries) >= self.max_files:
                self._stop(f"workspace has more than {self.max_files} files; only the first were indexed")
                break
            if count % 256 == 0 and time.monotonic() > deadline:
                self._stop(f"workspace scan stopped after {self.max_scan_seconds:.0f}s; listing is partial")
                break
            if not self._allowed(relpath):
                continue
            info = self._stat(relpath)
            if info is None:
                continue
            previous = old.get(relpath)
            if previous is not None and (previous.mtime_ns, previous.size) == info:
                entries[relpath] = previous
            else:
                entries[relpath] = _Entry(mtime_ns=info[0], size=info[1])
        self._entries = entries
        self._sorted = None
        self.scanned = True
        self.generation += 1

    def files(self) -> list[str]:
        """Workspace-relative POSIX paths of every indexed file (overlay-only files included), sorted.

        Binaries show up here until their first read marks them; use ``text()`` to know for sure.
        """
        if self._sorted is None:
            names = set(self._entries)
            names.update(path for path in self._overlays if self._allowed(path))
            self._sorted = sorted(names)
        return [path for path in self._sorted if not self._known_unreadable(path)]

    def __contains__(self, relpath: object) -> bool:
        return isinstance(relpath, str) and (relpath in self._entries or relpath in self._overlays)

    def size(self, relpath: str) -> int:
        """Size in bytes on disk (or of the overlay text)."""
        if relpath in self._overlays:
            return len(self._overlays[relpath].encode("utf-8", "replace"))
        entry = self._entries.get(relpath)
        return entry.size if entry else 0

    # --- events ----------------------------------------------------------------------------------

    def update(self, relpath: str) -> None:
        """Re-read one file's metadata after it changed on disk (or appeared)."""
        relpath = self._clean(relpath)
        if not self._allowed(relpath):
            return
        if relpath not in self._entries and self._ignored(relpath):
            return
        info = self._stat(relpath)
        if info is None:
            self._entries.pop(relpath, None)
        else:
            previous = self._entries.get(relpath)
            if previous is None or (previous.mtime_ns, previous.size) != info:
                self._entries[relpath] = _Entry(mtime_ns=info[0], size=info[1])
        self._sorted = None
        self.generation += 1

    def remove(self, relpath: str) -> None:
        """Forget a deleted file."""
        self._entries.pop(self._clean(relpath), None)
        self._sorted = None
        self.generation += 1

    def set_overlay(self, relpath: str, text: str) -> None:
        """Use ``text`` (an unsaved editor buffer) instead of the file on disk."""
        relpath = self._clean(relpath)
        self._overlays[relpath] = text
        self._overlay_outlines.pop(relpath, None)
        self._overlay_derived.pop(relpath, None)
        self._sorted = None
        self.generation += 1

    def clear_overlay(self, relpath: str | None = None) -> None:
        """Go back to the disk for ``relpath``, or for every file when it is None."""
        if relpath is None:
            self._overlays.clear()
            self._overlay_outlines.clear()
            self._overlay_derived.clear()
        else:
            relpath = self._clean(relpath)
            self._overlays.pop(relpath, None)
            self._overlay_outlines.pop(relpath, None)
            self._overlay_derived.pop(relpath, None)
        self._sorted = None
        self.generation += 1
        self.generation += 1

    # --- content ---------------------------------------------------------------------------------

    def text(self, relpath: str) -> str | None:
        """The file's text (decoded as UTF-8, bad bytes replaced), or None when it may not be shown.

        None means: not indexed, secret, binary, over the size cap, or vanished.
        """
        if relpath in self._overlays:
            return self._overlays[relpath] if self._allowed(relpath) else None
        entry = self._entries.get(relpath)
        if entry is None:
            return None
        if not entry.loaded:
            self._load(relpath, entry)
        return entry.text

    def is_lossy(self, relpath: str) -> bool:
        """True when the file was not valid UTF-8 and its text holds replacement characters."""
        if relpath in self._overlays:
            return False
        entry = self._entries.get(relpath)
        if entry is None:
            return False
        if not entry.loaded:
            self._load(relpath, entry)
        return entry.lossy

    def is_binary(self, relpath: str) -> bool:
        """True when the file has a NUL byte in its first 8 KB (only those are read, once)."""
        entry = self._entries.get(relpath)
        if entry is None or relpath in self._overlays:
            return False
        if not entry.loaded and entry.sniffed is None:
            try:
                with open(os.path.join(self.root, relpath), "rb") as handle:
                    entry.sniffed = b"\0" in handle.read(_SNIFF_BYTES)
            except OSError:
                entry.sniffed = True  # unreadable: as good as binary for a prompt
        return entry.binary if entry.loaded else bool(entry.sniffed)

    def outline(self, relpath: str, *, fast: bool = False) -> tuple[str, ...]:
        """Compact outline (classes, functions, signatures) of a file, cached with its text.

        ``fast`` trades exact multi-line Python signatures for speed (see ``outline_of``).
        """
        if fast:
            return self.derived(relpath, "outline.fast", lambda text: outline_of(relpath, text, fast=True)) or ()
        if relpath in self._overlays:
            cached = self._overlay_outlines.get(relpath)
            if cached is None:
                cached = outline_of(relpath, self._overlays[relpath])
                self._overlay_outlines[relpath] = cached
            return cached
        entry = self._entries.get(relpath)
        if entry is None:
            return ()
        if entry.outline is None:
            text = self.text(relpath)
            entry.outline = outline_of(relpath, text) if text is not None else ()
        return entry.outline

    def derived(self, relpath: str, key: str, compute: Callable[[str], T]) -> T | None:
        """``compute(text)`` for a file, cached with its text under ``key``; None when it has no text."""
        if relpath in self._overlays:
            cache = self._overlay_derived.setdefault(relpath, {})
        else:
            entry = self._entries.get(relpath)
            if entry is None:
                return None
            cache = entry.derived
        if key in cache:
            return cache[key]  # type: ignore[no-any-return]
        text = self.text(relpath)
        value = compute(text) if text is not None else None
        cache[key] = value
        return value

    # --- internals -------------------------------------------------------------------------------

    def _ignored(self, relpath: str) -> bool:
        """True when a file new to the index is ignored by git (or by the walk's ``.gitignore`` rules)."""
        if self.is_git:
            try:
                completed = subprocess.run(
                    ["git", "check-ignore", "-q", "--", relpath],
                    cwd=self.root,
                    capture_output=True,
                    timeout=10,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired):
                return False
            return completed.returncode == 0
        parts = relpath.split("/")
        folders = ["/".join(parts[:depth]) for depth in range(1, len(parts))]
        return any(self._rules.ignored(folder, True) for folder in folders) or self._rules.ignored(relpath, False)

    def _stop(self, message: str) -> None:
        self.truncated = True
        self.warnings.append(message)

    def _clean(self, relpath: str) -> str:
        relpath = relpath.replace("\\", "/")
        while relpath.startswith("./"):
            relpath = relpath[2:]
        return relpath

    def _allowed(self, relpath: str) -> bool:
        folder, _, name = relpath.rpartition("/")
        if name in ("", ".", ".."):
            return False
        folder_ok = self._folder_ok.get(folder)
        if folder_ok is None:
            parts = folder.split("/") if folder else []
            folder_ok = not any(part in ("", ".", "..") or is_skipped_dir(part) for part in parts)
            self._folder_ok[folder] = folder_ok
        return folder_ok and not is_secret_path(relpath)

    def _known_unreadable(self, relpath: str) -> bool:
        if relpath in self._overlays:
            return False
        entry = self._entries.get(relpath)
        return entry is not None and entry.loaded and entry.text is None

    def _stat(self, relpath: str) -> tuple[int, int] | None:
        """(mtime_ns, size) of a regular file inside the workspace, or None to leave it out."""
        full = os.path.join(self.root, relpath)
        try:
            info = os.lstat(full)
            if stat.S_ISLNK(info.st_mode):
                # A link is followed only when it stays inside the workspace (and is not a loop).
                target = os.path.realpath(full)
                if not target.startswith(str(self.root) + os.sep):
                    return None
                info = os.stat(full)
        except (OSError, ValueError):
            return None
        if not stat.S_ISREG(info.st_mode):
            return None
        return info.st_mtime_ns, info.st_size

    def _load(self, relpath: str, entry: _Entry) -> None:
        entry.loaded = True
        entry.text = None
        if entry.size > self.max_file_bytes:
            return
        try:
            with open(os.path.join(self.root, relpath), "rb") as handle:
                data = handle.read(self.max_file_bytes + 1)
        except OSError:
            return
        if len(data) > self.max_file_bytes:
            return
        if b"\0" in data[:_SNIFF_BYTES]:
            entry.binary = True
            return
        try:
            entry.text = data.decode("utf-8")
        except UnicodeDecodeError:
            entry.text = data.decode("utf-8", errors="replace")
            entry.lossy = True
        if entry.text.startswith("\ufeff"):
            entry.text = entry.text[1:]

    def _git_files(self) -> list[str] | None:
        """Tracked and untracked-not-ignored files from git, or None when this is not a repository."""
        if not (self.root / ".git").exists() and not _inside_git(self.root):
            return None
        try:
            completed = subprocess.run(
                [
                    "git",
                    "-c",
                    "core.quotepath=off",
                    "ls-files",
                    "-z",
                    "--cached",
                    "--others",
                    "--exclude-standard",
                ],
                cwd=self.root,
                capture_output=True,
                timeout=self.max_scan_seconds,
                check=False,
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        if completed.returncode != 0:
            return None
        names = completed.stdout.decode("utf-8", errors="surrogateescape").split("\0")
        # --cached lists a file once per merge stage during a conflict; keep one of each.
        return list(dict.fromkeys(name for name in names if name))

    def _walk(self, deadline: float) -> list[str]:
        """A ``.gitignore``-aware walk that never follows folder links (so link loops cannot trap it)."""
        rules = IgnoreRules()
        self._rules = rules
        found: list[str] = []
        stack: list[str] = [""]
        while stack:
            if time.monotonic() > deadline:
                self._stop(f"workspace scan stopped after {self.max_scan_seconds:.0f}s; listing is partial")
                break
            if len(found) > self.max_files:
                break  # scan() reports the truncation
            folder = stack.pop()
            full = os.path.join(self.root, folder) if folder else str(self.root)
            ignore_file = os.path.join(full, ".gitignore")
            try:
                with open(ignore_file, encoding="utf-8", errors="replace") as handle:
                    rules.add_file(folder, handle.read())
            except OSError:
                pass
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
                    if is_skipped_dir(child.name) or rules.ignored(relpath, True):
                        continue
                    subfolders.append(relpath)
                elif not rules.ignored(relpath, False):
                    found.append(relpath)
            stack.extend(reversed(subfolders))
        return found


def _inside_git(root: Path) -> bool:
    return any((parent / ".git").exists() for parent in root.parents)
