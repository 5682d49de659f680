"""The plain data the context engine takes and gives: no LSP types, no paths outside the workspace."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_lsp.context.budget import DEFAULT_BUDGET

__all__ = ["ContextFile", "ContextRequest", "ContextResult", "Diagnostic"]


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
