"""One file of the workspace index: what the listing saw of it, and what reading it found, read once.

:class:`~kimi_lsp.workspace.index.WorkspaceIndex` keeps one :class:`IndexedFile` per listed file and makes a
new one when the file's (mtime, size) moves; this module decides how a listed file is read: judged again as
it is read (it may have changed since it was listed), left out over the size cap, its keys masked, and
sniffed for binary from its first bytes alone when a listing needs no more.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kimi_lsp.workspace.reading import SNIFF_BYTES, decode_text, read_listed
from kimi_lsp.workspace.redact import mask_keys

__all__ = ["IndexedFile"]


@dataclass(slots=True)
class IndexedFile:
    """A listed file's (mtime, size), and once read, its text (None: may not be shown) and what it is."""

    mtime_ns: int
    size: int
    text: str | None = None
    loaded: bool = False
    binary: bool = False
    lossy: bool = False
    sniffed: bool | None = None  # binary by its first 8 KB, known without loading the whole file
    derived: dict[str, Any] | None = None  # made on first use: most files never need one

    @property
    def unreadable(self) -> bool:
        """True once a read found nothing to show (binary, over the cap, vanished, refused)."""
        return self.loaded and self.text is None

    def load(self, root: str, relpath: str, max_bytes: int) -> None:
        """Read the file's text (bad bytes replaced, keys masked); none when it holds over ``max_bytes``."""
        self.loaded = True
        self.text = None
        if self.size > max_bytes:
            return
        data = read_listed(root, relpath, max_bytes + 1)
        if data is None or len(data) > max_bytes:
            return
        text, self.binary, self.lossy = decode_text(data)
        self.text = mask_keys(text)

    def is_binary(self, root: str, relpath: str) -> bool:
        """True when the file has a NUL byte in its first 8 KB (only those are read, once, if not loaded)."""
        if self.loaded:
            return self.binary
        if self.sniffed is None:
            data = read_listed(root, relpath, SNIFF_BYTES)
            self.sniffed = data is None or b"\0" in data  # unreadable: as good as binary for a prompt
        return self.sniffed
