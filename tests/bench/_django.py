"""Builds (once) a git repository from Django's wheel for the context benchmark.

Cached under ``<repo>/.bench/`` (gitignored): the wheel in ``wheels/``, the repository in ``django-repo/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parents[2] / ".bench"
REPO = BENCH_DIR / "django-repo"
_READY = REPO / ".git" / "kimi-bench-ready"
_GIT_ENV = {
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
}


def django_repo() -> Path:
    """The path of a committed git repository holding Django's sources (built on first use)."""
    if _READY.exists():
        return REPO
    wheels = BENCH_DIR / "wheels"
    wheels.mkdir(parents=True, exist_ok=True)
    wheel = next(iter(sorted(wheels.glob("Django-*.whl")) + sorted(wheels.glob("django-*.whl"))), None)
    if wheel is None:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "django",
                "--no-deps",
                "--only-binary=:all:",
                "-d",
                str(wheels),
            ],
            check=True,
        )
        wheel = next(iter(sorted(wheels.glob("*.whl"))))
    if REPO.exists():
        shutil.rmtree(REPO)
    REPO.mkdir(parents=True)
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(REPO)
    env = {**os.environ, **_GIT_ENV}
    git = ["git", "-c", "init.defaultBranch=main", "-c", "commit.gpgsign=false"]
    subprocess.run([*git, "init", "-q"], cwd=REPO, check=True, env=env)
    subprocess.run([*git, "add", "-A"], cwd=REPO, check=True, env=env)
    subprocess.run([*git, "commit", "-q", "-m", f"Django from {wheel.name}"], cwd=REPO, check=True, env=env)
    _READY.write_text(wheel.name)
    return REPO


if __name__ == "__main__":
    print(django_repo())
