"""The plain data of a job: what it is asked (``JobRequest``), a test run (``TestRun``), what it gives back
(``JobResult``, with the JSON the CLI prints)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from kimi_lsp.agent.snapshot import FileChange
from kimi_lsp.agent.transcript import new_job_id
from kimi_lsp.context import Diagnostic
from kimi_lsp.model.types import Usage
from kimi_lsp.workspace.text import cut_middle

__all__ = ["JobKind", "JobRequest", "JobResult", "Status", "TestRun"]

JobKind = Literal["fix_tests", "fix", "refactor"]
Status = Literal["fixed", "not_fixed", "unverified", "no_change", "cancelled", "error"]
TEST_OUTPUT_FOR_MODEL = 12_000


@dataclass(frozen=True)
class JobRequest:
    """What to do and where. ``target`` is workspace-relative; lines are 1-based."""

    root: Path
    kind: JobKind = "fix_tests"
    instruction: str | None = None
    target: str | None = None
    target_line: int | None = None
    end_line: int | None = None
    diagnostics: tuple[Diagnostic, ...] = ()
    overlays: Mapping[str, str] = field(default_factory=dict)
    job_id: str = field(default_factory=new_job_id)


@dataclass
class TestRun:
    """One run of the full test command, as reported in ``tests.before`` / ``tests.after``."""

    exit_code: int | None
    passed: int
    failed: int
    errors: int
    skipped: int
    timed_out: bool
    duration: float
    failures: list[dict[str, Any]]
    output: str
    problem: str | None = None  # why the run says nothing about the code (failures.run_problem)

    @property
    def ok(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def to_json(self) -> dict[str, Any]:
        return {
            "exit_code": self.exit_code,
            "passed": self.passed,
            "failed": self.failed,
            "errors": self.errors,
            "skipped": self.skipped,
            "timed_out": self.timed_out,
            "duration": round(self.duration, 3),
            "failures": self.failures,
            "problem": self.problem,
        }

    def for_model(self) -> str:
        counts = f"exit code {self.exit_code}; {self.passed} passed, {self.failed} failed, {self.errors} errors"
        if self.timed_out:
            counts += "; TIMED OUT"
        if self.problem:
            counts += f"; {self.problem}"
        half = TEST_OUTPUT_FOR_MODEL // 2
        output = cut_middle(self.output, half, half)
        return f"{counts}\n```\n{output}\n```"


@dataclass
class JobResult:
    job_id: str
    status: Status
    diff: str = ""
    files: list[FileChange] = field(default_factory=list)
    summary: str = ""
    steps: int = 0
    usage: Usage = field(default_factory=Usage)
    test_command: str | None = None
    before: TestRun | None = None
    after: TestRun | None = None
    transcript: str | None = None
    stop_reason: str | None = None
    requests: int = 0
    rewrites: int = 0
    tests_changed: list[str] = field(default_factory=list)  # the test files the offered change touches
    tests_note: str | None = None  # kimi-lsp's own words on them and on what was verified; never the model's

    @property
    def tests_label(self) -> str:
        """A short mention for one-line messages: "changes tests: a, b" (empty when it changes none)."""
        return "changes tests: " + ", ".join(self.tests_changed) if self.tests_changed else ""

    sandboxed: bool | None = None  # None: no test ran

    def to_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "diff": self.diff,
            "files": [
                {
                    "path": change.path,
                    "change": "added"
                    if change.old_text is None
                    else "deleted"
                    if change.new_text is None
                    else "modified",
                }
                for change in self.files
            ],
            "summary": self.summary,
            "steps": self.steps,
            "usage": self.usage.to_json(),
            "tests": {
                "command": self.test_command,
                "before": self.before.to_json() if self.before else None,
                "after": self.after.to_json() if self.after else None,
                "changed": self.tests_changed,
                "note": self.tests_note,
                "sandboxed": self.sandboxed,
            },
            "transcript": self.transcript,
            "job_id": self.job_id,
        }
