"""Writing a verified result into the user's working tree (``kimi-lsp fix --apply``): only the listed files,
only if nothing changed meanwhile, never through a link."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from kimi_lsp.agent.snapshot import FileChange
from kimi_lsp.errors import KimiError, ToolError
from kimi_lsp.workspace.paths import resolve_in_root
from kimi_lsp.workspace.text import write_confined

__all__ = ["apply_changes", "changed_since"]


def changed_since(root: Path, changes: Sequence[FileChange]) -> list[str]:
    """Files whose text in the working tree differs from the job's snapshot (the user edited them)."""
    stale = []
    for change in changes:
        path = root / change.path
        try:
            current: str | None = path.read_bytes().decode("utf-8")
        except FileNotFoundError:
            current = None
        except (OSError, UnicodeDecodeError):
            stale.append(change.path)
            continue
        if current != change.old_text:
            stale.append(change.path)
    return stale


def apply_changes(root: Path, changes: Sequence[FileChange]) -> None:
    """Write a verified result into the working tree, each file replaced atomically and keeping its mode.

    Refuses (KimiError, nothing written) when the tree changed meanwhile, when a change is binary (it has
    no text to write: apply it from the diff), or when a path would land outside ``root``.
    """
    binary = [change.path for change in changes if change.binary]
    if binary:
        raise KimiError("not applied: binary files changed (apply them from the diff): " + ", ".join(binary))
    stale = changed_since(root, changes)
    if stale:
        raise KimiError("not applied: these files changed in the working tree while the job ran: " + ", ".join(stale))
    linked = [change.path for change in changes if _passes_a_link(root, change.path)]
    if linked:
        # A tracked link (or a folder link on the way) would carry the write to wherever it points.
        raise KimiError(
            "not applied: these paths are links in your tree; apply them from the diff: " + ", ".join(linked)
        )
    try:
        for change in changes:
            if change.new_text is None:
                resolve_in_root(root, change.path, allow_secret=True).unlink(missing_ok=True)
            else:
                write_confined(root, change.path, change.new_text.encode("utf-8"))
    except ToolError as exc:
        raise KimiError(f"not applied: {exc}") from None


def _passes_a_link(root: Path, relpath: str) -> bool:
    """True when ``relpath`` under ``root``, or a folder on its way, is a symbolic link."""
    path = root
    for part in relpath.split("/"):
        path = path / part
        if path.is_symlink():
            return True
    return False
