"""Process helpers for tests that check nothing is left running."""

from __future__ import annotations

import os
from pathlib import Path


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # "pid (name) state ...": the name may hold spaces and parentheses, so the state follows the last ")".
    return stat.rpartition(")")[2].split()[0] != "Z"


def hanging_unittest(marker: Path) -> str:
    """A unittest module whose one test writes its pid to ``marker`` and then hangs."""
    return (
        "import os, time, unittest\n\n\nclass Hang(unittest.TestCase):\n    def test_hangs(self):\n"
        f"        open({str(marker)!r}, 'w').write(str(os.getpid()))\n        time.sleep(600)\n"
    )
