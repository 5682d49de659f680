"""Ranking from what a failure says, on real pytest output produced in each test's own workspace."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from kimi_lsp.agent import job
from kimi_lsp.context import ContextRequest, TokenEstimator, WorkspaceIndex, build_context
from kimi_lsp.context.definitions import callees, find_definition
from kimi_lsp.context.imports import ModuleMap
from kimi_lsp.context.relevance import bm25_scores
from kimi_lsp.settings import Settings

# A package whose public names are re-exported from private modules, and a test that only asserts:
# the traceback ends in the test, so only the test's own code says where to look.
REEXPORTED: dict[str, str | bytes] = {
    "shapes/__init__.py": "from ._area import area\nfrom ._names import describe\n",
    "shapes/_area.py": "def area(width, height):\n    return width + height  # the bug\n",
    "shapes/_names.py": "def describe(kind):\n    return f'a {kind}'\n",
    "shapes/colours.py": "PALETTE = ['red', 'green']\n\n\ndef mix(first, second):\n    return first + second\n",
    "tests/test_shapes.py": (
        "import shapes\n\n\ndef test_area_of_rectangle():\n    assert shapes.area(3, 4) == 12\n\n\n"
        "def test_describe():\n    assert shapes.describe('box') == 'a box'\n"
    ),
}


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


def test_find_definition_follows_re_exports_and_submodules(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(REEXPORTED)
    index = WorkspaceIndex(root)
    index.scan()
    modules = ModuleMap(index.files())
    found = find_definition(index, modules, "shapes", ["area"])
    assert found is not None and found[:2] == ("shapes/_area.py", 1)
    assert find_definition(index, modules, "shapes", ["colours", "mix"])[:2] == ("shapes/colours.py", 4)  # type: ignore[index]
    assert find_definition(index, modules, "shapes", ["missing"]) is None
    assert find_definition(index, modules, "os", ["path"]) is None  # not workspace code


def test_a_method_the_test_calls_is_found_with_what_it_hands_the_work_to(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(
        {
            "engine/__init__.py": "from .environment import Environment\n",
            "engine/environment.py": (
                "from .parser import Parser\n\n\n"
                "class Environment:\n"
                "    def from_string(self, source):\n        return self.compile(source)\n\n"
                "    def compile(self, source):\n        return self._parse(source)\n\n"
                "    def _parse(self, source):\n        return Parser(source).parse()\n"
            ),
            "engine/parser.py": "class Parser:\n    def __init__(self, source):\n        self.source = source\n",
        }
    )
    index = WorkspaceIndex(root)
    index.scan()
    modules = ModuleMap(index.files())
    found = find_definition(index, modules, "engine", ["Environment", "from_string"])
    assert found is not None and found[:3] == ("engine/environment.py", 5, 6)  # the method, not the class
    # from_string -> self.compile -> self._parse -> Parser: the module that does the work.
    assert ("engine/parser.py", 1, 3) in callees(index, modules, found[0], found[3])
    whole_class = find_definition(index, modules, "engine", ["Environment"])
    assert whole_class is not None and whole_class[1:3] == (4, 12)


def test_the_failures_words_rank_the_files_that_share_them(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(REEXPORTED)
    index = WorkspaceIndex(root)
    index.scan()
    sources = ["shapes/_area.py", "shapes/_names.py", "shapes/colours.py"]
    scores = bm25_scores(index, sources, "mixing the palette colours gives the wrong colour: mix(red, green)")
    assert max(scores, key=scores.__getitem__) == "shapes/colours.py"
    assert scores["shapes/colours.py"] == 1.0
    assert bm25_scores(index, sources, "") == {}


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
