"""How a job's progress reads: one line per step for the editor's progress bar and the CLI's stderr."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["StepEvent"]


@dataclass(frozen=True)
class StepEvent:
    """Progress of one step: what the loop is doing and the tokens spent so far."""

    step: int
    max_steps: int
    phase: str  # "thinking" | "tool" | "retry" | "compacted"
    tool: str | None = None
    target: str | None = None
    tokens: int = 0
    detail: str | None = None

    def describe(self) -> str:
        head = f"step {self.step}/{self.max_steps}"
        if self.phase == "tool" and self.tool:
            what = _TOOL_VERBS.get(self.tool, self.tool)
            if self.tool == "RunTests" and self.target:
                doing = f"{what} ({self.target})"
            else:
                doing = f"{what} {self.target}" if self.target else what
        elif self.phase == "retry":
            doing = f"retrying: {self.detail}"
        elif self.phase == "compacted":
            doing = "compacting history"
        else:
            doing = "thinking"
        return f"{head} · {doing} · {_kilo(self.tokens)} tokens"


_TOOL_VERBS = {
    "ReadFile": "reading",
    "Glob": "listing",
    "Grep": "searching",
    "StrReplaceFile": "editing",
    "WriteFile": "writing",
    "ApplyPatch": "patching",
    "RunTests": "running tests",
    "Shell": "running",
}


def _kilo(tokens: int) -> str:
    return f"{tokens / 1000:.1f}K" if tokens >= 1000 else str(tokens)
