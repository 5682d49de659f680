"""Context engine benchmark on Django's sources (run on demand: ``python tests/bench/bench_context.py``).

Measures, in one run:
- floor: a Python process that imports the same libraries and reads every tracked file once;
- whole process: ``python -m kimi_lsp context --file django/db/models/query.py:500 --budget 200000 --json``;
- warm assembly: ``build_context`` in-process with a warm ``WorkspaceIndex``.
Goals: whole process <= 1.5x floor; warm < a tenth of the whole process. Also checks the result holds
100K-200K tokens, the asked-for file first, and no binary or secret file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _django import django_repo

from kimi_lsp.context import ContextRequest, WorkspaceIndex, build_context, is_secret_path

TARGET = "django/db/models/query.py"
LINE = 500
BUDGET = 200_000
RUNS = 5

FLOOR = """
import subprocess, sys
import kimi_lsp.cli, kimi_lsp.context  # the same libraries the CLI loads (no GitPython: it runs plain git)
root = sys.argv[1]
names = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True).stdout
total = 0
for name in names.decode().split("\\0"):
    if name:
        with open(root + "/" + name, "rb") as handle:
            total += len(handle.read())
print(total)
"""

DIRECT = """
import json, sys
from pathlib import Path
from kimi_lsp.context import ContextRequest, build_context
root, target, line, budget = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
result = build_context(ContextRequest(root=root, target=target, target_line=line, budget=budget))
print(json.dumps(result.to_json()))
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("KIMI_API_KEY", "MOONSHOT_API_KEY")}


def _time(command: list[str], cwd: Path) -> tuple[float, str]:
    start = time.perf_counter()
    completed = subprocess.run(command, cwd=cwd, env=_env(), capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if completed.returncode != 0:
        raise SystemExit(f"{command[:4]} failed ({completed.returncode}):\n{completed.stderr[-2000:]}")
    return elapsed, completed.stdout


def _cli_command(root: Path) -> list[str]:
    probe = subprocess.run(
        [sys.executable, "-m", "kimi_lsp", "context", "--help"], capture_output=True, text=True, env=_env()
    )
    if probe.returncode == 0:
        file_arg = f"{TARGET}:{LINE}"
        return [sys.executable, "-m", "kimi_lsp", "context", "--root", str(root), "--file", file_arg,
                "--budget", str(BUDGET), "--json"]  # fmt: skip
    print("(CLI not wired: timing build_context in a fresh process instead)")
    return [sys.executable, "-c", DIRECT, str(root), TARGET, str(LINE), str(BUDGET)]


def main() -> int:
    root = django_repo()
    tracked = subprocess.run(["git", "ls-files"], cwd=root, capture_output=True, text=True, check=True).stdout
    print(f"workspace: {root} ({len(tracked.splitlines())} tracked files)")

    # Byte-compile the package as a wheel install does: this machine sets PYTHONDONTWRITEBYTECODE, so an
    # editable checkout would otherwise recompile every module on each start, which no installed copy does.
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(Path(__file__).resolve().parents[2] / "kimi_lsp")], check=True
    )
    # Warm the OS file cache first so neither side pays for the disk.
    _time([sys.executable, "-c", FLOOR, str(root)], root)
    command = _cli_command(root)
    floors, wholes = [], []
    output = ""
    for _ in range(RUNS):
        floors.append(_time([sys.executable, "-c", FLOOR, str(root)], root)[0])
        elapsed, output = _time(command, root)
        wholes.append(elapsed)
    floor, whole = statistics.median(floors), statistics.median(wholes)

    index = WorkspaceIndex(root)
    request = ContextRequest(root=root, target=TARGET, target_line=LINE, budget=BUDGET)
    start = time.perf_counter()
    cold = build_context(request, index=index)
    cold_in_process = time.perf_counter() - start
    warm_runs = []
    for _ in range(RUNS):
        start = time.perf_counter()
        warm = build_context(request, index=index)
        warm_runs.append(time.perf_counter() - start)
    warm_time = statistics.median(warm_runs)

    data = json.loads(output)
    problems = []
    if not 100_000 <= data["tokens"] <= BUDGET:
        problems.append(f"tokens {data['tokens']} outside 100K-200K")
    if data["files"][0]["path"] != TARGET:
        problems.append(f"first file is {data['files'][0]['path']}, not {TARGET}")
    for item in data["files"]:
        if is_secret_path(item["path"]) or index.is_binary(item["path"]):
            problems.append(f"{item['path']} is a secret or binary file")
    if warm.prompt != cold.prompt:
        problems.append("warm and cold prompts differ")

    def runs(times: list[float]) -> str:
        return ", ".join(f"{value:.3f}" for value in times)

    first = data["files"][0]["path"]
    print(f"floor (imports + read every tracked file): {floor:.3f}s  (runs: {runs(floors)})")
    print(f"whole process `kimi-lsp context`:         {whole:.3f}s  (runs: {runs(wholes)})")
    print(f"  ratio whole/floor: {whole / floor:.2f}x  (goal <= 1.5x)")
    print(f"in-process cold build_context:            {cold_in_process:.3f}s")
    print(f"warm build_context (warm index):          {warm_time:.3f}s  (runs: {runs(warm_runs)})")
    print(f"  ratio warm/whole: {warm_time / whole:.3f}  (goal < 0.1)")
    print(f"result: {data['tokens']} tokens of {data['budget']}, {len(data['files'])} files, first {first}")
    print("sections: " + ", ".join(f"{s['name']}={s['tokens']}" for s in data["sections"]))
    for problem in problems:
        print(f"PROBLEM: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
