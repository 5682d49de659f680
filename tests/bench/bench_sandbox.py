"""Benchmark: the cost a sandbox adds to one test run, against the same command run unconfined.

Run on demand: ``python tests/bench/bench_sandbox.py``. Times, in the same run, ``ROUNDS`` runs each of
``/bin/sh -c true`` and ``python -c pass`` through :func:`run_command` as is (the floor), through
``Sandbox.run`` confined by bubblewrap (on a workspace with a linked ``.venv``, the usual shape), and through
``Sandbox.run`` unconfined (the reaper that kills leftovers). Prints medians and the overhead per run.
Goal: bubblewrap under 50 ms per run.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from kimi_lsp.agent.sandbox import Sandbox, run_command, sandbox_problem, test_env

ROUNDS = 30
SHADOW_BASE = "/dev/shm" if os.path.isdir("/dev/shm") else None  # where shadows usually go


async def timed(run, rounds: int = ROUNDS) -> float:
    samples = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = await run()
        samples.append(time.perf_counter() - started)
        assert result.exit_code == 0, result.output
    return statistics.median(samples)


async def main() -> None:
    problem = sandbox_problem()
    with (
        tempfile.TemporaryDirectory(prefix="kimi-bench-ws-") as ws,
        tempfile.TemporaryDirectory(prefix="kimi-bench-shadow-", dir=SHADOW_BASE) as shadow,
    ):
        workspace, folder = Path(ws), Path(shadow)
        (workspace / ".venv").mkdir()
        (folder / ".venv").symlink_to(workspace / ".venv")
        for index in range(20):
            (folder / f"module_{index}.py").write_text("x = 1\n")
        env = dict(os.environ)
        confined = None if problem else Sandbox.choose(folder, workspace, linked=[".venv"])
        unconfined = Sandbox.choose(folder, workspace, mode="off", linked=[".venv"])
        print(f"{ROUNDS} runs each, medians; bubblewrap: {'usable' if confined else problem}")
        for label, command in (("sh -c true", "true"), ("python -c pass", f"{sys.executable} -c pass")):
            floor = await timed(lambda c=command: run_command(c, cwd=folder, timeout=60, env=test_env(env)))
            line = f"{label:<16} unconfined floor {floor * 1000:7.1f} ms"
            if confined is not None:
                boxed = await timed(lambda c=command: confined.run(c, timeout=60, env=env))
                line += f" | bubblewrap {boxed * 1000:7.1f} ms (+{(boxed - floor) * 1000:.1f} ms)"
            reaped = await timed(lambda c=command: unconfined.run(c, timeout=60, env=env))
            line += f" | no-bwrap reaper {reaped * 1000:7.1f} ms (+{(reaped - floor) * 1000:.1f} ms)"
            print(line)


if __name__ == "__main__":
    asyncio.run(main())
