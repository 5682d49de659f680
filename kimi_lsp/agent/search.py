"""Grep and Glob over the shadow workspace: glob patterns, and a regex search made to be stopped.

The search runs in a worker thread with a deadline over the whole search; key blocks and tokens are
withheld before any line is matched, so a match on one line of a private key never shows that line.
"""

from __future__ import annotations

import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import regex

from kimi_lsp.agent.tool_specs import GREP_LINE_CHARS, GREP_MAX_FILE_BYTES, LIST_MAX_ITEMS
from kimi_lsp.errors import ToolError
from kimi_lsp.workspace.globs import glob_regex
from kimi_lsp.workspace.listing import walk_shown
from kimi_lsp.workspace.paths import relpath_of
from kimi_lsp.workspace.reading import open_confined
from kimi_lsp.workspace.redact import Redactor
from kimi_lsp.workspace.text import to_lf

__all__ = ["UNSAFE_WHOLE_TEXT", "Search", "clean_glob", "glob_to_regex"]

_CONTENT_SECRETS = Redactor()  # keys and tokens by their shape; the loop also withholds the environment's values


def clean_glob(pattern: str) -> str:
    """``pattern`` without leading ``./`` (``./**/*.py`` means ``**/*.py``)."""
    pattern = pattern.strip()
    while pattern.startswith("./"):
        pattern = pattern[2:].lstrip("/")
    return pattern


def glob_to_regex(pattern: str) -> Glob:
    """The model's glob compiled whole (see ``workspace.globs``); a set that is still invalid (``[z-a]``) is a
    :class:`ToolError`."""
    try:
        return Glob(regex.compile(glob_regex(pattern) + r"\Z"))
    except regex.error as exc:
        raise ToolError(f"invalid glob pattern {pattern!r}: {exc}; use *, **, ? and [abc] only") from None


@dataclass(frozen=True)
class Glob:
    """A glob from the model, matched with a deadline: stars in a row (``*a*a*a…b``) can backtrack for ages."""

    compiled: Any  # a compiled ``regex`` pattern

    def matches(self, subject: str, deadline: float) -> bool:
        """True when ``subject`` matches; TimeoutError once ``deadline`` (``time.monotonic()``) has passed."""
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return self.compiled.match(subject, timeout=left) is not None


# Constructs whose result on a line can change when the line is searched inside its whole file (they
# see past the line's ends or forbid backtracking): anchors to the text's ends, negative lookarounds,
# lookbehinds, atomic groups, possessive quantifiers, backtracking verbs and flags switched off inline.
UNSAFE_WHOLE_TEXT = re.compile(r"\\[AZzG]|\(\?<|\(\?!|\(\?>|[*+?}]\+|\(\*|\(\?[A-Za-z]*-")


@dataclass
class Search:
    """One Grep run, made to be stopped: a deadline over the whole search and a flag for cancellation.

    Matching uses the ``regex`` package with a timeout and ``concurrent=True`` (the GIL is released while
    matching), so a catastrophic pattern neither freezes the event loop nor runs past the deadline.
    """

    pattern: Any  # a compiled ``regex`` pattern, run on each line
    whole: Any  # the same with MULTILINE, run once on a file's text to skip files without a match; or None
    name_filter: Glob | None
    glob_has_slash: bool  # a glob with "/" matches the root-relative path, otherwise the file name
    seconds: float
    stop: threading.Event = field(default_factory=threading.Event)
    timed_out: bool = False

    def run(self, root: Path, top: Path) -> list[str]:
        deadline = time.monotonic() + self.seconds
        found: list[str] = []
        try:
            self._scan(root, top, deadline, found)
        except TimeoutError:
            self.timed_out = True
        return found

    def _scan(self, root: Path, top: Path, deadline: float, found: list[str]) -> None:
        candidates = [(relpath_of(root, top), top)] if top.is_file() else walk_shown(root, top)
        for rel, path in candidates:
            if self.name_filter is not None:
                subject = rel if self.glob_has_slash else rel.rsplit("/", 1)[-1]
                if not self.name_filter.matches(subject, deadline):
                    continue
            data = _grep_bytes(root, path, rel)
            if data is None:
                continue
            # Key blocks go before matching: a match on one line of a key must not show that line.
            text = _CONTENT_SECRETS(to_lf(data.decode("utf-8", errors="replace")))
            if self.whole is not None and not self.whole.search(text, timeout=self._left(deadline), concurrent=True):
                continue
            for number, line in enumerate(text.split("\n"), start=1):
                left = self._left(deadline)
                if self.stop.is_set():
                    return
                if self.pattern.search(line, timeout=left, concurrent=True):
                    shown = line if len(line) <= GREP_LINE_CHARS else line[:GREP_LINE_CHARS] + "…"
                    found.append(f"{rel}:{number}: {shown}")
                    if len(found) > LIST_MAX_ITEMS * 5:
                        return  # enough to report "more"; don't scan a huge tree to the end

    @staticmethod
    def _left(deadline: float) -> float:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        return left


def _grep_bytes(root: Path, path: Path, rel: str) -> bytes | None:
    """A searchable file's bytes: regular, inside the root, not secret, not binary, not over the cap."""
    try:
        with open_confined(root, path, rel) as handle:
            if os.fstat(handle.fileno()).st_size > GREP_MAX_FILE_BYTES:
                return None
            data = handle.read(GREP_MAX_FILE_BYTES + 1)
    except ToolError:
        return None
    if len(data) > GREP_MAX_FILE_BYTES or b"\x00" in data[:8192]:
        return None
    return data
