"""Workspace text as the tools edit it: line endings kept, modes kept on write, walks that skip hidden folders."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from pathlib import Path

from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.paths import is_plain_relpath


def cut_middle(text: str, head: int, tail: int) -> str:
    """``text`` with its middle cut out when longer than ``head + tail`` characters, saying how much went."""
    if len(text) <= head + tail:
        return text
    omitted = len(text) - head - tail
    return f"{text[:head]}\n... [{omitted} characters omitted] ...\n{text[-tail:] if tail else ''}"


def eol_of(text: str) -> str:
    """The file's dominant line ending."""
    return "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"


def to_lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def from_lf(text: str, eol: str) -> str:
    return text.replace("\n", eol) if eol != "\n" else text


def _endings(text: str) -> tuple[list[str], list[str]]:
    """``text`` split into LF-normalised lines and the ending that followed each (the last has none)."""
    pieces = text.split("\n")
    lines: list[str] = []
    endings: list[str] = []
    for piece in pieces[:-1]:
        if piece.endswith("\r"):
            lines.append(piece[:-1])
            endings.append("\r\n")
        else:
            lines.append(piece)
            endings.append("\n")
    lines.append(pieces[-1])
    return lines, endings


def with_endings_of(original: str, new_lf: str) -> str:
    """``new_lf`` (LF endings) written back with ``original``'s line endings.

    Lines before and after the changed region keep the ending each had (a mixed file stays mixed there);
    lines inside it get the file's dominant ending.
    """
    old_lines, old_endings = _endings(original)
    new_lines = new_lf.split("\n")
    limit = min(len(old_lines), len(new_lines))
    prefix = 0
    while prefix < limit - 1 and old_lines[prefix] == new_lines[prefix]:
        prefix += 1
    suffix = 0
    while suffix < limit - prefix and old_lines[-1 - suffix] == new_lines[-1 - suffix]:
        suffix += 1
    eol = eol_of(original)
    shift = len(old_lines) - len(new_lines)
    out: list[str] = []
    last = len(new_lines) - 1
    for index, line in enumerate(new_lines):
        out.append(line)
        if index == last:
            break
        if index < prefix:
            out.append(old_endings[index])
        elif index >= len(new_lines) - suffix:
            out.append(old_endings[index + shift])
        else:
            out.append(eol)
    return "".join(out)


def write_confined(root: Path, rel: str, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``root``/``rel`` (a plain relative path), or raise :class:`ToolError`.

    Folders on the way are opened one by one without following links (created when missing), and the file is
    written to a temporary name and renamed over the old one: no link or hard link a test left behind, nor a
    folder swapped for a link mid-way, can carry the write outside ``root``, and a crash leaves the old file
    whole. The old file's mode is kept (``mode``, else 0644, for a new one). A link at ``rel`` itself is refused.
    """
    parts = rel.split("/")
    if not is_plain_relpath(rel) or any(part in ("", ".") for part in parts):
        raise ToolError(f"'{rel}' is not a plain relative path; nothing was written")
    folder = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in parts[:-1]:
            child = _enter(folder, part, rel)
            os.close(folder)
            folder = child
        name = parts[-1]
        try:
            old = os.stat(name, dir_fd=folder, follow_symlinks=False)
        except FileNotFoundError:
            old = None
        if old is not None and not stat.S_ISREG(old.st_mode):
            raise ToolError(f"{rel} is not a regular file (a link, folder or special file); nothing was written")
        keep = stat.S_IMODE(old.st_mode) if old is not None else (mode if mode is not None else 0o644)
        temporary = f".{name}.{os.getpid()}-{secrets.token_hex(4)}.kimi-tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o600, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                os.fchmod(handle.fileno(), keep)
            os.replace(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=folder)
            raise
    finally:
        os.close(folder)


def _enter(folder: int, part: str, rel: str) -> int:
    """The folder ``part`` inside the open ``folder`` (made when missing), opened without following a link."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        try:
            child = os.open(part, flags, dir_fd=folder)
        except FileNotFoundError:
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=folder)
            child = os.open(part, flags, dir_fd=folder)
    except OSError as exc:
        raise ToolError(f"{rel}: '{part}' on the way is a link or not a folder; nothing was written") from exc
    return child
