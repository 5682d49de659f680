"""Confinement of every path a tool touches to the workspace (the shadow root).

A path the model names is accepted only if it names a place inside the root after every symlink is
followed, and is not a secret file. Absolute paths are accepted when they point inside the root (test
output and tracebacks print absolute shadow paths, and the model copies them); every other absolute path
is refused. Paths inside ``aliases`` (for instance the user's real workspace, whose absolute paths appear
in the prompt) are mapped onto the root before the check, so they too name the shadow copy and never
the user's file.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Sequence
from pathlib import Path, PurePosixPath

from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.policy import is_secret_path


def _real_root(root: Path) -> Path:
    return Path(os.path.realpath(root))


def relpath_of(root: Path, path: Path) -> str:
    """``path`` (already resolved inside ``root``) as a workspace-relative posix path; ``.`` for the root."""
    rel = Path(os.path.realpath(path)).relative_to(_real_root(root))
    text = rel.as_posix()
    return text if text else "."


def resolve_in_root(root: Path, user_path: str, *, aliases: Sequence[Path] = (), allow_secret: bool = False) -> Path:
    """Resolve ``user_path`` to a real path inside ``root`` or raise :class:`ToolError` saying why not.

    Refused: empty paths, NUL bytes, absolute paths outside ``root`` (and its ``aliases``), ``..`` that
    climbs out, symlinks anywhere on the way that lead outside, and secret files (``.env*``, private keys,
    credentials; judged by the name given and by the name the symlinks lead to) unless ``allow_secret``.
    The returned path is fully resolved; it may not exist yet.
    """
    if not isinstance(user_path, str) or not user_path.strip():
        raise ToolError("the path is empty; give a path relative to the workspace root")
    if has_control_characters(user_path):
        raise ToolError(
            "the path contains a control, invisible or line-breaking character (newline, tab, NUL, zero-width "
            "space, bidi override, ...) or is not in Unicode NFC; such names are refused: give a plain path "
            "relative to the workspace root"
        )
    real_root = _real_root(root)
    text = user_path.strip()
    candidate = Path(text).expanduser() if text.startswith("~") else Path(text)
    if candidate.is_absolute():
        candidate = _map_absolute(candidate, root, real_root, aliases, user_path)
    else:
        candidate = real_root / candidate
    resolved = Path(os.path.realpath(candidate))
    if resolved != real_root and not resolved.is_relative_to(real_root):
        lexical = Path(os.path.normpath(candidate))
        if lexical == real_root or lexical.is_relative_to(real_root):
            raise ToolError(f"'{user_path}' is a symlink (or passes through one) that leads outside the workspace")
        raise ToolError(f"'{user_path}' is outside the workspace; only paths inside the workspace root are allowed")
    if not allow_secret:
        # Both names count: the link's own (``.env -> x``) and its target's (``notes.txt -> .env``).
        rel = relpath_of(real_root, resolved)
        lexical = Path(os.path.normpath(candidate))
        named = lexical.relative_to(real_root).as_posix() if lexical.is_relative_to(real_root) else "."
        for shown in (named, rel):
            if shown != "." and is_secret_path(shown):
                raise ToolError(f"'{shown}' is a secret file (keys, credentials, .env); its contents are withheld")
    return resolved


def _map_absolute(candidate: Path, root: Path, real_root: Path, aliases: Sequence[Path], user_path: str) -> Path:
    norm = Path(os.path.normpath(candidate))
    for base in (Path(os.path.normpath(root.absolute())), real_root):
        if norm == base or norm.is_relative_to(base):
            return real_root / norm.relative_to(base)
    for alias in aliases:
        for base in (Path(os.path.normpath(alias.absolute())), _real_root(alias)):
            if norm == base or norm.is_relative_to(base):
                return real_root / norm.relative_to(base)
    raise ToolError(
        f"'{user_path}' is an absolute path outside the workspace; use a path relative to the workspace root"
    )


def has_control_characters(text: str) -> bool:
    """True when ``text`` holds a character that breaks or hides a line: controls (C0, DEL, C1), format
    characters (zero-width spaces, bidi overrides), line and paragraph separators; or is not in NFC (a twin of
    another name that looks the same). A newline in a file name can forge lines of a diff or a report, and an
    invisible one can pass a change off as another file: no such name is created, listed or written back."""
    if text.isascii():
        return any(ord(char) < 32 or ord(char) == 127 for char in text)
    if unicodedata.normalize("NFC", text) != text:
        return True
    return any(unicodedata.category(char) in ("Cc", "Cf", "Zl", "Zp") for char in text)


def is_plain_relpath(text: str) -> bool:
    """True for a relative posix path with no ``..`` parts nor control characters: safe to join under a root
    without resolving, and to print on a line of its own."""
    pure = PurePosixPath(text)
    return bool(text) and not has_control_characters(text) and not pure.is_absolute() and ".." not in pure.parts
