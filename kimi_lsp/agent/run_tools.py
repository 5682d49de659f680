"""The tools that run a command in the sandbox: ``RunTests`` (the configured test command, narrowed to a
selection of tests) and ``Shell`` (only when the user allows it), with what they printed worded for the model.

The file tools (read, search, edit) are ``tools.py``'s; the :class:`~kimi_lsp.agent.tools.Toolbox` offers
both and checks that a selection names files inside the workspace before it gets here.
:func:`run_test_command` is the one way the test command runs: for RunTests, and for the job's own runs
before and after the model's work and on save (``job.run_tests``).
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from kimi_lsp.agent.sandbox import CommandResult, Sandbox
from kimi_lsp.agent.tool_specs import TEST_OUTPUT_HEAD, TEST_OUTPUT_TAIL, ToolResult
from kimi_lsp.context.failures import TestReport, parse_test_output, run_problem
from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.text import cut_middle

__all__ = ["CommandTools", "parse_selection", "run_test_command"]

_FAILURES_SHOWN = 30


async def run_test_command(
    sandbox: Sandbox,
    command: str,
    *,
    timeout: float,
    env: Mapping[str, str],
    on_output: Callable[[str], None] | None = None,
) -> tuple[CommandResult, TestReport]:
    """Run a test command line in the sandbox and parse what it printed (paths as the tests saw them)."""
    result = await sandbox.run(command, timeout=timeout, env=env, on_output=on_output)
    return result, parse_test_output(result.output, sandbox.seen_root, result.exit_code)


class CommandTools:
    """RunTests and Shell over one sandbox, with one timeout and environment for every command."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        test_command: str | None,
        timeout: float,
        env: Mapping[str, str],
        on_output: Callable[[str], None] | None = None,
    ) -> None:
        self.sandbox = sandbox
        self.test_command = test_command.strip() if test_command and test_command.strip() else None
        self.timeout = timeout
        self._env = env
        self._on_output = on_output

    def test_argv(self, selection: Sequence[str] = ()) -> str:
        """The shell command RunTests runs: the configured command plus each selection item quoted."""
        if not self.test_command:
            raise ToolError(
                "no test command is configured for this workspace (set testCommand, or pass --test); "
                "RunTests cannot run"
            )
        return " ".join([self.test_command, *(shlex.quote(item) for item in selection)])

    async def run_tests(self, selection: Sequence[str]) -> ToolResult:
        """RunTests: the test command (narrowed to ``selection``), its counts, failures and output."""
        command = self.test_argv(selection)
        result, report = await run_test_command(
            self.sandbox, command, timeout=self.timeout, env=self._env, on_output=self._on_output
        )
        return ToolResult(
            _format_tests(command, result, report),
            ok=not result.timed_out,
            target=" ".join(selection) or "all tests",
        )

    async def shell(self, command: str) -> ToolResult:
        """Shell: one command line, its exit code and the head and tail of its output."""
        result = await self.sandbox.run(command, timeout=self.timeout, env=self._env, on_output=self._on_output)
        status = (
            f"timed out after {self.timeout:g}s; the command's processes were killed"
            if result.timed_out
            else f"exit code {result.exit_code}"
        )
        body = cut_middle(result.output, TEST_OUTPUT_HEAD, TEST_OUTPUT_TAIL)
        return ToolResult(
            f"$ {command}\n{status} ({result.duration:.1f}s)\n{body}", ok=not result.timed_out, target=command
        )


def parse_selection(raw: Any) -> list[str]:
    """RunTests' ``selection`` argument as a list of test ids or paths; options and argument files refused."""
    if raw is None:
        return []
    items = [raw] if isinstance(raw, str) else raw
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise ToolError("'selection' must be a list of test ids or paths (strings)")
    cleaned = [item.strip() for item in items if item.strip()]
    for item in cleaned:
        if item.startswith("-"):
            raise ToolError(f"'{item}' looks like an option; selection takes test ids or paths only")
        if item.startswith("@"):
            # pytest (and argparse-style runners) read '@file' as a file of more arguments.
            raise ToolError(f"'{item}' starts with '@' (an argument file); selection takes test ids or paths only")
    return cleaned


def _format_tests(command: str, result: CommandResult, report: TestReport) -> str:
    out = [f"$ {command}"]
    if result.timed_out:
        out.append(f"timed out after {result.duration:.0f}s; the test processes were killed")
    else:
        counts = f"{report.passed} passed, {report.failed} failed, {report.errors} errors, "
        counts += f"{report.skipped} skipped"
        out.append(
            f"exit code {result.exit_code} in {result.duration:.1f}s: "
            + (counts if report.parsed else "no test summary recognised in the output")
        )
        problem = run_problem(result.exit_code, result.output, report)
        if problem:
            out.append(f"The tests did not run as such: {problem}")
    if report.failures:
        out.append("Failing tests:")
        for failure in report.failures[:_FAILURES_SHOWN]:
            where = f" ({failure.path}:{failure.line})" if failure.path and failure.line else ""
            message = failure.message.strip().split("\n")[-1][:300] if failure.message else ""
            out.append(f"  {failure.test_id}{where}" + (f": {message}" if message else ""))
        if len(report.failures) > _FAILURES_SHOWN:
            out.append(f"  ... and {len(report.failures) - _FAILURES_SHOWN} more")
    out.append("Output:" if len(result.output) <= TEST_OUTPUT_HEAD + TEST_OUTPUT_TAIL else "Output (head and tail):")
    out.append(cut_middle(result.output, TEST_OUTPUT_HEAD, TEST_OUTPUT_TAIL))
    return "\n".join(out)
