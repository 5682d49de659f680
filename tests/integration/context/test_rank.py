"""Ranking from real pytest output: re-exports followed, names the test spells out, one Task and one failures part."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from kimi_lsp.agent import job
from kimi_lsp.context import ContextRequest, TokenEstimator, build_context
from kimi_lsp.settings import Settings
from tests.unit.context.test_rank import REEXPORTED


def _pytest(root: Path) -> str:
    """The real output of pytest on the workspace (the package imported from the workspace itself)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST")}
    env["PYTHONPATH"] = str(root)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stdout  # the fixture's bug makes a test fail
    return done.stdout


def _order(result_files: list) -> list[str]:  # type: ignore[type-arg]
    return [item.path for item in result_files]


def test_re_export_is_followed_to_the_defining_module(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(REEXPORTED)
    result = build_context(ContextRequest(root=root, test_output=_pytest(root), budget=4_000))

    order = _order(result.files)
    # What the test calls, through shapes/__init__.py, ahead of the modules it does not use.
    assert order.index("shapes/_area.py") < min(order.index("shapes/_names.py"), order.index("shapes/colours.py"))
    reasons = {item.path: item.reason for item in result.files}
    assert "defines what the failing test uses" in reasons["shapes/_area.py"]
    assert "defines what the failing test uses" not in reasons["shapes/colours.py"]
    assert "failing test" in reasons["tests/test_shapes.py"]


def test_source_that_does_not_fit_is_mapped_not_shown_whole(make_workspace: Callable[..., Path]) -> None:
    files = dict(REEXPORTED)
    files["shapes/big.py"] = "".join(f"def unrelated_{n}():\n    return {n}\n" for n in range(1500))
    root = make_workspace(files)
    result = build_context(ContextRequest(root=root, test_output=_pytest(root), budget=4_000))
    order = _order(result.files)
    assert "shapes/_area.py" in order
    assert "shapes/big.py" not in order or not next(item for item in result.files if item.path == "shapes/big.py").whole


# A long module whose bug sits in a class the traceback never enters: the failing test names it only
# in its own name, and its file only by its test file's name.
_FILLER = "".join(f"LIMIT_{n} = {n}  # a long table of constants\n" for n in range(2400))


NAMED_BY_THE_TEST: dict[str, str | bytes] = {
    "grammar/__init__.py": "from .core import parse\n",
    "grammar/core.py": (
        "from .skipping import SkipTo\n\n\ndef parse(text):\n    return SkipTo(';').scan(text)\n\n\n" + _FILLER
    ),
    "grammar/skipping.py": (
        _FILLER
        + "class SkipTo:\n    def __init__(self, end):\n        self.end = end\n\n"
        + "    def scan(self, text):\n"
        + "".join(f"        step_{n} = {n}\n" for n in range(95))
        + "        return text.split(self.end)[0].strip('#')  # the bug: comments are not skipped\n"
    ),
    "grammar/words.py": "def words(text):\n    return text.split()\n",
    "tests/test_skipping.py": (
        "import grammar\n\n\ndef test_skip_to_honours_comments():\n    assert grammar.parse('a # b; c;') == 'a '\n"
    ),
}


def test_the_test_files_name_and_the_test_name_point_at_the_module_and_definition(
    make_workspace: Callable[..., Path],
) -> None:
    root = make_workspace(NAMED_BY_THE_TEST)
    result = build_context(ContextRequest(root=root, test_output=_pytest(root), budget=12_000))

    reasons = {item.path: item.reason.split(", ") for item in result.files}
    assert "named like the failing test's file" in reasons["grammar/skipping.py"]
    assert "defines what the failing test's name says" in reasons["grammar/skipping.py"]
    assert "named like the failing test's file" not in reasons.get("grammar/core.py", [])
    # The file is too long to show whole: the class the test's name spells out is shown in full.
    shown = next(item for item in result.files if item.path == "grammar/skipping.py")
    assert not shown.whole
    last = NAMED_BY_THE_TEST["grammar/skipping.py"].count("\n")  # type: ignore[union-attr]
    rows = set(result.prompt.split("\n"))
    assert {f"{last - 100}| class SkipTo:", f"{last - 45}|         step_50 = 50"} <= rows
    assert f"{last}|         return text.split(self.end)[0].strip('#')  # the bug: comments are not skipped" in rows


def test_first_prompt_states_the_task_and_the_failures_once(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(REEXPORTED)
    output = _pytest(root)
    before = job.TestRun(
        exit_code=1,
        passed=1,
        failed=1,
        errors=0,
        skipped=0,
        timed_out=False,
        duration=0.1,
        failures=[],
        output=output,
    )
    request = job.JobRequest(root=root, kind="refactor", instruction="Rename area to surface.")
    context = job._build_context(request, root, Settings(), before, None, TokenEstimator())
    prompt = job._task_text(request, context, before)

    assert prompt.count("## Task") == 1
    assert prompt.count("Rename area to surface.") == 1
    assert prompt.count("## Test results") == 1
    assert "Test run before any change" not in prompt
    summary = "FAILED tests/test_shapes.py::test_area_of_rectangle"
    assert output.count(summary) == 1 and prompt.count(summary) == 1
    # The code comes before the failures and the task, which close the prompt.
    assert prompt.index("### shapes/_area.py") < prompt.index("## Test results") < prompt.index("## Task")
