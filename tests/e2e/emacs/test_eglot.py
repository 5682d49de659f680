"""kimi-lsp from Emacs with eglot, as a person uses it: real ``emacs -nw`` in tmux, eglot 1.9 with its default
settings (edits confirmed with y/n), the real server, the stand-in model."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from kimi_lsp.testing import Fault, ScriptedCall, StandIn, Turn
from tests.e2e.emacs.emacs import Emacs
from tests.e2e.nvim.neovim import BUGGY

StartEmacs = Callable[..., Emacs]

OLD_LINE = "    return width + height\n"
NEW_LINE = "    return width * height\n"
FIXED = BUGGY.replace(OLD_LINE, NEW_LINE)


def edit_turns() -> list[Turn]:
    return [
        Turn(reasoning="Read the code.", tool_calls=[ScriptedCall("ReadFile", {"path": "shapes.py"})]),
        Turn(
            reasoning="Change the line.",
            tool_calls=[
                ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": {"old": OLD_LINE, "new": NEW_LINE}})
            ],
        ),
        Turn(reasoning="Check.", tool_calls=[ScriptedCall("RunTests", {})]),
        Turn(reasoning="Green.", content="It multiplies now."),
    ]


def test_a_fix_lands_after_eglots_confirmation_with_start_steps_and_summary_shown_and_no_false_alarm(
    project: Path, stand_in: StandIn, emacs_for: StartEmacs
) -> None:
    stand_in.push(*edit_turns())
    emacs = emacs_for()
    emacs.code_action("Kimi: Fix failing tests")

    # eglot shows no $/progress and no window/logMessage: the job speaks through window/showMessage.
    emacs.wait_screen(lambda s: "Kimi: Fix failing tests: started (job " in s, "the start in the echo area")
    emacs.wait_screen(lambda s: "Server wants to edit" in s and "Proceed? (y or n)" in s, "eglot's confirmation")
    told = emacs.messages()
    assert "Kimi: Fix failing tests: step 1/20 · reading shapes.py" in told
    assert "Kimi: Fix failing tests: step 3/20 · running tests" in told

    emacs.keys("y")
    emacs.wait(
        lambda: "Kimi: Fix failing tests: Applied (1 file(s)). It multiplies now." in emacs.messages(), "the summary"
    )
    assert emacs.text("shapes.py") == FIXED
    assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY  # the buffer, unsaved

    # eglot sends the buffer change only after the user's next key: the answer "applied" was to be trusted.
    emacs.keys("C-n")
    titles = emacs.action_titles("shapes.py")  # asking for actions sends eglot's pending changes first
    assert "Kimi: Fix failing tests" in titles
    assert not [title for title in titles if title.startswith("Kimi: Apply")], titles
    told = emacs.messages()
    assert "skipped" not in told and "not applied" not in told.lower(), told
    assert not stand_in.violations


def test_status_and_cancel_are_code_actions_while_a_job_runs(
    project: Path, stand_in: StandIn, emacs_for: StartEmacs
) -> None:
    stand_in.push(Turn(reasoning="thinking " * 4000, content="never", fault=Fault.slow_stream(0.2)))
    emacs = emacs_for()
    assert not [t for t in emacs.action_titles("shapes.py") if "Cancel" in t or "Status" in t]
    emacs.code_action("Kimi: Fix failing tests")
    emacs.wait_screen(lambda s: "Kimi: Fix failing tests: started (job " in s, "the start in the echo area")
    assert stand_in.wait_for(lambda s: len(s.chat_requests) >= 1, timeout=20)

    emacs.code_action("Kimi: Status (what runs)")
    screen = emacs.wait_screen(lambda s: "Kimi: Fix failing tests (job " in s, "the status in the echo area")
    assert "step 1/20 · thinking " in screen and "0 tokens" not in screen, screen

    emacs.code_action("Kimi: Cancel Fix failing tests")
    emacs.wait(lambda: "Kimi: Fix failing tests: Cancelled" in emacs.messages(), "the job to end cancelled")
    assert stand_in.wait_for(lambda s: s.disconnects >= 1, timeout=5)
    assert emacs.text("shapes.py") == BUGGY
    assert not [t for t in emacs.action_titles("shapes.py") if "Cancel" in t or "Status" in t]


def test_a_missing_key_is_one_line_without_a_traceback(project: Path, stand_in: StandIn, emacs_for: StartEmacs) -> None:
    emacs = emacs_for(env={"KIMI_API_KEY": ""})
    emacs.code_action("Kimi: Fix failing tests")
    emacs.wait_screen(lambda s: "no API key" in s, "the refusal in the echo area")
    told = emacs.messages().rstrip("\n").splitlines()
    refusal = [line for line in told if "no API key" in line]
    assert len(refusal) == 1, told
    assert "set KIMI_API_KEY (or MOONSHOT_API_KEY) for the server, then restart it" in refusal[0]
    assert "Traceback" not in "\n".join(told) and "kimi_lsp" not in refusal[0] and ".py" not in refusal[0]
    assert not stand_in.requests
