"""The fixed instructions a job gives the model, and the task texts.

The system prompt never varies within a job (and rarely across jobs), so it heads a cacheable prefix.
"""

from __future__ import annotations

from collections.abc import Sequence

SYSTEM_PROMPT = """\
You are Kimi, working as a careful software engineer inside the user's editor through kimi-lsp.
You work in a private copy of the user's workspace: nothing you change reaches the user until they accept it,
and a change is offered only if the project's tests pass afterwards.

How to work:
- Read before you edit. Use ReadFile with line_offset/n_lines for windows of large files, Grep and Glob to find code.
- Make the smallest change that fixes the cause, in the style of the surrounding code. Do not weaken, skip or
  delete tests to make them pass, and do not edit tests unless the task asks for it or a test is clearly wrong.
- Prefer StrReplaceFile for small edits and ApplyPatch for several hunks; use WriteFile for new files.
- Run RunTests (optionally with a selection) to check your change; read failures carefully before the next edit.
- Paths are relative to the workspace root. Secret files (.env, keys, credentials) are not available to you.
- When you are done, answer without calling tools: say in a few sentences what was wrong and what you changed.
"""


def fix_tests_task(context: str, before: str | None) -> str:
    parts = [context]
    if before:
        parts.append("## Test run before any change\n" + before)
    parts.append(
        "## Task\nThe project's tests are failing. Find the cause and fix the code so that the whole test "
        "command passes. Finish with a short summary of the cause and the fix."
    )
    return "\n\n".join(parts)


def fix_diagnostics_task(context: str, diagnostics: list[str], before: str | None) -> str:
    parts = [context]
    if before:
        parts.append("## Test run before any change\n" + before)
    listing = "\n".join(f"- {d}" for d in diagnostics)
    parts.append(
        "## Task\nFix the problem reported by these diagnostics, without breaking the tests:\n"
        f"{listing}\nFinish with a short summary of the cause and the fix."
    )
    return "\n\n".join(parts)


def instruction_task(context: str, instruction: str, where: str | None, before: str | None) -> str:
    parts = [context]
    if before:
        parts.append("## Test run before any change\n" + before)
    scope = f" Work on {where}." if where else ""
    parts.append(
        f"## Task\n{instruction.strip()}{scope}\nKeep the behaviour the tests check unless the instruction says "
        "otherwise. Finish with a short summary of what you changed."
    )
    return "\n\n".join(parts)


def still_failing(test_run: str, set_aside: Sequence[str] = ()) -> str:
    how = ""
    if set_aside:
        how = (
            f" with the project's own versions of the test files you changed or added ({', '.join(set_aside)}): "
            "a fix must pass the project's tests as they are, so change the code, not the tests"
        )
    return (
        f"kimi-lsp ran the full test command on your change{how}, and it still fails:\n\n"
        f"{test_run}\n\n"
        "Keep working until the whole command passes (your changes so far are kept), then summarize again."
    )


def left_out_note(paths: list[str], limit: int) -> str:
    """A line telling the model which big files the shadow workspace does not hold (empty when none)."""
    if not paths:
        return ""
    shown = ", ".join(paths[:20]) + (f" and {len(paths) - 20} more" if len(paths) > 20 else "")
    return f"\n\nFiles over {limit // 2**20} MiB are not in your copy of the workspace and cannot be read: {shown}."
