"""Three-way merge of a job's result with what the user typed while the job ran."""

from __future__ import annotations

import random

from kimi_lsp.lsp.merge import MergeResult, merge3

BASE = "".join(f"line {n}\n" for n in range(10))


def _replace_line(text: str, number: int, new: str) -> str:
    lines = text.splitlines(keepends=True)
    lines[number] = new
    return "".join(lines)


def test_disjoint_changes_merge_cleanly() -> None:
    ours = _replace_line(BASE, 2, "job changed 2\n")
    theirs = _replace_line(BASE, 7, "user changed 7\n")
    result = merge3(BASE, ours, theirs)
    assert result == MergeResult(_replace_line(ours, 7, "user changed 7\n"), [])
    assert result.clean


def test_adjacent_line_changes_on_each_side_still_merge() -> None:
    ours = _replace_line(BASE, 3, "job 3\n")
    theirs = _replace_line(BASE, 5, "user 5\n")
    assert merge3(BASE, ours, theirs).text == _replace_line(ours, 5, "user 5\n")


def test_different_changes_to_the_same_line_conflict() -> None:
    ours = _replace_line(BASE, 4, "job 4\n")
    theirs = _replace_line(BASE, 4, "user 4\n")
    result = merge3(BASE, ours, theirs)
    assert result.text is None
    assert not result.clean
    assert result.conflicts == [(4, 5)]


def test_user_typing_in_the_line_the_job_fixed_is_a_conflict() -> None:
    base = "def total(xs):\n    return sum(xs) + 1\n\n\ndef other():\n    pass\n"
    ours = base.replace("sum(xs) + 1", "sum(xs)")
    theirs = base.replace("sum(xs) + 1", "sum(xs) + 12")
    result = merge3(base, ours, theirs)
    assert result.text is None
    assert result.conflicts == [(1, 2)]


def test_every_conflict_is_reported_against_the_users_lines() -> None:
    ours = _replace_line(_replace_line(BASE, 1, "job 1\n"), 8, "job 8\n")
    theirs = "new top\n" + _replace_line(_replace_line(BASE, 1, "user 1\n"), 8, "user 8\n")
    result = merge3(BASE, ours, theirs)
    assert result.text is None
    assert result.conflicts == [(2, 3), (9, 10)]


def test_user_deleting_the_lines_the_job_changed_is_an_empty_conflict() -> None:
    ours = _replace_line(BASE, 6, "job 6\n")
    theirs = BASE.replace("line 6\n", "")
    assert merge3(BASE, ours, theirs) == MergeResult(None, [(6, 6)])


def test_identical_changes_on_both_sides_are_taken_once() -> None:
    ours = _replace_line(BASE, 4, "same fix\n")
    theirs = _replace_line(_replace_line(BASE, 4, "same fix\n"), 9, "user 9\n")
    assert merge3(BASE, ours, theirs).text == theirs


def test_insertions_at_both_ends_merge() -> None:
    ours = "import sys\n" + BASE
    theirs = BASE + "# user appended\n"
    assert merge3(BASE, ours, theirs).text == "import sys\n" + BASE + "# user appended\n"
    assert merge3(BASE, theirs, ours).text == "import sys\n" + BASE + "# user appended\n"


def test_different_insertions_at_the_same_place_conflict() -> None:
    result = merge3(BASE, "import sys\n" + BASE, "import os\n" + BASE)
    assert result == MergeResult(None, [(0, 1)])


def test_deletion_by_the_job_merges_with_user_edits_elsewhere() -> None:
    ours = BASE.replace("line 1\nline 2\n", "")
    theirs = _replace_line(BASE, 8, "user 8\n")
    assert merge3(BASE, ours, theirs).text == ours.replace("line 8\n", "user 8\n")


def test_one_side_unchanged_gives_the_other_side() -> None:
    ours = _replace_line(BASE, 0, "job 0\n")
    assert merge3(BASE, ours, BASE).text == ours
    assert merge3(BASE, BASE, ours).text == ours
    assert merge3(BASE, ours, ours).text == ours


def test_crlf_user_buffer_keeps_crlf_when_the_job_wrote_lf() -> None:
    base = BASE.replace("\n", "\r\n")
    theirs = _replace_line(base, 8, "user 8\r\n")
    ours = _replace_line(BASE, 1, "job 1\n")
    merged = merge3(base, ours, theirs).text
    assert merged == _replace_line(theirs, 1, "job 1\r\n")
    assert merge3(base, ours, base).text == _replace_line(base, 1, "job 1\r\n")


def test_file_without_trailing_newline_merges() -> None:
    base = "a\nb\nc"
    assert merge3(base, "A\nb\nc", "a\nb\nC").text == "A\nb\nC"


def _change(side: str, action: int, number: int, line: str) -> list[str]:
    """What one side turns a base line into: a rewrite, a deletion, or an insertion before it."""
    return [[f"{side} {line}"], [], [f"{side} inserted before {line}", line]][action]


def test_random_changes_to_separate_lines_merge_to_both_changes() -> None:
    rng = random.Random(99)
    for case in range(300):
        size = rng.randint(3, 40)
        base = [f"base {case}.{n}\n" for n in range(size)]
        # Changed lines are at least two apart, so an untouched line always separates the two sides.
        changes: dict[int, tuple[str, int]] = {}
        for n in rng.sample(range(size), rng.randint(0, size // 2)):
            if all(abs(n - other) > 1 for other in changes):
                changes[n] = (rng.choice(["ours", "theirs"]), rng.randint(0, 2))
        ours: list[str] = []
        theirs: list[str] = []
        expected: list[str] = []
        for n, line in enumerate(base):
            side, action = changes.get(n, ("", -1))
            changed = _change(side, action, n, line) if side else [line]
            ours.extend(changed if side == "ours" else [line])
            theirs.extend(changed if side == "theirs" else [line])
            expected.extend(changed)
        result = merge3("".join(base), "".join(ours), "".join(theirs))
        assert result == MergeResult("".join(expected), []), (case, changes)


def test_random_overlapping_rewrites_conflict() -> None:
    rng = random.Random(5)
    for case in range(200):
        size = rng.randint(1, 30)
        base = [f"l{n}\n" for n in range(size)]
        n = rng.randrange(size)
        ours, theirs = list(base), list(base)
        ours[n] = f"ours {case}\n"
        theirs[n] = f"theirs {case}\n"
        result = merge3("".join(base), "".join(ours), "".join(theirs))
        assert result == MergeResult(None, [(n, n + 1)])


def test_long_file_of_repeated_lines_merges_disjoint_changes() -> None:
    # Blank lines and "pass" make up most of the file, as in real code; they must still anchor the merge.
    base_lines = [["\n", "    pass\n", f"def f{n}():\n"][n % 3] for n in range(600)]
    ours_lines, theirs_lines = list(base_lines), list(base_lines)
    ours_lines[301] = "    return 301\n"
    theirs_lines[304] = "    return 304\n"
    expected = list(ours_lines)
    expected[304] = "    return 304\n"
    result = merge3("".join(base_lines), "".join(ours_lines), "".join(theirs_lines))
    assert result == MergeResult("".join(expected), [])
