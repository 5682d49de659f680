"""The language server: thin handlers that translate between LSP and the job core.

Nothing on the code-action path waits for the model, git, the disk or a subprocess: actions are built from
settings and proposals already in memory.
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO, cast

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.lsp.server import LanguageServer
from pygls.protocol import LanguageServerProtocol

from kimi_lsp import __version__
from kimi_lsp.agent.job import JobRequest
from kimi_lsp.agent.loop import ChatModel
from kimi_lsp.agent.transcript import new_job_id
from kimi_lsp.context import Diagnostic, is_secret_path
from kimi_lsp.errors import KimiError
from kimi_lsp.lsp import actions
from kimi_lsp.lsp.config import ConfigStore, FolderConfig
from kimi_lsp.lsp.jobs import JobManager, Region, ServerJob
from kimi_lsp.lsp.results import OpenDocument
from kimi_lsp.lsp.testwatch import TestWatcher
from kimi_lsp.lsp.transport import BoundedStdin
from kimi_lsp.lsp.uris import uri_to_path
from kimi_lsp.settings import Settings


def _default_model(settings: Settings) -> ChatModel:
    from kimi_lsp.model.client import ModelClient

    return ModelClient(settings)


logger = logging.getLogger(__name__)


class RequestFailed(JsonRpcException):
    """A request refused with a message for the user (LSP's ``RequestFailed``): the message alone, one line."""

    CODE = -32803


def _answers_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A command whose ``KimiError`` becomes the request's error answer: its message, no exception class."""

    @functools.wraps(handler)
    async def run(ls: KimiServer, *args: Any) -> Any:
        try:
            result = handler(ls, *args)
            return await result if inspect.isawaitable(result) else result
        except KimiError as exc:
            raise RequestFailed(str(exc)) from exc

    return run


class KimiProtocol(LanguageServerProtocol):
    """Maps ``$/cancelRequest`` for a job-starting request onto that job (the request itself returned at once),
    and answers requests whose params cannot be read with an error instead of leaving the client waiting."""

    def structure_message(self, data: dict[str, Any]) -> Any:
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if "id" in data and "method" in data:
                error = exc.to_response_error()
                error.message = f"invalid params for {data.get('method')}: {error.message or 'could not be read'}"
                self._send_response(data["id"], error=error)
            raise

    def _send_response(self, msg_id: Any, result: Any = None, error: Any = None) -> None:
        if error is not None and error.data is not None:
            # pygls attaches the traceback, which already went to the server's log: the editor gets the message.
            error = type(error)(code=error.code, message=error.message)
        super()._send_response(msg_id, result, error)

    def _handle_cancel_notification(self, msg_id: Any) -> None:
        server = self._server
        if isinstance(server, KimiServer):
            job = server.jobs.by_request(msg_id)
            if job is not None:
                asyncio.get_running_loop().create_task(server.jobs.cancel(job.id))
        super()._handle_cancel_notification(msg_id)


class KimiServer(LanguageServer):
    def __init__(self, model_factory: Callable[[Settings], ChatModel] = _default_model) -> None:
        super().__init__("kimi-lsp", __version__, protocol_cls=KimiProtocol)
        self.config = ConfigStore()
        self.jobs = JobManager(self, model_factory)
        self.tests = TestWatcher(self)
        self._background: set[asyncio.Task[Any]] = set()
        self.features = actions.ClientFeatures(tags=False, resolve=False)

    # --- small helpers the features use -------------------------------------------------------------

    def log(self, text: str, kind: types.MessageType = types.MessageType.Log) -> None:
        self.window_log_message(types.LogMessageParams(type=kind, message=text))

    def show(self, kind: types.MessageType, text: str) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=text))

    def background(self, coro: Any) -> None:
        """Run ``coro`` without blocking the handler; keep a reference so it is not collected mid-way."""
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def open_documents(self) -> dict[str, OpenDocument]:
        return {uri: OpenDocument(doc.source, doc.version) for uri, doc in self.workspace.text_documents.items()}

    def folder_for(self, uri: str | None) -> FolderConfig:
        """The workspace folder a job on ``uri`` runs in; a clear error when there is none to pick."""
        if uri is not None and uri_to_path(uri) is None:
            raise KimiError(f"{uri} is not a file on disk: save it inside a workspace folder first")
        path = uri_to_path(uri)
        if path is not None:
            config = self.config.for_path(path)
            if config is not None:
                return config
            # A file outside every workspace folder: its repository, never a guess like the home folder.
            repository = _repository_of(path)
            if repository is None:
                raise KimiError(f"{path} is outside every workspace folder and every git repository")
            return self.config.load(repository)
        if len(self.config.folders) == 1:
            return next(iter(self.config.folders.values()))
        if not self.config.folders:
            raise KimiError("no workspace folder is open")
        raise KimiError("several workspace folders are open: say which file the job is about ('uri')")

    def index_event(self, uri: str, kind: str, text: str | None = None) -> None:
        """Keep the folder's warm index current: overlay unsaved text, re-stat saved or changed files."""
        path = uri_to_path(uri)
        config = self.config.for_path(path) if path is not None else None
        if config is None or path is None:
            return
        relpath = path.relative_to(config.root).as_posix()
        index = config.index
        if kind == "overlay" and text is not None:
            config.gate.apply(lambda: index.set_overlay(relpath, text))
        elif kind == "close":
            config.gate.apply(lambda: index.clear_overlay(relpath))
        elif kind == "deleted":
            config.gate.apply(lambda: index.remove(relpath))
        elif index.scanned:
            config.gate.apply(lambda: index.update(relpath))

    async def warm_indexes(self) -> None:
        """Scan every folder once, in a thread, so the first job does not pay for it."""
        for config in list(self.config.folders.values()):
            if not config.index.scanned:
                try:
                    await asyncio.to_thread(_scan, config)
                except Exception as exc:  # the job will scan (and report) again; the server stays up
                    self.log(f"indexing {config.root} failed: {exc!r}")

    def overlays(self, root: Path) -> dict[str, str]:
        """Open documents under ``root``, keyed by workspace-relative path: the unsaved state wins over disk.

        Secret files (an open ``.env``) are left out: they never reach the shadow, let alone a prompt.
        """
        out: dict[str, str] = {}
        for uri, doc in self.workspace.text_documents.items():
            path = uri_to_path(uri)
            if path is None:
                continue
            try:
                relpath = path.relative_to(root).as_posix()
            except ValueError:
                continue
            if relpath in ("", ".") or relpath.startswith("../") or is_secret_path(relpath):
                continue
            out[relpath] = doc.source
        return out


def _repository_of(path: Path) -> Path | None:
    for folder in path.parents:
        if (folder / ".git").exists():
            return folder
    return None


def _scan(config: FolderConfig) -> None:
    with config.gate.reading():
        config.index.scan()


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


def build_server(model_factory: Callable[[Settings], ChatModel] = _default_model) -> KimiServer:
    server = KimiServer(model_factory)
    code_action_options = types.CodeActionOptions(
        code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite],
        resolve_provider=False,
    )

    @server.feature(types.INITIALIZE)
    def initialize(ls: KimiServer, params: types.InitializeParams) -> None:
        options = params.initialization_options
        if isinstance(options, dict):
            ls.config.init_options = options
        elif options is not None:
            ls.config.errors.append("initializationOptions must be an object; ignored")
        ls.features = actions.ClientFeatures.of(params.capabilities)
        folders = [uri_to_path(f.uri) for f in params.workspace_folders or []]
        if not folders and params.root_uri:
            folders = [uri_to_path(params.root_uri)]
        elif not folders and params.root_path:
            folders = [Path(params.root_path)]
        for folder in folders:
            if folder is not None:
                ls.config.load(folder)

    @server.feature(types.INITIALIZED)
    async def initialized(ls: KimiServer, params: types.InitializedParams) -> None:
        for message in ls.config.errors:
            ls.show(types.MessageType.Error, f"Kimi: {message}")
        show_settings_warnings(ls)
        await refresh_configuration(ls)
        await watch_files(ls)
        ls.background(ls.warm_indexes())

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: KimiServer, params: types.DidChangeConfigurationParams) -> None:
        settings = params.settings
        if isinstance(settings, dict) and isinstance(settings.get("kimi"), dict):
            ls.config.client_settings = settings["kimi"]
            reload_all(ls)
        else:
            await refresh_configuration(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS)
    def did_change_folders(ls: KimiServer, params: types.DidChangeWorkspaceFoldersParams) -> None:
        for removed in params.event.removed:
            path = uri_to_path(removed.uri)
            if path is not None:
                ls.config.remove(path)
        for added in params.event.added:
            path = uri_to_path(added.uri)
            if path is not None:
                ls.config.load(path)

    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: KimiServer, params: types.DidOpenTextDocumentParams) -> None:
        ls.index_event(params.text_document.uri, "overlay", params.text_document.text)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: KimiServer, params: types.DidChangeTextDocumentParams) -> None:
        ls.jobs.text_changed(params.text_document.uri)
        document = ls.workspace.text_documents.get(params.text_document.uri)
        if document is not None:
            ls.index_event(params.text_document.uri, "overlay", document.source)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched(ls: KimiServer, params: types.DidChangeWatchedFilesParams) -> None:
        for change in params.changes:
            deleted = change.type == types.FileChangeType.Deleted
            ls.index_event(change.uri, "deleted" if deleted else "changed")

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: KimiServer, params: types.DidSaveTextDocumentParams) -> None:
        ls.index_event(params.text_document.uri, "saved")
        path = uri_to_path(params.text_document.uri)
        config = ls.config.for_path(path) if path else None
        if config is not None and path is not None and path.name in ("pyproject.toml", ".kimi-lsp.toml"):
            reload_all(ls)
        if config is not None and config.loaded.settings.run_tests_on_save and config.test_command:
            ls.tests.schedule(config)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: KimiServer, params: types.DidCloseTextDocumentParams) -> None:
        ls.index_event(params.text_document.uri, "close")

    @server.feature(types.TEXT_DOCUMENT_CODE_ACTION, code_action_options)
    def code_action(ls: KimiServer, params: types.CodeActionParams) -> list[types.CodeAction]:
        config = ls.config.for_uri(params.text_document.uri, uri_to_path)
        proposals = ls.jobs.proposal_actions()
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

    @server.feature(types.SHUTDOWN)
    async def shutdown(ls: KimiServer, *args: Any) -> None:
        await ls.jobs.shutdown()
        await ls.tests.stop()

    @server.command(actions.FIX)
    @_answers_errors
    async def fix(ls: KimiServer, *args: Any) -> dict[str, Any]:
        return await start_job(ls, "fix", _arg(args, actions.FIX))

    @server.command(actions.FIX_TESTS)
    @_answers_errors
    async def fix_tests(ls: KimiServer, *args: Any) -> dict[str, Any]:
        return await start_job(ls, "fix_tests", _arg(args, actions.FIX_TESTS))

    @server.command(actions.REFACTOR)
    @_answers_errors
    async def refactor(ls: KimiServer, *args: Any) -> dict[str, Any]:
        return await start_job(ls, "refactor", _arg(args, actions.REFACTOR))

    @server.command(actions.CANCEL)
    @_answers_errors
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
    @_answers_errors
    async def apply(ls: KimiServer, *args: Any) -> dict[str, Any]:
        job_id = _job_id(_arg(args, actions.APPLY), actions.APPLY)
        applied, why = await ls.jobs.apply(job_id)
        if not applied:
            ls.show(types.MessageType.Warning, f"Kimi: not applied: {why}")
        return {"applied": applied, "reason": why}

    @server.command(actions.SHOW_DIFF)
    @_answers_errors
    async def show_diff(ls: KimiServer, *args: Any) -> dict[str, Any]:
        job_id = _job_id(_arg(args, actions.SHOW_DIFF), actions.SHOW_DIFF)
        diff = await ls.jobs.show_diff(job_id)
        if diff is None:
            raise KimiError(f"kimi.showDiff: no result for job {job_id}")
        return {"jobId": job_id, "diff": diff}

    @server.command(actions.DISCARD)
    @_answers_errors
    def discard(ls: KimiServer, *args: Any) -> dict[str, Any]:
        job_id = _job_id(_arg(args, actions.DISCARD), actions.DISCARD)
        return {"discarded": ls.jobs.discard(job_id)}

    @server.command(actions.STATUS)
    @_answers_errors
    def status(ls: KimiServer, *args: Any) -> dict[str, Any]:
        if _arg(args, actions.STATUS).get("show"):
            # Asked from a code action, whose command's answer no editor shows: say it.
            ls.show(types.MessageType.Info, "Kimi: " + "\n".join(ls.jobs.describe()))
        return {
            "jobs": [job.to_json() for job in ls.jobs.jobs.values()],
            "proposals": sorted(ls.jobs.proposals),
            "folders": {str(root): cfg.test_command for root, cfg in ls.config.folders.items()},
        }

    return server


def _job_id(arg: dict[str, Any], command: str) -> str:
    job_id = arg.get("jobId")
    if not isinstance(job_id, str) or not job_id:
        raise KimiError(f"{command}: a 'jobId' string is required")
    return job_id


async def watch_files(ls: KimiServer) -> None:
    """Ask the client to report file changes on disk (where it can), so the index need not rescan."""
    workspace = ls.client_capabilities.workspace
    watched = workspace.did_change_watched_files if workspace else None
    if not (watched and watched.dynamic_registration):
        return
    options = types.DidChangeWatchedFilesRegistrationOptions(watchers=[types.FileSystemWatcher(glob_pattern="**/*")])
    registration = types.Registration(
        id="kimi-watch", method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES, register_options=options
    )
    try:
        await asyncio.wait_for(
            ls.client_register_capability_async(types.RegistrationParams(registrations=[registration])), 5.0
        )
    except Exception as exc:
        ls.log(f"file watching not available: {exc!r}")


def show_settings_warnings(ls: KimiServer) -> None:
    for warning in ls.config.unseen_warnings():
        ls.show(types.MessageType.Warning, f"Kimi: {warning}")


def reload_all(ls: KimiServer) -> None:
    for root in list(ls.config.folders):
        ls.config.load(root)
    show_settings_warnings(ls)


async def refresh_configuration(ls: KimiServer) -> None:
    """Ask the client for section ``kimi`` (when it can answer) and reload every folder with it."""
    workspace = ls.client_capabilities.workspace
    if not (workspace and workspace.configuration):
        return
    try:
        answer = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section="kimi")])
            ),
            5.0,
        )
    except Exception as exc:
        ls.log(f"workspace/configuration failed: {exc!r}")
        return
    if answer and isinstance(answer[0], dict):
        ls.config.client_settings = answer[0]
        reload_all(ls)


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
        root=root,
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


def _exit_gracefully_on(signum: int, server: KimiServer) -> None:
    """On SIGTERM, cancel every job (killing its test process group, removing its shadow), then exit.

    The default action would orphan the tests; raising inside the loop would hang on pygls's stdin thread.
    """

    async def stop() -> None:
        try:
            await asyncio.wait_for(asyncio.gather(server.jobs.shutdown(), server.tests.stop()), 10.0)
        finally:
            os._exit(128 + signum)

    def handler(_signum: int, _frame: Any) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            os._exit(128 + signum)
        loop.call_soon_threadsafe(lambda: server.background(stop()))

    signal.signal(signum, handler)


def serve(tcp: str | None = None) -> int:
    logging.basicConfig(level=os.environ.get("KIMI_LSP_LOG", "WARNING"))
    server = build_server()
    _exit_gracefully_on(signal.SIGTERM, server)
    if tcp:
        host, _, port = tcp.rpartition(":")
        if not port.isdigit():
            raise KimiError(f"--tcp {tcp}: expected HOST:PORT")
        if host not in ("", "127.0.0.1", "localhost", "::1"):
            # Whoever connects can choose the endpoint (and so receive the key) and the test command.
            print(
                f"kimi-lsp: warning: listening on {host}: anyone who can reach it can run your test command "
                "and direct your API key to any endpoint; prefer 127.0.0.1",
                file=sys.stderr,
            )
        server.start_tcp(host or "127.0.0.1", int(port))
    else:
        server.start_io(stdin=cast(BinaryIO, BoundedStdin(sys.stdin.buffer)))
    return 0
