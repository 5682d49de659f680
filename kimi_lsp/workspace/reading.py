"""Reading workspace files without being fooled: regular files only, no link swapped in, no waiting, no bloat.

A path is resolved (``paths.resolve_in_root``) before it is read, but what it names can change in between:
a test may swap a file for a link to ``/etc/shadow`` or for a FIFO. So every read opens without following a
final link and without blocking, checks on the open descriptor that it is a regular file, and checks where
the descriptor really is (``/proc/self/fd``) rather than trusting the name. Reads stream: a window of a
huge file costs a window's worth of memory, and whole-file reads (for editing) have a size cap.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.policy import is_secret_path, links_to_secret
from kimi_lsp.workspace.redact import KEY_MARK, KeyBlockTracker

__all__ = [
    "EDIT_MAX_BYTES",
    "LineWindow",
    "binary_by_name",
    "decode_text",
    "open_confined",
    "read_lines",
    "read_listed",
    "read_regular",
    "read_text",
    "sniff_binary",
]

EDIT_MAX_BYTES = 8 * 1024 * 1024  # larger files are not text the model should rewrite whole
SNIFF_BYTES = 8192
_CHUNK = 1 << 20
_LEAD = 4096  # bytes of a line searched for a key block's BEGIN or END
COUNT_MAX_BYTES = 32 * 1024 * 1024  # past the window, lines are counted this far into a file and no further
_FLAGS = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


@contextmanager
def open_confined(root: Path, path: Path, rel: str, *, allow_secret: bool = False) -> Iterator[BinaryIO]:
    """Open ``path`` (inside ``root``; links on the way are followed) for reading, or raise :class:`ToolError`.

    Refused: missing files, folders, FIFOs, sockets and devices, a path that became a link since its links
    were followed, a descriptor that lies outside ``root`` or on a secret file.
    """
    try:
        fd = os.open(os.path.realpath(path), _FLAGS)
    except FileNotFoundError:
        raise ToolError(f"{rel} does not exist; use Glob to find the right path") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise ToolError(f"{rel} changed into a symlink while it was being read; it was not read") from None
        if exc.errno in (errno.ENXIO, errno.EOPNOTSUPP):
            raise ToolError(f"{rel} is not a regular file (a socket or device); only regular files are read") from None
        raise ToolError(f"{rel} cannot be read: {exc.strerror}") from None
    try:
        _check_descriptor(fd, root, rel, allow_secret)
        handle = os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise
    with handle:
        yield handle


def _check_descriptor(fd: int, root: Path, rel: str, allow_secret: bool) -> None:
    mode = os.fstat(fd).st_mode
    if stat.S_ISDIR(mode):
        raise ToolError(f"{rel} is a directory; use Glob to list files in it")
    if not stat.S_ISREG(mode):
        raise ToolError(f"{rel} is not a regular file (a FIFO, socket or device); only regular files are read")
    if os.fstat(fd).st_nlink > 1:
        # A hard link made inside the shadow may share its bytes with any file outside it.
        raise ToolError(f"{rel} is a hard link (it has other names, maybe outside the workspace); it is not read")
    try:
        real = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return  # no /proc (not Linux): the no-follow open is the check
    real_root = os.path.realpath(root)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise ToolError(f"{rel} changed while it was being opened and now leads outside the workspace; not read")
    if not allow_secret and is_secret_path(os.path.relpath(real, real_root)):
        raise ToolError(f"{rel} now leads to a secret file (keys, credentials, .env); its contents are withheld")


def sniff_binary(handle: BinaryIO) -> bool:
    """True when the file's first 8 KB hold a NUL byte (as git judges); the handle is left at the start."""
    head = handle.read(SNIFF_BYTES)
    handle.seek(0)
    return b"\x00" in head


def read_text(root: Path, path: Path, rel: str, *, max_bytes: int = EDIT_MAX_BYTES) -> str:
    """The whole file as text, for editing: refused when binary, not UTF-8, or over ``max_bytes``."""
    with open_confined(root, path, rel) as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > max_bytes:
            raise ToolError(
                f"{rel} is {size:,} bytes, over the {max_bytes:,}-byte limit for editing as text; "
                "read parts of it with ReadFile (line_offset, n_lines)"
            )
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise ToolError(f"{rel} grew past the {max_bytes:,}-byte limit for editing as text while it was read")
    if b"\x00" in data[:SNIFF_BYTES]:
        raise ToolError(f"{rel} is a binary file; it cannot be shown or edited as text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ToolError(f"{rel} is not UTF-8 text; it cannot be edited as text") from None


@dataclass
class LineWindow:
    """Lines ``first``.. of a file (LF-normalised, each cut at ``keep`` characters) and facts about the rest."""

    lines: list[tuple[int, str, int]]  # (line number, text shown, full length in characters)
    total: int | None  # lines in the whole file; None when it was too big to count
    lossy: bool  # some shown bytes were not UTF-8 and were replaced


def read_lines(handle: BinaryIO, first: int, count: int, *, keep: int) -> LineWindow:
    """Stream the file once: keep lines ``first`` to ``first + count - 1`` (at most ``keep`` characters of
    each) and count every line. Memory stays at one chunk plus the kept lines, whatever the file's size.

    Lines inside a private key block are shown as a mark, also when the window starts inside the block.
    """
    last = first + count - 1
    kept: list[tuple[int, str, int]] = []
    keys = KeyBlockTracker()
    number = 1  # the line the next byte belongs to
    head = bytearray()  # the current line's first bytes: all that is kept of it
    length = 0
    ended_with_newline = True
    lossy = False
    limit = max(keep * 4 + 1, _LEAD)  # bytes worth keeping of a line: up to 4 bytes a character, plus a CR
    tail = b""
    counted = 0

    def end_line() -> None:
        nonlocal lossy
        secret = keys.feed(bytes(head).decode("utf-8", errors="replace"))
        if not first <= number <= last:
            return
        raw, size = bytes(head), length
        if raw.endswith(b"\r"):
            raw, size = raw[:-1], size - 1
        text = KEY_MARK if secret else raw.decode("utf-8", errors="replace")
        lossy = lossy or ("\ufffd" in text and "\ufffd".encode() not in raw)
        kept.append((number, text[:keep], max(size, len(text))))

    while chunk := handle.read(_CHUNK):
        counted = counted + len(chunk) if number > last else 0  # bytes read past the window
        if counted > COUNT_MAX_BYTES:
            return LineWindow(kept, None, lossy)  # a sparse terabyte, or a file still growing: stop counting
        ended_with_newline = chunk.endswith(b"\n")
        newlines = chunk.count(b"\n")
        quiet = b"PRIVATE KEY" not in tail + chunk
        tail = chunk[-_LEAD:]
        if quiet and (number > last or number + newlines < first):
            # Nothing here is shown and no key starts or ends here: count the lines and move on.
            if newlines:
                head.clear()
                number += newlines
                length = len(chunk) - chunk.rfind(b"\n") - 1
                head += chunk[chunk.rfind(b"\n") + 1 :][:limit]
            else:
                length += len(chunk)
                if len(head) < limit:
                    head += chunk[: limit - len(head)]
            continue
        start = 0
        while True:
            end = chunk.find(b"\n", start)
            piece = chunk[start:] if end < 0 else chunk[start:end]
            if len(head) < limit:
                head += piece[: limit - len(head)]
            length += len(piece)
            if end < 0:
                break
            end_line()
            number += 1
            head.clear()
            length = 0
            start = end + 1
    if not ended_with_newline:
        end_line()
    total = number - 1 if ended_with_newline else number
    return LineWindow(kept, total, lossy)


# Suffixes whose files are text or binary by what they are; other files are sniffed for a NUL byte.
# Used only to leave binaries out of listings without reading thousands of files: what goes into the
# prompt as text is always checked on its bytes.
_TEXT_SUFFIXES = frozenset(
    "py pyi pyx pxd py-tpl txt md rst html htm js mjs cjs jsx ts tsx css scss less json toml yaml yml "
    "cfg ini xml svg po pot csv tsv sql sh bash zsh go rs java kt kts scala cs swift c h cc cpp hpp rb "
    "php lua pl r jl vue kml".split()
)
_BINARY_SUFFIXES = frozenset(
    "mo png jpg jpeg gif bmp ico webp tif tiff psd woff woff2 ttf otf eot pdf zip gz tgz bz2 xz zst 7z "
    "rar jar war whl egg pyc pyo so dylib dll exe o a lib class wasm db sqlite sqlite3 mp3 mp4 wav ogg "
    "flac avi mov mkv webm bin dat pkl pickle npy npz".split()
)


def binary_by_name(relpath: str) -> bool | None:
    """True or False when the file's suffix says clearly (``.png``; ``.py``), None when only its bytes can."""
    name = relpath.rpartition("/")[2]
    dot = name.rfind(".")
    if dot <= 0:
        return None
    suffix = name[dot + 1 :].lower()
    if suffix in _TEXT_SUFFIXES:
        return False
    return True if suffix in _BINARY_SUFFIXES else None


def read_regular(path: str, limit: int, extra_flags: int = 0) -> bytes | None:
    """Up to ``limit`` bytes of ``path``; None when it is not a regular file. Opened without blocking, so
    a FIFO swapped in after a listing cannot hang the reader; judged on the descriptor, not the name."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | extra_flags)
    with os.fdopen(fd, "rb") as handle:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return handle.read(limit)


def read_listed(root: str, relpath: str, limit: int) -> bytes | None:
    """Up to ``limit`` bytes of a listed file; None when it cannot be read, is no longer a regular file, or
    is a link that leads outside ``root`` or to a secret file."""
    full = os.path.join(root, relpath)
    try:
        return read_regular(full, limit, getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        if exc.errno != errno.ELOOP:
            return None
    # The name is a link (or a loop): judged on where it leads before it is read.
    if links_to_secret(root, relpath):
        return None
    try:
        return read_regular(full, limit)
    except OSError:
        return None


def decode_text(data: bytes) -> tuple[str | None, bool, bool]:
    """(text, binary, lossy) for a file's bytes: None and binary when a NUL is in the first 8 KB; undecodable
    bytes replaced (lossy) otherwise; a leading byte-order mark dropped."""
    if b"\x00" in data[:SNIFF_BYTES]:
        return None, True, False
    try:
        text, lossy = data.decode("utf-8"), False
    except UnicodeDecodeError:
        text, lossy = data.decode("utf-8", errors="replace"), True
    return text.removeprefix("\ufeff"), False, lossy
