"""`kimi-lsp fix` against a hostile repository and a hostile model: what they try, and what they get (nothing)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from kimi_lsp.testing import ScriptedCall, StandIn, Turn
from tests.cli_projects import TEST_COMMAND, cli_env, make_project, run_cli

KEY_LINES = [
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
]
PRIVATE_KEY = "-----BEGIN RSA PRIVATE KEY-----\n" + "\n".join(KEY_LINES) + "\n-----END RSA PRIVATE KEY-----\n"
SECRET_ENV = {
    "DATABASE_URL": "postgres://app:db-pass-hunter2@127.0.0.1:5432/app",
    "AWS_ACCESS_KEY_ID": "AKIAZZZZEXAMPLEZZZZZ",
    "GH_PAT": "gh-personal-token-value-123",
    "SENTRY_DSN": "https://abcdef0123456789@o1.ingest.example.io/7",
    "NPM_AUTH": "npm-auth-secret-value",
}
SECRET_VALUES = ["db-pass-hunter2", *list(SECRET_ENV.values())[1:], *KEY_LINES]


def make_keyed_project(root: Path, test_body: str) -> Path:
    make_project(root, test_body)
    (root / "deploy").mkdir()
    (root / "deploy" / "deploy_key").write_text(PRIVATE_KEY, encoding="utf-8")
    return root


def run_fix(
    root: Path, stand_in: StandIn, tmp_path: Path, *args: str, **env_extra: str
) -> subprocess.CompletedProcess[str]:
    return run_cli(root, cli_env(tmp_path, stand_in, **env_extra), "fix", "--test", TEST_COMMAND, "--json", *args)


def fix_turns(*before: ScriptedCall) -> list[Turn]:
    edit = {"old": "return width + height", "new": "return width * height"}
    turns = [Turn(reasoning="look", tool_calls=[call]) for call in before]
    return [
        *turns,
        Turn(reasoning="fix", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": edit})]),
        Turn(reasoning="done", content="area() multiplies now."),
    ]


def test_secret_values_from_files_and_the_environment_never_reach_the_model(tmp_path: Path) -> None:
    seen = tmp_path / "seen_by_tests.txt"
    root = make_keyed_project(
        tmp_path / "proj",
        f"        open({str(seen)!r}, 'w').write(os.environ.get('DATABASE_URL', 'missing'))\n"
        "        print(sorted(os.environ.items()))\n",  # a test that prints its environment
    )
    turns = fix_turns(
        ScriptedCall("ReadFile", {"path": "deploy/deploy_key"}),
        ScriptedCall("ReadFile", {"path": "deploy/deploy_key", "line_offset": 2, "n_lines": 1}),
        ScriptedCall("Grep", {"pattern": "MII|VTL"}),
        ScriptedCall("RunTests", {}),
    )
    with StandIn(turns) as stand_in:
        # Unsandboxed, so the test can report to a host path that the tests really got the variables.
        done = run_fix(root, stand_in, tmp_path, KIMI_SANDBOX="off", **SECRET_ENV)
        bodies = [request.body.decode("utf-8") for request in stand_in.chat_requests]
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "fixed"
    assert seen.read_text() == SECRET_ENV["DATABASE_URL"]  # the tests still get what they may need
    assert len(bodies) == 6
    sent = "\n".join(bodies)
    assert "secret withheld by kimi-lsp" in sent and "private key withheld by kimi-lsp" in sent
    leaked = [value for value in SECRET_VALUES if value in sent]
    assert not leaked, leaked


def test_paths_with_control_characters_never_reach_the_diff_or_the_tree(tmp_path: Path) -> None:
    forged = "hidden\ndiff --git a/z b/z/conftest.py"
    root = make_keyed_project(
        tmp_path / "proj",
        # A test the model cannot stop from running creates such a file in the shadow workspace.
        "        open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'x\\nforged.py'), 'w').write('1')\n",
    )
    before = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    turns = fix_turns(ScriptedCall("WriteFile", {"path": forged, "content": "import os\n"}))
    with StandIn(turns) as stand_in:
        done = run_fix(root, stand_in, tmp_path, "--apply")
        tool_answer = json.loads(stand_in.chat_requests[1].body)["messages"][-1]["content"]
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "fixed"
    assert "control, invisible or line-breaking character" in tool_answer
    # The invariant: every file in `files` is in `diff`, and --apply wrote exactly those files.
    assert [entry["path"] for entry in result["files"]] == ["shapes.py"]
    headers = [line for line in result["diff"].splitlines() if line.startswith("diff --git")]
    assert headers == ["diff --git a/shapes.py b/shapes.py"]
    after = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    changed = sorted(path for path in before.keys() | after.keys() if before.get(path) != after.get(path))
    assert changed == ["shapes.py"]


def test_every_job_says_which_test_command_runs_and_who_chose_it(tmp_path: Path) -> None:
    root = make_keyed_project(tmp_path / "proj", "")
    (root / "pyproject.toml").write_text(f'[tool.kimi-lsp]\ntestCommand = "{TEST_COMMAND}"\n', encoding="utf-8")
    with StandIn(fix_turns()) as stand_in:
        done = run_cli(root, cli_env(tmp_path, stand_in), "fix", "--json")
    assert done.returncode == 0, done.stderr
    assert f"test command: {TEST_COMMAND} (from {root / 'pyproject.toml'})" in done.stderr
