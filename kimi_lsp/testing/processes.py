"""Process helpers for tests that check nothing is left running."""

from __future__ import annotations

from pathlib import Path

from kimi_lsp.processes import alive

__all__ = ["alive", "hanging_unittest"]


def hanging_unittest(marker: Path) -> str:
    """A unittest module whose one test writes its pid to ``marker`` and then hangs."""
    return (
        "import os, time, unittest\n\n\nclass Hang(unittest.TestCase):\n    def test_hangs(self):\n"
        f"        open({str(marker)!r}, 'w').write(str(os.getpid()))\n        time.sleep(600)\n"
    )
