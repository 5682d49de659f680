"""One job = (workspace snapshot, task) → context → loop in a shadow workspace → verified result.

The CLI (`kimi-lsp fix`) and the language server both call ``run_job``; neither knows how the other shows it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from kimi_lsp.agent import prompts
from kimi_lsp.agent.jobdata import JobRequest, JobResult, TestRun
from kimi_lsp.agent.loop import CONTEXT_WINDOW, AgentLoop, ChatModel, LoopLimits, StepEvent
from kimi_lsp.agent.run_tools import run_test_command
from kimi_lsp.agent.sandbox import Sandbox
from kimi_lsp.agent.shadow import BIG_FILE_BYTES, Shadow
from kimi_lsp.agent.snapshot import FileChange
from kimi_lsp.agent.testfiles import test_files
from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.agent.transcript import Transcript
from kimi_lsp.agent.verify import unverified_note, verify
from kimi_lsp.context import ContextRequest, Diagnostic, TokenEstimator, WorkspaceIndex, build_context
from kimi_lsp.context.failures import run_problem
from kimi_lsp.errors import ConfigError
from kimi_lsp.settings import Settings
from kimi_lsp.workspace.redact import Redactor

FIRST_REQUEST_ROOM = 32_768
VERIFY_ROUNDS = 2  # times the model hears "the tests still fail" after saying it is done


async def run_tests(command: str, root: Path, settings: Settings, sandbox: Sandbox | None = None) -> TestRun:
    """Run the whole test command in ``root`` under the sandbox and parse what it printed.

    Without ``sandbox`` (tests on save, in the user's own tree) one is chosen from ``settings``.
    """
    if sandbox is None:
        sandbox = await asyncio.to_thread(
            Sandbox.choose, root, root, mode=settings.sandbox, network=settings.test_network
        )
    result, report = await run_test_command(sandbox, command, timeout=settings.test_timeout, env=os.environ)
    return TestRun(
        exit_code=result.exit_code,
        passed=report.passed,
        failed=report.failed,
        errors=report.errors,
        skipped=report.skipped,
        timed_out=result.timed_out,
        duration=result.duration,
        failures=[
            {"test_id": f.test_id, "path": f.path, "line": f.line, "message": f.message} for f in report.failures
        ],
        output=result.output,
        problem=None if result.timed_out else run_problem(result.exit_code, result.output, report),
    )


async def _verification_run(
    what: str,
    command: str,
    root: Path,
    settings: Settings,
    sandbox: Sandbox,
    transcript: Transcript,
    log: Callable[[str], None],
) -> TestRun:
    log(f"verifying ({what}): {command}")
    after = await run_tests(command, root, settings, sandbox)
    transcript.write("tests.after", {**after.to_json(), "with": what})
    log(f"tests after ({what}): {_counts(after)}")
    return after


def _describe_diagnostic(d: Diagnostic) -> str:
    source = f"[{d.source}] " if d.source else ""
    return f"{d.path}:{d.line}: {source}{d.message}"


def _loop_limits(settings: Settings) -> LoopLimits:
    return LoopLimits(
        max_steps=settings.max_steps,
        max_job_tokens=settings.max_job_tokens,
        max_wall_time=settings.max_wall_time,
        output_reserve=settings.max_tokens,
    )


async def run_job(
    request: JobRequest,
    settings: Settings,
    model: ChatModel,
    *,
    on_event: Callable[[StepEvent], None] | None = None,
    on_log: Callable[[str], None] | None = None,
    transcript_dir: Path | None = None,
    index: WorkspaceIndex | None = None,
    estimator: TokenEstimator | None = None,
    index_guard: Callable[[], AbstractContextManager[None]] | None = None,
    record: JobResult | None = None,
) -> JobResult:
    """Run one job to its verified result. Cancelling the task stops the model stream and the tests at once.

    ``index`` and ``estimator`` are the server's warm workspace index and learned token ratio; the CLI
    passes neither and gets fresh ones. ``index_guard`` is held while the index is read off the loop.

    ``record`` is the result the job fills in as it goes (and returns), made by a caller that must report a
    failed or cancelled job (status "error" until the job concludes): when the exception comes out, it holds
    what the job reached (tests run, steps, tokens, transcript) and its status says "error" or "cancelled".
    """
    log = on_log or (lambda _text: None)
    command = settings.test_command
    result = record if record is not None else JobResult(request.job_id, "error")
    result.test_command = command
    root = request.root.resolve()
    if not root.is_dir():
        raise ConfigError(f"workspace root {root} is not a folder")
    if request.kind == "fix_tests" and not command:
        raise ConfigError("no test command: pass --test CMD or set testCommand")
    transcript = Transcript(request.job_id, transcript_dir)
    transcript.write(
        "job",
        {
            "job_kind": request.kind,
            "root": str(root),
            "target": request.target,
            "instruction": request.instruction,
            "test_command": command,
            "model": settings.model,
            "base_url": settings.base_url,
        },
    )
    result.transcript = _path(transcript)
    shadow: Shadow | None = None
    loop: AgentLoop | None = None
    if command:
        # A workspace file may set the test command: say which command runs, and who chose it, every time.
        log(f"test command: {command} (from {settings.test_command_source})")
    try:
        shadow = await _make_shadow(root, dict(request.overlays))
        if shadow.too_big:
            log(f"left out of the shadow workspace (over {BIG_FILE_BYTES // 2**20} MiB): {', '.join(shadow.too_big)}")
        sandbox = await asyncio.to_thread(
            Sandbox.choose,
            shadow.root,
            root,
            mode=settings.sandbox,
            network=settings.test_network,
            linked=shadow.linked,
        )
        if sandbox.notice and (command or settings.allow_shell):
            log(sandbox.notice)
        before: TestRun | None = None
        if command:
            log(f"running tests before any change: {command}")
            before = await run_tests(command, shadow.root, settings, sandbox)
            result.before, result.sandboxed = before, sandbox.confined
            transcript.write("tests.before", before.to_json())
            log(f"tests before: {_counts(before)}")
            if before.problem and not before.problem.startswith("tests could not be collected"):
                # Nothing the model does can make a command that cannot run pass: stop before spending tokens.
                raise ConfigError(f"the tests cannot run, so nothing can be verified: {before.problem}")
            if request.kind == "fix_tests" and before.ok:
                result.status = "no_change"
                result.summary = "The tests already pass; nothing to fix."
                return result

        estimator = estimator or TokenEstimator()
        guard = index_guard if index is not None and index_guard is not None else contextlib.nullcontext
        context = await asyncio.to_thread(
            _guarded, guard, _build_context, request, root, settings, before, index, estimator
        )
        task = _task_text(request, context, before) + prompts.left_out_note(shadow.too_big, BIG_FILE_BYTES)
        transcript.write("context", {"tokens": context.tokens, "files": [f.path for f in context.files]})

        toolbox = Toolbox(
            shadow.root,
            test_command=command,
            test_timeout=settings.test_timeout,
            allow_shell=settings.allow_shell,
            env=os.environ,
            sandbox=sandbox,
            aliases=(root,),  # the model may echo the user's absolute paths; they mean the shadow's copy
        )
        loop = AgentLoop(
            model,
            toolbox,
            prompts.SYSTEM_PROMPT,
            limits=_loop_limits(settings),
            on_event=on_event,
            on_record=transcript.write,
            # The tests keep the variables they may need; the model never sees their secret values (nor the key).
            redact=Redactor.from_env({**os.environ, "KIMI_API_KEY": settings.api_key or ""}),
        )
        began = time.monotonic()
        outcome = await loop.run(task)
        if loop.first_prompt_tokens and loop.first_estimate:
            # Learn how the provider's tokenizer compares with the character estimate, for later budgets.
            estimator.observe(int(loop.first_estimate * estimator.factor), loop.first_prompt_tokens)
        rounds = 0
        while True:
            result.summary = outcome.summary
            result.steps = outcome.steps
            result.usage = outcome.usage
            result.stop_reason = outcome.stop_reason
            result.requests = outcome.requests
            result.rewrites = outcome.rewrites
            log(
                f"model finished after {outcome.steps} steps in {time.monotonic() - began:.1f} s "
                f"({outcome.stop_reason})"
            )
            diff = await asyncio.to_thread(shadow.diff)
            keep = None if settings.allow_shell else toolbox.touched
            result.diff, result.files = only_edited(diff.unified, list(diff.changes), keep)
            result.tests_changed = test_files((change.path for change in result.files), command)
            if not result.files:
                result.status = "no_change"
                return result
            if not command:
                result.status = "unverified"
                result.tests_note = unverified_note(result.tests_changed)
                return result
            if diff.refused:
                refused = ", ".join(diff.refused)
                log(f"left out of the result (a test turned them into links or special files): {refused}")
            check = await verify(
                shadow,
                [*diff.files, *diff.refused],
                result.tests_changed,
                command,
                keep_test_edits=request.kind == "refactor",  # the user's instruction may ask for test changes
                run=lambda what: _verification_run(what, command, shadow.root, settings, sandbox, transcript, log),
            )
            result.after, result.tests_note = check.after, check.note
            if check.note:
                log(check.note)
            if check.passed:
                result.status = "fixed"
                return result
            if outcome.stop_reason != "done" or rounds >= VERIFY_ROUNDS or loop.steps >= settings.max_steps:
                result.status = "not_fixed"
                return result
            # The model stopped believing it was done; the verification says otherwise. Tell it and go on.
            rounds += 1
            log(f"the full test command still fails; the model continues (round {rounds} of {VERIFY_ROUNDS})")
            outcome = await loop.resume(check.for_model)
    except BaseException as exc:
        # A failed or cancelled job still spent tokens and steps: the record keeps them for the caller's report.
        if loop is not None:
            result.steps, result.usage, result.requests = loop.steps, loop.usage, loop.requests
        result.status = "cancelled" if isinstance(exc, asyncio.CancelledError) else "error"
        raise
    finally:
        transcript.write(
            "result",
            {"status": result.status, "steps": result.steps, "usage": result.usage.to_json()},
        )
        transcript.close()
        if shadow is not None:
            await asyncio.shield(asyncio.to_thread(shadow.cleanup))


async def _make_shadow(root: Path, overlays: dict[str, str]) -> Shadow:
    """Copy the workspace in a thread; if the job is cancelled meanwhile, the copy is removed once made."""
    creating = asyncio.ensure_future(asyncio.to_thread(Shadow.create, root, overlays))
    try:
        return await asyncio.shield(creating)
    except asyncio.CancelledError:
        creating.add_done_callback(_discard_shadow)
        raise


def _discard_shadow(done: asyncio.Future[Shadow]) -> None:
    if done.cancelled() or done.exception() is not None:
        return
    asyncio.get_running_loop().run_in_executor(None, done.result().cleanup)


def _guarded(guard: Callable[[], AbstractContextManager[Any]], work: Callable[..., Any], *args: Any) -> Any:
    with guard():
        return work(*args)


def _path(transcript: Transcript) -> str | None:
    return str(transcript.path) if transcript.path else None


def _counts(run: TestRun) -> str:
    if run.timed_out:
        return "timed out"
    return f"exit {run.exit_code}, {run.passed} passed, {run.failed} failed, {run.errors} errors"


def _build_context(
    request: JobRequest,
    root: Path,
    settings: Settings,
    before: TestRun | None,
    index: WorkspaceIndex | None,
    estimator: TokenEstimator,
) -> Any:
    failing = before is not None and not before.ok
    return build_context(
        ContextRequest(
            root=root,
            target=request.target,
            target_line=request.target_line,
            # The first request must leave room for the instructions, the tools, the answer and some work.
            budget=min(settings.context_budget, CONTEXT_WINDOW - settings.max_tokens - FIRST_REQUEST_ROOM),
            diagnostics=request.diagnostics,
            test_output=before.output if failing and before is not None else None,
            task=None,  # the task text below states it, once
            overlays=dict(request.overlays),
        ),
        index,
        estimator,
    )


def _task_text(request: JobRequest, context: Any, before: TestRun | None) -> str:
    # A failing run is stated once, in the context's test results; a passing one only here.
    before_text = before.for_model() if before is not None and before.ok else None
    if request.kind == "fix" and request.diagnostics:
        return prompts.fix_diagnostics_task(
            context.prompt, [_describe_diagnostic(d) for d in request.diagnostics], before_text
        )
    if request.instruction:
        where = None
        if request.target:
            where = request.target
            if request.target_line:
                end = request.end_line or request.target_line
                where += f" lines {request.target_line}-{end}"
        return prompts.instruction_task(context.prompt, request.instruction, where, before_text)
    return prompts.fix_tests_task(context.prompt, before_text)


def only_edited(unified: str, changes: list[FileChange], keep: set[str] | None) -> tuple[str, list[FileChange]]:
    """The part of the shadow's diff the model made with its edit tools.

    Running tests leaves files behind (logs, caches, snapshots) that are not part of the fix; without a
    shell, every intended change went through an edit tool, so only those files are kept.
    """
    if keep is None:
        return unified, changes
    kept = [change for change in changes if change.path in keep]
    blocks = re.split(r"(?m)^(?=diff --git )", unified)
    wanted = {f"diff --git a/{change.path} b/{change.path}" for change in kept}
    text = "".join(block for block in blocks if block.split("\n", 1)[0] in wanted)
    return text, kept
