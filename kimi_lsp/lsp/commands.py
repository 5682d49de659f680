"""Commands and code actions: what the editor asks of kimi-lsp. Each command's argument arrives typed (see
``arguments``); handlers check what the command needs, start or steer a job and answer at once. The job runs
in the background (``jobs.JobManager``); its change waits for the user in ``proposals``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from lsprotocol import types

from kimi_lsp.agent.jobdata import JobKind, JobRequest
from kimi_lsp.agent.transcript import new_job_id
from kimi_lsp.context import Diagnostic
from kimi_lsp.errors import KimiError
from kimi_lsp.lsp import actions
from kimi_lsp.lsp.arguments import JobArguments, JobIdArguments, StatusArguments
from kimi_lsp.lsp.core import KimiServer
from kimi_lsp.lsp.jobs import Region, ServerJob
from kimi_lsp.lsp.protocol import answers_errors
from kimi_lsp.lsp.uris import uri_to_path

__all__ = ["JOB_COMMANDS", "register", "start_job"]

# The commands that start a job and the kind of job each starts: one handler serves them all.
JOB_COMMANDS: dict[str, JobKind] = {actions.FIX: "fix", actions.FIX_TESTS: "fix_tests", actions.REFACTOR: "refactor"}


def register(server: KimiServer) -> None:
    code_action_options = types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite],
        resolve_provider=False,
    )

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, code_action_options)
    def code_action(ls: KimiServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        config = ls.config.for_uri(params.text_document.uri, uri_to_path)
        proposals = ls.proposals.actions()
        return actions.code_actions(
            params,
            test_command_known=bool(config and config.test_command),
            proposals=proposals,
            running=[(job.id, job.title) for job in ls.jobs.running()],
            features=ls.features,
            path=uri_to_path(params.text_document.uri) if proposals else None,
        )

    @server.feature(types.WINDOW_WORK_DONE_PROGRESS_CANCEL)
    async def progress_cancel(ls: KimiServer, params: types.WorkDoneProgressCancelParams) -> None:
        job = ls.jobs.by_token(params.token)
        if job is not None:
            await ls.jobs.cancel(job.id)

    for command in JOB_COMMANDS:
        server.command(command)(answers_errors(_starts_job(command)))

    @server.command(actions.CANCEL)
    @answers_errors
    async def cancel(ls: KimiServer, arg: JobIdArguments = JobIdArguments()) -> dict[str, Any]:
        cancelled = await ls.jobs.cancel(arg.job_id)
        if arg.job_id is not None and not cancelled:
            raise KimiError(f"kimi.cancel: no running job {arg.job_id}")
        return {"cancelled": cancelled}

    @server.command(actions.APPLY)
    @answers_errors
    async def apply(ls: KimiServer, arg: JobIdArguments = JobIdArguments()) -> dict[str, Any]:
        applied, why = await ls.proposals.apply(_job_id(arg, actions.APPLY))
        if not applied:
            ls.show(types.MessageType.Warning, f"Kimi: not applied: {why}")
        return {"applied": applied, "reason": why}

    @server.command(actions.SHOW_DIFF)
    @answers_errors
    async def show_diff(ls: KimiServer, arg: JobIdArguments = JobIdArguments()) -> dict[str, Any]:
        job_id = _job_id(arg, actions.SHOW_DIFF)
        diff = ls.jobs.diff_of(job_id)
        if diff is None:
            raise KimiError(f"kimi.showDiff: no result for job {job_id}")
        await ls.proposals.show_diff(job_id, diff)
        return {"jobId": job_id, "diff": diff}

    @server.command(actions.DISCARD)
    @answers_errors
    def discard(ls: KimiServer, arg: JobIdArguments = JobIdArguments()) -> dict[str, Any]:
        return {"discarded": ls.proposals.discard(_job_id(arg, actions.DISCARD))}

    @server.command(actions.STATUS)
    @answers_errors
    def status(ls: KimiServer, arg: StatusArguments = StatusArguments()) -> dict[str, Any]:
        if arg.show:
            # Asked from a code action, whose command's answer no editor shows: say it.
            ls.show(types.MessageType.Info, "Kimi: " + "\n".join(ls.jobs.describe()))
        return {
            "jobs": [job.to_json() for job in ls.jobs.jobs.values()],
            "proposals": sorted(ls.proposals.pending),
            "folders": {str(root): cfg.test_command for root, cfg in ls.config.folders.items()},
        }


def _starts_job(command: str) -> Callable[..., Awaitable[dict[str, Any]]]:
    """The handler of a job command (pygls reads its annotations to build the argument)."""

    async def start(ls: KimiServer, arg: JobArguments = JobArguments()) -> dict[str, Any]:
        return await start_job(ls, command, arg)

    return start


def _job_id(arg: JobIdArguments, command: str) -> str:
    if not arg.job_id:
        raise KimiError(f"{command}: a 'jobId' string is required")
    return arg.job_id


def _line_range(selection: types.Range | None) -> tuple[int, int] | None:
    if selection is None:
        return None
    start, end = selection.start.line, selection.end.line
    if end > start and selection.end.character == 0:
        end -= 1  # a whole-line selection ends at column 0 of the next line, which it does not include
    return start, end


def _diagnostic(item: types.Diagnostic, relpath: str | None) -> Diagnostic:
    return Diagnostic(
        path=relpath or "",
        line=item.range.start.line + 1,
        message=item.message,
        source=item.source,
        severity=str(item.severity.value) if item.severity is not None else None,
    )


def _relpath(path: Path | None, root: Path) -> str | None:
    if path is None:
        return None
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return None


async def start_job(ls: KimiServer, command: str, arg: JobArguments) -> dict[str, Any]:
    """Check what a job command needs, register the job and return its id at once."""
    kind = JOB_COMMANDS[command]
    uri = arg.uri
    folder = ls.folder_for(uri)
    settings = folder.loaded.settings
    if not settings.api_key:
        raise KimiError("no API key: set KIMI_API_KEY (or MOONSHOT_API_KEY) for the server, then restart it")
    root = folder.root
    relpath = _relpath(uri_to_path(uri), root)
    lines = _line_range(arg.range)
    instruction = arg.instruction
    if kind == "refactor":
        if lines is None or uri is None:
            raise KimiError(f"{command}: needs 'uri' and 'range'")
        if not instruction or not instruction.strip():
            instruction = await ask_instruction(ls)
            if not instruction:
                return {"jobId": None, "reason": "no instruction given"}
    diagnostics = tuple(_diagnostic(item, relpath) for item in arg.diagnostics or ()) if kind == "fix" else ()
    if kind == "fix" and not diagnostics:
        raise KimiError(f"{command}: no diagnostics given; use kimi.fixTests to fix failing tests")
    test_command = folder.test_command
    if kind == "fix_tests" and not test_command:
        raise KimiError("no test command: set kimi.testCommand (testCommand) for this workspace")
    source = settings.test_command_source if settings.test_command else "detected from the project's files"
    settings = settings.with_overrides(test_command=test_command, test_command_source=source)
    job_id = new_job_id()
    if kind == "fix_tests":
        region = Region(f"tests:{root}")
        title = "Fix failing tests"
    else:
        start, end = lines if lines is not None else (0, 1 << 30)
        region = Region(uri or str(root), start, end)
        title = f"Fix {diagnostics[0].message.splitlines()[0][:50]}" if kind == "fix" else "Refactor selection"
    request = JobRequest(
        root=root,
        kind=kind,
        instruction=instruction,
        target=relpath,
        target_line=(lines[0] + 1) if lines else (diagnostics[0].line if diagnostics else None),
        end_line=(lines[1] + 1) if lines else None,
        diagnostics=diagnostics,
        overlays=ls.overlays(root),
        job_id=job_id,
    )
    job = ServerJob(
        id=job_id,
        title=title,
        folder=folder,
        region=region,
        settings=settings,
        request=request,
        token=f"kimi-{job_id}",
        request_id=ls.protocol.msg_id,
    )
    # A refusal is the request's error answer, which the editor shows: no second message on top.
    ls.jobs.start(job)
    return {"jobId": job_id, "title": title}


async def ask_instruction(ls: KimiServer) -> str | None:
    """For clients that cannot prompt: offer the presets through ``window/showMessageRequest``."""
    try:
        answer = await ls.window_show_message_request_async(
            types.ShowMessageRequestParams(
                type=types.MessageType.Info,
                message="Kimi: how should the selection be refactored?",
                actions=[types.MessageActionItem(name) for name, _ in actions.REFACTOR_PRESETS],
            )
        )
    except Exception:
        return None
    if answer is None:
        return None
    return dict(actions.REFACTOR_PRESETS).get(answer.title)
