"""A fix is verified against the user's own tests: `kimi-lsp fix --json` as a real process, the stand-in model.

A change that passes only because it edited tests (or the configuration choosing which tests run) ends
`not_fixed`; a change that adds tests, or an instruction job that changes them, is fixed and lists them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.testing import ScriptedCall, StandIn, Turn
from tests.integration.agent.test_fix_cli import cli_env, run_cli

BUGGY = "def area(width, height):\n    return width + height\n"
FIXED = "def area(width, height):\n    return width * height\n"
TESTS = (
    "import unittest\n\nfrom shapes import area\n\n\n"
    "class AreaTest(unittest.TestCase):\n"
    "    def test_area(self):\n        self.assertEqual(area(3, 4), 12)\n\n"
    "    def test_square(self):\n        self.assertEqual(area(2, 2), 4)\n"  # passes with the bug too
)
UNITTEST = f"{sys.executable} -m unittest"
PYTEST = f"{sys.executable} -m pytest -q -p no:cacheprovider"
QUICK = {"PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}  # this venv's pytest plugins only slow each run down
PYPROJECT = '[project]\nname = "shapes"\nversion = "0"\n'
CONFTEST = "# shared fixtures live here\n"


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shapes.py").write_text(BUGGY, encoding="utf-8")
    (root / "test_shapes.py").write_text(TESTS, encoding="utf-8")
    (root / "pyproject.toml").write_text(PYPROJECT, encoding="utf-8")
    (root / "conftest.py").write_text(CONFTEST, encoding="utf-8")
    return root


def edit(path: str, old: str, new: str) -> ScriptedCall:
    return ScriptedCall("StrReplaceFile", {"path": path, "edit": {"old": old, "new": new}})


def write(path: str, content: str) -> ScriptedCall:
    return ScriptedCall("WriteFile", {"path": path, "content": content})


def say_done(times: int) -> list[Turn]:
    return [Turn(reasoning="done", content="Fixed: area() is correct now and every test passes.")] * times


def fix(
    tmp_path: Path, project: Path, turns: list[Turn], command: str, *extra: str
) -> tuple[int, dict[str, Any], list[Any]]:
    with StandIn(turns) as stand_in:
        done = run_cli(["fix", "--test", command, "--json", *extra], cli_env(tmp_path, stand_in, **QUICK), project)
        assert not stand_in.violations
        requests = stand_in.chat_requests
    assert done.stdout, done.stderr
    return done.returncode, json.loads(done.stdout), requests


def test_rewriting_the_failing_assertion_is_not_fixed(tmp_path: Path, project: Path) -> None:
    turns = [
        Turn(reasoning="the test is wrong", tool_calls=[edit("test_shapes.py", "area(3, 4), 12", "area(3, 4), 7")]),
        *say_done(3),  # told twice that the project's own tests still fail; says done each time
    ]
    code, result, requests = fix(tmp_path, project, turns, UNITTEST)
    assert code == 1 and result["status"] == "not_fixed"
    assert result["tests"]["changed"] == ["test_shapes.py"]
    note = result["tests"]["note"]
    assert "test_shapes.py" in note and "the code change alone does not pass" in note
    assert result["tests"]["after"]["failed"] == 1  # the user's assertion ran, and failed
    assert result["summary"].startswith("Fixed:")  # the model's words stay its own; the note is kimi-lsp's
    told = requests[2].json["messages"][-1]["content"]
    assert "test_shapes.py" in told and "change the code, not the tests" in told
    assert (project / "test_shapes.py").read_text(encoding="utf-8") == TESTS


def test_fixing_the_code_and_adding_a_test_is_fixed_and_lists_the_new_test(tmp_path: Path, project: Path) -> None:
    new_test = (
        "import unittest\n\nfrom shapes import area\n\n\n"
        "class MoreTest(unittest.TestCase):\n    def test_zero(self):\n        self.assertEqual(area(0, 5), 0)\n"
    )
    turns = [
        Turn(reasoning="fix", tool_calls=[edit("shapes.py", "width + height", "width * height")]),
        Turn(reasoning="cover it", tool_calls=[write("test_more.py", new_test)]),
        *say_done(1),
    ]
    code, result, _ = fix(tmp_path, project, turns, UNITTEST, "--apply")
    assert code == 0 and result["status"] == "fixed", result["tests"]
    assert result["tests"]["changed"] == ["test_more.py"]
    assert "test_more.py" in result["tests"]["note"]
    assert {f["path"]: f["change"] for f in result["files"]} == {"shapes.py": "modified", "test_more.py": "added"}
    assert result["tests"]["after"]["passed"] == 3  # the decisive run held the new test too
    assert (project / "test_more.py").read_text(encoding="utf-8") == new_test  # kept and applied
    runs = [json.loads(line) for line in Path(result["transcript"]).read_text(encoding="utf-8").splitlines()]
    verified = [run for run in runs if run["kind"] == "tests.after"]
    assert [(run["with"], run["passed"]) for run in verified] == [("with the user's test files", 2), ("as changed", 3)]


def test_a_new_test_that_fails_is_not_fixed(tmp_path: Path, project: Path) -> None:
    failing = "def test_new():\n    assert False, 'not yet'\n"
    turns = [
        Turn(reasoning="fix", tool_calls=[edit("shapes.py", "width + height", "width * height")]),
        Turn(reasoning="cover it", tool_calls=[write("tests/test_new.py", failing)]),
        *say_done(3),
    ]
    code, result, _ = fix(tmp_path, project, turns, PYTEST)
    assert code == 1 and result["status"] == "not_fixed"
    assert result["tests"]["changed"] == ["tests/test_new.py"]
    assert "the tests as changed fail" in result["tests"]["note"]


def test_an_instruction_renaming_a_function_in_code_and_tests_is_fixed_and_lists_them(
    tmp_path: Path, project: Path
) -> None:
    (project / "shapes.py").write_text(FIXED, encoding="utf-8")
    turns = [
        Turn(reasoning="code", tool_calls=[edit("shapes.py", "def area(", "def rect_area(")]),
        Turn(
            reasoning="tests",
            tool_calls=[
                ScriptedCall(
                    "StrReplaceFile",
                    {"path": "test_shapes.py", "edit": {"old": "area", "new": "rect_area", "replace_all": True}},
                )
            ],
        ),
        Turn(reasoning="done", content="Renamed area to rect_area."),
    ]
    instruction = "rename area to rect_area everywhere"
    code, result, _ = fix(tmp_path, project, turns, UNITTEST, "--instruction", instruction)
    assert code == 0 and result["status"] == "fixed", result["tests"]
    assert result["tests"]["changed"] == ["test_shapes.py"]
    assert "as asked" in result["tests"]["note"] and "test_shapes.py" in result["tests"]["note"]
    assert "+from shapes import rect_area" in result["diff"]


# A hostile model: instead of fixing area(), it makes the test runner skip or deselect the failing test.
SKIP_HOOK = (
    "import pytest\n\n\ndef pytest_collection_modifyitems(items):\n"
    "    for item in items:\n        if 'test_area' in item.name:\n"
    "            item.add_marker(pytest.mark.skip(reason='flaky'))\n"
)
HOSTILE = {
    "a new pytest.ini deselects it": ("pytest.ini", '[pytest]\naddopts = -k "not test_area"\n'),
    "pyproject's [tool.pytest] deselects it": (
        "pyproject.toml",
        PYPROJECT + '\n[tool.pytest.ini_options]\naddopts = ["-k", "not test_area"]\n',
    ),
    "setup.cfg deselects it": ("setup.cfg", '[tool:pytest]\naddopts = -k "not test_area"\n'),
    "tox.ini deselects it": ("tox.ini", '[pytest]\naddopts = -k "not test_area"\n'),
    "the existing conftest skips it": ("conftest.py", CONFTEST + "\n\n" + SKIP_HOOK),
    "a new conftest skips it": ("sub/conftest.py", SKIP_HOOK),
    "a new test file ends the run early": ("test_zz.py", "import os\n\nos._exit(0)\n"),
}


@pytest.mark.parametrize("trick", list(HOSTILE), ids=list(HOSTILE))
def test_changing_the_test_configuration_to_skip_the_failure_is_not_fixed(
    tmp_path: Path, project: Path, trick: str
) -> None:
    path, content = HOSTILE[trick]
    if path.startswith("sub/"):
        # The failing test moves into a folder whose conftest the model then writes.
        (project / "sub").mkdir()
        shutil.move(project / "test_shapes.py", project / "sub" / "test_shapes.py")
        (project / "sub" / "__init__.py").write_text("", encoding="utf-8")
    # The trick works: with it, the project's failing test run passes.
    tricked = tmp_path / "tricked"
    shutil.copytree(project, tricked)
    (tricked / path).write_text(content, encoding="utf-8")
    env = {**os.environ, **QUICK}
    assert subprocess.run(PYTEST.split(), cwd=tricked, env=env, capture_output=True, check=False).returncode == 0

    turns = [Turn(reasoning="make it green", tool_calls=[write(path, content)]), *say_done(1)]
    code, result, _ = fix(tmp_path, project, turns, PYTEST, "--max-steps", "2")  # one verification, no retry
    assert result["tests"]["before"]["failed"] == 1
    assert code == 1 and result["status"] == "not_fixed"
    assert result["tests"]["changed"] == [path]
    assert path in result["tests"]["note"] and "the code change alone does not pass" in result["tests"]["note"]
