"""Kimi in a real VS Code, as a user meets it: the command palette, the status bar, notifications, the diff
editor and undo, against the stand-in model. Screenshots: tests/e2e/vscode_real/output/<test>/."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import STAND_IN_KEY, Fault, ScriptedCall, StandIn, Turn
from tests.e2e.test_server import BUGGY, FIXED_LINE_NEW, FIXED_LINE_OLD, TEST_COMMAND, fix_turns, make_project
from tests.e2e.vscode_real.conftest import Host
from tests.e2e.vscode_real.workbench import STATUS_ITEM, Workbench

pytestmark = pytest.mark.vscode_host

FIXED = BUGGY.replace(FIXED_LINE_OLD, FIXED_LINE_NEW)
REVIEW = "Review the proposed change"
Open = Callable[..., Workbench]


def project(tmp_path: Path, source: str = BUGGY, **settings: Any) -> Path:
    """The small project of the server tests, with its Kimi settings in .vscode/settings.json."""
    root = tmp_path / "proj"
    make_project(root, source)
    (root / ".vscode").mkdir()
    values = {"kimi.testCommand": TEST_COMMAND, "kimi.maxSteps": 20, **{f"kimi.{k}": v for k, v in settings.items()}}
    (root / ".vscode" / "settings.json").write_text(json.dumps(values, indent=2), encoding="utf-8")
    return root


def open_project(
    window: Open, host: Host, stand_in: StandIn, tmp_path: Path, turns: list[Turn], **settings: Any
) -> tuple[Path, Workbench]:
    """The project in a trusted window with shapes.py open, and the model's turns queued."""
    root = project(tmp_path, **settings)
    stand_in.push(*turns)
    wb = window(host, root)
    wb.open_file("shapes.py")
    return root, wb


def slow_turn() -> Turn:
    """A model that keeps thinking long enough to be interrupted."""
    return Turn(reasoning="thinking " * 2000, content="never", fault=Fault.slow_stream(0.2))


@pytest.fixture
def window(browser: Any, shots: Path) -> Iterator[Open]:
    """Open a folder in a new browser window on a host and answer the trust dialog."""
    opened: list[tuple[Any, Workbench]] = []

    def open_window(host: Host, folder: Path, *, trusted: bool = True) -> Workbench:
        context = browser.new_context(viewport={"width": 1400, "height": 900})
        page = context.new_page()
        page.goto(f"{host.url}/?folder={folder}")
        workbench = Workbench(page, shots)
        opened.append((context, workbench))
        workbench.trust(trusted)
        workbench.wait(lambda: "Layout:" in workbench.text() or workbench.status_items(), "the workbench")
        return workbench

    yield open_window
    for context, workbench in opened:
        workbench.screenshot("end")
        context.close()


def test_fix_failing_tests_lands_without_a_dialog_and_one_undo_restores_it(
    host: Host, stand_in: StandIn, window: Open, tmp_path: Path
) -> None:
    root, wb = open_project(window, host, stand_in, tmp_path, fix_turns())
    wb.record_status()
    wb.command("Kimi: Fix failing tests")
    wb.wait(lambda: "width * height" in wb.editor_text(), "the fix in the editor")
    wb.screenshot("applied")
    wb.wait(lambda: not wb.kimi_status(), "the job's status item to go")
    # Nothing asked: no dialog, no refactor preview, no notification waiting for an answer.
    assert not wb.page.locator(".monaco-dialog-box").is_visible()
    assert "REFACTOR PREVIEW" not in wb.text().upper()
    assert not any(REVIEW in n for n in wb.notifications()), wb.notifications()
    # One item for the job at any moment, and every phase of it was shown there.
    snapshots = wb.recorded_status()
    assert snapshots and max(len(items) for items in snapshots) == 1, snapshots
    shown = " | ".join(item for items in snapshots for item in items)
    for phase in ("running tests before any change", "step 1/20", "verifying", "tests after", "applying the change"):
        assert phase in shown, (phase, shown)
    assert (root / "shapes.py").read_text(encoding="utf-8") == BUGGY  # in the editor, not yet saved
    wb.undo()
    wb.wait(lambda: "width + height" in wb.editor_text(), "one undo to restore the code")
    assert "width * height" not in wb.editor_text()
    wb.screenshot("undone")


def test_preview_shows_the_diff_and_apply_lands_it(host: Host, stand_in: StandIn, window: Open, tmp_path: Path) -> None:
    _, wb = open_project(window, host, stand_in, tmp_path, fix_turns(), applyMode="preview")
    wb.command("Kimi: Fix failing tests")
    toast = wb.notification(REVIEW)
    said = " ".join(toast.inner_text().split())
    assert "Kimi: Fix failing tests: Verified by the tests. area() added the sides" in said, said
    wb.wait(lambda: wb.page.locator(".monaco-diff-editor").first.is_visible(), "the diff editor")
    wb.wait(lambda: any("proposed" in t for t in wb.tab_titles()), "the review tab")
    # The job is over while the user reads: its status item is gone.
    wb.wait(lambda: not wb.kimi_status(), "the job's status item to go while the review waits")
    diff = wb.page.locator(".monaco-diff-editor").first.inner_text().replace("\u00a0", " ")
    assert "width + height" in diff and "width * height" in diff, diff
    wb.screenshot("review")
    wb.click_button(toast, "Apply")
    wb.wait(lambda: not any("proposed" in t for t in wb.tab_titles()), "the review tab to close")
    wb.wait(lambda: "width * height" in wb.editor_text(), "the change in the editor")
    wb.screenshot("applied")
    assert not any("not applied" in n for n in wb.notifications()), wb.notifications()


def test_preview_discard_leaves_nothing(host: Host, stand_in: StandIn, window: Open, tmp_path: Path) -> None:
    root, wb = open_project(window, host, stand_in, tmp_path, fix_turns(), applyMode="preview")
    wb.command("Kimi: Fix failing tests")
    toast = wb.notification(REVIEW)
    wb.wait(lambda: any("proposed" in t for t in wb.tab_titles()), "the review tab")
    wb.screenshot("review")
    wb.click_button(toast, "Discard")
    wb.wait(lambda: not any("proposed" in t for t in wb.tab_titles()), "the review tab to close")
    wb.wait(lambda: "width + height" in wb.editor_text(), "the editor back on the file")
    wb.screenshot("discarded")
    assert "width * height" not in wb.editor_text()
    assert (root / "shapes.py").read_text(encoding="utf-8") == BUGGY
    assert not any("●" in t for t in wb.tab_titles()), wb.tab_titles()  # not even an unsaved change
    assert not any("declined" in n or "not applied" in n for n in wb.notifications()), wb.notifications()


def test_fix_diagnostics_at_cursor_fixes_another_extensions_diagnostic(
    host: Host, stand_in: StandIn, window: Open, tmp_path: Path
) -> None:
    _, wb = open_project(window, host, stand_in, tmp_path, fix_turns())
    wb.wait(lambda: wb.page.locator(".squiggly-warning").count(), "fake-lint's squiggle")
    wb.go_to(3, 16)
    wb.screenshot("diagnostic")
    wb.command("Kimi: Fix diagnostics at cursor")
    wb.wait(lambda: "width * height" in wb.editor_text(), "the fix in the editor")
    wb.screenshot("fixed")
    first = json.dumps(stand_in.chat_requests[0].json)
    assert "area() adds the sides" in first and "fake-lint" in first  # the other extension's words reached the model


def test_refactor_selection_with_an_instruction(host: Host, stand_in: StandIn, window: Open, tmp_path: Path) -> None:
    root = project(tmp_path, source=FIXED)
    old = "def area(width, height):\n"
    new = "def area(width: float, height: float) -> float:\n"
    stand_in.push(
        Turn(reasoning="Look.", tool_calls=[ScriptedCall("ReadFile", {"path": "shapes.py"})]),
        Turn(
            reasoning="Annotate.",
            tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": {"old": old, "new": new}})],
        ),
        Turn(reasoning="Done.", content="area() now has type hints."),
    )
    wb = window(host, root)
    wb.open_file("shapes.py")
    wb.select_lines(1, 3)
    wb.command("Kimi: Refactor selection")
    wb.wait(lambda: wb.page.locator(".quick-input-widget input").is_visible(), "the instruction box")
    wb.screenshot("instruction")
    wb.answer_input("add type hints to area")
    wb.wait(lambda: "-> float" in wb.editor_text(), "the refactor in the editor")
    wb.screenshot("refactored")
    assert "add type hints to area" in json.dumps(stand_in.chat_requests[0].json)


def test_clicking_the_status_item_cancels_the_job(host: Host, stand_in: StandIn, window: Open, tmp_path: Path) -> None:
    _, wb = open_project(window, host, stand_in, tmp_path, [slow_turn()])
    wb.command("Kimi: Fix failing tests")
    wb.wait(lambda: stand_in.chat_requests, "the model to be asked")
    item = wb.page.locator(STATUS_ITEM, has_text="Kimi: Fix failing tests")
    wb.wait(lambda: item.count() == 1 and "thinking" in item.inner_text(), "the job's item, thinking")
    wb.screenshot("running")
    item.click()
    wb.wait(lambda: not wb.kimi_status(), "the item to go once the job is cancelled", timeout=15)
    wb.screenshot("cancelled")
    assert stand_in.wait_for(lambda s: s.disconnects >= 1, timeout=5)  # the model stream was dropped
    assert "width + height" in wb.editor_text()


def test_no_key_offers_set_api_key(host_without_key: Host, window: Open, tmp_path: Path) -> None:
    root = project(tmp_path)
    wb = window(host_without_key, root)
    toast = wb.notification("no API key")
    wb.screenshot("no-key")
    wb.click_button(toast, "Set API Key")
    box = wb.page.locator(".quick-input-widget input")
    wb.wait(lambda: box.is_visible(), "the key box")
    assert box.get_attribute("type") == "password"
    wb.screenshot("key-box")
    wb.answer_input(STAND_IN_KEY)
    wb.notification("API key stored")
    wb.screenshot("stored")
    assert STAND_IN_KEY not in wb.text()


def test_a_killed_server_says_so_and_the_next_command_works(
    host: Host, stand_in: StandIn, window: Open, tmp_path: Path
) -> None:
    root, wb = open_project(window, host, stand_in, tmp_path, [slow_turn()])
    wb.command("Kimi: Fix failing tests")
    wb.wait(lambda: stand_in.chat_requests, "the model to be asked")
    wb.wait(lambda: wb.kimi_status(), "the job's item")
    [pid] = host.server_pids(root)
    os.kill(pid, signal.SIGKILL)  # the server this window started, and only it
    wb.notification("stopped unexpectedly")
    wb.wait(lambda: not wb.kimi_status(), "the dead job's item to go")
    wb.screenshot("killed")
    stand_in.push(*fix_turns())
    wb.wait(lambda: len(host.server_pids(root)) == 2, "the server to be restarted")
    wb.command("Kimi: Fix failing tests")
    wb.wait(lambda: "width * height" in wb.editor_text(), "the next job's fix in the editor")
    wb.screenshot("next-command")


def test_restricted_mode_runs_nothing_and_says_so(host: Host, window: Open, tmp_path: Path) -> None:
    root = project(tmp_path)
    wb = window(host, root, trusted=False)
    wb.wait(lambda: any("Restricted Mode" in t and "Kimi" in t for t in wb.status_items()), "Kimi saying it is off")
    wb.command("Kimi: Fix failing tests")
    wb.notification("Kimi is off in Restricted Mode")
    wb.screenshot("restricted")
    assert host.server_pids(root) == []  # no server, so no test run and no workspace setting read
