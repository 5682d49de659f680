"""The Neovim plugin where things go wrong: a server that dies mid-job, a buffer that is no file, a failing
command or job (told once), and :checkhealth run from outside the project."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_lsp.testing import Fault, StandIn, Turn
from tests.e2e.nvim.neovim import Neovim

pytest.importorskip("pynvim")

StartNeovim = Callable[..., Neovim]

LOST = "Kimi: the server stopped; the job is lost"


def server_pid(nvim: Neovim) -> int:
    """The pid of the kimi-lsp server Neovim started (its child running ``-m kimi_lsp``)."""
    children = nvim.lua("return vim.api.nvim_get_proc_children(vim.fn.getpid())")
    found = [pid for pid in children if b"kimi_lsp" in Path(f"/proc/{pid}/cmdline").read_bytes()]
    assert len(found) == 1, children
    return int(found[0])


def settle(nvim: Neovim) -> None:
    """Let every callback Neovim scheduled so far run (they run in order), e.g. the plugin's attaches."""
    nvim.lua("_G.settled = false vim.schedule(function() vim.schedule(function() _G.settled = true end) end)")
    nvim.wait("_G.settled", what="scheduled callbacks to run")


def status_barrier(nvim: Neovim) -> str:
    """Ask the server for its status and wait for the answer: whatever the server sent before (messages about
    an earlier request) has been handled by then."""
    nvim.nvim.command("KimiStatus")
    return nvim.wait_note("Kimi: status")


def test_a_server_killed_mid_job_clears_the_statusline_and_says_the_job_is_lost(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(Turn(reasoning="thinking " * 400, content="never", fault=Fault.slow_stream(0.2)))
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.nvim.command("KimiFixTests")
    nvim.wait("require('kimi_lsp').statusline():find('step 1/20', 1, true)", what="the job to run")

    os.kill(server_pid(nvim), signal.SIGKILL)  # a crash: no `end` progress, no shutdown

    nvim.wait("require('kimi_lsp').statusline() == ''", timeout=10, what="the statusline to clear")
    nvim.wait_note(LOST)
    assert nvim.notes().count(LOST) == 1
    assert nvim.lua("return vim.tbl_values(require('kimi_lsp.progress').ended)") == ["Lost: the server stopped"]


def test_closing_a_buffer_keeps_the_running_job(project: Path, stand_in: StandIn, neovim_for: StartNeovim) -> None:
    """Only a stopped server loses its jobs: a buffer detaching from a live one does not."""
    stand_in.push(Turn(reasoning="thinking " * 400, content="never", fault=Fault.slow_stream(0.2)))
    nvim = neovim_for()
    nvim.open(project / "test_shapes.py")
    nvim.open(project / "shapes.py")
    nvim.nvim.command("KimiFixTests")
    nvim.wait("require('kimi_lsp').statusline():find('step 1/20', 1, true)", what="the job to run")
    nvim.nvim.command("bwipeout " + str(project / "test_shapes.py"))
    settle(nvim)
    assert nvim.lua("return require('kimi_lsp').statusline()").startswith("Kimi: step 1/20")
    assert LOST not in nvim.notes()
    nvim.nvim.command("KimiCancel")
    assert nvim.wait_note("Kimi: Fix failing tests: ") == "Kimi: Fix failing tests: Cancelled"


def test_an_unnamed_buffer_gets_no_client_and_the_commands_say_to_save_it(
    project: Path, neovim_for: StartNeovim
) -> None:
    nvim = neovim_for()
    nvim.nvim.command("cd " + str(project))  # a root search from the cwd would find the project
    nvim.nvim.command("enew")
    nvim.nvim.command("setfiletype python")
    settle(nvim)
    assert nvim.lua("return #vim.lsp.get_clients()") == 0

    nvim.nvim.command("KimiFixTests")
    note = nvim.wait_note("Kimi: ")
    assert "save the buffer first" in note
    assert len(nvim.notes()) == 1


def test_a_command_the_server_refuses_is_told_once(project: Path, neovim_for: StartNeovim) -> None:
    nvim = neovim_for(cmd_env={"KIMI_API_KEY": ""})  # the server starts with no key
    nvim.open(project / "shapes.py")
    nvim.nvim.command("KimiFixTests")
    failed = nvim.wait_note("Kimi: kimi.fixTests failed: ")
    assert "no API key" in failed
    status_barrier(nvim)
    told = [n for n in nvim.notes() if not n.startswith("Kimi: status")]
    assert told == [failed]


def test_a_failed_job_is_told_once_and_its_start_only_by_the_command(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(Turn(fault=Fault.unauthorized()))
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.nvim.command("KimiFixTests")
    nvim.wait("#vim.tbl_keys(require('kimi_lsp.progress').ended) == 1", what="the job to end")
    ended = nvim.lua("return vim.tbl_values(require('kimi_lsp.progress').ended)")
    assert ended[0].startswith("Failed")
    status_barrier(nvim)
    told = [n for n in nvim.notes() if not n.startswith("Kimi: status")]
    # The command's "started" answer, and the server's own failure message (window/showMessage).
    assert len(told) == 2, told
    assert told[0].startswith("Kimi: Fix failing tests (job ")
    assert "failed" in told[1].lower() and "Kimi: Fix failing tests" in told[1]


def test_checkhealth_runs_the_doctor_in_the_project_of_the_running_client(
    tmp_path: Path, project: Path, neovim_for: StartNeovim
) -> None:
    project_command = "python -m unittest discover -s from-the-project-file"
    (project / ".kimi-lsp.toml").write_text(f'testCommand = "{project_command}"\n', encoding="utf-8")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    nvim = neovim_for(testCommand=None)  # setup() says nothing: the project file decides
    nvim.nvim.command("cd " + str(elsewhere))
    nvim.open(project / "shapes.py")
    nvim.nvim.command("checkhealth kimi_lsp")
    text = "\n".join(nvim.lines())
    assert f"kimi-lsp doctor in {project}" in text
    assert f"test command: {project_command}" in text
