"""The verification run swaps the user's test files in and the model's back out, inside the shadow only."""

from __future__ import annotations

import sys

# Prints what the run saw: the test file's text, and whether the model's new test file was there.
SHOW = (
    f"{sys.executable} -c \"import os; print(open('test_a.py').read().strip(), os.path.exists('test_new.py')); "
    "raise SystemExit(0 if 'user' in open('test_a.py').read() else 1)\""
)
