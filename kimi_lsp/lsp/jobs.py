"""Jobs inside the server: started by a command, reported through `$/progress`, cancellable, and delivered
to the user (applied, or held as a proposal: see ``proposals``).

``executeCommand`` returns as soon as the job is registered; the job itself runs as an asyncio task that
owns its model stream, its test process group and its shadow folder, all released when it ends or is
cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types
from pygls.progress import Progress

from kimi_lsp.agent.job import run_job
from kimi_lsp.agent.jobdata import JobRequest, JobResult
from kimi_lsp.agent.loop import ChatModel, StepEvent
from kimi_lsp.errors import KimiError
from kimi_lsp.lsp.config import Folder
from kimi_lsp.lsp.proposals import Proposals, tests_note
from kimi_lsp.settings import Settings

__all__ = ["JobManager", "JobsClient", "Region", "ServerJob"]

logger = logging.getLogger(__name__)

# While the model thinks, the progress line is refreshed this often with the time spent (the loop reports tokens
# only when a turn ends, so a first turn would otherwise read "0 tokens" for its whole length).
THINKING_TICK_SECONDS = 1.0
APPLY_WAIT_SECONDS = 5.0  # an editor applies at once; longer means it asks the user, and the job must not wait


class JobsClient(Protocol):
    """What running jobs need of the server: messages for the user and the log, and ``$/progress``."""

    @property
    def client_capabilities(self) -> types.ClientCapabilities: ...

    @property
    def work_done_progress(self) -> Progress: ...

    def log(self, text: str) -> None: ...

    def show(self, kind: types.MessageType, text: str) -> None: ...


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
    """One job the editor started: what it runs, where, and how far it got."""

    id: str
    title: str
    folder: Folder  # the workspace folder it runs in, with its warm index
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

    @property
    def root(self) -> Path:
        return self.folder.root

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
class JobManager:
    """The jobs of this session: starts them (one at a time per region), cancels them, reports their
    progress and hands each result over to ``proposals``."""

    client: JobsClient
    model_factory: Callable[[Settings], ChatModel]
    proposals: Proposals
    jobs: dict[str, ServerJob] = field(default_factory=dict)

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
        lines += [f"{p.title} (job {p.job_id}): waiting for review" for p in self.proposals.pending.values()]
        return lines or ["no job is running"]

    def diff_of(self, job_id: str) -> str | None:
        """The diff of a job's change: waiting for review, or of a job that finished with one."""
        stored = self.proposals.pending.get(job_id)
        if stored is not None:
            return stored.result.diff
        job = self.jobs.get(job_id)
        return job.result.diff if job is not None and job.result is not None else None

    def by_token(self, token: Any) -> ServerJob | None:
        return next((j for j in self.jobs.values() if j.token == token), None)

    def by_request(self, request_id: Any) -> ServerJob | None:
        return next((j for j in self.running() if j.request_id == request_id), None)

    async def shutdown(self) -> None:
        await self.cancel(None, timeout=5.0)

    # --- one job's life -----------------------------------------------------------------------------

    async def _run(self, job: ServerJob) -> None:
        progress = False
        self.client.log(f"[{job.id}] started: {job.title} in {job.root}")

        def report(message: str) -> None:
            job.last = message
            if progress:
                # No percentage, in the begin or here: VS Code's client drops a report without one after a
                # begin that had one, and a step count is not a share of the work anyway.
                self.client.work_done_progress.report(job.token, types.WorkDoneProgressReport(message=message))

        def on_event(event: StepEvent) -> None:
            if event.phase == "thinking":
                job.thinking = (event, time.monotonic())
                report(_thinking(event, 0.0))
                return
            job.thinking = None
            report(event.describe())
            if event.phase == "tool":
                self.client.log(f"[{job.id}] {job.last}")
                if not progress:
                    self._tell(job, types.MessageType.Log, job.last)

        def on_log(text: str) -> None:
            self.client.log(f"[{job.id}] {text}")
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
            folder = job.folder
            try:
                job.result = await run_job(
                    job.request,
                    job.settings,
                    model,
                    on_event=on_event,
                    on_log=on_log,
                    index=folder.index if folder.index.scanned else None,
                    estimator=folder.estimator,
                    index_guard=folder.gate.reading,
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
            self.client.log(f"[{job.id}] cancelled; nothing applied")
        except KimiError as exc:
            job.state = "failed"
            end_message = f"Failed: {exc}"
            told = True
            self.client.show(types.MessageType.Error, f"Kimi: {job.title} failed: {exc}")
        except Exception as exc:  # a bug must end in a message, not a silent dead job
            job.state = "failed"
            end_message = f"Failed: {exc!r}"
            told = True
            logger.exception("job %s failed", job.id)
            self.client.show(types.MessageType.Error, f"Kimi: {job.title} failed unexpectedly: {exc!r}")
        finally:
            ticker.cancel()
            job.last = end_message
            if progress:
                self.client.work_done_progress.end(job.token, types.WorkDoneProgressEnd(message=end_message))
            elif not told:
                self._tell(job, end_kind, end_message)
            self.client.log(f"[{job.id}] {end_message}")

    def _tell(self, job: ServerJob, kind: types.MessageType, text: str) -> None:
        self.client.show(kind, f"Kimi: {job.title}: {text}")

    async def _tick(self, job: ServerJob, report: Callable[[str], None]) -> None:
        """While the model thinks, refresh the progress line with the time spent on this turn."""
        while True:
            await asyncio.sleep(THINKING_TICK_SECONDS)
            if job.thinking is not None:
                event, since = job.thinking
                report(_thinking(event, time.monotonic() - since))

    async def _begin_progress(self, job: ServerJob) -> bool:
        caps = self.client.client_capabilities.window
        if not (caps and caps.work_done_progress):
            return False
        try:
            await asyncio.wait_for(self.client.work_done_progress.create_async(job.token), 10.0)
        except Exception as exc:
            self.client.log(f"[{job.id}] the client refused a progress token ({exc!r}); progress goes to the log")
            return False
        self.client.work_done_progress.begin(
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
            self.client.show(
                types.MessageType.Warning,
                f"Kimi: {job.title}: the tests still fail after {result.steps} steps; nothing applied. "
                f"{tests_note(result)}Transcript: {result.transcript}",
            )
            ending = f"Not fixed: the tests still fail. {result.tests_note}" if result.tests_note else ""
            return ending or "Not fixed: the tests still fail", True
        stored = self.proposals.keep(job.id, job.title, job.root, result)
        summary = result.summary or "change ready"
        if job.settings.apply_mode == "apply" and stored.verified:
            # Keeps the tests' verdict in view: it was reported an instant ago, and editors show the latest only.
            report(f"applying the change · {job.last}")
            pending = asyncio.ensure_future(self.proposals.apply(job.id))
            try:
                await asyncio.wait({pending}, timeout=APPLY_WAIT_SECONDS)
            finally:
                if not pending.done():
                    # The editor is asking the user first (Emacs confirms server edits): the job ends now and
                    # does not hold its region or its progress while they decide.
                    self.proposals.finish_later(stored, pending)
            if not pending.done():
                return "Sent to the editor, which is asking you to confirm it", False
            applied, why = pending.result()
            if applied:
                return f"Applied ({len(result.files)} file(s)). {tests_note(result)}{summary}", False
            await self.proposals.offer(stored, f"not applied: {why}")
            return f"Not applied: {why}", True
        await self.proposals.offer(
            stored, "verified by the tests" if stored.verified else "NOT verified: no test command"
        )
        return f"Ready for review. {summary}", True


def _thinking(event: StepEvent, elapsed: float) -> str:
    """ "step 2/100 · thinking 12s · 3.1K tokens": the turn's time so far, and the tokens once any were counted."""
    head, _, tokens = event.describe().rpartition(" · ")
    text = head.replace(" · thinking", f" · thinking {int(elapsed)}s")
    return f"{text} · {tokens}" if event.tokens else text


def _settle(job: ServerJob) -> None:
    """A task cancelled before its first step never ran ``_run``'s handlers: it must not stay running."""
    if job.state == "running":
        job.state = "cancelled"
        job.last = "Cancelled"
