"""Where a test run's output points in the code: ``path:line`` locations and traceback frames,
as workspace-relative paths (what :mod:`failures` builds its failures from)."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

__all__ = ["ANSI", "frames_in", "parse_locations", "workspace_path"]

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")

# Traceback frames: pytest's ``path:12: Error`` / ``path:12: in func`` and Python's ``File "x", line 3``.
_PYTEST_FRAME = re.compile(r"^((?:[A-Za-z]:)?[^\s:][^:\n]*?):(\d+):(?: (.*))?$")
_PY_FRAME = re.compile(r'File "([^"\n]+)", line (\d+)')
_GENERIC_LOC = re.compile(r"(?:^|(?<=[\s(\[\"'=]))((?:[A-Za-z]:)?[\w./\\@+-]*\w\.\w+):(\d+)(?=\b)")


def parse_locations(text: str, root: Path | None = None) -> list[tuple[str, int]]:
    """Every ``path:line`` and ``File "path", line N`` in ``text``, in order, without repeats.

    With ``root``, absolute paths under it become relative and paths outside it are dropped; relative
    paths are kept as written (normalised). Without ``root`` every path is kept as written.
    """
    found: list[tuple[int, str, int]] = []
    clean = ANSI.sub("", text)
    for match in _PY_FRAME.finditer(clean):
        found.append((match.start(), match.group(1), int(match.group(2))))
    for match in _GENERIC_LOC.finditer(clean):
        found.append((match.start(), match.group(1), int(match.group(2))))
    found.sort()
    result: list[tuple[str, int]] = []
    seen: set[tuple[str, int]] = set()
    for _, raw, line in found:
        path = workspace_path(raw, root)
        if path is None or line <= 0:
            continue
        key = (path, line)
        if key not in seen:
            seen.add(key)
            result.append(key)
    return result


def workspace_path(raw: str, root: Path | None) -> str | None:
    """``raw`` as a workspace-relative POSIX path, or None when it lies outside ``root``."""
    raw = raw.strip().replace("\\", "/")
    if not raw:
        return None
    is_abs = raw.startswith("/") or bool(re.match(r"^[A-Za-z]:/", raw))
    if root is None:
        return raw
    if is_abs:
        root_text = str(root).replace("\\", "/").rstrip("/")
        candidates = [root_text]
        try:
            resolved = os.path.realpath(root).replace("\\", "/").rstrip("/")
            if resolved != root_text:
                candidates.append(resolved)
        except OSError:
            pass
        for prefix in candidates:
            if raw.startswith(prefix + "/"):
                return _normalise(raw[len(prefix) + 1 :])
        return None
    return _normalise(raw)


def _normalise(relpath: str) -> str | None:
    parts: list[str] = []
    for part in PurePosixPath(relpath).parts:
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                return None  # climbs out of the workspace
            parts.pop()
            continue
        parts.append(part)
    return "/".join(parts) or None


def frames_in(block: list[str], root: Path | None) -> list[tuple[str, int]]:
    frames: list[tuple[str, int]] = []
    for line in block:
        match = _PYTEST_FRAME.match(line)
        raw: str | None = None
        number = 0
        if match and not line.startswith((" ", "E ")):
            raw, number = match.group(1), int(match.group(2))
        else:
            py = _PY_FRAME.search(line)
            if py:
                raw, number = py.group(1), int(py.group(2))
        if raw is None:
            continue
        path = workspace_path(raw, root)
        if path is not None and (not frames or frames[-1] != (path, number)):
            frames.append((path, number))
    return frames
