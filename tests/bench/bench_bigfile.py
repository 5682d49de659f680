"""Benchmark: peak memory of a whole `kimi-lsp fix` job on a workspace holding huge files.

Run on demand: ``python tests/bench/bench_bigfile.py [BASE_DIR]`` (default: the system temp folder).
The workspace holds a 2 GiB sparse file, a 1 GiB text log (both left out of the shadow), a 31 MiB log (copied)
and a small failing project. The scripted model reads five lines from the middle of the 31 MiB log, greps the
whole workspace, then fixes the bug. Reported: the
job's peak RSS (the `kimi-lsp` process, which also holds the shadow's snapshot) against, in the same run,
the same job on the project without the big files, and `kimi-lsp --version` (the interpreter and imports).
Goal: the job with the big files stays under 300 MB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from kimi_lsp.testing import STAND_IN_KEY, ScriptedCall, StandIn, Turn

GOAL_MB = 300
TEST_COMMAND = f"{sys.executable} -m unittest"


def make_project(root: Path, big: bool) -> None:
    root.mkdir(parents=True)
    (root / "shapes.py").write_text("def area(width, height):\n    return width + height\n")
    (root / "test_shapes.py").write_text(
        "import unittest\n\nfrom shapes import area\n\n\nclass AreaTest(unittest.TestCase):\n"
        "    def test_area(self):\n        self.assertEqual(area(3, 4), 12)\n"
    )
    if big:
        with open(root / "disk.img", "wb") as handle:
            handle.truncate(2 << 30)  # sparse: 2 GiB that take no disk
        line = b"2026-12-04 12:00:00 INFO request served in 12 ms\n" * 20_000  # ~1 MiB
        with open(root / "server.log", "wb") as handle:
            for _ in range(1024):
                handle.write(line)
        with open(root / "recent.log", "wb") as handle:  # under the shadow's 32 MiB cap: copied, then read
            for _ in range(31):
                handle.write(line)


def turns(big: bool) -> list[Turn]:
    looks = [
        ScriptedCall("ReadFile", {"path": "recent.log", "line_offset": 300_000, "n_lines": 5}),
        ScriptedCall("Grep", {"pattern": "def area"}),
    ]
    edit = {"old": "return width + height", "new": "return width * height"}
    return [
        *[Turn(reasoning="look", tool_calls=[call]) for call in (looks if big else looks[1:])],
        Turn(reasoning="fix", tool_calls=[ScriptedCall("StrReplaceFile", {"path": "shapes.py", "edit": edit})]),
        Turn(reasoning="done", content="fixed"),
    ]


def peak_rss_mb(args: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, str]:
    """Peak RSS of a child (and its waited-for children) in MB, measured by a fresh interpreter."""
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True, stdin=subprocess.DEVNULL)\n"
        "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + '\\n' + done.stdout)\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *args], cwd=cwd, env=env, capture_output=True, text=True)
    first, _, rest = out.stdout.partition("\n")
    return int(first) / 1024, rest


def main() -> int:
    base = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir())
    work = Path(tempfile.mkdtemp(prefix="kimi-bench-big-", dir=base))
    try:
        figures = {}
        for big in (False, True):
            root = work / ("big" if big else "small")
            make_project(root, big)
            with StandIn(turns(big)) as stand_in:
                env = {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY")}
                env.update(KIMI_API_KEY=STAND_IN_KEY, KIMI_BASE_URL=stand_in.url, KIMI_LSP_STATE_DIR=str(work / "st"))
                rss, stdout = peak_rss_mb(
                    [sys.executable, "-m", "kimi_lsp", "fix", "--test", TEST_COMMAND, "--json"], root, env
                )
                status = json.loads(stdout)["status"]
                shown = [m["content"] for m in json.loads(stand_in.chat_requests[1].body)["messages"][-1:]]
            figures[big] = rss
            label = "with 2 GiB sparse + 1 GiB + 31 MiB logs" if big else "on the small project"
            print(f"job {label:42} {rss:7.1f} MB  {status}")
            if big:
                print("  ReadFile answer:", shown[0].splitlines()[-1])
        version, _ = peak_rss_mb([sys.executable, "-m", "kimi_lsp", "--version"], work, dict(os.environ))
        print(f"{'kimi-lsp --version (floor)':46} {version:7.1f} MB")
        verdict = "met" if figures[True] < GOAL_MB else "NOT met"
        print(
            f"goal: job with big files < {GOAL_MB} MB: {verdict} ({figures[True] - figures[False]:+.1f} MB over small)"
        )
        return 0 if figures[True] < GOAL_MB else 1
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
