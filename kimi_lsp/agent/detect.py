"""Guessing a project's test command when the user did not set one (shown by `doctor`, offered by the server)."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def detect_test_command(root: Path) -> str | None:
    """The command that most likely runs this project's tests, or None when nothing suggests one."""
    if _is_python_project(root):
        return f"{_python(root)} -m pytest -q"
    package = root / "package.json"
    if package.is_file():
        try:
            scripts = json.loads(package.read_text(encoding="utf-8")).get("scripts", {})
        except (OSError, ValueError, AttributeError):
            scripts = {}
        if isinstance(scripts, dict) and "test" in scripts:
            return "npm test --silent"
    if (root / "Cargo.toml").is_file():
        return "cargo test"
    if (root / "go.mod").is_file():
        return "go test ./..."
    return None


def _is_python_project(root: Path) -> bool:
    markers = ("pytest.ini", "conftest.py", "setup.cfg", "tox.ini", "pyproject.toml", "setup.py")
    if any((root / name).is_file() for name in markers):
        return True
    if (root / "tests").is_dir() or (root / "test").is_dir():
        return True
    try:
        return any(p.name.startswith("test_") and p.suffix == ".py" for p in root.iterdir())
    except OSError:
        return False


def _python(root: Path) -> str:
    # Prefer the project's own virtualenv, so its dependencies are importable.
    for candidate in (".venv/bin/python", "venv/bin/python"):
        if (root / candidate).exists():
            return candidate
    return "python" if shutil.which("python") else Path(sys.executable).name
