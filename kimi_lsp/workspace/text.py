"""Workspace text as the tools edit it: line endings kept, modes kept on write, walks that skip hidden folders."""

from __future__ import annotations

from pathlib import Path


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
