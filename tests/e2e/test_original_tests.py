"""Through the language server: a fix is verified against the user's own tests, and the editor is told which
test files a change touches (the end message, the popup, the "Kimi: Apply" action and the edit's label)."""

from __future__ import annotations

from pathlib import Path

from lsprotocol import types

from kimi_lsp.testing import ScriptedCall, StandIn, Turn
from tests.e2e.editor import VSCODE
from tests.e2e.test_server import BUGGY, FIXED_LINE_NEW, FIXED_LINE_OLD, TESTS, editor_for, make_project

NEW_TEST = (
    "import unittest\n\nfrom shapes import area\n\n\n"
    "class MoreTest(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(area(0, 5), 0)\n"
)


def edit(path: str, old: str, new: str, *, replace_all: bool = False) -> ScriptedCall:
    return ScriptedCall("StrReplaceFile", {"path": path, "edit": {"old": old, "new": new, "replace_all": replace_all}})


async def test_rewriting_the_failing_assertion_is_not_fixed_and_says_so(tmp_path: Path, stand_in: StandIn) -> None:
    project = tmp_path / "proj"
    make_project(project)
    stand_in.push(
        Turn(reasoning="the test is wrong", tool_calls=[edit("test_shapes.py", "area(3, 4), 12", "area(3, 4), 7")]),
        *[Turn(reasoning="done", content="Fixed: every test passes now.")] * 3,
    )
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Not fixed"), end.message
        assert "test_shapes.py" in end.message and "the code change alone does not pass" in end.message
        warning = await editor.wait_for(
            lambda: [m for m in editor.client.messages if m.type == types.MessageType.Warning]
        )
        assert "test_shapes.py" in warning[0].message and "code change alone" in warning[0].message
        assert not editor.applied_edits and editor.buffers[uri].text == BUGGY
        assert (project / "test_shapes.py").read_text(encoding="utf-8") == TESTS
        status = await editor.command("kimi.status", {})
        assert any(job["testsChanged"] == ["test_shapes.py"] for job in status["jobs"]), status
    finally:
        await editor.client.shutdown_session()


async def test_a_fix_with_a_new_test_is_offered_with_the_test_named_in_the_preview(
    tmp_path: Path, stand_in: StandIn
) -> None:
    project = tmp_path / "proj"
    make_project(project)
    stand_in.push(
        Turn(reasoning="fix", tool_calls=[edit("shapes.py", FIXED_LINE_OLD, FIXED_LINE_NEW)]),
        Turn(
            reasoning="cover it", tool_calls=[ScriptedCall("WriteFile", {"path": "test_more.py", "content": NEW_TEST})]
        ),
        Turn(reasoning="done", content="area() multiplies now."),
    )
    editor = await editor_for(tmp_path, project, stand_in, VSCODE, applyMode="preview")
    try:
        uri = editor.open("shapes.py")
        started = await editor.command("kimi.fixTests", {"uri": uri})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Ready for review"), end.message
        # VS Code reviews the change in its own diff view: the edit arrives marked for confirmation, its label
        # and its description naming the test file, and the model's summary beside it.
        review = await editor.wait_for(lambda: editor.applied_edits)
        annotations = list((review[0].edit.change_annotations or {}).values())
        assert annotations and all("test_more.py" in a.label for a in annotations), annotations
        assert all(a.needs_confirmation for a in annotations)
        described = " ".join(a.description or "" for a in annotations)
        assert "test_more.py" in described and "area() multiplies now." in described, described
        assert editor.buffers[editor.uri("test_more.py")].text == NEW_TEST
        assert editor.buffers[uri].text == BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW)
    finally:
        await editor.client.shutdown_session()


async def test_a_rename_across_code_and_tests_is_applied_and_names_the_tests(tmp_path: Path, stand_in: StandIn) -> None:
    project = tmp_path / "proj"
    make_project(project, BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW))
    stand_in.push(
        Turn(reasoning="code", tool_calls=[edit("shapes.py", "def area(", "def rect_area(")]),
        Turn(reasoning="tests", tool_calls=[edit("test_shapes.py", "area", "rect_area", replace_all=True)]),
        Turn(reasoning="done", content="Renamed area to rect_area."),
    )
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        selection = {"start": {"line": 0, "character": 0}, "end": {"line": 2, "character": 0}}
        started = await editor.command(
            "kimi.refactor", {"uri": uri, "range": selection, "instruction": "rename area to rect_area everywhere"}
        )
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Applied (2 file(s))"), end.message
        assert "test configuration (test_shapes.py)" in end.message and "as asked" in end.message
        assert editor.buffers[uri].text.startswith("def rect_area(")
        assert "from shapes import rect_area" in editor.buffers[editor.uri("test_shapes.py")].text
    finally:
        await editor.client.shutdown_session()


async def test_a_diagnostics_fix_that_ends_the_test_run_early_from_a_new_test_file_is_not_fixed(
    tmp_path: Path, stand_in: StandIn
) -> None:
    project = tmp_path / "proj"
    make_project(project)
    stand_in.push(
        Turn(
            reasoning="silence it",
            tool_calls=[ScriptedCall("WriteFile", {"path": "test_zz.py", "content": "import os\n\nos._exit(0)\n"})],
        ),
        *[Turn(reasoning="done", content="Fixed the diagnostic.")] * 3,
    )
    editor = await editor_for(tmp_path, project, stand_in)
    try:
        uri = editor.open("shapes.py")
        diagnostic = {
            "range": {"start": {"line": 2, "character": 4}, "end": {"line": 2, "character": 10}},
            "message": "area adds instead of multiplying",
            "source": "pyright",
        }
        started = await editor.command("kimi.fix", {"uri": uri, "diagnostics": [diagnostic]})
        end = await editor.wait_end(f"kimi-{started['jobId']}")
        assert end.message is not None and end.message.startswith("Not fixed"), end.message
        assert "test_zz.py" in end.message and "the code change alone does not pass" in end.message
        assert not editor.applied_edits
    finally:
        await editor.client.shutdown_session()
