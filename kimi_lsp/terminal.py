"""Text the CLI prints, made safe for a terminal: what a model or a repository wrote cannot drive it.

A summary, a diff or a test command can carry escape sequences (OSC 52 writes the clipboard in many
terminals, ``ESC [2K`` erases a line and so forges what the user reads) or a bare carriage return that
overwrites a line. Every control character but tab and newline (and a CR that ends a CRLF line) is written
as a visible ``\\u00XX`` escape, which is also valid inside JSON strings.
"""

from __future__ import annotations

import re
from typing import Any, TextIO

__all__ = ["SafeStream", "escape_controls"]

_UNSAFE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]|\r(?=[^\n])")


def escape_controls(text: str) -> str:
    """``text`` with terminal control characters shown as ``\\u00XX`` instead of acted on."""
    return _UNSAFE.sub(lambda match: f"\\u{ord(match.group(0)):04x}", text)


class SafeStream:
    """A text stream (stdout, stderr) that escapes control characters in everything written to it."""

    def __init__(self, inner: TextIO) -> None:
        self._inner = inner

    def write(self, text: str) -> int:
        return self._inner.write(escape_controls(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)
