"""What the VS Code extension relies on from the server, checked over the protocol with VS Code's capabilities
(pytest-lsp, no VS Code needed): edits that land without a dialog in apply mode, jobs that never wait for the
user, and progress that VS Code's language client does not drop."""

from __future__ import annotations

import asyncio
from pathlib import Path

from lsprotocol import types

from kimi_lsp.testing import StandIn, Turn
from tests.e2e.editor import VSCODE, Editor
from tests.e2e.test_server import BUGGY, FIXED_LINE_NEW, FIXED_LINE_OLD, editor_for, fix_turns, make_project

FIXED = BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW)


class HeldReview:
    """An editor showing an edit to the user: the edit waits until the test answers for them."""

    def __init__(self) -> None:
        self.shown: list[types.ApplyWorkspaceEditParams] = []
        self._answer: asyncio.Future[bool] = asyncio.get_running_loop().create_future()

    async def __call__(self, params: types.ApplyWorkspaceEditParams) -> bool:
        self.shown.append(params)
        return await self._answer

    def answer(self, accept: bool) -> None:
        self._answer.set_result(accept)


def annotations_of(params: types.ApplyWorkspaceEditParams) -> list[types.ChangeAnnotation]:
    return list((params.edit.change_annotations or {}).values())


async def wait_no_proposals(editor: Editor, timeout: float = 10.0) -> None:
    """The server's answer to a review arrives after the editor's: poll its state until the proposal is gone."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (await editor.command("kimi.status"))["proposals"]:
        assert loop.time() < deadline, "the discarded proposal is still pending"
        await asyncio.sleep(0.05)


async def start(tmp_path: Path, stand_in: StandIn, **options: object) -> tuple[Editor, str]:
    project = tmp_path / "proj"
    make_project(project)
    stand_in.push(*fix_turns())
    editor = await editor_for(tmp_path, project, stand_in, VSCODE, **options)
    return editor, editor.open("shapes.py")


async def test_apply_mode_edit_lands_without_asking_for_confirmation(tmp_path: Path) -> None:
    with StandIn() as stand_in:
        editor, uri = await start(tmp_path, stand_in)
        try:
            started = await editor.command("kimi.fixTests", {"uri": uri})
            end = await editor.wait_end(f"kimi-{started['jobId']}")
            assert end.message is not None and end.message.startswith("Applied"), end.message
            [sent] = editor.applied_edits
            # Annotated (the label names the undo step), but nothing asks: VS Code would open its refactor
            # preview with every box unticked for an annotation that needs confirmation.
            assert annotations_of(sent) and not any(a.needs_confirmation for a in annotations_of(sent))
            assert editor.buffers[uri].text == FIXED
        finally:
            await editor.client.shutdown_session()


async def test_a_job_ends_while_the_editor_asks_the_user_and_the_edit_lands_later(tmp_path: Path) -> None:
    with StandIn() as stand_in:
        editor, uri = await start(tmp_path, stand_in)
        review = HeldReview()
        editor.review = review
        try:
            started = await editor.command("kimi.fixTests", {"uri": uri})
            token = f"kimi-{started['jobId']}"
            end = await editor.wait_end(token, timeout=30)
            assert review.shown and editor.buffers[uri].text == BUGGY  # still on the user's screen
            assert end.message is not None and "confirm" in end.message, end.message
            reports = [r.message for r in editor.progress_of(token) if isinstance(r, types.WorkDoneProgressReport)]
            # Not a stale "step n/N · thinking": the tests' verdict and what happens now.
            assert reports[-1].startswith("applying the change · tests after") and "exit 0, 1 passed" in reports[-1], (
                reports
            )
            # The region is free again: a second job on the same tests is not refused.
            stand_in.push(Turn(reasoning="Nothing left.", content="The tests pass."))
            again = await editor.command("kimi.fixTests", {"uri": uri})
            await editor.wait_end(f"kimi-{again['jobId']}")
            review.answer(True)
            await editor.wait_for(lambda: editor.buffers[uri].text == FIXED)
        finally:
            await editor.client.shutdown_session()


async def test_preview_sends_the_change_for_review_after_the_job_ended_and_a_discard_leaves_nothing(
    tmp_path: Path,
) -> None:
    with StandIn() as stand_in:
        editor, uri = await start(tmp_path, stand_in, applyMode="preview")
        review = HeldReview()
        editor.review = review
        try:
            started = await editor.command("kimi.fixTests", {"uri": uri})
            end = await editor.wait_end(f"kimi-{started['jobId']}")
            assert end.message is not None and end.message.startswith("Ready for review"), end.message
            await editor.wait_for(lambda: review.shown)
            [annotation] = annotations_of(review.shown[0])
            assert annotation.needs_confirmation
            # What the editor shows the user: whether the tests vouch for it, and what the model did.
            assert annotation.description == "Verified by the tests. area() added the sides; it now multiplies them."
            assert not editor.message_requests  # the review is the question; no second dialog
            review.answer(False)
            await wait_no_proposals(editor)
            assert editor.buffers[uri].text == BUGGY
            shown = [m.message for m in editor.client.messages]
            assert not any("declined" in m or "not applied" in m for m in shown), shown
        finally:
            await editor.client.shutdown_session()


async def test_every_phase_reaches_a_client_that_drops_reports_without_a_percentage(tmp_path: Path) -> None:
    with StandIn() as stand_in:
        editor, uri = await start(tmp_path, stand_in)
        try:
            started = await editor.command("kimi.fixTests", {"uri": uri})
            token = f"kimi-{started['jobId']}"
            await editor.wait_end(token)
            values = editor.progress_of(token)
            begin = values[0]
            assert isinstance(begin, types.WorkDoneProgressBegin)
            # vscode-languageclient 9 shows a report only if it has a percentage when the begin had one, and
            # only its message when the begin had none: the two must agree for every report to be seen.
            shown = [
                v.message
                for v in values[1:]
                if isinstance(v, types.WorkDoneProgressReport)
                and v.message
                and (v.percentage is not None) == (begin.percentage is not None)
            ]
            for phase in ("running tests before any change", "verifying", "tests after", "step 2/20"):
                assert any(m.startswith(phase) or phase in m for m in shown), (phase, shown)
        finally:
            await editor.client.shutdown_session()
