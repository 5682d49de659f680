"""The patch as the model writes it (a unified diff, read leniently) and the report it gets back.

Written here rather than with a patch library (``unidiff``): those reject what models send every day (wrong
hunk counts, context lines that lost their leading space, prose after the last hunk), and each of those must
become either a hunk that applies or a message saying exactly what to resend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["FilePatch", "FilePatchResult", "Hunk", "HunkResult", "PatchReport", "parse_patch"]

_HUNK_RE = re.compile(r"^@@+\s*-(\d+)(?:,(\d+))?\s+\+(\d+)(?:,(\d+))?\s*@@+")


@dataclass(frozen=True)
class HunkResult:
    """How one hunk fared: where it applied (1-based line) and how it matched, or why it did not."""

    index: int
    ok: bool
    line: int | None = None
    how: str = ""
    message: str = ""


@dataclass(frozen=True)
class FilePatchResult:
    """One file of a patch: ``action`` is ``modify``, ``create``, ``delete`` or ``rename``."""

    path: str
    action: str
    ok: bool
    hunks: tuple[HunkResult, ...] = ()
    message: str = ""
    old_path: str | None = None  # a rename's source


@dataclass(frozen=True)
class PatchReport:
    """Per-file, per-hunk outcome of :func:`apply_patch`; ``text()`` is what the model reads."""

    files: tuple[FilePatchResult, ...]
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and bool(self.files) and all(f.ok for f in self.files)

    @property
    def applied(self) -> list[str]:
        return [f.path for f in self.files if f.ok]

    @property
    def touched(self) -> list[str]:
        """Every path the patch changed on disk: written, created, deleted, and both ends of a rename."""
        paths: list[str] = []
        for result in self.files:
            if result.ok:
                paths.extend(p for p in (result.old_path, result.path) if p and p not in paths)
        return paths

    def text(self) -> str:
        if self.error:
            return self.error
        out: list[str] = []
        for result in self.files:
            if result.ok:
                out.append(f"{result.path}: {result.message}")
            else:
                out.append(f"{result.path}: NOT applied, file unchanged. {result.message}")
        applied = self.applied
        if not self.ok and applied:
            out.append(
                f"The changes to {', '.join(applied)} were applied; do not resend them. "
                "Resend only the failed files' diffs, against their current text."
            )
        elif not self.ok:
            out.append("Nothing was applied. Read the current text and resend the diff.")
        return "\n".join(out)


@dataclass
class Hunk:
    old_start: int | None
    old_count: int | None
    new_count: int | None = None
    lines: list[tuple[str, str]] = field(default_factory=list)  # (" " | "-" | "+", text)
    old_no_eol: bool = False
    new_no_eol: bool = False
    unprefixed: list[str] = field(default_factory=list)  # non-blank lines without a prefix, read as context

    def inconsistency(self) -> str | None:
        """Why the unprefixed lines cannot be context: the header's counts no longer add up."""
        if not self.unprefixed or self.old_count is None or self.new_count is None:
            return None
        old = sum(1 for tag, _ in self.lines if tag != "+")
        new = sum(1 for tag, _ in self.lines if tag != "-")
        if (old, new) == (self.old_count, self.new_count):
            return None
        return (
            f"the line {self.unprefixed[0]!r} has no ' ', '-' or '+' prefix; read as context it gives the "
            f"hunk {old} old and {new} new lines, but its header says {self.old_count} and {self.new_count}. "
            "Add the missing prefix to every hunk line and resend"
        )

    @property
    def old(self) -> list[str]:
        return [text for tag, text in self.lines if tag != "+"]


@dataclass
class FilePatch:
    old_path: str | None
    new_path: str | None
    hunks: list[Hunk] = field(default_factory=list)

    def problem(self) -> str | None:
        """Why this file's hunks cannot be trusted as parsed, or None."""
        for index, hunk in enumerate(self.hunks, start=1):
            why = hunk.inconsistency()
            if why:
                return f"hunk {index} of {len(self.hunks)}: {why}."
        return None


def _header_path(raw: str) -> str | None:
    raw = raw.split("\t", 1)[0].strip()
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        raw = raw[1:-1]
    return None if raw in ("/dev/null", "") else raw


def parse_patch(text: str) -> list[FilePatch]:
    """Split a unified diff into file sections and hunks (lenient about counts and blank context lines)."""
    lines = [line[:-1] if line.endswith("\r") else line for line in text.split("\n")]
    files: list[FilePatch] = []
    hunk: Hunk | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ "):
            _close(hunk)
            hunk = None
            files.append(FilePatch(_header_path(line[4:]), _header_path(lines[i + 1][4:])))
            i += 2
            continue
        if line.startswith("diff --git ") or line.startswith("Index: "):
            _close(hunk)
            hunk = None
        elif line.startswith("@@"):
            _close(hunk)
            match = _HUNK_RE.match(line)
            hunk = Hunk(
                int(match.group(1)) if match else None,
                (int(match.group(2)) if match.group(2) is not None else 1) if match else None,
                (int(match.group(4)) if match.group(4) is not None else 1) if match else None,
            )
            if files:
                files[-1].hunks.append(hunk)
            else:
                hunk = None
        elif hunk is not None:
            if line.startswith("\\"):
                if hunk.lines:
                    tag = hunk.lines[-1][0]
                    hunk.old_no_eol |= tag in " -"
                    hunk.new_no_eol |= tag in " +"
            elif line and line[0] in " -+":
                hunk.lines.append((line[0], line[1:]))
            else:
                # A context line whose leading space was lost, or text after the hunk: which one is
                # known only once we see whether more hunk lines follow (see _close).
                hunk.lines.append(("", line))
        i += 1
    _close(hunk)
    return files


def _close(hunk: Hunk | None) -> None:
    if hunk is None:
        return
    while hunk.lines and hunk.lines[-1][0] == "":
        hunk.lines.pop()  # trailing unprefixed lines are the patch's end (or prose), not context
    hunk.unprefixed = [text for tag, text in hunk.lines if tag == "" and text.strip()]
    hunk.lines = [(" " if tag == "" else tag, text) for tag, text in hunk.lines]
