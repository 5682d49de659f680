"""`kimi-lsp fix`, `context`, `doctor` and `demo` as a user runs them: real processes, the stand-in on loopback."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from kimi_lsp.agent.snapshot import FileChange
from kimi_lsp.agent.writeback import apply_changes
from kimi_lsp.errors import KimiError
from kimi_lsp.testing import STAND_IN_KEY, Fault, ScriptedCall, StandIn, Turn
from kimi_lsp.testing.processes import alive, hanging_unittest
from tests import cli_projects

BUGGY = "def area(width, height):\n    return width + height\n"
# The project's test reports what it saw in its output (the sandbox lets it write nowhere else): each
# variable's name and a short hash of its value, a line each, so no line is cut before it reaches the model.
TESTS = (
    "import hashlib, os, unittest\n\nfrom shapes import area\n\n\n"
    "class AreaTest(unittest.TestCase):\n"
    "    def test_area(self):\n"
    "        for name, value in sorted(os.environ.items()):\n"
    "            print(f'ENV {name} {hashlib.sha256(value.encode()).hexdigest()[:12]}', flush=True)\n"
    "        self.assertEqual(area(3, 4), 12)\n"
)


def _hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:12]


TEST_COMMAND = f"{sys.executable} -m unittest"


def fix_turns() -> list[Turn]:
    edit = {"old": "return width + height", "new": "return width * height"}
    return [
        Turn(reasoning="look", tool_calls=[ScriptedCall("ReadFile", {"path": "shapes.py"})]),
        Turn(reasoning="fix", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": edit})]),
        Turn(reasoning="done", content="area() added; it multiplies now."),
    ]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "proj"
    root.mkdir()
    (root / "shapes.py").write_text(BUGGY, encoding="utf-8")
    (root / "test_shapes.py").write_text(TESTS, encoding="utf-8")
    (root / ".env").write_text("DATABASE_PASSWORD=hunter2-never-in-prompts\n", encoding="utf-8")
    return root


def cli_env(tmp_path: Path, stand_in: StandIn | None, **extra: str) -> dict[str, str]:
    """The shared CLI environment with a marker the tests report seeing; without a stand-in, no API key at all."""
    env = cli_projects.cli_env(tmp_path, stand_in, SEEN_ENV_MARKER="marker-the-tests-do-see", **extra)
    if stand_in is None and "KIMI_API_KEY" not in extra:
        del env["KIMI_API_KEY"]
    return env


def run_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli_projects.run_cli(cwd, env, *args)


def test_fix_json_reports_fixed_with_the_diff_and_leaves_the_tree_untouched(tmp_path: Path, project: Path) -> None:
    with StandIn(fix_turns()) as stand_in:
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], cli_env(tmp_path, stand_in), project)
        requests = stand_in.chat_requests
        assert not stand_in.violations
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "fixed"
    assert "-    return width + height" in result["diff"] and "+    return width * height" in result["diff"]
    assert result["diff"].startswith("diff --git a/shapes.py b/shapes.py")
    assert result["files"] == [{"path": "shapes.py", "change": "modified"}]
    assert result["tests"]["command"] == TEST_COMMAND
    assert result["tests"]["before"]["failed"] == 1 and result["tests"]["after"]["exit_code"] == 0
    assert result["steps"] == 3 and result["usage"]["prompt_tokens"] > 0
    assert result["applied"] is False
    assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY
    transcript = Path(result["transcript"])
    kinds = [json.loads(line)["kind"] for line in transcript.read_text(encoding="utf-8").splitlines()]
    assert kinds[0] == "job" and "tests.before" in kinds and "tool" in kinds and kinds[-1] == "result"
    # The failures went to the model, the secrets did not.
    first = requests[0].body.decode("utf-8")
    assert "AssertionError" in first and "hunter2" not in first
    assert "progress" not in done.stdout and "step 1/" in done.stderr


def test_fix_apply_writes_the_verified_fix(tmp_path: Path, project: Path) -> None:
    with StandIn(fix_turns()) as stand_in:
        done = run_cli(["fix", "--test", TEST_COMMAND, "--apply"], cli_env(tmp_path, stand_in), project)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("diff --git a/shapes.py b/shapes.py")
    assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY.replace("+", "*")


def test_apply_refuses_when_the_tree_changed_meanwhile(tmp_path: Path) -> None:
    (tmp_path / "a.py").write_text("x = 2\n", encoding="utf-8")
    change = FileChange("a.py", "x = 1\n", "x = 3\n")
    with pytest.raises(KimiError, match=r"changed in the working tree.*a\.py"):
        apply_changes(tmp_path, [change])
    assert (tmp_path / "a.py").read_text(encoding="utf-8") == "x = 2\n"


def test_the_api_key_never_reaches_the_tests(tmp_path: Path, project: Path) -> None:
    with StandIn(fix_turns()) as stand_in:
        env = cli_env(tmp_path, stand_in, MOONSHOT_API_KEY="sk-moonshot-also-secret")
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], env, project)
        first = stand_in.chat_requests[0].body.decode("utf-8")  # carries the first test run's output
    assert done.returncode == 0, done.stderr
    assert f"ENV SEEN_ENV_MARKER {_hash('marker-the-tests-do-see')}" in first  # the tests did run and report
    assert _hash(STAND_IN_KEY) not in first and _hash("sk-moonshot-also-secret") not in first
    assert "ENV KIMI_API_KEY" not in first and "ENV MOONSHOT_API_KEY" not in first


def test_recovers_from_rate_limit_overload_and_a_cut_stream(tmp_path: Path, project: Path) -> None:
    turns = fix_turns()
    faults = [
        Turn(fault=Fault.rate_limit(0)),
        turns[0],
        Turn(fault=Fault.server_error(503)),
        Turn(reasoning="partial " * 50, content="x" * 200, fault=Fault.cut_stream(3)),
        turns[1],
        turns[2],
    ]
    with StandIn(faults) as stand_in:
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], cli_env(tmp_path, stand_in), project)
        assert not stand_in.violations
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "fixed"


def test_quota_exhausted_exits_3_with_a_clear_message_and_no_retry_storm(tmp_path: Path, project: Path) -> None:
    with StandIn([Turn(fault=Fault.quota())] * 5) as stand_in:
        done = run_cli(["fix", "--test", TEST_COMMAND], cli_env(tmp_path, stand_in), project)
        chat = stand_in.chat_requests
    assert done.returncode == 3, done.stderr
    assert "quota" in done.stderr.lower() or "balance" in done.stderr.lower()
    assert len(chat) == 1
    assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["fix"], "no test command"),
        (["fix", "--test", "true", "--file", "nope.py:3"], "no such file"),
        (["fix", "--test", "true", "--file", "/etc/passwd"], "not inside the workspace"),
        (["fix", "--test", "true", "--max-steps", "0"], "maxSteps"),
        (["fix", "--test", "true", "--bogus"], "unrecognized arguments"),
    ],
)
def test_bad_usage_exits_2_with_one_clear_line(tmp_path: Path, project: Path, args: list[str], needle: str) -> None:
    with StandIn() as stand_in:
        done = run_cli(args, cli_env(tmp_path, stand_in), project)
        assert not stand_in.chat_requests
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert needle in done.stderr


def test_missing_key_is_a_usage_error_naming_the_variables(tmp_path: Path, project: Path) -> None:
    done = run_cli(["fix", "--test", TEST_COMMAND], cli_env(tmp_path, None), project)
    assert done.returncode == 2
    assert "KIMI_API_KEY" in done.stderr and "MOONSHOT_API_KEY" in done.stderr


def test_ctrl_c_cancels_kills_the_hung_tests_and_exits_130(tmp_path: Path, project: Path) -> None:
    marker = tmp_path / "pid"
    (project / "test_shapes.py").write_text(hanging_unittest(marker), encoding="utf-8")
    with StandIn() as stand_in:
        process = subprocess.Popen(
            [sys.executable, "-m", "kimi_lsp", "fix", "--test", TEST_COMMAND, "--json"],
            # Unsandboxed, so the hung test can report its host pid outside the workspace (bwrap: test_sandbox*).
            env=cli_env(tmp_path, stand_in, KIMI_SANDBOX="off"),
            cwd=project,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 60
            while not (marker.exists() and marker.read_text()):
                assert time.monotonic() < deadline, "the hung test never started"
                assert process.poll() is None, process.communicate()
                time.sleep(0.05)
            hung = int(marker.read_text())
            process.send_signal(signal.SIGINT)
            out, err = process.communicate(timeout=10)
        finally:
            if process.poll() is None:
                process.kill()
    assert process.returncode == 130, err
    result = json.loads(out)
    assert result["status"] == "cancelled" and result["error"] == "interrupted"
    assert result["tests"]["command"] == TEST_COMMAND and Path(result["transcript"]).is_file()
    assert not alive(hung)


def test_context_json_follows_the_contract(tmp_path: Path, project: Path) -> None:
    done = run_cli(["context", "--file", "shapes.py:2", "--budget", "5000", "--json"], cli_env(tmp_path, None), project)
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    assert result["budget"] == 5000 and 0 < result["tokens"] <= 5000
    assert result["files"][0]["path"] == "shapes.py" and result["files"][0]["reason"]
    assert all({"path", "tokens", "reason"} <= set(f) for f in result["files"])
    assert ".env" not in [f["path"] for f in result["files"]]
    assert isinstance(result["sections"], list)
    text = run_cli(["context", "--file", "shapes.py"], cli_env(tmp_path, None), project)
    assert "return width + height" in text.stdout and "hunter2" not in text.stdout


def test_doctor_reports_settings_sources_key_endpoint_and_tests(tmp_path: Path, project: Path) -> None:
    with StandIn() as stand_in:
        done = run_cli(["doctor"], cli_env(tmp_path, stand_in), project)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"baseUrl          '{stand_in.url}'" in done.stdout and "(env KIMI_BASE_URL)" in done.stdout
    assert "API key: present (from KIMI_API_KEY)" in done.stdout and STAND_IN_KEY not in done.stdout
    assert "kimi-k2-thinking is listed" in done.stdout
    assert "git: " in done.stdout and "test command: " in done.stdout

    missing = run_cli(["doctor"], cli_env(tmp_path, None), project)
    assert missing.returncode != 0
    assert "API key: missing" in missing.stdout


def test_version_and_demo_work_without_a_key(tmp_path: Path) -> None:
    version = run_cli(["--version"], cli_env(tmp_path, None), tmp_path)
    assert version.returncode == 0 and version.stdout.startswith("kimi-lsp ")
    demo = run_cli(["demo"], cli_env(tmp_path, None), tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "SCRIPTED" in demo.stderr and "status: fixed" in demo.stderr
    assert "+    discount = subtotal * discount_percent / 100" in demo.stdout


def test_model_told_the_tests_still_fail_keeps_going_until_fixed(tmp_path: Path, project: Path) -> None:
    wrong = {"old": "return width + height", "new": "return width - height"}
    right = {"old": "return width - height", "new": "return width * height"}
    turns = [
        Turn(reasoning="guess", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": wrong})]),
        Turn(reasoning="surely done", content="Fixed (I think)."),
        Turn(reasoning="oops", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": right})]),
        Turn(reasoning="now", content="area() multiplies the sides."),
    ]
    with StandIn(turns) as stand_in:
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], cli_env(tmp_path, stand_in), project)
        told = stand_in.chat_requests[2].json["messages"][-1]
        assert not stand_in.violations
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "fixed" and result["summary"] == "area() multiplies the sides."
    assert told["role"] == "user" and "still fails" in told["content"] and "AssertionError" in told["content"]
    assert "+    return width * height" in result["diff"]


def test_a_model_that_never_gets_there_is_reported_not_fixed(tmp_path: Path, project: Path) -> None:
    wrong = {"old": "return width + height", "new": "return width - height"}
    turns = [
        Turn(reasoning="guess", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": wrong})]),
        *[Turn(reasoning="done?", content="Fixed.") for _ in range(3)],
    ]
    with StandIn(turns) as stand_in:
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], cli_env(tmp_path, stand_in), project)
        requests = len(stand_in.chat_requests)
    assert done.returncode == 1
    assert json.loads(done.stdout)["status"] == "not_fixed"
    assert requests == 4  # the first answer plus two rounds of "still fails", then it stops
    assert (project / "shapes.py").read_text(encoding="utf-8") == BUGGY


def test_an_unexpected_failure_still_answers_in_json_with_status_error(tmp_path: Path, project: Path) -> None:
    with StandIn(fix_turns()) as stand_in:
        env = cli_env(tmp_path, stand_in, KIMI_SHADOW_DIR=str(tmp_path / "does-not-exist"))
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], env, project)
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error" and "does-not-exist" in result["error"]
    assert "Traceback" not in done.stderr


def test_a_job_failing_midway_still_reports_what_it_spent(tmp_path: Path, project: Path) -> None:
    turns = [fix_turns()[0], Turn(fault=Fault.quota())]
    with StandIn(turns) as stand_in:
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], cli_env(tmp_path, stand_in), project)
    assert done.returncode == 3, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error"
    assert "quota" in result["error"].lower() or "balance" in result["error"].lower()
    assert result["steps"] == 2 and result["usage"]["prompt_tokens"] > 0
    assert result["tests"]["before"]["failed"] == 1
    assert Path(result["transcript"]).is_file()


def test_tests_cannot_read_the_key_from_kimi_lsps_own_environment(tmp_path: Path, project: Path) -> None:
    """A test walking up /proc/<pid>/environ of its ancestors must not find the key kimi-lsp was started with."""
    (project / "test_shapes.py").write_text(
        "import os, unittest\n\n\nclass Snoop(unittest.TestCase):\n    def test_snoop(self):\n"
        "        pid, found = os.getppid(), []\n"
        "        while pid > 1:\n"
        "            try:\n"
        "                environ = open(f'/proc/{pid}/environ', 'rb').read()\n"
        "                found.append(str(b'KIMI_API_KEY' in environ or b'MOONSHOT_API_KEY' in environ))\n"
        "                stat = open(f'/proc/{pid}/stat').read()\n"
        "            except OSError:\n"
        "                found.append('unreadable')\n"
        "                break\n"
        "            pid = int(stat.rsplit(')', 1)[1].split()[1])\n"
        "        self.fail('ANCESTORS ' + ','.join(found) + ' END')\n",  # the report reaches the model's prompt
        encoding="utf-8",
    )
    with StandIn([Turn(reasoning="nothing to do", content="Nothing I can fix.")]) as stand_in:
        env = cli_env(tmp_path, stand_in, MOONSHOT_API_KEY="sk-moonshot-also-secret")
        done = run_cli(["fix", "--test", TEST_COMMAND, "--json"], env, project)
        first = stand_in.chat_requests[0].body.decode("utf-8")
    assert json.loads(done.stdout)["status"] == "no_change", done.stderr
    seen = first.split("ANCESTORS ", 1)[1].split(" END", 1)[0].split(",")
    assert seen and "True" not in seen, seen


@pytest.mark.parametrize("entry", ["console-script", "python -m"])
def test_modules_in_the_workspace_never_run_inside_kimi_lsp(tmp_path: Path, project: Path, entry: str) -> None:
    """A repository's json.py (or any module kimi-lsp imports) must not be imported by kimi-lsp itself."""
    marker = tmp_path / "planted-code-ran.txt"
    planted = f"import os\nopen({str(marker)!r}, 'a').write(os.environ.get('KIMI_LSP_KEY_FD', '-') + '\\n')\n"
    for name in ("json", "signal", "argparse", "shutil"):
        (project / f"{name}.py").write_text(planted, encoding="utf-8")
    program = (
        [str(Path(sys.executable).with_name("kimi-lsp"))]
        if entry == "console-script"
        else [sys.executable, "-m", "kimi_lsp"]
    )
    with StandIn([Turn(reasoning="nothing to do", content="The tests pass.")]) as stand_in:
        done = subprocess.run(
            [*program, "fix", "--test", "true", "--json"],
            env=cli_env(tmp_path, stand_in),
            cwd=project,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
    assert not marker.exists(), marker.read_text()
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "no_change"
