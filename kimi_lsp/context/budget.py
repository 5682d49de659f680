"""Token estimates and the running budget that keeps a prompt under its limit.

There is no offline tokenizer for Kimi, so tokens are estimated from characters (about 4 per token
for code) and the ratio is corrected from the ``prompt_tokens`` the API reports. The budget counts
characters of the pieces it accepts; as the prompt is exactly their concatenation, its estimate is
exact and can never exceed the limit.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "DEFAULT_BUDGET",
    "MAX_BUDGET",
    "MIN_BUDGET",
    "Budget",
    "TokenEstimator",
    "cut_to_tokens",
    "windows_around",
]

DEFAULT_BUDGET = 64_000
MAX_BUDGET = 220_000  # Kimi K2 takes 256K tokens; the rest is room for the conversation and the answer
MIN_BUDGET = 200


class TokenEstimator:
    """Characters-to-tokens estimate that learns a correction factor from real usage."""

    def __init__(self, chars_per_token: float = 4.0) -> None:
        self.chars_per_token = chars_per_token
        self.factor = 1.0

    def tokens_for_chars(self, chars: int) -> int:
        """Estimated tokens of a text ``chars`` characters long."""
        if chars <= 0:
            return 0
        return math.ceil(chars * self.factor / self.chars_per_token)

    def estimate(self, text: str) -> int:
        """Estimated tokens of ``text``."""
        return self.tokens_for_chars(len(text))

    def chars_for_tokens(self, tokens: int) -> int:
        """The most characters that still estimate to at most ``tokens``."""
        if tokens <= 0:
            return 0
        chars = math.floor(tokens * self.chars_per_token / self.factor)
        while chars > 0 and self.tokens_for_chars(chars) > tokens:
            chars -= 1
        return chars

    def observe(self, estimated: int, actual: int) -> None:
        """Learn from a response: ``estimated`` (by this estimator) came back as ``actual`` prompt tokens."""
        if estimated <= 0 or actual <= 0:
            return
        measured = self.factor * actual / estimated
        # Move most of the way at once, but let one odd response not swing the estimate wildly.
        self.factor = min(4.0, max(0.25, 0.3 * self.factor + 0.7 * measured))


class Budget:
    """A token limit filled piece by piece; ``take`` accepts a piece only if the total still fits."""

    def __init__(self, limit: int, estimator: TokenEstimator) -> None:
        self.limit = limit
        self.estimator = estimator
        self.chars = 0

    @property
    def used(self) -> int:
        return self.estimator.tokens_for_chars(self.chars)

    @property
    def remaining(self) -> int:
        return max(0, self.limit - self.used)

    def take(self, text: str, reserve: int = 0) -> bool:
        """Accept ``text`` if it fits (leaving ``reserve``); say whether it was accepted."""
        return self.take_chars(len(text), reserve)

    def max_chars(self, reserve: int = 0) -> int:
        """The most characters the budget may hold while leaving ``reserve`` tokens (-1: none).

        ``take_chars(n, reserve)`` accepts exactly when ``chars + n <= max_chars(reserve)``, so a run
        of pieces can be sized with integer sums.
        """
        tokens = self.limit - reserve
        if tokens < 0:
            return -1
        estimator = self.estimator
        chars = estimator.chars_for_tokens(tokens)
        # chars_for_tokens works in floats: settle the exact edge with the estimate itself.
        while estimator.tokens_for_chars(chars + 1) <= tokens:
            chars += 1
        while chars > 0 and estimator.tokens_for_chars(chars) > tokens:
            chars -= 1
        return chars

    def take_chars(self, chars: int, reserve: int = 0) -> bool:
        """Accept a piece ``chars`` characters long if it fits (leaving ``reserve`` tokens)."""
        if self.estimator.tokens_for_chars(self.chars + chars) + reserve > self.limit:
            return False
        self.chars += chars
        return True


def cut_to_tokens(text: str, tokens: int, estimator: TokenEstimator, *, keep: str = "head") -> str:
    """``text`` cut at a line boundary to at most ``tokens``, with a note of what was cut.

    ``keep="tail"`` keeps the end instead (for logs, where the last lines matter most).
    """
    if estimator.estimate(text) <= tokens:
        return text
    room = estimator.chars_for_tokens(tokens) - 60  # the note's length
    if room <= 0:
        return ""
    lines = text.split("\n")
    kept: list[str] = []
    size = 0
    ordered = lines if keep == "head" else list(reversed(lines))
    for line in ordered:
        if size + len(line) + 1 > room:
            break
        kept.append(line)
        size += len(line) + 1
    if not kept and ordered:
        # One giant line: keep a slice of it rather than nothing.
        first = ordered[0]
        kept = [first[:room] if keep == "head" else first[-room:]]
    omitted = len(lines) - len(kept)
    note = f"… [{omitted} more lines cut to fit the budget]"
    if keep == "head":
        return "\n".join(kept) + "\n" + note + "\n"
    return note + "\n" + "\n".join(reversed(kept)) + "\n"


def windows_around(
    lines: Sequence[int], radius: int, total: int, whole: Sequence[tuple[int, int]] = ()
) -> list[tuple[int, int]]:
    """Merged, sorted 1-based inclusive line ranges of ``radius`` lines around each of ``lines``, and
    the ``whole`` ranges themselves."""
    spans = sorted(
        [(max(1, line - radius), min(total, line + radius)) for line in lines if 1 <= line <= max(total, 1)]
        + [(max(1, first), min(total, last)) for first, last in whole]
    )
    merged: list[tuple[int, int]] = []
    for start, end in spans:
        if merged and start <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return [span for span in merged if span[0] <= span[1]]
