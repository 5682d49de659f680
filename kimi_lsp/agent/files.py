"""Reading and writing workspace text files the way the tools need it: UTF-8, line endings kept."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from kimi_lsp.agent.unidiff import is_binary
from kimi_lsp.context.files import is_secret_path
from kimi_lsp.context.secrets import is_skipped_dir
from kimi_lsp.errors import ToolError


def read_text(path: Path, rel: str) -> str:
    """The file's text, or a :class:`ToolError` the model can act on (missing, folder, binary)."""
    if not path.exists():
        raise ToolError(f"{rel} does not exist; use Glob to find the right path")
    if path.is_dir():
        raise ToolError(f"{rel} is a directory; use Glob to list files in it")
    data = path.read_bytes()
    if is_binary(data):
        raise ToolError(f"{rel} is a binary (or non-UTF-8) file; it cannot be shown or edited as text")
    return data.decode("utf-8")


def eol_of(text: str) -> str:
    """The file's dominant line ending."""
    return "\r\n" if text.count("\r\n") * 2 > text.count("\n") else "\n"


def to_lf(text: str) -> str:
    return text.replace("\r\n", "\n")


def from_lf(text: str, eol: str) -> str:
    return text.replace("\n", eol) if eol != "\n" else text


def write_text(path: Path, text: str) -> None:
    """Write ``text`` as UTF-8, keeping the file's mode; parents are created."""
    mode = path.stat().st_mode & 0o7777 if path.exists() else None
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    if mode is not None:
        path.chmod(mode)


def walk_files(root: Path, top: Path) -> Iterator[tuple[str, Path]]:
    """``(relpath, path)`` of the text-worthy files under ``top`` in sorted order.

    Skips vendored and tool folders (``.venv``, ``node_modules``, caches), symlinks that lead outside
    ``root`` and secret files, so searches never surface them.
    """
    real_root = Path(os.path.realpath(root))
    for dirpath, dirnames, filenames in os.walk(top):
        dirnames[:] = sorted(
            d for d in dirnames if not is_skipped_dir(d) and not os.path.islink(os.path.join(dirpath, d))
        )
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.is_symlink():
                real = Path(os.path.realpath(path))
                if not real.is_relative_to(real_root) or not real.is_file():
                    continue
            rel = path.relative_to(real_root).as_posix()
            if is_secret_path(rel):
                continue
            yield rel, path
