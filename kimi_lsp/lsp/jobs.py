"""Jobs inside the server: started by a command, reported through `$/progress`, cancellable, delivered as edits.

``executeCommand`` returns as soon as the job is registered; the job itself runs as an asyncio task that
owns its model stream, its test process group and its shadow folder, all released when it ends or is
cancelled.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from kimi_lsp.agent.job import run_job
from kimi_lsp.agent.jobdata import JobRequest, JobResult
from kimi_lsp.agent.loop import ChatModel, StepEvent
from kimi_lsp.agent.transcript import state_dir
from kimi_lsp.errors import KimiError
from kimi_lsp.lsp.actions import Proposal
from kimi_lsp.lsp.results import EditCapabilities, Rebased, mismatched, paths_of, rebase_changes
from kimi_lsp.settings import Settings

if TYPE_CHECKING:
    from kimi_lsp.lsp.core import KimiServer

logger = logging.getLogger(__name__)

# While the model thinks, the progress line is refreshed this often with the time spent (the loop reports tokens
# only when a turn ends, so a first turn would otherwise read "0 tokens" for its whole length).
THINKING_TICK_SECONDS = 1.0
APPLY_WAIT_SECONDS = 5.0  # an editor applies at once; longer means it asks the user, and the job must not wait


@dataclass(frozen=True)
class Region:
    """What a job works on; two jobs on overlapping regions would fight over the same lines."""

    key: str  # a document URI, or "tests:<root>"
    start: int = 0
    end: int = 1 << 30

    def overlaps(self, other: Region) -> bool:
        return self.key == other.key and self.start <= other.end and other.start <= self.end


@dataclass
class ServerJob:
    id: str
    title: str
    root: Path
    region: Region
    settings: Settings
    request: JobRequest
    token: str
    request_id: Any = None
    task: asyncio.Task[None] | None = None
    state: str = "running"  # running | done | cancelled | failed
    last: str = "starting"
    result: JobResult | None = None
    thinking: tuple[StepEvent, float] | None = None  # while the model thinks: the turn's event and its start

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "jobId": self.id,
            "title": self.title,
            "state": self.state,
            "progress": self.last,
        }
        if self.result is not None:
            out["status"] = self.result.status
            out["summary"] = self.result.summary
            out["testsChanged"] = self.result.tests_changed
        return out


@dataclass
class StoredProposal:
    job: ServerJob
    result: JobResult
    label: str
    verified: bool
    edit: types.WorkspaceEdit | None = None
    built_for: dict[str, int | None] = field(default_factory=dict)  # the open documents' versions ``edit`` is for
    applying: bool = False  # an apply is in flight: a second one (double click, prompt + action) must wait

    def fresh(self, documents: dict[str, Any]) -> bool:
        """Whether ``edit`` still fits the documents: after the user typed, an action must run ``kimi.apply``
        (which rebases) instead: an editor skips, refuses or misplaces an edit made for older text."""
        return all(_version(documents, uri) == version for uri, version in self.built_for.items())


@dataclass
class Unconfirmed:
    """A change the editor said it applied whose text the server has not seen yet.

    Editors send the resulting ``didChange`` when they get to it (eglot: after the user's next key), so the
    answer ``applied: true`` is trusted until a later change of one of these documents shows the text
    without the change (Neovim answers ``applied: true`` and skips an edit for a version it has moved past).
    """

    stored: StoredProposal
    versions: dict[str, int | None]  # each document's version when the editor answered


@dataclass
class JobManager:
    server: KimiServer
    model_factory: Callable[[Settings], ChatModel]
    jobs: dict[str, ServerJob] = field(default_factory=dict)
    proposals: dict[str, StoredProposal] = field(default_factory=dict)
    unconfirmed: dict[str, Unconfirmed] = field(default_factory=dict)

    # --- starting and stopping ----------------------------------------------------------------------

    def running(self) -> list[ServerJob]:
        return [job for job in self.jobs.values() if job.state == "running"]

    def start(self, job: ServerJob) -> ServerJob:
        for other in self.running():
            if other.region.overlaps(job.region):
                raise KimiError(
                    f"'{other.title}' is already running on this code (job {other.id}); "
                    "cancel it (Kimi: Cancel) before starting another"
                )
        self.jobs[job.id] = job
        job.task = asyncio.get_running_loop().create_task(self._run(job), name=f"kimi-job-{job.id}")
        job.task.add_done_callback(lambda _task: _settle(job))
        return job

    async def cancel(self, job_id: str | None = None, *, timeout: float = 2.0) -> list[str]:
        """Cancel one job (or all) and wait, briefly, for it to release its stream, tests and shadow."""
        targets = [j for j in self.running() if job_id is None or j.id == job_id]
        tasks = [j.task for j in targets if j.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        return [j.id for j in targets]

    def describe(self) -> list[str]:
        """What runs and what waits for review, one line each, for a person."""
        lines = [f"{job.title} (job {job.id}): {job.last}" for job in self.running()]
        lines += [f"{p.job.title} (job {p.job.id}): waiting for review" for p in self.proposals.values()]
        return lines or ["no job is running"]

    def by_token(self, token: Any) -> ServerJob | None:
        return next((j for j in self.jobs.values() if j.token == token), None)

    def by_request(self, request_id: Any) -> ServerJob | None:
        return next((j for j in self.running() if j.request_id == request_id), None)

    async def shutdown(self) -> None:
        await self.cancel(None, timeout=5.0)

    # --- one job's life -----------------------------------------------------------------------------

    async def _run(self, job: ServerJob) -> None:
        progress = False
        self.server.log(f"[{job.id}] started: {job.title} in {job.root}")

        def report(message: str) -> None:
            job.last = message
            if progress:
                # No percentage, in the begin or here: VS Code's client drops a report without one after a
                # begin that had one, and a step count is not a share of the work anyway.
                self.server.work_done_progress.report(job.token, types.WorkDoneProgressReport(message=message))

        def on_event(event: StepEvent) -> None:
            if event.phase == "thinking":
                job.thinking = (event, time.monotonic())
                report(_thinking(event, 0.0))
                return
            job.thinking = None
            report(event.describe())
            if event.phase == "tool":
                self.server.log(f"[{job.id}] {job.last}")
                if not progress:
                    self._tell(job, types.MessageType.Log, job.last)

        def on_log(text: str) -> None:
            self.server.log(f"[{job.id}] {text}")
            report(text)

        end_message = "Done"
        end_kind = types.MessageType.Info
        told = False  # the outcome was already shown to the user (an error, a warning, a question)
        ticker = asyncio.get_running_loop().create_task(self._tick(job, report))
        try:
            # Inside the try: a cancel while the client has not yet answered for the token ends the job too.
            progress = await self._begin_progress(job)
            if not progress:
                # No $/progress in this client (eglot): start, steps and end go to window/showMessage.
                self._tell(job, types.MessageType.Info, f"started (job {job.id}); cancel with the code action")
            model = self.model_factory(job.settings)
            try:
                folder = self.server.config.for_path(job.root)
                job.result = await run_job(
                    job.request,
                    job.settings,
                    model,
                    on_event=on_event,
                    on_log=on_log,
                    index=folder.index if folder is not None and folder.index.scanned else None,
                    estimator=folder.estimator if folder is not None else None,
                    index_guard=folder.gate.reading if folder is not None else None,
                )
            finally:
                job.thinking = None
                closer = getattr(model, "aclose", None)
                if closer is not None:
                    await asyncio.shield(closer())
            # The region stays taken until the result is delivered: a new job must not race the edit.
            end_message, told = await self._deliver(job, job.result, report)
            if job.result.sandboxed is False:
                end_message += " (tests ran without the sandbox)"
            job.state = "done"
        except asyncio.CancelledError:
            job.state = "cancelled"
            end_message = "Cancelled"
            end_kind = types.MessageType.Warning
            self.server.log(f"[{job.id}] cancelled; nothing applied")
        except KimiError as exc:
            job.state = "failed"
            end_message = f"Failed: {exc}"
            told = True
            self.server.show(types.MessageType.Error, f"Kimi: {job.title} failed: {exc}")
        except Exception as exc:  # a bug must end in a message, not a silent dead job
            job.state = "failed"
            end_message = f"Failed: {exc!r}"
            told = True
            logger.exception("job %s failed", job.id)
            self.server.show(types.MessageType.Error, f"Kimi: {job.title} failed unexpectedly: {exc!r}")
        finally:
            ticker.cancel()
            job.last = end_message
            if progress:
                self.server.work_done_progress.end(job.token, types.WorkDoneProgressEnd(message=end_message))
            elif not told:
                self._tell(job, end_kind, end_message)
            self.server.log(f"[{job.id}] {end_message}")

    def _tell(self, job: ServerJob, kind: types.MessageType, text: str) -> None:
        self.server.show(kind, f"Kimi: {job.title}: {text}")

    async def _tick(self, job: ServerJob, report: Callable[[str], None]) -> None:
        """While the model thinks, refresh the progress line with the time spent on this turn."""
        while True:
            await asyncio.sleep(THINKING_TICK_SECONDS)
            if job.thinking is not None:
                event, since = job.thinking
                report(_thinking(event, time.monotonic() - since))

    async def _begin_progress(self, job: ServerJob) -> bool:
        caps = self.server.client_capabilities.window
        if not (caps and caps.work_done_progress):
            return False
        try:
            await asyncio.wait_for(self.server.work_done_progress.create_async(job.token), 10.0)
        except Exception as exc:
            self.server.log(f"[{job.id}] the client refused a progress token ({exc!r}); progress goes to the log")
            return False
        self.server.work_done_progress.begin(
            job.token,
            types.WorkDoneProgressBegin(title=f"Kimi: {job.title}", cancellable=True, message="starting"),
        )
        return True

    # --- results ------------------------------------------------------------------------------------

    async def _deliver(self, job: ServerJob, result: JobResult, report: Callable[[str], None]) -> tuple[str, bool]:
        """Hand the result over; the job's end message, and whether the user was already told the outcome."""
        if result.status in ("no_change",):
            return f"No change. {result.summary}".strip(), False
        if result.status == "not_fixed":
            self.server.show(
                types.MessageType.Warning,
                f"Kimi: {job.title}: the tests still fail after {result.steps} steps; nothing applied. "
                f"{_note(result)}Transcript: {result.transcript}",
            )
            ending = f"Not fixed: the tests still fail. {result.tests_note}" if result.tests_note else ""
            return ending or "Not fixed: the tests still fail", True
        verified = result.status == "fixed"
        label = f"Kimi: {_titled(job.title, result)}"
        stored = StoredProposal(job, result, label, verified)
        self.proposals[job.id] = stored
        summary = result.summary or "change ready"
        if job.settings.apply_mode == "apply" and verified:
            # Keeps the tests' verdict in view: it was reported an instant ago, and editors show the latest only.
            report(f"applying the change · {job.last}")
            pending = asyncio.ensure_future(self.apply(job.id))
            try:
                await asyncio.wait({pending}, timeout=APPLY_WAIT_SECONDS)
            finally:
                if not pending.done():
                    # The editor is asking the user first (Emacs confirms server edits): the job ends now and
                    # does not hold its region or its progress while they decide.
                    self.server.background(self._finish_apply(stored, pending))
            if not pending.done():
                return "Sent to the editor, which is asking you to confirm it", False
            applied, why = pending.result()
            if applied:
                return f"Applied ({len(result.files)} file(s)). {_note(result)}{summary}", False
            await self._offer(stored, f"not applied: {why}")
            return f"Not applied: {why}", True
        await self._offer(stored, "verified by the tests" if verified else "NOT verified: no test command")
        return f"Ready for review. {summary}", True

    def _caps(self) -> EditCapabilities:
        negotiated = self.server.workspace.position_encoding
        encoding = str(getattr(negotiated, "value", negotiated) or "utf-16")
        return EditCapabilities.of(self.server.client_capabilities, encoding)

    def proposal_actions(self) -> list[Proposal]:
        """Proposals as code-action material, from memory only (the edit was built when it was offered)."""
        documents = self.server.open_documents()
        return [
            Proposal(
                p.job.id,
                _titled(p.job.title, p.result),
                paths_of(p.job.root, p.result.files),
                p.edit if p.fresh(documents) else None,
            )
            for p in self.proposals.values()
        ]

    def _rebase(self, stored: StoredProposal, *, confirm: bool = False) -> Rebased:
        """The proposal's change as an edit for the documents as they are now (see ``rebase_changes``).

        ``confirm`` marks it as needing the user's confirmation in the editor: only for an edit sent to be
        reviewed there. A change the user already chose (apply mode, an Apply button, a code action) must land
        as it is: VS Code would otherwise hold it in its refactor preview with every box unticked.
        """
        return rebase_changes(
            stored.job.root,
            stored.result.files,
            self.server.open_documents(),
            _read_disk,
            self._caps(),
            label=stored.label,
            needs_confirmation=confirm,
            description=_review_note(stored) if confirm else None,
        )

    async def _offer(self, stored: StoredProposal, note: str) -> None:
        self._keep_edit(stored, self._rebase(stored))
        if stored.edit is not None and self._caps().change_annotations:
            # The editor can show the change and ask (VS Code: a diff with Apply and Discard). Sent in the
            # background: the job ends now, whenever the user answers.
            self.server.background(self._send_for_review(stored.job.id))
            return
        message = f"Kimi: {stored.job.title}: {note}. {_note(stored.result)}{stored.result.summary}".strip()
        choices = ["Apply", "Show diff", "Discard"]
        asyncio.get_running_loop().create_task(self._ask(stored.job.id, message, choices))

    def _keep_edit(self, stored: StoredProposal, rebased: Rebased) -> None:
        documents = self.server.open_documents()
        stored.edit = rebased.edit
        stored.built_for = {uri: _version(documents, uri) for uri in rebased.expected}

    async def _finish_apply(self, stored: StoredProposal, pending: asyncio.Future[tuple[bool, str]]) -> None:
        """Finish an apply the editor answers after the job ended: a refusal is offered like any other."""
        applied, why = await pending
        if applied:
            self.server.log(f"[{stored.job.id}] applied")
        else:
            await self._offer(stored, f"not applied: {why}")

    async def _send_for_review(self, job_id: str) -> None:
        """Send the proposal for the user to review in the editor; a discard drops it, a failure is shown."""
        applied, why = await self.apply(job_id, confirm=True)
        if applied:
            self.server.log(f"[{job_id}] applied after review")
        elif job_id not in self.proposals:
            self.server.log(f"[{job_id}] {why}")
        else:
            self.server.show(types.MessageType.Warning, f"Kimi: not applied: {why}")

    async def _ask(self, job_id: str, message: str, choices: list[str]) -> None:
        try:
            answer = await self.server.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Info,
                    message=message,
                    actions=[types.MessageActionItem(c) for c in choices],
                )
            )
        except Exception:
            return
        if answer is None:
            return
        if answer.title == "Apply":
            applied, why = await self.apply(job_id)
            if not applied:
                self.server.show(types.MessageType.Warning, f"Kimi: not applied: {why}")
        elif answer.title == "Show diff":
            await self.show_diff(job_id)
        elif answer.title == "Discard":
            self.discard(job_id)

    async def apply(self, job_id: str, *, confirm: bool = False) -> tuple[bool, str]:
        """Send the proposal as ``workspace/applyEdit``, rebased onto the current text, and check it landed.

        ``confirm``: the editor asks the user first (see ``_rebase``); their "no" discards the proposal.
        """
        stored = self.proposals.get(job_id)
        if stored is None:
            return False, f"no pending change for job {job_id}"
        if stored.applying:
            return False, "this change is already being applied"
        stored.applying = True
        try:
            return await self._apply(job_id, stored, confirm)
        finally:
            stored.applying = False

    async def _apply(self, job_id: str, stored: StoredProposal, confirm: bool) -> tuple[bool, str]:
        rebased = self._rebase(stored, confirm=confirm)
        if rebased.conflicts:
            return False, "you edited the same lines meanwhile in " + ", ".join(rebased.conflicts)
        if rebased.unsupported:
            return False, rebased.unsupported
        if rebased.edit is None:
            self.proposals.pop(job_id, None)
            return True, "already in place"
        if rebased.rebased:
            self.server.log(f"[{job_id}] rebased onto your edits in {', '.join(rebased.rebased)}")
        built_for = self.server.open_documents()
        response = await self.server.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=rebased.edit, label=stored.label)
        )
        if not response.applied:
            if response.failure_reason:
                return False, response.failure_reason
            if confirm:
                self.proposals.pop(job_id, None)
                return False, "discarded in the editor's review"
            # Without a reason, the usual cause is a file that changed between sending the edit and applying it.
            return False, "the editor did not apply it (a file may have changed meanwhile)"
        self.proposals.pop(job_id, None)
        documents = self.server.open_documents()
        if mismatched(rebased.expected, documents):
            # Not in the text yet: trusted until a later change of these documents says otherwise.
            check = Unconfirmed(stored, {uri: _version(documents, uri) for uri in rebased.expected})
            self.unconfirmed[job_id] = check
            moved = [uri for uri in rebased.expected if _version(built_for, uri) != check.versions[uri]]
            if moved:  # the editor had already moved past the version the edit was built for
                self._settle_unconfirmed(job_id, check)
        return True, "applied"

    def text_changed(self, uri: str) -> None:
        """A document changed: settle the applied changes that were waiting to be seen in its text."""
        documents = self.server.open_documents()
        for job_id, check in list(self.unconfirmed.items()):
            if uri in check.versions and _version(documents, uri) != check.versions[uri]:
                self._settle_unconfirmed(job_id, check)

    def _settle_unconfirmed(self, job_id: str, check: Unconfirmed) -> None:
        """Decide from the text now: the change is there, or it is not (offer it again, say so once)."""
        self.unconfirmed.pop(job_id, None)
        rebased = self._rebase(check.stored)
        if rebased.conflicts or rebased.edit is None:
            # In place, or the user already typed over those very lines: nothing to offer again.
            return
        stored = check.stored
        self._keep_edit(stored, rebased)
        self.proposals[job_id] = stored
        files = ", ".join(sorted(c.path for c in stored.result.files))
        self.server.show(
            types.MessageType.Warning,
            f"Kimi: {stored.job.title}: the editor skipped the change to {files}; "
            f'it waits as the code action "Kimi: Apply {stored.job.title}"',
        )

    def discard(self, job_id: str) -> bool:
        return self.proposals.pop(job_id, None) is not None

    def diff_of(self, job_id: str) -> str | None:
        stored = self.proposals.get(job_id)
        if stored is not None:
            return stored.result.diff
        job = self.jobs.get(job_id)
        return job.result.diff if job is not None and job.result is not None else None

    async def show_diff(self, job_id: str) -> str | None:
        diff = self.diff_of(job_id)
        if diff is None:
            return None
        folder = state_dir() / "diffs"
        path = folder / f"{job_id}.diff"
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(diff, encoding="utf-8")
            caps = self.server.client_capabilities.window
            if caps and caps.show_document and caps.show_document.support:
                await self.server.window_show_document_async(
                    types.ShowDocumentParams(uri=path.as_uri(), take_focus=True)
                )
        return diff


def _thinking(event: StepEvent, elapsed: float) -> str:
    """ "step 2/100 · thinking 12s · 3.1K tokens": the turn's time so far, and the tokens once any were counted."""
    head, _, tokens = event.describe().rpartition(" · ")
    text = head.replace(" · thinking", f" · thinking {int(elapsed)}s")
    return f"{text} · {tokens}" if event.tokens else text


def _titled(title: str, result: JobResult) -> str:
    """A proposal's title, naming the test files it changes (the preview must not hide them)."""
    return f"{title} ({result.tests_label})" if result.tests_label else title


def _note(result: JobResult) -> str:
    """kimi-lsp's own sentence on the test files a change touched, ready to go before the model's summary."""
    return f"{result.tests_note} " if result.tests_note else ""


def _review_note(stored: StoredProposal) -> str:
    """What the user reviewing the change is told: whether the tests vouch for it, the test files it touches,
    and the model's summary."""
    note = "Verified by the tests" if stored.verified else "NOT verified: no test command"
    return f"{note}. {_note(stored.result)}{stored.result.summary}".strip()


def _settle(job: ServerJob) -> None:
    """A task cancelled before its first step never ran ``_run``'s handlers: it must not stay running."""
    if job.state == "running":
        job.state = "cancelled"
        job.last = "Cancelled"


def _version(documents: dict[str, Any], uri: str) -> int | None:
    document = documents.get(uri)
    return document.version if document is not None else None


def _read_disk(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except (FileNotFoundError, IsADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return None
