"""RunTests and Shell running real commands: counts, the API key kept out, one place for output no parser knows."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kimi_lsp.agent import job
from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.settings import Settings
from kimi_lsp.testing import tool_call as call
from tests.unit.agent.test_tools import TEST_FILE, make_ws


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    return make_ws(tmp_path)


async def test_run_tests_counts_failures_and_hides_the_api_key(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMI_API_KEY", "sk-parent-secret")
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-parent-secret-2")
    (ws / "tests").mkdir()
    (ws / "tests" / "test_it.py").write_text(TEST_FILE)
    seen: list[str] = []
    box = Toolbox(ws, test_command=f"{sys.executable} -m pytest -q -s -p no:cacheprovider", on_output=seen.append)
    result = await box.run(call("RunTests", {"selection": ["tests/test_it.py"]}))
    assert result.ok
    assert "exit code 1" in result.text and "2 passed, 1 failed" in result.text
    assert "tests/test_it.py::test_fails (tests/test_it.py:12)" in result.text
    assert "ENV-DUMP" in result.text and "sk-parent-secret" not in result.text
    assert "KIMI_API_KEY" not in result.text.split("ENV-DUMP", 1)[1].split("\n", 1)[0]
    assert "".join(seen).count("ENV-DUMP") == 1
    option = await box.run(call("RunTests", {"selection": ["--co"]}))
    assert not option.ok and "option" in option.text
    escape = await box.run(call("RunTests", {"selection": ["../other/test_x.py"]}))
    assert not escape.ok


async def test_run_tests_and_the_jobs_own_runs_name_the_same_place_for_output_no_parser_knows(ws: Path) -> None:
    (ws / "boom.py").write_text('x = 1\nraise ValueError("boom")\n')
    command = f"{sys.executable} boom.py"
    tool = await Toolbox(ws, test_command=command).run(call("RunTests", {}))
    run = await job.run_tests(command, ws, Settings(sandbox="off"))  # before, verification, on save
    assert "(test command) (boom.py:2)" in tool.text
    assert [(f["test_id"], f["path"], f["line"]) for f in run.failures] == [("(test command)", "boom.py", 2)]


async def test_shell_only_when_allowed(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIMI_API_KEY", "sk-parent-secret")
    plain = Toolbox(ws, test_command=None)
    assert not (await plain.run(call("Shell", {"command": "echo hi"}))).ok
    shell = Toolbox(ws, test_command=None, allow_shell=True)
    result = await shell.run(call("Shell", {"command": "echo hi; echo ${KIMI_API_KEY:-none}"}))
    assert result.ok and "exit code 0" in result.text and "hi\nnone" in result.text
