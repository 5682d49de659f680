"""Finished jobs' changes waiting for the user, and applying them.

A change is rebased onto the documents as they are now, offered (for review in the editor, or as a question
with Apply / Show diff / Discard), sent as ``workspace/applyEdit`` and then confirmed in the text the editor
sends back: an editor may answer "applied" and skip the edit.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from lsprotocol import types

from kimi_lsp.agent.jobdata import JobResult
from kimi_lsp.agent.transcript import state_dir
from kimi_lsp.lsp.actions import Proposal
from kimi_lsp.lsp.rebase import EditCapabilities, OpenDocument, Rebased, mismatched, paths_of, rebase_changes

__all__ = ["Proposals", "ReviewClient", "StoredProposal", "tests_note", "titled"]


class ReviewClient(Protocol):
    """What proposals need of the server: the open documents, how the editor takes edits, and the editor's
    requests (apply an edit, ask a question, show a document)."""

    @property
    def client_capabilities(self) -> types.ClientCapabilities: ...

    def log(self, text: str) -> None: ...

    def show(self, kind: types.MessageType, text: str) -> None: ...

    def background(self, coro: Coroutine[Any, Any, None]) -> None: ...

    def open_documents(self) -> dict[str, OpenDocument]: ...

    def edit_capabilities(self) -> EditCapabilities: ...

    async def workspace_apply_edit_async(
        self, params: types.ApplyWorkspaceEditParams
    ) -> types.ApplyWorkspaceEditResult: ...

    async def window_show_message_request_async(
        self, params: types.ShowMessageRequestParams
    ) -> types.MessageActionItem | None: ...

    async def window_show_document_async(self, params: types.ShowDocumentParams) -> types.ShowDocumentResult: ...


@dataclass
class StoredProposal:
    """A finished job's change waiting for the user, with the edit last built for the open documents."""

    job_id: str
    title: str
    root: Path
    result: JobResult
    edit: types.WorkspaceEdit | None = None
    built_for: dict[str, int | None] = field(default_factory=dict)  # the open documents' versions ``edit`` is for
    applying: bool = False  # an apply is in flight: a second one (double click, prompt + action) must wait

    @property
    def verified(self) -> bool:
        return self.result.status == "fixed"

    @property
    def label(self) -> str:
        return f"Kimi: {titled(self.title, self.result)}"

    def fresh(self, documents: dict[str, OpenDocument]) -> bool:
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


class Proposals:
    """The changes waiting for the user, by job id, and the ones applied but not yet seen in the text."""

    def __init__(self, client: ReviewClient) -> None:
        self.client = client
        self.pending: dict[str, StoredProposal] = {}
        self.unconfirmed: dict[str, Unconfirmed] = {}

    def keep(self, job_id: str, title: str, root: Path, result: JobResult) -> StoredProposal:
        """Hold a finished job's change for the user; it is offered or applied by the caller."""
        stored = StoredProposal(job_id, title, root, result)
        self.pending[job_id] = stored
        return stored

    def actions(self) -> list[Proposal]:
        """Proposals as code-action material, from memory only (the edit was built when it was offered)."""
        documents = self.client.open_documents()
        return [
            Proposal(
                p.job_id,
                titled(p.title, p.result),
                paths_of(p.root, p.result.files),
                p.edit if p.fresh(documents) else None,
            )
            for p in self.pending.values()
        ]

    def _rebase(self, stored: StoredProposal, *, confirm: bool = False) -> Rebased:
        """The proposal's change as an edit for the documents as they are now (see ``rebase_changes``).

        ``confirm`` marks it as needing the user's confirmation in the editor: only for an edit sent to be
        reviewed there. A change the user already chose (apply mode, an Apply button, a code action) must land
        as it is: VS Code would otherwise hold it in its refactor preview with every box unticked.
        """
        return rebase_changes(
            stored.root,
            stored.result.files,
            self.client.open_documents(),
            _read_disk,
            self.client.edit_capabilities(),
            label=stored.label,
            needs_confirmation=confirm,
            description=_review_note(stored) if confirm else None,
        )

    async def offer(self, stored: StoredProposal, note: str) -> None:
        """Put the change before the user: for review in the editor where it can show one, else a question."""
        self._keep_edit(stored, self._rebase(stored))
        if stored.edit is not None and self.client.edit_capabilities().change_annotations:
            # The editor can show the change and ask (VS Code: a diff with Apply and Discard). Sent in the
            # background: the job ends now, whenever the user answers.
            self.client.background(self._send_for_review(stored.job_id))
            return
        message = f"Kimi: {stored.title}: {note}. {tests_note(stored.result)}{stored.result.summary}".strip()
        self.client.background(self._ask(stored, message))

    def _keep_edit(self, stored: StoredProposal, rebased: Rebased) -> None:
        documents = self.client.open_documents()
        stored.edit = rebased.edit
        stored.built_for = {uri: _version(documents, uri) for uri in rebased.expected}

    def finish_later(self, stored: StoredProposal, pending: asyncio.Future[tuple[bool, str]]) -> None:
        """Let an apply the editor answers after the job ended finish: a refusal is offered like any other."""

        async def finish() -> None:
            applied, why = await pending
            if applied:
                self.client.log(f"[{stored.job_id}] applied")
            else:
                await self.offer(stored, f"not applied: {why}")

        self.client.background(finish())

    async def _send_for_review(self, job_id: str) -> None:
        """Send the proposal for the user to review in the editor; a discard drops it, a failure is shown."""
        applied, why = await self.apply(job_id, confirm=True)
        if applied:
            self.client.log(f"[{job_id}] applied after review")
        elif job_id not in self.pending:
            self.client.log(f"[{job_id}] {why}")
        else:
            self.client.show(types.MessageType.Warning, f"Kimi: not applied: {why}")

    async def _ask(self, stored: StoredProposal, message: str) -> None:
        """Ask with Apply / Show diff / Discard (for editors that cannot show the change for review)."""
        choices = ["Apply", "Show diff", "Discard"]
        try:
            answer = await self.client.window_show_message_request_async(
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
            applied, why = await self.apply(stored.job_id)
            if not applied:
                self.client.show(types.MessageType.Warning, f"Kimi: not applied: {why}")
        elif answer.title == "Show diff":
            await self.show_diff(stored.job_id, stored.result.diff)
        elif answer.title == "Discard":
            self.discard(stored.job_id)

    async def apply(self, job_id: str, *, confirm: bool = False) -> tuple[bool, str]:
        """Send the proposal as ``workspace/applyEdit``, rebased onto the current text, and check it landed.

        ``confirm``: the editor asks the user first (see ``_rebase``); their "no" discards the proposal.
        """
        stored = self.pending.get(job_id)
        if stored is None:
            return False, f"no pending change for job {job_id}"
        if stored.applying:
            return False, "this change is already being applied"
        stored.applying = True
        try:
            return await self._apply(stored, confirm)
        finally:
            stored.applying = False

    async def _apply(self, stored: StoredProposal, confirm: bool) -> tuple[bool, str]:
        job_id = stored.job_id
        rebased = self._rebase(stored, confirm=confirm)
        if rebased.conflicts:
            return False, "you edited the same lines meanwhile in " + ", ".join(rebased.conflicts)
        if rebased.unsupported:
            return False, rebased.unsupported
        if rebased.edit is None:
            self.pending.pop(job_id, None)
            return True, "already in place"
        if rebased.rebased:
            self.client.log(f"[{job_id}] rebased onto your edits in {', '.join(rebased.rebased)}")
        built_for = self.client.open_documents()
        response = await self.client.workspace_apply_edit_async(
            types.ApplyWorkspaceEditParams(edit=rebased.edit, label=stored.label)
        )
        if not response.applied:
            if response.failure_reason:
                return False, response.failure_reason
            if confirm:
                self.pending.pop(job_id, None)
                return False, "discarded in the editor's review"
            # Without a reason, the usual cause is a file that changed between sending the edit and applying it.
            return False, "the editor did not apply it (a file may have changed meanwhile)"
        self.pending.pop(job_id, None)
        documents = self.client.open_documents()
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
        documents = self.client.open_documents()
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
        self.pending[job_id] = stored
        files = ", ".join(sorted(c.path for c in stored.result.files))
        self.client.show(
            types.MessageType.Warning,
            f"Kimi: {stored.title}: the editor skipped the change to {files}; "
            f'it waits as the code action "Kimi: Apply {stored.title}"',
        )

    def discard(self, job_id: str) -> bool:
        return self.pending.pop(job_id, None) is not None

    async def show_diff(self, job_id: str, diff: str) -> None:
        """Write a job's diff under the state folder and ask the editor to open it (where it can)."""
        folder = state_dir() / "diffs"
        path = folder / f"{job_id}.diff"
        with contextlib.suppress(OSError):
            folder.mkdir(parents=True, exist_ok=True)
            path.write_text(diff, encoding="utf-8")
            caps = self.client.client_capabilities.window
            if caps and caps.show_document and caps.show_document.support:
                await self.client.window_show_document_async(
                    types.ShowDocumentParams(uri=path.as_uri(), take_focus=True)
                )


def titled(title: str, result: JobResult) -> str:
    """A proposal's title, naming the test files it changes (the preview must not hide them)."""
    return f"{title} ({result.tests_label})" if result.tests_label else title


def tests_note(result: JobResult) -> str:
    """kimi-lsp's own sentence on the test files a change touched, ready to go before the model's summary."""
    return f"{result.tests_note} " if result.tests_note else ""


def _review_note(stored: StoredProposal) -> str:
    """What the user reviewing the change is told: whether the tests vouch for it, the test files it touches,
    and the model's summary."""
    note = "Verified by the tests" if stored.verified else "NOT verified: no test command"
    return f"{note}. {tests_note(stored.result)}{stored.result.summary}".strip()


def _version(documents: dict[str, OpenDocument], uri: str) -> int | None:
    document = documents.get(uri)
    return document.version if document is not None else None


def _read_disk(path: Path) -> str | None:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError):
        return None
