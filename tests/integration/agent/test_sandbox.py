"""Commands run in their own process group, bounded in time and output, and die whole when stopped."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import pytest

from kimi_lsp.agent.sandbox import run_command, test_env
from kimi_lsp.processes import alive

# A child that starts a grandchild ignoring SIGTERM, prints both pids, then hangs.
HANG = """
import os, signal, subprocess, sys, time
code = ("import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ready', flush=True); time.sleep(300)")
grandchild = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
grandchild.stdout.readline()
print("PIDS", os.getpid(), grandchild.pid, flush=True)
time.sleep(300)
"""


def _wait_dead(pids: list[int], deadline: float = 5.0) -> list[int]:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        running = [pid for pid in pids if alive(pid)]
        if not running:
            return []
        time.sleep(0.02)
    return [pid for pid in pids if alive(pid)]


async def _start_hang(tmp_path: Path, limit: float) -> tuple[asyncio.Task, list[int], asyncio.Event]:
    script = tmp_path / "hang.py"
    script.write_text(HANG)
    pids: list[int] = []
    seen = asyncio.Event()
    buffer: list[str] = []

    def on_output(chunk: str) -> None:
        buffer.append(chunk)
        for line in "".join(buffer).splitlines():
            if line.startswith("PIDS "):
                pids[:] = [int(x) for x in line.split()[1:]]
                seen.set()

    task = asyncio.create_task(
        run_command([sys.executable, str(script)], cwd=tmp_path, timeout=limit, on_output=on_output, kill_grace=0.3)
    )
    return task, pids, seen


async def test_cancel_kills_the_whole_process_group(tmp_path: Path) -> None:
    task, pids, seen = await _start_hang(tmp_path, limit=60)
    await asyncio.wait_for(seen.wait(), 20)
    assert all(alive(pid) for pid in pids)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert _wait_dead(pids) == []


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    task, pids, seen = await _start_hang(tmp_path, limit=3)
    await asyncio.wait_for(seen.wait(), 20)
    result = await asyncio.wait_for(task, 30)
    assert result.timed_out
    assert result.exit_code is None
    assert "PIDS" in result.output
    assert _wait_dead(pids) == []


async def test_output_is_merged_and_capped_keeping_head_and_tail(tmp_path: Path) -> None:
    code = "import sys; print('HEAD'); sys.stderr.write('E' * 300000 + '\\n'); sys.stderr.flush(); print('TAIL')"
    result = await run_command([sys.executable, "-c", code], cwd=tmp_path, timeout=30, output_cap=10_000)
    assert result.exit_code == 0
    assert result.output.startswith("HEAD")
    assert result.output.rstrip().endswith("TAIL")
    assert "bytes of output omitted" in result.output
    assert len(result.output) < 10_200


async def test_shell_string_runs_in_cwd_with_closed_stdin(tmp_path: Path) -> None:
    (tmp_path / "marker.txt").write_text("here\n")
    result = await run_command("cat marker.txt; cat; echo exit=$?", cwd=tmp_path, timeout=10)
    assert result.output == "here\nexit=0\n"  # `cat` reads an empty stdin instead of hanging
    assert result.exit_code == 0 and not result.timed_out


async def test_exit_code_is_reported(tmp_path: Path) -> None:
    result = await run_command("exit 3", cwd=tmp_path, timeout=10)
    assert result.exit_code == 3


def test_test_env_drops_keys_and_secrets() -> None:
    base = {
        "KIMI_API_KEY": "sk-1",
        "MOONSHOT_API_KEY": "sk-2",
        "GITHUB_TOKEN": "t",
        "AWS_SECRET_ACCESS_KEY": "s",
        "DB_PASSWORD": "p",
        "my_api_key": "k",
        "PATH": "/usr/bin",
        "HOME": "/home/x",
    }
    env = test_env(base)
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/home/x",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONUNBUFFERED": "1",
    }
