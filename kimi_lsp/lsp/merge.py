"""Three-way merge for rebasing a job's change onto what the user typed while the job ran.

The job started from a snapshot (base) of a buffer; it produced new text (ours); meanwhile the user kept
editing (theirs). `merge3` combines both changes line by line with the diff3 algorithm: lines unchanged
on both sides anchor the merge, each region between anchors takes whichever side changed it, and a region
both sides changed differently is a conflict. On conflict nothing is merged: the server refuses the edit
rather than write over the user's typing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field

from kimi_lsp.lsp.edits import normalize_newlines, split_lines


@dataclass(frozen=True)
class MergeResult:
    """Merged text, or None with the conflicting regions.

    Each conflict is a half-open range of zero-based line numbers [start, end) in theirs (the user's
    current buffer) that both sides changed; it is empty (start == end) where the user deleted the lines
    the job changed, or where both sides inserted different lines at the same place.
    """

    text: str | None
    conflicts: list[tuple[int, int]] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        """True when the merge succeeded."""
        return self.text is not None


# A stable region: base[b0:b1] == ours[o0:o1] == theirs[t0:t1].
_Sync = tuple[int, int, int, int, int, int]


def _matching(base: list[str], other: list[str]) -> list[tuple[int, int, int]]:
    # autojunk off: frequent lines (blank lines, closing braces) are the anchors a merge needs most.
    matcher = difflib.SequenceMatcher(None, base, other, autojunk=False)
    return [(block.a, block.b, block.size) for block in matcher.get_matching_blocks()]


def _sync_regions(base: list[str], ours: list[str], theirs: list[str]) -> Iterator[_Sync]:
    """Regions of base matched unchanged by both diffs, in order, ending with an empty sentinel region."""
    ours_matches, theirs_matches = _matching(base, ours), _matching(base, theirs)
    i = j = 0
    while i < len(ours_matches) and j < len(theirs_matches):
        o_base, o_at, o_len = ours_matches[i]
        t_base, t_at, t_len = theirs_matches[j]
        start, end = max(o_base, t_base), min(o_base + o_len, t_base + t_len)
        if start < end:
            o_start, t_start = o_at + start - o_base, t_at + start - t_base
            yield start, end, o_start, o_start + end - start, t_start, t_start + end - start
        # Advance the match that ends first in base; the other may still overlap the next one.
        if o_base + o_len < t_base + t_len:
            i += 1
        else:
            j += 1
    yield len(base), len(base), len(ours), len(ours), len(theirs), len(theirs)


def merge3(base: str, ours: str, theirs: str) -> MergeResult:
    """Merge the job's change (base -> ours) into the user's buffer (theirs).

    Changes to different lines merge; the same change made on both sides is taken once; different
    changes to the same lines (or insertions at the same place) are conflicts and give `text` None.
    The job's lines get theirs' line endings, so a CRLF buffer stays CRLF.
    """
    if ours == base or ours == theirs:
        return MergeResult(theirs)
    if theirs == base:
        return MergeResult(normalize_newlines(theirs, ours))
    base_lines = split_lines(normalize_newlines(theirs, base))
    ours_lines = split_lines(normalize_newlines(theirs, ours))
    theirs_lines = split_lines(theirs)

    merged: list[str] = []
    conflicts: list[tuple[int, int]] = []
    b = o = t = 0
    for b0, b1, o0, o1, t0, t1 in _sync_regions(base_lines, ours_lines, theirs_lines):
        base_chunk, ours_chunk, theirs_chunk = base_lines[b:b0], ours_lines[o:o0], theirs_lines[t:t0]
        if ours_chunk == theirs_chunk or ours_chunk == base_chunk:
            merged.extend(theirs_chunk)
        elif theirs_chunk == base_chunk:
            merged.extend(ours_chunk)
        else:
            conflicts.append((t, t0))
        merged.extend(theirs_lines[t0:t1])
        b, o, t = b1, o1, t1
    if conflicts:
        return MergeResult(None, conflicts)
    return MergeResult("".join(merged))
