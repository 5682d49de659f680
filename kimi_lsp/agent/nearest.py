"""Finding the text in a file that looks most like what the model expected, to show it when a match fails."""

from __future__ import annotations

import difflib

from kimi_lsp.agent.syntax import numbered

_MAX_SCAN_LINES = 50_000


def nearest_window(file_lines: list[str], wanted: list[str]) -> tuple[int, int, float] | None:
    """The 0-based ``[start, end)`` window of ``file_lines`` most like ``wanted``, with its similarity (0..1).

    Lines are compared stripped. A cheap score (how many wanted lines occur in the window) picks candidates;
    difflib ranks the best few.
    """
    if not file_lines or not wanted or len(file_lines) > _MAX_SCAN_LINES:
        return None
    size = min(len(wanted), len(file_lines))
    stripped = [line.strip() for line in file_lines]
    want = [line.strip() for line in wanted]
    want_set = {line for line in want if line}
    hits = [1 if line and line in want_set else 0 for line in stripped]
    score = sum(hits[:size])
    scores = [score]
    for start in range(1, len(file_lines) - size + 1):
        score += hits[start + size - 1] - hits[start - 1]
        scores.append(score)
    order = sorted(range(len(scores)), key=lambda i: -scores[i])[:8]
    if not order:
        return None
    target = "\n".join(want)
    best: tuple[int, int, float] | None = None
    for start in order:
        ratio = difflib.SequenceMatcher(None, "\n".join(stripped[start : start + size]), target).ratio()
        if best is None or ratio > best[2]:
            best = (start, start + size, ratio)
    return best


def explain_mismatch(lines: list[str], wanted: list[str], head: str, *, nothing: str, fix: str) -> str:
    """A failed match told to the model: ``head``, then the most similar text in the file with its line
    numbers and how to fix the call (``fix``), or ``nothing`` when no text is similar enough to show."""
    found = nearest_window(lines, wanted)
    if found is None or found[2] < 0.3:
        return f"{head}{nothing}"
    start, end, _ = found
    return f"{head}; the most similar text is at lines {start + 1}-{end}:\n{numbered(lines, start + 1, end)}\n{fix}"
