"""The plain data the context engine takes and gives (no LSP types, no paths outside the workspace), and
the checks that hold a request to that: its root, budget, target and diagnostics."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_lsp.context.budget import DEFAULT_BUDGET, MAX_BUDGET, MIN_BUDGET
from kimi_lsp.errors import ConfigError
from kimi_lsp.workspace.index import WorkspaceIndex
from kimi_lsp.workspace.policy import is_secret_path, link_target

__all__ = [
    "ContextFile",
    "ContextRequest",
    "ContextResult",
    "Diagnostic",
    "check_budget",
    "check_diagnostics",
    "check_root",
    "check_target",
    "relative",
]


@dataclass(frozen=True)
class Diagnostic:
    """A problem an editor or linter reported; ``path`` workspace-relative, ``line`` 1-based."""

    path: str
    line: int
    message: str
    source: str | None = None
    severity: str | None = None


@dataclass(frozen=True)
class ContextRequest:
    """What to gather context for: a target file (and line), diagnostics, test output and a task."""

    root: Path
    target: str | None = None
    target_line: int | None = None
    budget: int = DEFAULT_BUDGET
    diagnostics: tuple[Diagnostic, ...] = ()
    test_output: str | None = None
    task: str | None = None
    overlays: Mapping[str, str] = field(default_factory=dict)


@dataclass
class ContextFile:
    """A file that went into the prompt: estimated tokens, why it was picked, whole or excerpt."""

    path: str
    tokens: int
    reason: str
    whole: bool


@dataclass
class ContextResult:
    """The assembled prompt and an account of what went into it."""

    prompt: str
    tokens: int
    budget: int
    files: list[ContextFile]
    sections: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """The ``kimi-lsp context --json`` object: tokens, budget, files (most relevant first), sections."""
        return {
            "tokens": self.tokens,
            "budget": self.budget,
            "files": [
                {"path": item.path, "tokens": item.tokens, "reason": item.reason, "whole": item.whole}
                for item in self.files
            ],
            "sections": [dict(section) for section in self.sections],
            "warnings": list(self.warnings),
        }


def check_root(root: Path) -> Path:
    try:
        resolved = Path(root).resolve()
    except (OSError, RuntimeError) as exc:
        raise ConfigError(f"cannot open the workspace root {root}: {exc}") from exc
    if not resolved.is_dir():
        raise ConfigError(f"the workspace root {root} is not a folder")
    return resolved


def check_budget(budget: int, warnings: list[str]) -> int:
    if not isinstance(budget, int) or isinstance(budget, bool) or budget < MIN_BUDGET:
        raise ConfigError(
            f"the context budget must be a whole number of tokens, at least {MIN_BUDGET} (got {budget!r})"
        )
    if budget > MAX_BUDGET:
        warnings.append(f"budget {budget} lowered to {MAX_BUDGET} tokens to leave room for the conversation")
        return MAX_BUDGET
    return budget


def relative(root: Path, path: str) -> str | None:
    """``path`` (relative to the root, or absolute inside it) as a clean workspace-relative POSIX path."""
    candidate = Path(path)
    full = candidate if candidate.is_absolute() else root / candidate
    normal = Path(os.path.normpath(full))
    try:
        relpath = normal.relative_to(root).as_posix()
    except ValueError:
        return None
    return None if relpath in ("", ".") else relpath


def check_target(root: Path, index: WorkspaceIndex, target: str) -> str:
    relpath = relative(root, target)
    if relpath is None:
        raise ConfigError(f"{target} is outside the workspace {root}")
    if is_secret_path(relpath):
        raise ConfigError(f"{relpath} looks like a secret file; it is never sent to the model")
    linked = link_target(str(root), relpath)
    if linked is not None and linked != relpath and is_secret_path(linked):
        raise ConfigError(f"{relpath} links to {linked}, which looks like a secret file; it is never sent to the model")
    if relpath not in index:
        index.update(relpath)  # created after the last scan?
    if relpath not in index:
        if (root / relpath).is_file():
            raise ConfigError(
                f"{relpath} is not part of the workspace context (ignored by git, in a vendored or generated "
                f"folder, a link outside the workspace, or larger than the size cap)"
            )
        raise ConfigError(f"no such file in the workspace: {relpath}")
    if index.text(relpath) is None:
        if not (root / relpath).exists():
            raise ConfigError(f"no such file in the workspace: {relpath} (it was deleted)")
        raise ConfigError(f"{relpath} is binary or larger than {index.max_file_bytes} bytes; it cannot be shown")
    return relpath


def check_diagnostics(root: Path, items: tuple[Diagnostic, ...], warnings: list[str]) -> list[Diagnostic]:
    kept: list[Diagnostic] = []
    for item in items:
        relpath = relative(root, item.path)
        if relpath is None or is_secret_path(relpath):
            warnings.append(f"diagnostic for {item.path} left out: outside the workspace or a secret file")
            continue
        kept.append(Diagnostic(relpath, item.line, item.message, item.source, item.severity))
    return kept
