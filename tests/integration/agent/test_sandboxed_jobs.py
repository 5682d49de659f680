"""`kimi-lsp fix` on an everyday project: a src/ package installed editable in its own .venv.

Real processes throughout: a real venv with a real ``pip install -e .``, the CLI, the stand-in model on
loopback. Each behaviour the fallback promises is checked with bubblewrap and with no bwrap on PATH.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import subprocess
import sys
import sysconfig
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from kimi_lsp.testing import STAND_IN_KEY, ScriptedCall, StandIn, Turn

from .sandbox_helpers import BOTH, needs_bwrap, path_without_bwrap, processes_with

BUGGY = "def area(width, height):\n    return width + height\n"
TEST_FILE = "from shapes import area\n\n\ndef test_area():\n    assert area(3, 4) == 12\n"
PYPROJECT = """\
[build-system]
requires = ["setuptools>=61"]
build-backend = "setuptools.build_meta"

[project]
name = "shapes"
version = "0.1"

[tool.setuptools.packages.find]
where = ["src"]
"""
TEST_COMMAND = ".venv/bin/python -m pytest -q -p no:cacheprovider"


@pytest.fixture(scope="module")
def editable_project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A git repository with src/shapes, installed with ``pip install -e .`` into its own .venv (made once)."""
    root = tmp_path_factory.mktemp("editable") / "proj"
    (root / "src" / "shapes").mkdir(parents=True)
    (root / "tests").mkdir()
    (root / "src" / "shapes" / "__init__.py").write_text(BUGGY)
    (root / "tests" / "test_area.py").write_text(TEST_FILE)
    (root / "pyproject.toml").write_text(PYPROJECT)
    (root / ".gitignore").write_text(".venv/\n*.egg-info/\n")
    subprocess.run([sys.executable, "-m", "venv", str(root / ".venv")], check=True)
    site = next((root / ".venv" / "lib").glob("python*/site-packages"))
    # pytest from this interpreter's environment (no download); shapes itself the way users install it.
    (site / "dev_tools.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run(
        [str(root / ".venv/bin/python"), "-m", "pip", "install", "-q", "--no-deps", "-e", "."],
        cwd=root,
        check=True,
        capture_output=True,
    )
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    subprocess.run(["git", "add", "-A"], cwd=root, check=True)
    yield root


def _env(tmp_path: Path, stand_in: StandIn, with_bwrap: bool) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY", "VIRTUAL_ENV")}
    env.update(KIMI_LSP_STATE_DIR=str(tmp_path / "state"), KIMI_API_KEY=STAND_IN_KEY, KIMI_BASE_URL=stand_in.url)
    if not with_bwrap:
        env["PATH"] = path_without_bwrap(tmp_path)
    return env


def _fix(
    root: Path, env: dict[str, str], command: str = TEST_COMMAND, *, json_output: bool = True
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kimi_lsp", "fix", "--test", command, *(["--json"] if json_output else [])],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )


@contextlib.contextmanager
def _added(root: Path, files: dict[str, str], links: dict[str, Path] | None = None) -> Iterator[None]:
    """``files`` (and symlinks) added to the shared project for one test, removed after it."""
    made = []
    try:
        for rel, text in files.items():
            (root / rel).write_text(text)
            made.append(root / rel)
        for rel, target in (links or {}).items():
            (root / rel).symlink_to(target)
            made.append(root / rel)
        yield
    finally:
        for path in made:
            path.unlink()


def _fingerprint(root: Path) -> dict[str, str]:
    """Every file and link under ``root`` (the .venv included), byte for byte."""
    seen: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d != "__pycache__"]
        for name in [*filenames, *(d for d in dirnames if os.path.islink(os.path.join(dirpath, d)))]:
            path = os.path.join(dirpath, name)
            rel = os.path.relpath(path, root)
            if os.path.islink(path):
                seen[rel] = "link:" + os.readlink(path)
            else:
                seen[rel] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return seen


FIX_TURNS = [
    Turn(reasoning="look", tool_calls=[ScriptedCall("ReadFile", {"path": "src/shapes/__init__.py"})]),
    Turn(
        reasoning="fix",
        tool_calls=[
            ScriptedCall(
                "StrReplaceFile",
                {"path": "src/shapes/__init__.py", "edit": {"old": "width + height", "new": "width * height"}},
            )
        ],
    ),
    Turn(reasoning="done", content="area() multiplies now."),
]


@BOTH
def test_an_editable_src_layout_fix_is_verified_fixed(tmp_path: Path, editable_project: Path, with_bwrap: bool) -> None:
    before = _fingerprint(editable_project)
    with StandIn(FIX_TURNS) as stand_in:
        done = _fix(editable_project, _env(tmp_path, stand_in, with_bwrap))
    result = json.loads(done.stdout)
    assert result["status"] == "fixed", done.stderr
    assert result["tests"]["sandboxed"] is with_bwrap
    assert result["tests"]["before"]["failed"] == 1 and result["tests"]["after"]["passed"] == 1
    assert ("WITHOUT the sandbox" in done.stderr) is not with_bwrap  # said once per job when it falls back
    assert done.stderr.count("WITHOUT the sandbox") <= 1
    assert _fingerprint(editable_project) == before


@pytest.mark.parametrize("with_bwrap", [pytest.param(True, marks=needs_bwrap, id="bwrap"), False], ids=str)
def test_the_closing_status_line_says_when_tests_ran_unsandboxed(
    tmp_path: Path, editable_project: Path, with_bwrap: bool
) -> None:
    with StandIn(FIX_TURNS) as stand_in:
        done = _fix(editable_project, _env(tmp_path, stand_in, with_bwrap), json_output=False)
    status = next(line for line in done.stderr.splitlines() if line.startswith("kimi-lsp: status:"))
    assert status.startswith("kimi-lsp: status: fixed")
    assert ("WITHOUT the sandbox" in status) is not with_bwrap


WRITER = """\
import os
from pathlib import Path

ROOT = {root!r}


def test_escape():
    attempts = {{
        "absolute": lambda: open(os.path.join(ROOT, "src/shapes/__init__.py"), "a").write("# pwned\\n"),
        "absolute-new": lambda: Path(ROOT, "pwned.txt").write_text("pwned"),
        "linked-venv": lambda: Path(".venv/pwned.txt").write_text("pwned"),
        "linked-venv-site": lambda: open(next(Path(".venv/lib").glob("python*/site-packages/*.pth")), "a").write("x"),
        "committed-link": lambda: open("back_to_root/src/shapes/__init__.py", "a").write("# pwned\\n"),
        "committed-link-new": lambda: Path("back_to_root/tests/pwned.txt").write_text("pwned"),
    }}
    for name, attempt in attempts.items():
        try:
            attempt()
            print("WROTE", name)
        except OSError as exc:
            print("REFUSED", name, exc.strerror)
    assert False, "keep the job going"
"""


@pytest.mark.parametrize("with_bwrap", [pytest.param(True, marks=needs_bwrap, id="bwrap")])
def test_writes_aimed_at_the_real_tree_leave_it_byte_for_byte_unchanged(
    tmp_path: Path, editable_project: Path, with_bwrap: bool
) -> None:
    """Through an absolute path, the linked .venv, and a committed symlink back to the root (bwrap only:
    the README says the fallback does not protect against these)."""
    root = editable_project
    escape = {"tests/test_escape.py": WRITER.format(root=str(root))}
    with _added(root, escape, {"back_to_root": root}):
        before = _fingerprint(root)
        with StandIn([Turn(reasoning="nothing", content="Nothing to do.")]) as stand_in:
            done = _fix(root, _env(tmp_path, stand_in, with_bwrap), f"{TEST_COMMAND} tests/test_escape.py")
            first = stand_in.chat_requests[0].body.decode("utf-8") if stand_in.chat_requests else done.stderr
        assert json.loads(done.stdout)["tests"]["sandboxed"] is True, done.stderr
        assert "REFUSED linked-venv" in first and "REFUSED linked-venv-site" in first, first
        assert "WROTE committed-link" in first  # it wrote: into the shadow, which the sandbox shows at root
        assert _fingerprint(root) == before


@BOTH
def test_a_missing_test_command_stops_the_job_before_any_model_call(
    tmp_path: Path, editable_project: Path, with_bwrap: bool
) -> None:
    with StandIn(FIX_TURNS) as stand_in:
        done = _fix(editable_project, _env(tmp_path, stand_in, with_bwrap), "no-such-test-runner --all")
        calls = len(stand_in.chat_requests)
    assert done.returncode == 2, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error" and calls == 0
    assert "not found (exit 127)" in result["error"] and "no-such-test-runner" in result["error"]


@BOTH
def test_no_process_of_a_job_survives_it(tmp_path: Path, editable_project: Path, with_bwrap: bool) -> None:
    marker = f"50.{uuid.uuid4().int % 10**9}"
    daemons = (
        "import os, subprocess\n\n\ndef test_daemons():\n"
        f"    subprocess.Popen(['setsid', 'sleep', '{marker}1'])\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        if os.fork() == 0:\n"
        f"            os.execvp('sleep', ['sleep', '{marker}2'])\n"
        "        os._exit(0)\n"
        "    os.wait()\n"
    )
    with _added(editable_project, {"tests/test_daemons.py": daemons}), StandIn(FIX_TURNS) as stand_in:
        done = _fix(editable_project, _env(tmp_path, stand_in, with_bwrap))
    assert json.loads(done.stdout)["status"] == "fixed", done.stderr
    assert processes_with(marker) == []


def test_sandbox_require_without_bwrap_refuses_before_any_model_call(tmp_path: Path, editable_project: Path) -> None:
    with StandIn(FIX_TURNS) as stand_in:
        env = {**_env(tmp_path, stand_in, with_bwrap=False), "KIMI_SANDBOX": "require"}
        done = _fix(editable_project, env)
        calls = len(stand_in.chat_requests)
    assert done.returncode == 2 and calls == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "error" and "sandbox = require" in result["error"] and "bwrap" in result["error"]


@BOTH
def test_doctor_describes_the_sandbox_and_how_to_enable_it(tmp_path: Path, with_bwrap: bool) -> None:
    with StandIn() as stand_in:
        done = subprocess.run(
            [sys.executable, "-m", "kimi_lsp", "doctor"],
            cwd=tmp_path,
            env=_env(tmp_path, stand_in, with_bwrap),
            capture_output=True,
            text=True,
            timeout=120,
        )
    line = next(line for line in done.stdout.splitlines() if line.startswith("sandbox:"))
    if with_bwrap:
        assert line.startswith("sandbox: on (bubblewrap") and "no network" in line
    else:
        assert line.startswith("sandbox: NOT available (bwrap is not installed") and "install bubblewrap" in line
