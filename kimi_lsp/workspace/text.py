"""Workspace text as the tools edit it: line endings kept, modes kept on write, walks that skip hidden folders."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from kimi_lsp.workspace.policy import is_secret_path, is_skipped_dir


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


def write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8, keeping the file's mode; parents are created."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    if mode is not None:
        path.chmod(mode)


def walk_files(root: Path, top: Path) -> Iterator[tuple[str, Path]]:
    """``(relpath, path)`` of the text-worthy files under ``top`` in sorted order.

    Skips vendored and tool folders (``.venv``, ``node_modules``, caches), symlinked folders, symlinks
    that lead outside ``root`` and secret files, so searches never surface them. A symlink counts as
    secret when either its own name or its target's is (``notes.txt -> .env`` is skipped).
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
