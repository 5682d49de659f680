"""The language server end to end: a real server process, pytest-lsp with real editors' capabilities,
and the stand-in model on loopback."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pytest_lsp import client_capabilities

from kimi_lsp.testing import Fault, ScriptedCall, StandIn, Turn
from kimi_lsp.testing.processes import alive, hanging_unittest
from tests.e2e.editor import NVIM, VSCODE, Buffer, Editor, start_editor

BUGGY = 'def area(width, height):\n    """Area of a rectangle."""\n    return width + height\n'
FIXED_LINE_OLD = "    return width + height\n"
FIXED_LINE_NEW = "    return width * height\n"
TESTS = (
    "import unittest\n\nfrom shapes import area\n\n\n"
    "class AreaTest(unittest.TestCase):\n    def test_area(self):\n        self.assertEqual(area(3, 4), 12)\n"
)


def make_project(root: Path, source: str = BUGGY) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "shapes.py").write_bytes(source.encode("utf-8"))
    (root / "test_shapes.py").write_text(TESTS, encoding="utf-8")


def fix_turns(old: str = FIXED_LINE_OLD, new: str = FIXED_LINE_NEW) -> list[Turn]:
    return [
        Turn(
            reasoning="Read the code under test.",
            tool_calls=[ScriptedCall("ReadFile", {"path": "shapes.py"})],
        ),
        Turn(
            reasoning="It adds instead of multiplying.",
            tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": {"old": old, "new": new}})],
        ),
        Turn(reasoning="Check.", tool_calls=[ScriptedCall("RunTests", {})]),
        Turn(reasoning="Green.", content="area() added the sides; it now multiplies them."),
    ]


TEST_COMMAND = f"{sys.executable} -m unittest"  # starts in milliseconds, unlike pytest


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    make_project(root)
    return root


@pytest.fixture
async def stand_in() -> AsyncIterator[StandIn]:
    with StandIn() as server:
        yield server


async def editor_for(tmp_path: Path, project: Path, stand_in: StandIn, preset: str = NVIM, **options: Any) -> Editor:
    opts = {"baseUrl": stand_in.url, "testCommand": TEST_COMMAND, "maxSteps": 20, **options}
    return await start_editor(project, tmp_path / "state", preset=preset, options=opts)


def diagnostic(line: int, message: str, source: str = "pyright") -> types.Diagnostic:
    return types.Diagnostic(
        range=types.Range(types.Position(line, 4), types.Position(line, 10)), message=message, source=source
    )


@pytest.mark.parametrize("preset", [NVIM, VSCODE])
async def test_code_actions_list_fix_tests_and_refactor_at_once(
    tmp_path: Path, project: Path, stand_in: StandIn, preset: str
) -> None:
    editor = await editor_for(tmp_path, project, stand_in, preset)
    try:
        uri = editor.open("shapes.py")
        found = await editor.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(types.Position(2, 0), types.Position(2, 10)),
                context=types.CodeActionContext(diagnostics=[diagnostic(2, "Operator mismatch", "mypy")]),
            )
        )
        titles = [a.title for a in found or [] if isinstance(a, types.CodeAction)]
        assert "Kimi: Fix Operator mismatch" in titles
        assert "Kimi: Fix failing tests" in titles
        assert "Kimi: Refactor selection…" in titles
        fix = next(a for a in found or [] if isinstance(a, types.CodeAction) and a.title.startswith("Kimi: Fix Op"))
        assert fix.kind == types.CodeActionKind.QuickFix and fix.command is not None
        assert fix.command.command == "kimi.fix"
        assert fix.command.arguments[0]["diagnostics"][0]["source"] == "mypy"
        assert fix.tags is None  # neither preset declares LLM-generated tag support
        assert not stand_in.requests  # listing actions never touches the model

        empty = await editor.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(types.Position(1, 0), types.Position(1, 0)),
                context=types.CodeActionContext(diagnostics=[], only=[types.CodeActionKind.RefactorRewrite]),
            )
        )
        assert not empty  # no selection and only refactors asked for
    finally:
        await editor.client.shutdown_session()


async def test_actions_are_tagged_llm_generated_when_the_client_supports_it(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    caps = client_capabilities(VSCODE)
    assert caps.text_document is not None and caps.text_document.code_action is not None
    caps.text_document.code_action.tag_support = types.CodeActionTagOptions(
        value_set=[types.CodeActionTag.LlmGenerated]
    )
    editor = await start_editor(
        project,
        tmp_path / "state",
        capabilities=caps,
        options={"baseUrl": stand_in.url, "testCommand": TEST_COMMAND},
    )
    try:
        uri = editor.open("shapes.py")
        found = await editor.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(types.Position(2, 0), types.Position(2, 0)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        assert found and all(
            list(a.tags or []) == [types.CodeActionTag.LlmGenerated] for a in found if isinstance(a, types.CodeAction)
        )
    finally:
        await editor.client.shutdown_session()


@pytest.mark.parametrize("preset", [NVIM, VSCODE])
async def test_fix_failing_tests_end_to_end_with_progress(
    tmp_path: Path, project: Path, stand_in: StandIn, preset: str
) -> None:
    stand_in.push(*fix_turns())
    editor = await editor_for(tmp_path, project, stand_in, preset)
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        job_id = started["jobId"]
        end = await editor.wait_end(f"kimi-{job_id}")
        assert end.message is not None and end.message.startswith("Applied"), end.message
        reports = editor.progress_of(f"kimi-{job_id}")
        assert isinstance(reports[0], types.WorkDoneProgressBegin) and reports[0].cancellable
        steps = [r.message for r in reports if isinstance(r, types.WorkDoneProgressReport) and r.message]
        assert any("step 2/20" in m and "editing shapes.py" in m for m in steps), steps
        assert editor.buffers[uri].text == BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW)
        assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY  # the buffer changed, not the disk
        assert not stand_in.violations
        assert not list((tmp_path / "state" / "tmp").iterdir())  # the shadow is gone
    finally:
        await editor.client.shutdown_session()


async def test_the_end_message_says_when_the_tests_ran_without_the_sandbox(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    stand_in.push(*fix_turns())
    editor = await editor_for(tmp_path, project, stand_in, sandbox="off")
    try:
        started = await editor.command("kimi.fixTests", {"uri": editor.open("shapes.py")})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Applied"), end.message
        assert end.message.endswith("(tests ran without the sandbox)")
    finally:
        await editor.client.shutdown_session()


async def test_cancel_stops_the_stream_within_two_seconds_and_applies_nothing(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    stand_in.push(Turn(reasoning="thinking " * 400, content="never", fault=Fault.slow_stream(0.2)))
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        token = f"kimi-{started['jobId']}"
        await editor.wait_for(lambda: stand_in.chat_requests)
        loop = asyncio.get_running_loop()
        began = loop.time()
        await editor.command("kimi.cancel", {"jobId": started["jobId"]})
        end = await editor.wait_end(token, timeout=5)
        assert loop.time() - began < 2.0
        assert end.message == "Cancelled"
        assert stand_in.wait_for(lambda s: s.disconnects >= 1, timeout=2.0)
        assert not editor.applied_edits
        assert not list((tmp_path / "state" / "tmp").iterdir())
    finally:
        await editor.client.shutdown_session()


async def test_work_done_progress_cancel_stops_the_job(tmp_path: Path, project: Path, stand_in: StandIn) -> None:
    stand_in.push(Turn(reasoning="thinking " * 400, content="never", fault=Fault.slow_stream(0.2)))
    editor = await editor_for(tmp_path, project, stand_in, VSCODE)
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        token = f"kimi-{started['jobId']}"
        await editor.wait_for(lambda: stand_in.chat_requests)
        editor.client.window_work_done_progress_cancel(types.WorkDoneProgressCancelParams(token=token))
        end = await editor.wait_end(token, timeout=5)
        assert end.message == "Cancelled"
    finally:
        await editor.client.shutdown_session()


def gated_turns(gate: threading.Event) -> Any:
    """Scripted fix turns whose last answer waits until the test has typed into the buffer."""
    queue = fix_turns()

    def responder(_body: dict[str, Any]) -> Turn:
        if len(queue) == 1:
            gate.wait(20)
        return queue.pop(0)

    return responder


async def test_user_typing_meanwhile_is_rebased_not_overwritten(tmp_path: Path, project: Path) -> None:
    gate = threading.Event()
    with StandIn(responder=gated_turns(gate)) as stand_in:
        editor = await editor_for(tmp_path, project, stand_in, VSCODE)
        try:
            uri = editor.open("shapes.py")
            started = await editor.command("kimi.fixTests", {"uri": uri})
            await editor.wait_for(lambda: len(stand_in.chat_requests) >= 3)
            editor.type_text(uri, "# typed while Kimi worked\n" + editor.buffers[uri].text)
            gate.set()
            end = await editor.wait_end(f"kimi-{started['jobId']}")
            assert end.message is not None and end.message.startswith("Applied"), end.message
            assert editor.buffers[uri].text == "# typed while Kimi worked\n" + BUGGY.replace(
                FIXED_LINE_OLD, FIXED_LINE_NEW
            )
        finally:
            await editor.client.shutdown_session()


async def test_conflicting_typing_is_refused_and_the_diff_offered(tmp_path: Path, project: Path) -> None:
    gate = threading.Event()
    with StandIn(responder=gated_turns(gate)) as stand_in:
        editor = await editor_for(tmp_path, project, stand_in)
        try:
            uri = editor.open("shapes.py")
            started = await editor.command("kimi.fixTests", {"uri": uri})
            await editor.wait_for(lambda: len(stand_in.chat_requests) >= 3)
            mine = BUGGY.replace(FIXED_LINE_OLD, "    return width - height  # my own idea\n")
            editor.type_text(uri, mine)
            gate.set()
            end = await editor.wait_end(f"kimi-{started['jobId']}")
            assert end.message is not None and end.message.startswith("Not applied"), end.message
            assert editor.buffers[uri].text == mine
            assert not editor.applied_edits
            request = await editor.wait_for(lambda: editor.message_requests)
            assert [a.title for a in request[0].actions or []] == ["Apply", "Show diff", "Discard"]
            shown = await editor.command("kimi.showDiff", {"jobId": started["jobId"]})
            assert "-    return width + height" in shown["diff"] and "+    return width * height" in shown["diff"]
        finally:
            await editor.client.shutdown_session()


async def test_neovim_saying_applied_without_applying_is_caught(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    stand_in.push(*fix_turns())
    editor = await editor_for(tmp_path, project, stand_in)
    editor.skip_edits = True
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        await editor.wait_end(f"kimi-{started['jobId']}")
        assert editor.applied_edits and editor.buffers[uri].text == BUGGY
        # The answer "applied" is trusted until the document's next change shows the text without the fix.
        editor.type_text(uri, "# a note\n" + BUGGY)
        warned = await editor.wait_for(lambda: [m for m in editor.client.messages if "skipped" in m.message])
        assert "shapes.py" in warned[0].message and "file://" not in warned[0].message
        found = await editor.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        assert "Kimi: Apply Fix failing tests" in [a.title for a in found or []]
    finally:
        await editor.client.shutdown_session()


async def test_preview_mode_offers_the_change_as_an_action(tmp_path: Path, project: Path, stand_in: StandIn) -> None:
    # An editor that can confirm an edit itself gets it to review instead (tests/e2e/vscode_real).
    stand_in.push(*fix_turns())
    editor = await editor_for(tmp_path, project, stand_in, NVIM, applyMode="preview")
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Ready for review"), end.message
        assert not editor.applied_edits and editor.buffers[uri].text == BUGGY
        request = await editor.wait_for(lambda: editor.message_requests)
        assert [a.title for a in request[0].actions or []] == ["Apply", "Show diff", "Discard"]
        found = await editor.client.text_document_code_action_async(
            types.CodeActionParams(
                text_document=types.TextDocumentIdentifier(uri),
                range=types.Range(types.Position(0, 0), types.Position(0, 0)),
                context=types.CodeActionContext(diagnostics=[]),
            )
        )
        apply = next(a for a in found or [] if isinstance(a, types.CodeAction) and a.title.startswith("Kimi: Apply"))
        assert apply.edit is not None
        result = await editor.command("kimi.apply", {"jobId": started["jobId"]})
        assert result["applied"] is True
        assert editor.buffers[uri].text == BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW)
    finally:
        await editor.client.shutdown_session()


async def test_crlf_and_astral_characters_get_exact_edits(tmp_path: Path, stand_in: StandIn) -> None:
    source = 'def area(width, height):\r\n    """𝒳 area 😀."""\r\n    s = "😀"; return width + height\r\n'
    root = tmp_path / "proj"
    make_project(root, source)
    old = '    s = "😀"; return width + height\n'
    new = '    s = "😀"; return width * height\n'
    stand_in.push(*fix_turns(old, new))
    editor = await editor_for(tmp_path, root, stand_in, VSCODE)
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Applied"), end.message
        assert editor.buffers[uri].text == source.replace("width + height", "width * height")
        edit = editor.applied_edits[0].edit
        text_edits = [
            e for dc in edit.document_changes or [] if isinstance(dc, types.TextDocumentEdit) for e in dc.edits
        ]
        assert len(text_edits) == 1 and text_edits[0].range.start.line == 2  # minimal, not whole-file
        # VS Code supports change annotations: the edit carries one (its undo label), asking for nothing.
        annotations = edit.change_annotations or {}
        assert annotations and not any(a.needs_confirmation for a in annotations.values())
        assert isinstance(text_edits[0], types.AnnotatedTextEdit)
    finally:
        await editor.client.shutdown_session()


async def test_two_jobs_run_at_once_and_a_second_on_the_same_region_is_refused(tmp_path: Path, project: Path) -> None:
    (project / "other.py").write_text("def half(x):\n    return x * 2\n", encoding="utf-8")

    def responder(body: dict[str, Any]) -> Turn:
        task = body["messages"][1]["content"]
        if "mult" in task:
            return Turn(reasoning="r", content="nothing to do for other.py")
        return Turn(reasoning="r", content="nothing to do for shapes.py")

    with StandIn(responder=responder) as stand_in:
        editor = await editor_for(tmp_path, project, stand_in)
        try:
            a = editor.open("shapes.py")
            b = editor.open("other.py")
            first = await editor.command(
                "kimi.fix",
                {"uri": a, "range": _range(2), "diagnostics": [_diag(2, "adds instead of multiplying")]},
            )
            second = await editor.command(
                "kimi.fix", {"uri": b, "range": _range(1), "diagnostics": [_diag(1, "mult should halve")]}
            )
            assert first["jobId"] != second["jobId"]
            with pytest.raises(Exception, match="already running"):
                await editor.command("kimi.fix", {"uri": a, "range": _range(2), "diagnostics": [_diag(2, "again")]})
            for job in (first, second):
                end = await editor.wait_end(f"kimi-{job['jobId']}")
                assert end.message is not None and end.message.startswith("No change")
        finally:
            await editor.client.shutdown_session()


async def test_a_whole_line_selection_does_not_include_the_next_line(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    stand_in.push(Turn(reasoning="look", content="nothing to change"))
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        selection = {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}  # lines 1-2, Shift+Down
        started = await editor.command("kimi.refactor", {"uri": uri, "range": selection, "instruction": "tidy"})
        await editor.wait_end(f"kimi-{started['jobId']}")
        prompt = stand_in.chat_requests[0].body.decode("utf-8")
        assert "shapes.py lines 1-2." in prompt
    finally:
        await editor.client.shutdown_session()


def _range(line: int) -> dict[str, Any]:
    return {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 5}}


def _diag(line: int, message: str) -> dict[str, Any]:
    return {"range": _range(line), "message": message, "source": "pyright", "severity": 1}


async def test_bad_requests_get_errors_and_the_server_stays_up(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    editor = await editor_for(tmp_path, project, stand_in)
    uri = editor.uri("shapes.py")
    lsp_diagnostics = "must be a list of LSP diagnostics (each a range and a message)"
    try:
        for name, arguments, told in [
            ("kimi.fix", ["not an object"], "kimi.fix: expected one object argument, got str"),
            ("kimi.fix", [{"uri": uri, "diagnostics": "x"}], f"kimi.fix: 'diagnostics' {lsp_diagnostics}"),
            (
                "kimi.fix",
                [{"uri": uri, "diagnostics": [{"message": "m"}]}],
                f"kimi.fix: 'diagnostics' {lsp_diagnostics}",
            ),
            ("kimi.fix", [{"uri": uri, "diagnostics": []}], "kimi.fix: no diagnostics given"),
            ("kimi.fixTests", [{"uri": 12}], "kimi.fixTests: 'uri' must be a string"),
            ("kimi.refactor", [{"uri": uri}], "kimi.refactor: needs 'uri' and 'range'"),
            ("kimi.refactor", [{"uri": uri, "range": {"start": {"line": 1}}}], "kimi.refactor: 'range' must be an LSP"),
            ("kimi.refactor", [{"instruction": ["tidy"]}], "kimi.refactor: 'instruction' must be a string"),
            ("kimi.cancel", [{"jobId": 42}], "kimi.cancel: 'jobId' must be a string"),
            ("kimi.cancel", [{"jobId": "j-0"}], "kimi.cancel: no running job j-0"),
            ("kimi.apply", [{}], "kimi.apply: a 'jobId' string is required"),
            ("kimi.apply", [{"jobId": "j-0"}, {"jobId": "j-1"}], "kimi.apply: expected one object argument, got 2"),
            ("kimi.showDiff", [{"jobId": "j-0"}], "kimi.showDiff: no result for job j-0"),
            ("kimi.discard", [[]], "kimi.discard: expected one object argument, got list"),
            ("kimi.status", [{"show": "yes"}], "kimi.status: 'show' must be true or false"),
            ("kimi.nope", [{}], "Invalid Params: Command name 'kimi.nope' is not defined"),
        ]:
            with pytest.raises(JsonRpcException) as refused:
                await editor.command(name, *arguments)
            assert refused.value.message.startswith(told)
            assert "Traceback" not in refused.value.message and not refused.value.data
        # No argument at all, or an empty list, is the command's default: a status, not an error.
        status = await editor.command("kimi.status")
        assert status["jobs"] == []
    finally:
        await editor.client.shutdown_session()


async def test_shutdown_cancels_jobs_and_leaves_no_child_or_temp_folder(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    marker = tmp_path / "hung.pid"
    (project / "test_shapes.py").write_text(hanging_unittest(marker), encoding="utf-8")
    # Unsandboxed, so the hung test can report its host pid outside the workspace (bwrap's own case: test_sandbox*).
    editor = await editor_for(tmp_path, project, stand_in, sandbox="off")
    uri = editor.open("shapes.py")
    await editor.command("kimi.fixTests", {"uri": uri})
    await editor.wait_for(lambda: marker.exists() and marker.read_text())
    pid = int(marker.read_text())
    await editor.client.shutdown_session()
    assert not alive(pid)
    assert not list((tmp_path / "state" / "tmp").iterdir())


async def test_run_tests_on_save_publishes_failures_and_clears_them(tmp_path: Path, project: Path) -> None:
    with StandIn() as stand_in:
        editor = await editor_for(tmp_path, project, stand_in, runTestsOnSave=True)
        try:
            uri = editor.open("shapes.py")
            editor.client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
            test_uri = editor.uri("test_shapes.py")

            def published() -> Any:
                found = editor.client.diagnostics.get(test_uri) or editor.client.diagnostics.get(uri)
                return found

            diagnostics = await editor.wait_for(published)
            assert all(d.source == "kimi-tests" for d in diagnostics)
            assert any("test_area" in d.message for d in diagnostics)
            # The failure's own line: the assertion in the test, or the line in shapes.py that raised.
            lines = {d.range.start.line for d in diagnostics}
            assert lines & {7, 2}, lines
            # Kimi's quickfix is offered on those diagnostics like on any other source's.
            found = await editor.client.text_document_code_action_async(
                types.CodeActionParams(
                    text_document=types.TextDocumentIdentifier(test_uri),
                    range=diagnostics[0].range,
                    context=types.CodeActionContext(diagnostics=list(diagnostics)),
                )
            )
            titles = [a.title for a in found or [] if isinstance(a, types.CodeAction)]
            assert any(t.startswith("Kimi: Fix ") and "test_area" in t for t in titles), (titles, diagnostics)

            (project / "shapes.py").write_text(BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW), encoding="utf-8")
            editor.client.text_document_did_save(types.DidSaveTextDocumentParams(types.TextDocumentIdentifier(uri)))
            await editor.wait_for(lambda: not any(editor.client.diagnostics.values()))
            assert not stand_in.requests  # running tests on save never calls the model
        finally:
            await editor.client.shutdown_session()


async def test_multi_root_job_runs_in_the_folder_holding_the_file(tmp_path: Path) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    make_project(first)
    make_project(second)
    (first / "test_shapes.py").write_text("import unittest\n", encoding="utf-8")  # passes: nothing to fix here
    with StandIn(fix_turns()) as stand_in:
        editor = await start_editor(
            first,
            tmp_path / "state",
            options={"baseUrl": stand_in.url, "testCommand": TEST_COMMAND},
            capabilities=client_capabilities(VSCODE),
        )
        try:
            editor.client.workspace_did_change_workspace_folders(
                types.DidChangeWorkspaceFoldersParams(
                    types.WorkspaceFoldersChangeEvent(
                        added=[types.WorkspaceFolder(second.as_uri(), "second")], removed=[]
                    )
                )
            )
            editor.root = second
            uri = editor.open("shapes.py")
            started = await editor.command("kimi.fixTests", {"uri": uri})
            end = await editor.wait_end(f"kimi-{started['jobId']}")
            assert end.message is not None and end.message.startswith("Applied"), end.message
            assert editor.buffers[uri].text == BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW)
            assert "AssertionError" in stand_in.chat_requests[0].body.decode("utf-8")  # second's failing tests
        finally:
            await editor.client.shutdown_session()


async def test_unsaved_buffer_text_is_what_the_model_sees(tmp_path: Path, project: Path, stand_in: StandIn) -> None:
    stand_in.push(Turn(reasoning="look", content="nothing to change"))
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        editor.type_text(uri, editor.buffers[uri].text + "\nUNSAVED_MARKER = 1\n")
        started = await editor.command(
            "kimi.refactor", {"uri": uri, "range": _range(2), "instruction": "tidy the area function"}
        )
        await editor.wait_end(f"kimi-{started['jobId']}")
        prompt = stand_in.chat_requests[0].body.decode("utf-8")
        assert "UNSAVED_MARKER" in prompt and "tidy the area function" in prompt
        assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY
    finally:
        await editor.client.shutdown_session()


async def test_workspace_file_cannot_redirect_the_endpoint(tmp_path: Path, project: Path, stand_in: StandIn) -> None:
    (project / ".kimi-lsp.toml").write_text('baseUrl = "http://127.0.0.1:9/v1"\nmaxSteps = 7\n', encoding="utf-8")
    editor = await start_editor(project, tmp_path / "state", options={"testCommand": TEST_COMMAND})
    try:
        warning = await editor.wait_for(
            lambda: [m for m in editor.client.messages if "baseUrl" in m.message and ".kimi-lsp.toml" in m.message]
        )
        assert warning[0].type == types.MessageType.Warning
    finally:
        await editor.client.shutdown_session()


async def test_cancel_request_for_the_starting_command_stops_its_job(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    stand_in.push(Turn(reasoning="thinking " * 400, content="never", fault=Fault.slow_stream(0.2)))
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        started = await editor.client.protocol.send_request_async(
            types.WORKSPACE_EXECUTE_COMMAND,
            types.ExecuteCommandParams(command="kimi.fixTests", arguments=[{"uri": uri}]),
            msg_id="start-job-1",
        )
        await editor.wait_for(lambda: stand_in.chat_requests)
        editor.client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="start-job-1"))
        end = await editor.wait_end(f"kimi-{started['jobId']}", timeout=5)
        assert end.message == "Cancelled"
        assert not editor.applied_edits
    finally:
        await editor.client.shutdown_session()


async def test_model_failure_ends_the_job_with_a_clear_message(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    stand_in.push(Turn(fault=Fault.quota()))
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Failed"), end.message
        shown = await editor.wait_for(lambda: [m for m in editor.client.messages if m.type == types.MessageType.Error])
        assert "balance" in shown[0].message.lower() or "quota" in shown[0].message.lower()
        assert len(stand_in.chat_requests) == 1 and not editor.applied_edits
        status = await editor.command("kimi.status", {})
        assert status["jobs"][0]["state"] == "failed"
    finally:
        await editor.client.shutdown_session()


async def test_without_a_key_a_job_is_refused_with_the_variables_to_set(tmp_path: Path, project: Path) -> None:
    with StandIn() as stand_in:
        editor = await start_editor(
            project,
            tmp_path / "state",
            options={"baseUrl": stand_in.url, "testCommand": TEST_COMMAND},
            env={"KIMI_API_KEY": ""},
        )
        try:
            uri = editor.open("shapes.py")
            with pytest.raises(Exception, match="KIMI_API_KEY"):
                await editor.command("kimi.fixTests", {"uri": uri})
            # The error answer is what the editor shows; a showMessage on top would say it twice.
            assert not any("KIMI_API_KEY" in m.message for m in editor.client.messages)
            assert not stand_in.requests
        finally:
            await editor.client.shutdown_session()


@pytest.mark.parametrize("how", ["SIGTERM", "stdin closed"])
async def test_server_killed_or_orphaned_still_kills_tests_and_removes_the_shadow(
    tmp_path: Path, project: Path, stand_in: StandIn, how: str
) -> None:
    marker = tmp_path / "hung.pid"
    (project / "test_shapes.py").write_text(hanging_unittest(marker), encoding="utf-8")
    # Unsandboxed, so the hung test can report its host pid outside the workspace (bwrap's own case: test_sandbox*).
    editor = await editor_for(tmp_path, project, stand_in, sandbox="off")
    server = editor.client._server
    assert server is not None
    uri = editor.open("shapes.py")
    await editor.command("kimi.fixTests", {"uri": uri})
    await editor.wait_for(lambda: marker.exists() and marker.read_text())
    hung = int(marker.read_text())
    if how == "SIGTERM":
        server.terminate()
    else:
        assert server.stdin is not None
        server.stdin.close()
    await asyncio.wait_for(server.wait(), 15)
    assert not alive(hung)
    assert not list((tmp_path / "state" / "tmp").iterdir())
    await editor.client.stop()


async def test_cancel_before_the_client_grants_a_progress_token_still_ends_the_job(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    editor = await editor_for(tmp_path, project, stand_in)
    granted = asyncio.Event()
    asked = asyncio.Event()

    async def slow_create(ls: Any, params: types.WorkDoneProgressCreateParams) -> None:
        asked.set()
        editor.client.progress_reports.setdefault(params.token, [])
        await granted.wait()  # an editor slow to answer, while the user already cancels

    features = editor.client.protocol.fm._features
    features.pop(types.WINDOW_WORK_DONE_PROGRESS_CREATE, None)
    editor.client.feature(types.WINDOW_WORK_DONE_PROGRESS_CREATE)(slow_create)
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        await asyncio.wait_for(asked.wait(), 10)
        assert (await editor.command("kimi.cancel", {"jobId": started["jobId"]}))["cancelled"] == [started["jobId"]]
        granted.set()
        status = await editor.command("kimi.status", {})
        assert [j["state"] for j in status["jobs"]] == ["cancelled"]
        stand_in.push(*fix_turns())
        again = await editor.command("kimi.fixTests", {"uri": uri})  # the region is free again
        end = await editor.wait_end(f"kimi-{again['jobId']}")
        assert end.message is not None and end.message.startswith("Applied"), end.message
    finally:
        granted.set()
        await editor.client.shutdown_session()


async def test_an_open_secret_file_neither_breaks_the_job_nor_reaches_the_model(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    (project / ".env").write_text("API_TOKEN=on-disk-secret\n", encoding="utf-8")
    stand_in.push(*fix_turns())
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        env_uri = editor.open(".env")
        editor.type_text(env_uri, "API_TOKEN=unsaved-secret\n")
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Applied"), end.message
        sent = b"".join(r.body for r in stand_in.chat_requests)
        assert b"unsaved-secret" not in sent and b"on-disk-secret" not in sent
    finally:
        await editor.client.shutdown_session()


async def test_a_buffer_named_the_way_neovim_spells_uris_gets_the_rebased_edit(tmp_path: Path) -> None:
    """Neovim leaves '+' unescaped in file URIs; the open buffer must still be found (not the disk text)."""
    root = tmp_path / "proj"
    root.mkdir()
    disk = "a = 1\nb = 2\nc = 3\n"
    unsaved = "# unsaved line one\n# unsaved line two\n" + disk
    (root / "my+mod.py").write_text(disk, encoding="utf-8")
    nvim_uri = "file://" + str(root / "my+mod.py")
    assert nvim_uri != (root / "my+mod.py").as_uri()
    edit = {"old": "c = 3\n", "new": "c = 30\n"}
    turns = [
        Turn(reasoning="edit", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "my+mod.py", "edit": edit})]),
        Turn(reasoning="done", content="changed c"),
    ]
    with StandIn(turns) as stand_in:
        editor = await start_editor(
            root,
            tmp_path / "state",
            options={"baseUrl": stand_in.url, "testCommand": f"{sys.executable} -c pass", "maxSteps": 5},
        )
        try:
            editor.buffers[nvim_uri] = Buffer(unsaved, 1)
            editor.client.text_document_did_open(
                types.DidOpenTextDocumentParams(types.TextDocumentItem(nvim_uri, "python", 1, unsaved))
            )
            started = await editor.command(
                "kimi.fix", {"uri": nvim_uri, "range": _range(4), "diagnostics": [_diag(4, "c should be 30")]}
            )
            end = await editor.wait_end(f"kimi-{started['jobId']}")
            assert end.message is not None and end.message.startswith("Applied"), end.message
            assert editor.buffers[nvim_uri].text == unsaved.replace("c = 3\n", "c = 30\n")
            assert (root / "my+mod.py").read_text(encoding="utf-8") == disk
        finally:
            await editor.client.shutdown_session()


async def test_two_applies_of_one_proposal_send_the_edit_once(tmp_path: Path, project: Path, stand_in: StandIn) -> None:
    stand_in.push(*fix_turns())
    editor = await editor_for(tmp_path, project, stand_in, applyMode="preview")
    try:
        started = await editor.command("kimi.fixTests", {"uri": editor.uri("shapes.py")})  # shapes.py is not open
        await editor.wait_end(f"kimi-{started['jobId']}")
        first, second = await asyncio.gather(
            editor.command("kimi.apply", {"jobId": started["jobId"]}),
            editor.command("kimi.apply", {"jobId": started["jobId"]}),
        )
        assert sorted([first["applied"], second["applied"]]) == [False, True]
        assert len(editor.applied_edits) == 1
    finally:
        await editor.client.shutdown_session()


async def test_files_outside_every_folder_and_unsaved_buffers_get_clear_refusals(
    tmp_path: Path, project: Path, stand_in: StandIn
) -> None:
    stray = tmp_path / "elsewhere" / "notes.py"
    stray.parent.mkdir()
    stray.write_text("x = 1\n", encoding="utf-8")
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        with pytest.raises(Exception, match="outside every workspace folder"):
            await editor.command("kimi.fixTests", {"uri": stray.as_uri()})
        with pytest.raises(Exception, match="not a file on disk"):
            await editor.command("kimi.fixTests", {"uri": "untitled:Untitled-1"})
        status = await editor.command("kimi.status", {})
        assert list(status["folders"]) == [str(project)]
    finally:
        await editor.client.shutdown_session()
