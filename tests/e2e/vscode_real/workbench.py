"""Driving a real VS Code workbench (code-server in headless Chromium) as a user would: the command palette,
the status bar, notifications, the editor, the keyboard. Every read comes from the page itself."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:  # playwright is only needed once the suite runs (conftest skips it when missing)
    from playwright.sync_api import Locator, Page

T = TypeVar("T")

NOTIFICATION = ".notifications-toasts .notification-toast"
STATUS_ITEM = "#workbench\\.parts\\.statusbar .statusbar-item"


class Workbench:
    """One browser window on one folder; screenshots go to ``shots`` named after what they show."""

    def __init__(self, page: Page, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self._shot = 0

    # --- looking --------------------------------------------------------------------------------------

    def screenshot(self, what: str) -> Path:
        self._shot += 1
        path = self.shots / f"{self._shot:02d}-{what}.png"
        self.page.screenshot(path=str(path))
        return path

    def wait(self, probe: Callable[[], T | None], what: str, timeout: float = 60.0) -> T:
        """Poll the page until ``probe`` yields something truthy; on timeout, a screenshot and a clear failure."""
        deadline = time.monotonic() + timeout
        while True:
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                shot = self.screenshot("timeout")
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; screen: {shot}\n{self.text()}")
            self.page.wait_for_timeout(100)

    def text(self) -> str:
        """Everything the workbench shows as text (what a screen reader would read)."""
        return self.page.inner_text(".monaco-workbench")

    def status_items(self) -> list[str]:
        return [t.strip() for t in self.page.locator(STATUS_ITEM).all_inner_texts() if t.strip()]

    def kimi_status(self) -> list[str]:
        return [t for t in self.status_items() if "Kimi" in t]

    def record_status(self) -> None:
        """From now on, keep every state of the status bar's Kimi items (phases can last milliseconds)."""
        self.page.evaluate(
            """() => {
                const bar = document.getElementById("workbench.parts.statusbar");
                window.__kimiStatus = [];
                const note = () => {
                    const items = [...bar.querySelectorAll(".statusbar-item")]
                        .map((e) => e.innerText.trim()).filter((t) => t.includes("Kimi"));
                    const last = window.__kimiStatus.at(-1);
                    if (JSON.stringify(last) !== JSON.stringify(items)) window.__kimiStatus.push(items);
                };
                new MutationObserver(note).observe(bar, {subtree: true, childList: true, characterData: true});
            }"""
        )

    def recorded_status(self) -> list[list[str]]:
        return [items for items in self.page.evaluate("() => window.__kimiStatus") if items]

    def notifications(self) -> list[str]:
        return [" ".join(t.split()) for t in self.page.locator(NOTIFICATION).all_inner_texts()]

    def notification(self, pattern: str, timeout: float = 60.0) -> Locator:
        """The toast whose text matches ``pattern`` (a regular expression)."""
        regex = re.compile(pattern)

        def find() -> Locator | None:
            for toast in self.page.locator(NOTIFICATION).all():
                if regex.search(" ".join(toast.inner_text().split())):
                    return toast
            return None

        return self.wait(find, f"a notification matching {pattern!r}", timeout)

    def click_button(self, toast: Locator, label: str) -> None:
        toast.locator(".monaco-button", has_text=label).first.click()

    def editor_text(self) -> str:
        """The active editor's visible lines (the suite's files fit on one screen)."""
        lines = self.page.locator(".editor-instance .monaco-editor .view-lines").first
        rows = lines.locator(".view-line").all()
        ordered = sorted(rows, key=lambda row: float(row.evaluate("r => parseFloat(r.style.top) || 0")))
        return "\n".join(row.inner_text().replace("\u00a0", " ") for row in ordered)

    def tab_titles(self) -> list[str]:
        return [" ".join(t.split()) for t in self.page.locator(".tabs-container .tab").all_inner_texts()]

    # --- doing ----------------------------------------------------------------------------------------

    def trust(self, trusted: bool = True) -> None:
        """Answer the workspace-trust dialog a new folder opens with."""
        label = "Yes, I trust the authors" if trusted else "No, I don't trust the authors"
        self.page.get_by_role("button", name=label).click(timeout=90_000)

    def command(self, title: str) -> None:
        """Run a command from the palette by its title, e.g. "Kimi: Fix failing tests"."""
        self.page.keyboard.press("F1")
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(f">{title}")
        row = self.page.locator(".quick-input-list .monaco-list-row", has_text=title).first
        row.wait_for(state="visible", timeout=30_000)
        self.page.keyboard.press("Enter")

    def answer_input(self, text: str) -> None:
        """Type into the input box a command opened, and accept."""
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(text)
        self.page.keyboard.press("Enter")

    def open_file(self, name: str) -> None:
        self.page.keyboard.press("Control+P")
        box = self.page.locator(".quick-input-widget input")
        box.wait_for(state="visible")
        box.fill(name)
        self.page.locator(".quick-input-list .monaco-list-row", has_text=name).first.wait_for(state="visible")
        self.page.keyboard.press("Enter")
        self.wait(lambda: any(name in t for t in self.tab_titles()), f"{name} open in an editor")
        self.focus_editor()

    def focus_editor(self) -> None:
        self.page.locator(".editor-instance .monaco-editor .view-lines").first.click()

    def go_to(self, line: int, column: int = 1) -> None:
        self.page.keyboard.press("Control+G")
        self.answer_input(f":{line}:{column}")

    def select_lines(self, first: int, last: int) -> None:
        """Select whole lines ``first``..``last`` (1-based) in the active editor."""
        self.go_to(first)
        for _ in range(last - first + 1):
            self.page.keyboard.press("Shift+ArrowDown")

    def undo(self) -> None:
        self.focus_editor()
        self.page.keyboard.press("Control+Z")
