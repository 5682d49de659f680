"""Benchmark: shadow creation on the Django repository against a plain copy of its tracked files.

Run on demand: ``python tests/bench/bench_shadow.py [BASE_DIR]`` (default: the system temp folder).
Builds (once) a git repository from Django's source distribution under ``.bench/``
(``pip download django --no-deps --no-binary :all:``), then times, in the same run and the same BASE_DIR:
``Shadow.create`` (listing, copy with snapshot, heavy-folder links), a plain sequential ``shutil.copyfile``
of the same tracked files, ``Shadow.diff`` on an unchanged shadow and ``cleanup``.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from kimi_lsp.agent.shadow import Shadow

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / ".bench"
REPO = BENCH / "shadow-django"
ROUNDS = 3
# Where both copies go: the system temp folder by default, or the folder given as the first argument
# (e.g. /dev/shm), so disk and memory-backed copies compare like for like.
BASE: Path | None = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(tempfile.gettempdir())


def build_repo() -> Path:
    """Django's sdist unpacked into a git repository with every file staged (made once, then reused)."""
    if (REPO / ".git").exists():
        return REPO
    downloads = BENCH / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    archives = sorted(downloads.glob("[Dd]jango-*.tar.gz"))
    if not archives:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "django",
                "--no-deps",
                "--no-binary",
                ":all:",
                "-d",
                str(downloads),
            ],
            check=True,
        )
        archives = sorted(downloads.glob("[Dd]jango-*.tar.gz"))
    with tempfile.TemporaryDirectory(dir=BENCH) as tmp:
        with tarfile.open(archives[-1]) as tar:
            tar.extractall(tmp, filter="data")
        (top,) = Path(tmp).iterdir()
        shutil.move(str(top), REPO)
    subprocess.run(["git", "-C", str(REPO), "init", "-q"], check=True)
    subprocess.run(["git", "-C", str(REPO), "add", "-A"], check=True)
    (REPO / ".venv" / "lib").mkdir(parents=True, exist_ok=True)  # an ignored heavy folder to link
    (REPO / ".git" / "info" / "exclude").write_text(".venv/\n")
    return REPO


def tracked(repo: Path) -> list[str]:
    out = subprocess.run(["git", "-C", str(repo), "ls-files", "-z"], capture_output=True, check=True)
    return [name for name in out.stdout.decode().split("\0") if name]


def plain_copy(repo: Path, files: list[str]) -> None:
    dest = Path(tempfile.mkdtemp(prefix="plain-copy-", dir=BASE))
    try:
        for rel in files:
            target = dest / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(repo / rel, target)
    finally:
        shutil.rmtree(dest)


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    repo = build_repo()
    files = tracked(repo)
    size = sum((repo / rel).stat().st_size for rel in files)
    print(f"repository: {repo} ({len(files)} tracked files, {size / 1e6:.1f} MB), copies in {BASE}")
    create, diff, cleanup, plain = [], [], [], []
    for _ in range(ROUNDS):
        plain.append(timed(lambda: plain_copy(repo, files)))
        start = time.perf_counter()
        shadow = Shadow.create(repo, base_dir=BASE)
        create.append(time.perf_counter() - start)
        assert len(shadow.snapshot.paths()) == len(files), "shadow missed files"
        diff.append(timed(shadow.diff))
        cleanup.append(timed(shadow.cleanup))
    for label, values in (
        ("plain copy of tracked files (list given)", plain),
        ("Shadow.create (git listing + copy + snapshot + links)", create),
        ("Shadow.diff on an unchanged shadow", diff),
        ("Shadow.cleanup", cleanup),
    ):
        print(
            f"{label:58s} median {statistics.median(values):6.3f}s",
            f"(runs: {', '.join(f'{v:.3f}' for v in values)})",
        )


if __name__ == "__main__":
    main()
