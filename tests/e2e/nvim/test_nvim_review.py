"""The Neovim plugin as a person uses it: a change to review never takes the keyboard, a command given while the
server starts waits for it, code actions fix diagnostics from any source, "Refactor selection…" asks at once,
and each outcome is told once."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_lsp.testing import ScriptedCall, StandIn, Turn
from tests.e2e.nvim.neovim import BUGGY, Neovim
from tests.e2e.nvim.test_nvim_edge_cases import status_barrier
from tests.e2e.nvim.test_nvim_plugin import FIXED, edit_turns, first_task

pytest.importorskip("pynvim")

StartNeovim = Callable[..., Neovim]

REVIEW = "Review it with the code actions"

# Records the code actions vim.lsp.buf.code_action offers and picks the one titled _G.pick; any other
# selection (a server's message request would be one) is recorded and left unanswered.
PICKER = """
_G.offered, _G.other_selects = nil, {}
vim.ui.select = function(items, opts, on_choice)
  if opts.kind ~= 'codeaction' then
    table.insert(_G.other_selects, opts.prompt or '?')
    return on_choice(nil)
  end
  _G.offered = vim.tbl_map(function(item) return item.action.title end, items)
  for _, item in ipairs(items) do
    if item.action.title == _G.pick then return on_choice(item) end
  end
  on_choice(nil)
end
"""


def code_actions(nvim: Neovim, pick: str | None = None) -> list[str]:
    """The titles of the code actions at the cursor, as vim.lsp.buf.code_action gets them (picking ``pick``)."""
    nvim.lua(PICKER)
    nvim.lua("_G.pick = ...", pick)
    nvim.lua("vim.lsp.buf.code_action()")
    return list(nvim.wait("_G.offered", what="the code actions"))


def test_a_change_to_review_waits_while_the_user_types_and_is_applied_from_a_code_action(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(*edit_turns())
    nvim = neovim_for(applyMode="preview")
    nvim.open(project / "shapes.py")
    nvim.nvim.command("KimiFixTests")
    review = nvim.wait_note("Kimi: Fix failing tests: verified by the tests")
    assert REVIEW in review

    # The user goes on typing: every key goes to the buffer, none to a prompt.
    nvim.nvim.input("Otyped while reviewing")
    nvim.nvim.input("<Esc>")
    nvim.wait_text("typed while reviewing\n" + BUGGY, "the typed text in the buffer")
    status = status_barrier(nvim)
    assert "waiting for review" in status

    titles = code_actions(nvim, pick="Kimi: Apply Fix failing tests")
    assert {"Kimi: Show diff of Fix failing tests", "Kimi: Discard Fix failing tests"} <= set(titles)
    nvim.wait_text("typed while reviewing\n" + FIXED, "the change rebased onto the typing")
    assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY


def test_a_command_given_while_the_server_starts_waits_for_it(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    (project / "shapes.py").write_text(FIXED, encoding="utf-8")  # the tests pass: the job ends at once
    nvim = neovim_for()
    nvim.nvim.command("edit " + str(project / "shapes.py") + " | KimiFixTests")  # before the server answers
    assert nvim.wait_note("Kimi: Fix failing tests (job ")
    nvim.wait_note("Kimi: Fix failing tests: No change")
    notes = nvim.notes()
    assert not [n for n in notes if "not attached" in n], notes
    assert "Kimi: kimi-lsp is starting; the command runs once it is ready" in notes


def test_code_actions_offer_a_fix_for_a_diagnostic_from_another_source(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(*edit_turns())
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.lua(
        "local ns = vim.api.nvim_create_namespace('my_linter')"
        " vim.diagnostic.set(ns, 0, {{lnum = 2, col = 11, end_col = 25, severity = vim.diagnostic.severity.ERROR,"
        " message = 'area adds where it should multiply', source = 'my-linter'}})"
    )
    nvim.nvim.command("call cursor(3, 1)")
    titles = code_actions(nvim, pick="Kimi: Fix area adds where it should multiply")
    assert "Kimi: Fix area adds where it should multiply" in titles, titles
    nvim.wait_text(FIXED, "the fix in the buffer")
    assert "area adds where it should multiply" in first_task(stand_in)


def test_refactor_selection_asks_for_the_instruction_at_once_in_the_editor(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    stand_in.push(*edit_turns())
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.lua("vim.ui.input = function(opts, on_confirm) _G.asked = opts.prompt on_confirm('use a product') end")
    nvim.nvim.command('execute "normal! ggVG"')
    code_actions(nvim, pick="Kimi: Refactor selection…")
    assert "refactor" in str(nvim.wait("_G.asked", what="the instruction question")).lower()
    nvim.wait_text(FIXED, "the refactor in the buffer")
    assert "use a product" in first_task(stand_in)
    assert nvim.lua("return _G.other_selects") == []  # no question from the server on top


def test_a_job_that_does_not_fix_the_tests_is_told_once(
    project: Path, stand_in: StandIn, neovim_for: StartNeovim
) -> None:
    wrong = {"path": "shapes.py", "edit": {"old": "width + height", "new": "width - height"}}
    stand_in.push(Turn(reasoning="Guess.", tool_calls=[ScriptedCall("StrReplaceFile", wrong)]))
    stand_in.push(*[Turn(reasoning="Hmm.", content="I could not find it.") for _ in range(3)])
    nvim = neovim_for()
    nvim.open(project / "shapes.py")
    nvim.nvim.command("KimiFixTests")
    nvim.wait("#vim.tbl_keys(require('kimi_lsp.progress').ended) == 1", what="the job to end")
    status_barrier(nvim)
    # Neovim shows a server's warning with nvim_echo (in :messages), the plugin's own lines with vim.notify.
    echoed = nvim.lua("return vim.api.nvim_exec2('messages', {output = true}).output").splitlines()
    notes = [n for n in nvim.notes() if not n.startswith("Kimi: status")]
    told = [line for line in [*notes, *echoed] if "still fail" in line]
    assert len(told) == 1, told
    assert "file://" not in told[0]
