"""The rule that keeps unit tests in-process (their fixture workspaces are in ``tests/conftest.py``).

Unit tests run no program but git (fixture repositories, and the git layer under test). A test that runs
kimi-lsp, a test command, the sandbox or an editor belongs under ``tests/integration/`` (or ``tests/e2e/``);
the ``in_process_only`` guard below fails any unit test that starts another program, so the split stays true.
"""

from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest

UNIT_PROGRAMS = frozenset({"git"})


@pytest.fixture(autouse=True)
def in_process_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail a unit test that starts any program but git (``subprocess`` and ``asyncio`` both go through Popen)."""
    original = subprocess.Popen.__init__

    def guarded(self: subprocess.Popen[Any], args: Any, *rest: Any, **kwargs: Any) -> None:
        argv = [args] if isinstance(args, (str, bytes, os.PathLike)) else list(args)
        program = os.path.basename(os.fsdecode(argv[0])) if argv else ""
        if kwargs.get("shell") or program not in UNIT_PROGRAMS:
            raise AssertionError(
                f"a unit test started {program or args!r}: tests that run programs belong in tests/integration/"
            )
        original(self, args, *rest, **kwargs)

    monkeypatch.setattr(subprocess.Popen, "__init__", guarded)
