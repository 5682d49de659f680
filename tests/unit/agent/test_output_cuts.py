"""Long test output reaches the model cut in the middle, one way everywhere: head and tail kept, the cut counted."""

from __future__ import annotations

from kimi_lsp.agent import jobdata
from kimi_lsp.agent.jobdata import TEST_OUTPUT_FOR_MODEL
from kimi_lsp.workspace.text import cut_middle


def test_short_text_is_left_whole_and_long_text_keeps_its_head_and_tail() -> None:
    assert cut_middle("abcdef", 3, 3) == "abcdef"
    cut = cut_middle("HEAD" + "x" * 100 + "TAIL", 4, 4)
    assert cut.startswith("HEAD\n") and cut.endswith("\nTAIL")
    assert "[100 characters omitted]" in cut
    assert cut_middle("HEAD" + "x" * 10, 4, 0) == "HEAD\n... [10 characters omitted] ...\n"


def test_a_before_run_shows_the_model_the_start_and_the_summary_of_a_long_output() -> None:
    output = "collected 5000 items\n" + "." * (3 * TEST_OUTPUT_FOR_MODEL) + "\n1 failed, 4999 passed in 9.1s\n"
    run = jobdata.TestRun(1, 4999, 1, 0, 0, False, 9.1, [], output)

    shown = run.for_model()

    assert "collected 5000 items" in shown and "1 failed, 4999 passed in 9.1s" in shown
    assert "characters omitted" in shown
    assert len(shown) < TEST_OUTPUT_FOR_MODEL + 300
