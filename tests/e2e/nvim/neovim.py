"""A real Neovim (headless, embedded through pynvim) running the plugin in editors/nvim, with its server
environment pointed at the stand-in model."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import STAND_IN_KEY

PLUGIN = Path(__file__).resolve().parents[3] / "editors" / "nvim"
TEST_COMMAND = f"{sys.executable} -m unittest"  # starts in milliseconds, unlike pytest

BUGGY = 'def area(width, height):\n    """Area of a rectangle."""\n    return width + height\n'
TESTS = (
    "import unittest\n\nfrom shapes import area\n\n\n"
    "class AreaTest(unittest.TestCase):\n    def test_area(self):\n        self.assertEqual(area(3, 4), 12)\n"
)

# Recorded through vim.notify, so a test can read what the user was told.
INIT = """
vim.opt.rtp:prepend({plugin})
vim.opt.swapfile = false
vim.opt.shadafile = "NONE"
_G.kimi_notes = {{}}
vim.notify = function(msg, level)
  table.insert(_G.kimi_notes, {{ msg = tostring(msg), level = level or vim.log.levels.INFO }})
end
require("kimi_lsp").setup(vim.json.decode({options}))
"""


def nvim_binary() -> str:
    found = shutil.which("nvim") or shutil.which("nvim", path=str(Path(sys.executable).parent))
    if not found:
        pytest.skip("nvim is not installed")
    return found


class Neovim:
    """One embedded Neovim with the plugin set up, and the waits the tests need (all with deadlines)."""

    def __init__(self, tmp: Path, options: dict[str, Any]) -> None:
        self.tmp = tmp
        self.state = tmp / "state"
        (self.state / "tmp").mkdir(parents=True, exist_ok=True)
        xdg = tmp / "xdg"
        init = tmp / "init.lua"
        init.write_text(
            INIT.format(plugin=_lua_string(str(PLUGIN)), options=_lua_string(json.dumps(options))),
            encoding="utf-8",
        )
        env_args = [
            # The real key never reaches the editor or the server: only the stand-in's.
            "-u",
            "KIMI_API_KEY",
            "-u",
            "MOONSHOT_API_KEY",
            "-u",
            "KIMI_BASE_URL",
            "-u",
            "KIMI_MODEL",
            f"KIMI_API_KEY={STAND_IN_KEY}",
            f"KIMI_LSP_STATE_DIR={self.state}",
            f"TMPDIR={self.state / 'tmp'}",
            f"XDG_CONFIG_HOME={xdg / 'config'}",
            f"XDG_DATA_HOME={xdg / 'data'}",
            f"XDG_STATE_HOME={xdg / 'state'}",
            f"XDG_CACHE_HOME={xdg / 'cache'}",
        ]
        argv = ["/usr/bin/env", *env_args, nvim_binary(), "--embed", "--headless", "-n", "-u", str(init)]
        import pynvim  # only these tests need it: a missing pynvim skips them (see test modules)

        self.nvim = pynvim.attach("child", argv=argv)

    def lua(self, code: str, *args: Any) -> Any:
        return self.nvim.exec_lua(code, *args)

    def wait(self, condition: str, timeout: float = 20.0, what: str | None = None) -> Any:
        """Poll the Lua expression ``condition`` inside Neovim (``vim.wait``: the editor keeps running its
        event loop meanwhile) until it is truthy; its value, or an AssertionError after ``timeout`` s."""
        ok = self.lua(
            f"return vim.wait({int(timeout * 1000)}, function() return ({condition}) and true or false end, 20)"
        )
        if not ok:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or condition}; notes: {self.notes()}")
        return self.lua(f"return {condition}")

    def open(self, path: Path) -> int:
        """Edit ``path`` and wait until kimi-lsp is attached and initialized for it."""
        self.nvim.command("edit " + self.nvim.funcs.fnameescape(str(path)))
        self.wait(
            "(function() local c = vim.lsp.get_clients({bufnr = 0, name = 'kimi_lsp'})[1]"
            " return c ~= nil and c.initialized end)()",
            what="kimi-lsp to attach",
        )
        return int(self.nvim.current.buffer.number)

    def lines(self) -> list[str]:
        return list(self.nvim.current.buffer[:])

    def wait_text(self, expected: str, what: str) -> None:
        """Wait until the current buffer holds ``expected`` (lines joined by newlines, final newline implied)."""
        text = _lua_string(expected.removesuffix("\n"))
        self.wait(f"table.concat(vim.api.nvim_buf_get_lines(0, 0, -1, false), '\\n') == {text}", what=what)

    def wait_note(self, prefix: str, timeout: float = 20.0) -> str:
        """The first notification starting with ``prefix``, waiting for it to be shown."""
        found = self.wait(
            "(function() for _, n in ipairs(_G.kimi_notes) do"
            f" if vim.startswith(n.msg, {_lua_string(prefix)}) then return n.msg end end end)()",
            timeout,
            what=f"a notification starting with {prefix!r}",
        )
        return str(found)

    def notes(self) -> list[str]:
        return [n["msg"] for n in self.lua("return _G.kimi_notes")]

    def close(self) -> None:
        # Stop the server the polite way first (shutdown cancels its jobs), then leave.
        try:
            self.lua(
                "vim.lsp.stop_client(vim.lsp.get_clients())"
                " return vim.wait(5000, function() return #vim.lsp.get_clients() == 0 end, 20)"
            )
            self.nvim.command("qa!", async_=True)
        finally:
            self.nvim.close()


def _lua_string(text: str) -> str:
    """``text`` as a Lua long-bracket literal (taken verbatim: no escapes to get wrong)."""
    level = "=" * 4
    while f"]{level}]" in text:
        level += "="
    return f"[{level}[{text}]{level}]"
