"""Whether a process still runs: asked by the shadow sweep (is a shadow's owner gone?) and by the tests that
check nothing is left running."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["alive"]


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie waiting to be reaped counts as gone, another user's process as running."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process: it exists; /proc says whether it is a zombie
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    # "pid (name) state ...": the name may hold spaces and parentheses, so the state follows the last ")".
    return stat.rpartition(")")[2].split()[0] != "Z"
