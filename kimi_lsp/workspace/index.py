"""The workspace index: which files the model may see, and their text, kept warm between requests.

Files are the tracked and untracked-not-ignored ones (``git ls-files`` in a repository, a
``.gitignore``-aware walk elsewhere), less binaries, files over the size cap, vendored or generated
folders and secret files. Editor buffers that are not saved yet override the disk. Text and outlines
are cached by (mtime, size), so a server that keeps one index pays for a file once per change.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Generator, Iterable, Mapping
from pathlib import Path
from stat import S_ISLNK, S_ISREG
from typing import Any, TypeVar

from kimi_lsp.context.outline import outline_of
from kimi_lsp.workspace import git
from kimi_lsp.workspace.ignore import IgnoreRules
from kimi_lsp.workspace.indexed_file import IndexedFile
from kimi_lsp.workspace.listing import GitListing, walk
from kimi_lsp.workspace.policy import ShownPaths, links_to_secret
from kimi_lsp.workspace.reading import binary_by_name
from kimi_lsp.workspace.redact import mask_keys

__all__ = ["DEFAULT_MAX_FILES", "DEFAULT_MAX_FILE_BYTES", "WorkspaceIndex"]

DEFAULT_MAX_FILES = 50_000
DEFAULT_MAX_FILE_BYTES = 1_000_000
DEFAULT_SCAN_SECONDS = 20.0
T = TypeVar("T")
_LEADING_DOT_SLASH = re.compile(r"^(?:\./)+")


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
        self._prefix = str(self.root).rstrip(os.sep) + os.sep  # root + "/" + relpath is the full path
        self.max_files = max_files
        self.max_file_bytes = max_file_bytes
        self.max_scan_seconds = max_scan_seconds
        self.truncated = False
        self.warnings: list[str] = []
        self.is_git = False
        self.scanned = False
        self._entries: dict[str, IndexedFile] = {}
        self._tracked: frozenset[str] = frozenset()  # what git tracks (empty outside a repository)
        self._overlays: dict[str, str] = {}
        self._overlay_derived: dict[str, dict[str, Any]] = {}
        self._sorted: list[str] | None = None
        self._listing: tuple[tuple[int, int], list[str]] | None = None
        self._listable: tuple[tuple[int, int], list[str]] | None = None
        self._loads = 0
        self._pending: GitListing | None = None  # a listing begun before ``scan`` collects it
        self._rules = IgnoreRules()
        self._allowed = ShownPaths().allowed
        self.generation = 0  # bumped on every change, so callers can cache what they derive from the index
        self.caches: dict[str, Any] = {}  # what callers derive from the index (the map, git signals), by name
        for relpath, text in (overlays or {}).items():
            self.set_overlay(relpath, text)

    # --- listing -------------------------------------------------------------------------------

    def begin_scan(self) -> None:
        """Start git listing the workspace in the background, for the next ``scan`` to collect.

        The caller may do other work meanwhile (``preload`` the file it needs first); ``cancel_scan``
        stops the listing when no scan follows.
        """
        self.cancel_scan()
        self._pending = GitListing.start(self.root)

    def cancel_scan(self) -> None:
        """Stop a listing ``begin_scan`` started that no ``scan`` collected."""
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.cancel()

    def preload(self, relpath: str) -> None:
        """Read one file before the first scan, so work on it can overlap the listing.

        The scan keeps it when it lists the file with the same (mtime, size), and drops it when it
        does not list it (ignored by git, say). Files that may not be indexed are not read.
        """
        if self.scanned or relpath in self._entries or relpath in self._overlays or not self._allowed(relpath):
            return
        info = self._stat(relpath)
        if info is not None:
            entry = IndexedFile(info[0], info[1])
            self._entries[relpath] = entry
            self._load(relpath, entry)

    def scan(self) -> None:
        """List the workspace again, keeping cached text of files whose (mtime, size) did not change."""
        deadline = time.monotonic() + self.max_scan_seconds
        self.truncated = False
        self.warnings = []
        listing, self._pending = self._pending or GitListing.start(self.root), None
        candidates: Iterable[str] | None = listing.names(deadline, self.warnings) if listing else None
        self._tracked = listing.tracked if listing is not None and candidates is not None else frozenset()
        self.is_git = candidates is not None
        if candidates is None:
            self._rules = IgnoreRules()
            candidates, complete = walk(self.root, deadline, max_files=self.max_files, rules=self._rules)
            if not complete:
                self._stop(f"workspace scan stopped after {self.max_scan_seconds:.0f}s; listing is partial")
        old = self._entries
        entries: dict[str, IndexedFile] = {}
        allowed, stat_of, max_files = self._allowed, self._stat, self.max_files
        prefix, lstat = self._prefix, os.lstat
        for count, relpath in enumerate(candidates):
            if len(entries) >= max_files:
                self._stop(f"workspace has more than {max_files} files; only the first were indexed")
                break
            if count & 255 == 0 and time.monotonic() > deadline:
                self._stop(f"workspace scan stopped after {self.max_scan_seconds:.0f}s; listing is partial")
                break
            if not allowed(relpath):
                continue
            # ``_stat`` inlined for the usual regular file (thousands of calls); links go through it.
            try:
                info = lstat(prefix + relpath)
            except (OSError, ValueError):
                continue
            if S_ISREG(info.st_mode):
                mtime_ns, size = info.st_mtime_ns, info.st_size
            elif S_ISLNK(info.st_mode):
                linked = stat_of(relpath)
                if linked is None:
                    continue
                mtime_ns, size = linked
            else:
                continue
            previous = old.get(relpath)
            if previous is not None and previous.mtime_ns == mtime_ns and previous.size == size:
                entries[relpath] = previous
            else:
                entries[relpath] = IndexedFile(mtime_ns, size)
        if isinstance(candidates, Generator):
            candidates.close()
        self._entries = entries
        self._sorted = None
        self.scanned = True
        self.generation += 1

    @property
    def listing_stamp(self) -> tuple[int, int]:
        """Changes whenever ``files()``, ``listable()``, a text or an outline may answer differently:
        a key for caches of what callers derive from them."""
        return (self.generation, self._loads)

    def files(self) -> list[str]:
        """Workspace-relative POSIX paths of every indexed file (overlay-only files included), sorted.

        Binaries show up here until their first read marks them; use ``text()`` to know for sure.
        """
        key = self.listing_stamp
        if self._listing is not None and self._listing[0] == key:
            return list(self._listing[1])
        if self._sorted is None:
            names = set(self._entries)
            names.update(path for path in self._overlays if self._overlay_visible(path))
            self._sorted = sorted(names)
        listing = [path for path in self._sorted if not self._known_unreadable(path)]
        # Reused until the index changes or a file is read (a read can find a file unreadable).
        self._listing = (key, listing)
        return list(listing)

    def listable(self) -> list[str]:
        """``files()`` less those ``looks_binary`` rules out: what a repository map may list (memoized)."""
        key = self.listing_stamp
        if self._listable is None or self._listable[0] != key:
            self._listable = (key, [path for path in self.files() if not self.looks_binary(path)])
        return list(self._listable[1])

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
                self._entries[relpath] = IndexedFile(mtime_ns=info[0], size=info[1])
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
        self._overlay_derived.pop(relpath, None)
        self._sorted = None
        self.generation += 1

    def clear_overlay(self, relpath: str | None = None) -> None:
        """Go back to the disk for ``relpath``, or for every file when it is None."""
        if relpath is None:
            self._overlays.clear()
            self._overlay_derived.clear()
        else:
            relpath = self._clean(relpath)
            self._overlays.pop(relpath, None)
            self._overlay_derived.pop(relpath, None)
        self._sorted = None
        self.generation += 1

    # --- content ---------------------------------------------------------------------------------

    def text(self, relpath: str) -> str | None:
        """The file's text (decoded as UTF-8, bad bytes replaced), or None when it may not be shown.

        None means: not indexed, secret, binary, over the size cap, or vanished.
        """
        if relpath in self._overlays:
            return mask_keys(self._overlays[relpath]) if self._overlay_visible(relpath) else None
        entry = self._loaded(relpath)
        return entry.text if entry is not None else None

    def is_lossy(self, relpath: str) -> bool:
        """True when the file was not valid UTF-8 and its text holds replacement characters."""
        entry = self._loaded(relpath)
        return entry is not None and entry.lossy

    def is_binary(self, relpath: str) -> bool:
        """True when the file has a NUL byte in its first 8 KB (only those are read, once)."""
        entry = self._on_disk(relpath)
        return entry is not None and entry.is_binary(str(self.root), relpath)

    def looks_binary(self, relpath: str) -> bool:
        """``is_binary`` for listings: decided by the name alone when it says clearly (``.png``,
        ``.mo``; ``.py``, ``.txt``), so a listing of thousands of files reads none of them.

        Files already read answer from their bytes; anything shown as text is always checked on them.
        """
        entry = self._on_disk(relpath)
        if entry is None:
            return False
        if entry.loaded:
            return entry.binary
        by_name = binary_by_name(relpath)
        return self.is_binary(relpath) if by_name is None else by_name

    def untracked(self) -> list[str]:
        """Indexed files that git does not track (all of them outside a repository), sorted."""
        return sorted(path for path in self._entries if path not in self._tracked)

    def tracked_on_disk(self, relpath: str) -> bool:
        """True when git tracks ``relpath`` and no editor overlay replaces its text (so what git
        reads of the working tree is what this index shows)."""
        return relpath in self._tracked and relpath not in self._overlays

    def outline(self, relpath: str, *, fast: bool = False) -> tuple[str, ...]:
        """Compact outline (classes, functions, signatures) of a file, cached with its text.

        ``fast`` trades exact multi-line Python signatures for speed (see ``outline_of``).
        """
        key = "outline.fast" if fast else "outline"
        return self.derived(relpath, key, lambda text: outline_of(relpath, text, fast=fast)) or ()

    def derived(self, relpath: str, key: str, compute: Callable[[str], T]) -> T | None:
        """``compute(text)`` for a file, cached with its text under ``key``; None when it has no text."""
        if relpath in self._overlays:
            cache = self._overlay_derived.setdefault(relpath, {})
        else:
            entry = self._entries.get(relpath)
            if entry is None:
                return None
            if entry.derived is None:
                entry.derived = {}
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
        if self.is_git:  # check-ignore exits 0 when the path is ignored
            return (
                git.finish(git.start(self.root, ["check-ignore", "-q", "--", relpath]), time.monotonic() + 10)
                is not None
            )
        parts = relpath.split("/")
        folders = ["/".join(parts[:depth]) for depth in range(1, len(parts))]
        return any(self._rules.ignored(folder, True) for folder in folders) or self._rules.ignored(relpath, False)

    def _stop(self, message: str) -> None:
        self.truncated = True
        self.warnings.append(message)

    def _clean(self, relpath: str) -> str:
        return _LEADING_DOT_SLASH.sub("", relpath.replace("\\", "/"))

    def _known_unreadable(self, relpath: str) -> bool:
        entry = self._on_disk(relpath)
        return entry is not None and entry.unreadable

    def _on_disk(self, relpath: str) -> IndexedFile | None:
        """The entry of a file whose text comes from the disk (None: not indexed, or an overlay replaces it)."""
        return None if relpath in self._overlays else self._entries.get(relpath)

    def _loaded(self, relpath: str) -> IndexedFile | None:
        """``_on_disk``'s entry with its text read."""
        entry = self._on_disk(relpath)
        if entry is not None and not entry.loaded:
            self._load(relpath, entry)
        return entry

    def _stat(self, relpath: str) -> tuple[int, int] | None:
        """(mtime_ns, size) of a regular file inside the workspace, or None to leave it out."""
        full = self._prefix + relpath
        try:
            # A link (the file's own, or a folder's on the way) is followed only when it stays inside
            # the workspace, is not a loop, and does not lead to a secret file under another name.
            # The scan lists no path through a folder link; ``update`` and ``preload`` may get one.
            if links_to_secret(str(self.root), relpath):
                return None
            info = os.stat(full)
        except (OSError, ValueError):
            return None
        if not S_ISREG(info.st_mode):
            return None
        return info.st_mtime_ns, info.st_size

    def _overlay_visible(self, relpath: str) -> bool:
        # An editor buffer of a link shows the linked file's text: a link to a secret hides it too.
        return self._allowed(relpath) and not links_to_secret(str(self.root), relpath)

    def _load(self, relpath: str, entry: IndexedFile) -> None:
        self._loads += 1
        entry.load(str(self.root), relpath, self.max_file_bytes)
