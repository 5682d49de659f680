"""Commands and code actions: what the editor asks of kimi-lsp. Handlers check the arguments, start or steer a
job and answer at once; the job itself runs in the background (``jobs.JobManager``), its change waits for the
user in ``proposals``."""

from __future__ import annotations

from typing import Any

from lsprotocol import types

from kimi_lsp.agent.jobdata import JobRequest
from kimi_lsp.agent.transcript import new_job_id
from kimi_lsp.context import Diagnostic
from kimi_lsp.errors import KimiError
from kimi_lsp.lsp import actions
from kimi_lsp.lsp.core import KimiServer
from kimi_lsp.lsp.jobs import Region, ServerJob
from kimi_lsp.lsp.protocol import answers_errors
from kimi_lsp.lsp.uris import uri_to_path

__all__ = ["register", "start_job"]


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

    @server.command(actions.FIX)
    @answers_errors
    async def fix(ls: KimiServer, *args: Any) -> dict[str, Any]:
        return await start_job(ls, "fix", _arg(args, actions.FIX))

    @server.command(actions.FIX_TESTS)
    @answers_errors
    async def fix_tests(ls: KimiServer, *args: Any) -> dict[str, Any]:
        return await start_job(ls, "fix_tests", _arg(args, actions.FIX_TESTS))

    @server.command(actions.REFACTOR)
    @answers_errors
    async def refactor(ls: KimiServer, *args: Any) -> dict[str, Any]:
        return await start_job(ls, "refactor", _arg(args, actions.REFACTOR))

    @server.command(actions.CANCEL)
    @answers_errors
    async def cancel(ls: KimiServer, *args: Any) -> dict[str, Any]:
        arg = _arg(args, actions.CANCEL)
        job_id = arg.get("jobId")
        if job_id is not None and not isinstance(job_id, str):
            raise KimiError("kimi.cancel: 'jobId' must be a string")
        cancelled = await ls.jobs.cancel(job_id)
        if job_id is not None and not cancelled:
            raise KimiError(f"kimi.cancel: no running job {job_id}")
        return {"cancelled": cancelled}

    @server.command(actions.APPLY)
    @answers_errors
    async def apply(ls: KimiServer, *args: Any) -> dict[str, Any]:
        job_id = _job_id(_arg(args, actions.APPLY), actions.APPLY)
        applied, why = await ls.proposals.apply(job_id)
        if not applied:
            ls.show(types.MessageType.Warning, f"Kimi: not applied: {why}")
        return {"applied": applied, "reason": why}

    @server.command(actions.SHOW_DIFF)
    @answers_errors
    async def show_diff(ls: KimiServer, *args: Any) -> dict[str, Any]:
        job_id = _job_id(_arg(args, actions.SHOW_DIFF), actions.SHOW_DIFF)
        diff = ls.jobs.diff_of(job_id)
        if diff is None:
            raise KimiError(f"kimi.showDiff: no result for job {job_id}")
        await ls.proposals.show_diff(job_id, diff)
        return {"jobId": job_id, "diff": diff}

    @server.command(actions.DISCARD)
    @answers_errors
    def discard(ls: KimiServer, *args: Any) -> dict[str, Any]:
        job_id = _job_id(_arg(args, actions.DISCARD), actions.DISCARD)
        return {"discarded": ls.proposals.discard(job_id)}

    @server.command(actions.STATUS)
    @answers_errors
    def status(ls: KimiServer, *args: Any) -> dict[str, Any]:
        if _arg(args, actions.STATUS).get("show"):
            # Asked from a code action, whose command's answer no editor shows: say it.
            ls.show(types.MessageType.Info, "Kimi: " + "\n".join(ls.jobs.describe()))
        return {
            "jobs": [job.to_json() for job in ls.jobs.jobs.values()],
            "proposals": sorted(ls.proposals.pending),
            "folders": {str(root): cfg.test_command for root, cfg in ls.config.folders.items()},
        }


def _arg(args: tuple[Any, ...], command: str) -> dict[str, Any]:
    if not args:
        return {}
    first = args[0]
    if not isinstance(first, dict):
        raise KimiError(f"{command}: expected one object argument, got {type(first).__name__}")
    return first


def _line_range(arg: dict[str, Any], command: str) -> tuple[int, int] | None:
    rng = arg.get("range")
    if rng is None:
        return None
    try:
        start, end = int(rng["start"]["line"]), int(rng["end"]["line"])
        end_character = int(rng["end"].get("character", 1))
    except (KeyError, TypeError, ValueError, AttributeError):
        raise KimiError(f"{command}: 'range' must be an LSP range") from None
    if end > start and end_character == 0:
        end -= 1  # a whole-line selection ends at column 0 of the next line, which it does not include
    return start, end


def _diagnostics(arg: dict[str, Any], relpath: str | None, command: str) -> tuple[Diagnostic, ...]:
    raw = arg.get("diagnostics") or []
    if not isinstance(raw, list):
        raise KimiError(f"{command}: 'diagnostics' must be a list")
    out = []
    for item in raw:
        try:
            line = int(item["range"]["start"]["line"]) + 1
            message = str(item["message"])
        except (KeyError, TypeError, ValueError):
            raise KimiError(f"{command}: each diagnostic needs a range and a message") from None
        severity = item.get("severity")
        out.append(
            Diagnostic(
                path=relpath or "",
                line=line,
                message=message,
                source=item.get("source"),
                severity=str(severity) if severity is not None else None,
            )
        )
    return tuple(out)


def _job_id(arg: dict[str, Any], command: str) -> str:
    job_id = arg.get("jobId")
    if not isinstance(job_id, str) or not job_id:
        raise KimiError(f"{command}: a 'jobId' string is required")
    return job_id


async def start_job(ls: KimiServer, kind: str, arg: dict[str, Any]) -> dict[str, Any]:
    """Validate a command's argument, register the job and return its id at once."""
    command = {"fix": actions.FIX, "fix_tests": actions.FIX_TESTS, "refactor": actions.REFACTOR}[kind]
    uri = arg.get("uri")
    if uri is not None and not isinstance(uri, str):
        raise KimiError(f"{command}: 'uri' must be a string")
    config = ls.folder_for(uri)
    settings = config.loaded.settings
    if not settings.api_key:
        raise KimiError("no API key: set KIMI_API_KEY (or MOONSHOT_API_KEY) for the server, then restart it")
    root = config.root
    path = uri_to_path(uri)
    relpath = None
    if path is not None:
        try:
            relpath = path.relative_to(root).as_posix()
        except ValueError:
            relpath = None
    lines = _line_range(arg, command)
    instruction = arg.get("instruction")
    if instruction is not None and not isinstance(instruction, str):
        raise KimiError(f"{command}: 'instruction' must be a string")
    if kind == "refactor":
        if lines is None or uri is None:
            raise KimiError(f"{command}: needs 'uri' and 'range'")
        if not instruction or not instruction.strip():
            instruction = await ask_instruction(ls)
            if not instruction:
                return {"jobId": None, "reason": "no instruction given"}
    diagnostics = _diagnostics(arg, relpath, command) if kind == "fix" else ()
    if kind == "fix" and not diagnostics:
        raise KimiError(f"{command}: no diagnostics given; use kimi.fixTests to fix failing tests")
    test_command = config.test_command
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
        kind=kind,  # type: ignore[arg-type]
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
        folder=config,
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
