"""What a sandboxed test run can reach, and that nothing of it outlives it (bubblewrap, and the fallback)."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from kimi_lsp.agent.sandbox import Sandbox, SandboxFailed, package_roots
from kimi_lsp.agent.tools import Toolbox
from kimi_lsp.model.types import ToolCall

from .sandbox_helpers import BOTH, needs_bwrap, processes_with


def _sandbox(folder: Path, with_bwrap: bool, **kwargs: object) -> Sandbox:
    box = Sandbox.choose(folder, folder, mode="auto" if with_bwrap else "off", **kwargs)  # type: ignore[arg-type]
    assert box.confined is with_bwrap
    return box


@BOTH
async def test_a_background_child_holding_stdout_does_not_delay_the_result(tmp_path: Path, with_bwrap: bool) -> None:
    box = _sandbox(tmp_path, with_bwrap)
    marker = f"20.{uuid.uuid4().int % 10**9}"  # sleep accepts a fraction: a unique command line to look for
    started = time.monotonic()
    result = await box.run(f"sleep {marker} & echo x", timeout=60, env=os.environ)
    took = time.monotonic() - started
    assert result.exit_code == 0 and result.output == "x\n" and not result.timed_out
    assert took < 1.0, f"the run took {took:.2f}s"
    assert processes_with(f"sleep {marker}") == []


DAEMONS = textwrap.dedent(
    """
    import os, subprocess, sys, time
    marker = sys.argv[1]
    subprocess.Popen(["setsid", "sleep", marker + "1"], stdout=subprocess.DEVNULL)
    if os.fork() == 0:  # the classic daemon: fork, setsid, fork again, parent exits
        os.setsid()
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", marker + "2"])
        os._exit(0)
    os.wait()
    print("started", flush=True)
    """
)


@BOTH
async def test_no_process_survives_the_run_setsid_or_double_forked(tmp_path: Path, with_bwrap: bool) -> None:
    (tmp_path / "daemons.py").write_text(DAEMONS)
    box = _sandbox(tmp_path, with_bwrap)
    marker = f"30.{uuid.uuid4().int % 10**9}"
    result = await box.run(f"{sys.executable} daemons.py {marker}", timeout=60, env=os.environ)
    assert result.exit_code == 0 and "started" in result.output, result.output
    assert processes_with(marker) == []


@BOTH
async def test_cancelling_a_run_kills_it_whole(tmp_path: Path, with_bwrap: bool) -> None:
    (tmp_path / "daemons.py").write_text(DAEMONS + "time.sleep(300)\n")
    box = _sandbox(tmp_path, with_bwrap)
    marker = f"40.{uuid.uuid4().int % 10**9}"
    started = asyncio.Event()
    task = asyncio.create_task(
        box.run(
            f"{sys.executable} daemons.py {marker}",
            timeout=120,
            env=os.environ,
            on_output=lambda chunk: started.set() if "started" in chunk else None,
        )
    )
    await asyncio.wait_for(started.wait(), 30)
    assert len(processes_with(marker + "1")) == 1 and len(processes_with(marker + "2")) == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert processes_with(marker) == []


@needs_bwrap
@pytest.mark.parametrize("network", [False, True])
async def test_network_is_off_unless_the_user_allows_it(tmp_path: Path, network: bool) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    probe = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=5); print('connected')"
    async with server:
        box = _sandbox(tmp_path, True, network=network)
        result = await box.run(f'{sys.executable} -c "{probe}"', timeout=60, env=os.environ)
    assert ("connected" in result.output) is network, result.output


@needs_bwrap
async def test_credentials_the_host_tmp_and_other_processes_are_out_of_sight(tmp_path: Path) -> None:
    # Outside /tmp: the sandbox's /tmp is its own, so a $HOME under it would be hidden anyway.
    home = Path(tempfile.mkdtemp(prefix="kimi-home-", dir="/var/tmp"))
    for rel, text in {
        ".ssh/id_ed25519": "PRIVATE-KEY",
        ".aws/credentials": "AWS-SECRET",
        ".config/kimi-lsp/settings.json": "KIMI-CONFIG",
        ".local/state/kimi-lsp/transcripts/t.jsonl": "KIMI-STATE",
        ".netrc": "NETRC-PASSWORD",
        "notes.txt": "ORDINARY",
    }.items():
        (home / rel).parent.mkdir(parents=True, exist_ok=True)
        (home / rel).write_text(text)
    with tempfile.NamedTemporaryFile("w", prefix="kimi-host-tmp-", dir="/tmp", delete=False) as handle:
        handle.write("HOST-TMP")
    try:
        work = tmp_path / "ws"
        work.mkdir()
        box = _sandbox(work, True)
        files = " ".join(str(home / rel) for rel in (".ssh/id_ed25519", ".aws/credentials", ".netrc", "notes.txt"))
        extra = f"{home}/.config/kimi-lsp/settings.json {home}/.local/state/kimi-lsp/transcripts/t.jsonl"
        command = f"cat {files} {extra} {handle.name} 2>/dev/null; echo; ls /proc | grep -c '^[0-9]'"
        result = await box.run(command, timeout=60, env={**os.environ, "HOME": str(home)})
    finally:
        os.unlink(handle.name)
        shutil.rmtree(home)
    assert "ORDINARY" in result.output  # the rest of $HOME stays readable
    for secret in ("PRIVATE-KEY", "AWS-SECRET", "KIMI-CONFIG", "KIMI-STATE", "NETRC-PASSWORD", "HOST-TMP"):
        assert secret not in result.output
    assert int(result.output.split()[-1]) <= 4  # bwrap's init, the shell, ls, grep: nothing from outside


SNOOP = textwrap.dedent(
    """
    import os
    pid, found = os.getppid(), []
    while pid > 1:
        try:
            environ = open(f"/proc/{pid}/environ", "rb").read()
            stat = open(f"/proc/{pid}/stat").read()
        except OSError:
            found.append("unreadable")
            break
        found.append(str(b"KIMI_API_KEY=" in environ))
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    print("ANCESTORS", ",".join(found))
    """
)
RUNNER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from kimi_lsp.agent.sandbox import Sandbox

    async def main():
        folder = Path(sys.argv[1])
        box = Sandbox.choose(folder, folder, mode=sys.argv[2])
        result = await box.run(f"{sys.executable} snoop.py", timeout=60, env=os.environ)
        print(result.output, end="")

    asyncio.run(main())
    """
)


@pytest.mark.parametrize(
    ("user", "with_bwrap"),
    [
        pytest.param("root", True, marks=needs_bwrap),
        pytest.param("nobody", True, marks=needs_bwrap),
        ("nobody", False),
    ],
)
def test_a_test_walking_its_ancestors_environ_finds_no_key(user: str, with_bwrap: bool) -> None:
    """The shell that exported the key is an ancestor of every test run; only the sandbox hides it."""
    if os.geteuid() != 0 and user == "nobody":
        pytest.skip("switching to nobody needs root")
    work = Path(tempfile.mkdtemp(prefix="kimi-snoop-"))
    try:
        os.chmod(work, 0o755)
        (work / "snoop.py").write_text(SNOOP)
        (work / "runner.py").write_text(RUNNER)
        as_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"] if user == "nobody" else []
        # nobody cannot reach this venv's interpreter (under /root): the system's runs the same stdlib-only code.
        python = sys.executable if user == "root" else "/usr/bin/python3"
        if not os.access(python, os.X_OK):
            pytest.skip(f"no interpreter {python} for nobody")
        # sh stays alive as the ancestor holding the key, as the user's shell or editor would.
        inner = f"{python} -P runner.py {work} {'auto' if with_bwrap else 'off'}; exit $?"
        done = subprocess.run(
            [*as_user, "sh", "-c", inner],
            cwd=work,
            env={**os.environ, "KIMI_API_KEY": "sk-in-an-ancestor", "PYTHONPATH": str(Path(__file__).parents[3])},
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        subprocess.run(["rm", "-rf", str(work)], check=False)
    line = next((line for line in done.stdout.splitlines() if line.startswith("ANCESTORS")), None)
    assert line is not None, done.stdout + done.stderr
    seen = line.split(" ", 1)[1].split(",") if " " in line else []
    if with_bwrap:
        assert "True" not in seen, seen
    else:
        # Not promised without the sandbox (README): the same user's shell is readable. The check itself works.
        assert "True" in seen, seen


@needs_bwrap
async def test_linked_folders_are_the_users_read_only_even_nested_and_edits_land_in_the_shadow(
    tmp_path: Path,
) -> None:
    workspace, shadow = tmp_path / "ws", tmp_path / "shadow"
    for rel in (".venv/lib", "packages/web/node_modules/left-pad"):
        (workspace / rel).mkdir(parents=True)
    (workspace / ".venv/lib/site.py").write_text("REAL VENV")
    (workspace / "packages/web/node_modules/left-pad/index.js").write_text("REAL MODULE")
    (shadow / "packages/web/src").mkdir(parents=True)
    (shadow / "packages/web/index.js").write_text("SHADOW CODE")
    (shadow / "README").write_text("SHADOW README")
    for rel in (".venv", "packages/web/node_modules"):
        (shadow / rel).symlink_to(workspace / rel)
    box = Sandbox.choose(shadow, workspace, linked=[".venv", "packages/web/node_modules"])
    command = (
        "cat .venv/lib/site.py packages/web/node_modules/left-pad/index.js packages/web/index.js README; echo;"
        "echo x > .venv/lib/new.py || echo VENV-READ-ONLY;"
        "echo x > packages/web/node_modules/new.js || echo MODULES-READ-ONLY;"
        "echo edited > packages/web/index.js; echo new > packages/web/src/new.js; echo appended >> README;"
        "echo beside > packages/web/beside.js"
    )
    result = await box.run(command, timeout=60, env=os.environ)
    assert "REAL VENVREAL MODULESHADOW CODESHADOW README" in result.output, result.output
    assert "VENV-READ-ONLY" in result.output and "MODULES-READ-ONLY" in result.output
    assert not (workspace / ".venv/lib/new.py").exists()
    assert (shadow / "packages/web/index.js").read_text() == "edited\n"
    assert (shadow / "packages/web/src/new.js").read_text() == "new\n"
    assert (shadow / "README").read_text() == "SHADOW READMEappended\n"
    # A new file right beside a linked folder lives only for the run (README): never in the user's tree.
    assert not (shadow / "packages/web/beside.js").exists() and not (workspace / "packages/web/beside.js").exists()
    assert sorted(p.name for p in workspace.iterdir()) == [".venv", "packages"]


@needs_bwrap
async def test_a_sandbox_that_cannot_be_built_is_an_error_not_a_test_failure(tmp_path: Path) -> None:
    # The workspace's path cannot be made on the read-only root: bwrap fails before the command starts.
    box = Sandbox.choose(tmp_path, Path(f"/kimi-no-such-root-{uuid.uuid4().hex}/ws"))
    with pytest.raises(SandboxFailed, match=r"the sandbox could not start: bwrap: .*sandbox = off"):
        await box.run("echo never", timeout=60, env=os.environ)


@BOTH
async def test_run_tests_tells_the_model_when_the_command_cannot_run(tmp_path: Path, with_bwrap: bool) -> None:
    toolbox = Toolbox(tmp_path, test_command="no-such-test-runner -q", sandbox=_sandbox(tmp_path, with_bwrap))
    result = await toolbox.run(ToolCall("functions.RunTests:0", "RunTests", "{}"))
    assert "exit code 127" in result.text
    assert "The tests did not run as such: the test command was not found (exit 127)" in result.text


FLAT_PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "flatshapes"
version = "0.1"

[tool.setuptools]
packages = ["flatshapes"]
"""


def test_package_roots_come_from_a_real_editable_finder_and_pth(tmp_path: Path) -> None:
    """setuptools' flat layout installs a finder (MAPPING); the roots found are the shadow's copies."""
    workspace, shadow = tmp_path / "ws", tmp_path / "shadow"
    (workspace / "flatshapes").mkdir(parents=True)
    (workspace / "flatshapes" / "__init__.py").write_text("")
    (workspace / "pyproject.toml").write_text(FLAT_PYPROJECT)
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(workspace / ".venv")], check=True)
    pip = [sys.executable, "-m", "pip", "--python", str(workspace / ".venv/bin/python"), "install", "-q"]
    done = subprocess.run([*pip, "--no-deps", "-e", "."], cwd=workspace, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    site = next((workspace / ".venv/lib").glob("python*/site-packages"))
    assert list(site.glob("__editable___*_finder.py")), sorted(p.name for p in site.iterdir())
    (shadow / "flatshapes").mkdir(parents=True)
    (shadow / ".venv").symlink_to(workspace / ".venv")
    assert package_roots(shadow, workspace, [".venv"], {}) == [str(shadow)]
    assert package_roots(shadow, workspace, [], {}) == []  # no linked venv, no VIRTUAL_ENV: nothing to map


HOLDER = textwrap.dedent(
    """
    import asyncio, os, sys
    from pathlib import Path
    from kimi_lsp.agent.sandbox import Sandbox

    async def main():
        folder = Path(sys.argv[1])
        box = Sandbox.choose(folder, folder, mode=sys.argv[2])
        await box.run(f"echo running; setsid sleep {sys.argv[3]}1 & sleep {sys.argv[3]}2", timeout=300,
                      env=os.environ, on_output=lambda chunk: print(chunk, end="", flush=True))

    asyncio.run(main())
    """
)


@BOTH
def test_when_kimi_lsp_itself_is_killed_its_test_runs_die_too(tmp_path: Path, with_bwrap: bool) -> None:
    (tmp_path / "holder.py").write_text(HOLDER)
    marker = f"60.{uuid.uuid4().int % 10**9}"
    holder = subprocess.Popen(
        [sys.executable, "holder.py", str(tmp_path), "auto" if with_bwrap else "off", marker],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[3])},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "running\n"
        deadline = time.monotonic() + 30
        while len(processes_with(marker)) < 2:  # both sleeps have started
            assert time.monotonic() < deadline, processes_with(marker)
            time.sleep(0.02)
    finally:
        holder.kill()  # SIGKILL: no chance to clean up; the kernel's parent-death signal must do it
        holder.wait()
    deadline = time.monotonic() + 10
    while processes_with(marker) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert processes_with(marker) == []


def _program_and_secret_in_host_tmp(tools_dir: str, other: str) -> tuple[Path, Path]:
    program = Path(tools_dir, "bin", "say-hello")
    program.parent.mkdir()
    program.write_text("#!/bin/sh\necho hello from /tmp\n", encoding="utf-8")
    program.chmod(0o755)
    secret = Path(other, "not-yours.txt")
    secret.write_text("host tmp file\n", encoding="utf-8")
    return program, secret


@needs_bwrap
async def test_a_program_under_host_tmp_still_runs_while_the_rest_of_tmp_stays_hidden(tmp_path: Path) -> None:
    # CI clones (and their virtualenvs) often live in /tmp, which the sandbox makes private.
    with tempfile.TemporaryDirectory(dir="/tmp") as tools_dir, tempfile.TemporaryDirectory(dir="/tmp") as other:
        program, secret = _program_and_secret_in_host_tmp(tools_dir, other)
        box = _sandbox(tmp_path, True)
        ran = await box.run(f"{program}", timeout=60, env=os.environ)
        assert ran.exit_code == 0 and ran.output == "hello from /tmp\n", ran.output
        peek = await box.run(f"cat {secret}", timeout=60, env=os.environ)
        assert peek.exit_code != 0 and "host tmp file" not in peek.output
