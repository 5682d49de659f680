"""The Neovim plugin end to end: real Neovim 0.11 headless, the real kimi-lsp server, the stand-in model."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import Fault, ScriptedCall, StandIn, Turn
from tests.e2e.nvim.neovim import BUGGY, PLUGIN, TEST_COMMAND, Neovim

pytest.importorskip("pynvim")

StartNeovim = Callable[..., Neovim]

OLD_LINE = "    return width + height\n"
NEW_LINE = "    return width * height\n"
FIXED = BUGGY.replace(OLD_LINE, NEW_LINE)


def edit_turns(old: str = OLD_LINE, new: str = NEW_LINE, summary: str = "It multiplies now.") -> list[Turn]:
    return [
        Turn(reasoning="Read the code.", tool_calls=[ScriptedCall("ReadFile", {"path": "shapes.py"})]),
        Turn(
            reasoning="Change the line.",
            tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": {"old": old, "new": new}})],
        ),
        Turn(reasoning="Check.", tool_calls=[ScriptedCall("RunTests", {})]),
        Turn(reasoning="Green.", content=summary),
    ]


def first_task(stand_in: StandIn) -> str:
    """Everything the model was told in the first request (system and user messages)."""
    body = stand_in.chat_requests[0].json
    return "\n".join(str(m.get("content")) for m in body["messages"])


def test_kimi_fix_sends_diagnostics_from_any_namespace_and_the_fix_lands_in_the_buffer(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(*edit_turns())
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    # A diagnostic from some other tool's namespace: not from kimi-lsp, not even from an LSP client.
    nvim.lua(
        "local ns = vim.api.nvim_create_namespace('my_linter')"
        " vim.diagnostic.set(ns, 0, {{lnum = 2, col = 11, end_col = 25, severity = vim.diagnostic.severity.ERROR,"
        " message = 'area adds where it should multiply', source = 'my-linter', code = 'E42'}})"
    )
    nvim.nvim.command("call cursor(3, 1)")
    nvim.nvim.command("KimiFix")

    nvim.wait_text(FIXED, "the fix in the buffer")
    assert nvim.lines() == FIXED.splitlines()
    assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY  # the buffer changed, not the disk
    task = first_task(stand_in)
    assert "area adds where it should multiply" in task
    assert not stand_in.violations
    nvim.wait_note("Kimi: Fix area adds where it should multiply: Applied")
    assert nvim.lua("return require('kimi_lsp').statusline()") == ""


def test_diagnostics_become_lsp_json_with_columns_in_the_position_encoding(
    project: Path, neovim_for: StartNeovim
) -> None:
    """Neovim counts diagnostic columns in bytes; the server is sent them in the negotiated encoding."""
    (project / "shapes.py").write_text('s = "😀"; x = undefined_name\n', encoding="utf-8")
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    converted = nvim.lua(
        """
        local ns = vim.api.nvim_create_namespace('other')
        local line = vim.api.nvim_buf_get_lines(0, 0, 1, false)[1]
        local col = line:find('undefined_name', 1, true) - 1
        vim.diagnostic.set(ns, 0, {{lnum = 0, col = col, end_col = col + 14, severity = 2,
          message = 'undefined name', source = 'flake8'}})
        local d = vim.diagnostic.get(0, {lnum = 0})[1]
        local to_lsp = require('kimi_lsp.commands').to_lsp_diagnostic
        return {to_lsp(0, d, 'utf-16'), to_lsp(0, d, 'utf-8'), to_lsp(0, d, 'utf-32')}
        """
    )
    # 's = "' is 5 units, the emoji 2 UTF-16 units (4 bytes, 1 code point), '"; x = ' 7 more.
    assert converted[0] == {
        "range": {"start": {"line": 0, "character": 14}, "end": {"line": 0, "character": 28}},
        "message": "undefined name",
        "severity": 2,
        "source": "flake8",
    }
    assert converted[1]["range"]["start"]["character"] == 16
    assert converted[2]["range"]["start"]["character"] == 13


def test_kimi_refactor_on_a_visual_range_sends_the_instruction_and_the_edit_lands(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(*edit_turns(summary="Multiplied."))
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.nvim.command('execute "normal! ggVG\\<Esc>"')  # select the whole function, as a user would
    nvim.nvim.command("'<,'>KimiRefactor compute the area with a product please")

    nvim.wait_text(FIXED, "the refactor in the buffer")
    task = first_task(stand_in)
    assert "compute the area with a product please" in task
    assert nvim.wait_note("Kimi: Refactor selection (job ")
    assert nvim.wait_note("Kimi: Refactor selection: Applied").startswith("Kimi: Refactor selection: Applied")


def test_kimi_refactor_without_an_argument_asks_for_the_instruction(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(*edit_turns())
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    # The user answers the prompt (vim.ui.input is the editor's prompt; a UI plugin may replace it the same way).
    nvim.lua("vim.ui.input = function(opts, on_confirm) _G.asked = opts.prompt on_confirm('use a product') end")
    nvim.nvim.command("2,3KimiRefactor")
    nvim.wait_text(FIXED, "the refactor in the buffer")
    assert "refactor" in nvim.lua("return _G.asked").lower()
    assert "use a product" in first_task(stand_in)
    nvim.wait_note("Kimi: Refactor selection: Applied")


def test_kimi_cancel_ends_a_slow_job_and_the_statusline_shows_its_step(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    # Seven chunks a second apart: the turn lasts long enough for the statusline to show seconds of thinking.
    stand_in.push(Turn(reasoning="thinking " * 4000, content="never", fault=Fault.slow_stream(1.0)))
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.nvim.command("KimiFixTests")

    # The first turn's tokens are counted only when it ends: meanwhile the time spent thinking is shown.
    status = nvim.wait(
        "(function() local s = require('kimi_lsp').statusline()"
        " return s:match('^Kimi: step 1/20 · thinking [1-9]%d*s') and s end)()",
        what="the thinking time in the statusline",
    )
    assert "0 tokens" not in status
    assert stand_in.wait_for(lambda s: len(s.chat_requests) >= 1, timeout=10)

    nvim.nvim.command("KimiCancel")
    assert nvim.wait_note("Kimi: Fix failing tests: ", timeout=5) == "Kimi: Fix failing tests: Cancelled"
    nvim.nvim.command("KimiStatus")  # its answer comes after the cancel's: every line about the cancel is in
    nvim.wait_note("Kimi: status")
    assert not [n for n in nvim.notes() if n.startswith("Kimi: cancelling")], nvim.notes()
    ended = nvim.lua("return vim.tbl_values(require('kimi_lsp.progress').ended)")
    assert ended == ["Cancelled"]
    assert nvim.lua("return require('kimi_lsp').statusline()") == ""
    assert stand_in.wait_for(lambda s: s.disconnects >= 1, timeout=2.0)
    assert nvim.lines() == BUGGY.splitlines()


def test_kimi_status_lists_the_jobs(project: Path, stand_in: StandIn, neovim_for: StartNeovim) -> None:
    stand_in.push(Turn(reasoning="r", content="Nothing to change."))
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    (project / "shapes.py").write_text(BUGGY.replace(OLD_LINE, NEW_LINE), encoding="utf-8")
    nvim.nvim.command("edit!")  # the tests pass now: the job ends at once with no change
    nvim.nvim.command("KimiFixTests")
    assert nvim.wait_note("Kimi: Fix failing tests: ").startswith("Kimi: Fix failing tests: No change")
    nvim.nvim.command("KimiStatus")
    shown = nvim.wait_note("Kimi: status")
    assert "Fix failing tests" in shown and "done" in shown
    assert f"test command {nvim_test_command(nvim)}" in shown


def nvim_test_command(nvim: Neovim) -> str:
    return str(nvim.lua("return require('kimi_lsp').options.settings.testCommand"))


def test_checkhealth_reports_server_version_key_and_endpoint(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.nvim.command("checkhealth kimi_lsp")
    text = "\n".join(nvim.lines())
    from kimi_lsp import __version__

    assert "server found:" in text
    assert f"version: kimi-lsp {__version__}" in text
    assert "API key present (KIMI_API_KEY)" in text
    assert f"endpoint: {stand_in.url} answers" in text
    assert "model: kimi-k2-thinking is listed" in text
    assert f"test command: {TEST_COMMAND} (setup settings)" in text
    assert "stand-in-key" not in text  # presence only, never the key
    assert "ERROR" not in text, text


def test_checkhealth_reports_a_missing_server(project: Path, stand_in: StandIn, neovim_for: StartNeovim) -> None:
    nvim = neovim_for()
    nvim.lua("require('kimi_lsp').setup({cmd = {'kimi-lsp-not-installed-here'}})")
    nvim.nvim.command("checkhealth kimi_lsp")
    text = "\n".join(nvim.lines())
    assert "server executable `kimi-lsp-not-installed-here` not found" in text


def test_help_tags_build_and_every_command_has_help(tmp_path: Path, neovim_for: StartNeovim) -> None:
    docs = tmp_path / "rtp" / "doc"
    shutil.copytree(PLUGIN / "doc", docs)
    nvim = neovim_for()
    nvim.lua("vim.opt.rtp:prepend(...)", str(tmp_path / "rtp"))
    nvim.nvim.command(f"helptags {docs}")
    for tag in (
        "kimi_lsp",
        ":KimiFix",
        ":KimiFixTests",
        ":KimiRefactor",
        ":KimiCancel",
        ":KimiStatus",
        "kimi_lsp.setup()",
        "kimi_lsp.statusline()",
        "kimi_lsp-health",
    ):
        nvim.nvim.command(f"help {tag}")
        assert nvim.nvim.current.buffer.name.endswith("kimi_lsp.txt"), tag
        line = nvim.nvim.current.line
        assert f"*{tag}*" in line, (tag, line)
        nvim.nvim.command("helpclose")


def test_buffers_outside_a_project_get_no_client_and_untyped_files_inside_do(
    tmp_path: Path, project: Path, neovim_for: StartNeovim
) -> None:
    loose = tmp_path / "loose"
    loose.mkdir()
    (loose / "notes.py").write_text("x = 1\n", encoding="utf-8")
    (project / "plain.kimi").write_text("no filetype here\n", encoding="utf-8")
    nvim = neovim_for()
    nvim.open(project / "plain.kimi")
    assert nvim.lua("return vim.bo.filetype") == ""
    nvim.nvim.command(f"edit {loose / 'notes.py'}")
    assert nvim.lua("return vim.bo.filetype") == "python"
    # Let every attach the plugin scheduled for this buffer run (callbacks run in order), then look.
    nvim.lua("_G.settled = false vim.schedule(function() vim.schedule(function() _G.settled = true end) end)")
    nvim.wait("_G.settled", what="scheduled attaches to run")
    attached: Any = nvim.lua("return #vim.lsp.get_clients({bufnr = 0, name = 'kimi_lsp'})")
    assert attached == 0


def test_statusline_shows_the_job_that_moved_last_and_counts_the_others(neovim_for: StartNeovim) -> None:
    nvim = neovim_for()
    shown = nvim.lua(
        """
        local p = require('kimi_lsp.progress')
        local seen = {}
        local function send(token, value) p.on_progress({token = token, value = value}) end
        table.insert(seen, require('kimi_lsp').statusline())
        send('kimi-a', {kind = 'begin', title = 'Kimi: Fix failing tests', message = 'starting'})
        send('kimi-a', {kind = 'report', message = 'step 4/100 · running tests · 12.3K tokens'})
        table.insert(seen, require('kimi_lsp').statusline())
        send('kimi-b', {kind = 'begin', title = 'Kimi: Refactor selection', message = 'starting'})
        send('kimi-b', {kind = 'report', message = 'step 1/100 · thinking · 2.0K tokens'})
        table.insert(seen, require('kimi_lsp').statusline())
        send('other-server-token', {kind = 'report', message = 'indexing'})
        send('kimi-b', {kind = 'end', message = 'Applied (1 file(s)).'})
        table.insert(seen, require('kimi_lsp').statusline())
        send('kimi-a', {kind = 'end', message = 'Cancelled'})
        table.insert(seen, require('kimi_lsp').statusline())
        return seen
        """
    )
    assert shown == [
        "",
        "Kimi: step 4/100 · running tests · 12.3K tokens",
        "Kimi: step 1/100 · thinking · 2.0K tokens (+1 more)",
        "Kimi: step 4/100 · running tests · 12.3K tokens",
        "",
    ]
    assert nvim.notes()[-2:] == ["Kimi: Refactor selection: Applied (1 file(s)).", "Kimi: Fix failing tests: Cancelled"]
