"""The one glob translator, in its two dialects: the model's Glob/Grep patterns and ``.gitignore`` rules."""

from __future__ import annotations

import re

import pytest

from kimi_lsp.workspace.globs import glob_regex
from kimi_lsp.workspace.ignore import IgnoreRules


def _matches(pattern: str, path: str, *, gitignore: bool = False) -> bool:
    return re.fullmatch(glob_regex(pattern, gitignore=gitignore), path) is not None


@pytest.mark.parametrize("gitignore", [False, True])
@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("**/*.py", "a.py", True),
        ("**/*.py", "pkg/sub/a.py", True),
        ("*.py", "pkg/a.py", False),  # one star stays within a folder
        ("pkg/?.py", "pkg/a.py", True),
        ("pkg/?.py", "pkg/ab.py", False),
        ("[!a]*.py", "b.py", True),
        ("[!a]*.py", "a.py", False),
        ("[]x].py", "].py", True),  # a ']' right after '[' is a member
        ("[a.py", "[a.py", True),  # an unclosed '[' is literal
        ("a+b(c).py", "a+b(c).py", True),  # regex characters are literal
    ],
)
def test_both_dialects_agree_on_what_globs_share(pattern: str, path: str, expected: bool, gitignore: bool) -> None:
    assert _matches(pattern, path, gitignore=gitignore) is expected


def test_the_tools_read_braces_as_either() -> None:
    assert _matches("*.{py,pyi}", "a.pyi") and _matches("*.{py,pyi}", "a.py")
    assert not _matches("*.{py,pyi}", "a.txt")
    assert _matches("{a", "{a")  # an unclosed brace is literal


def test_gitignore_reads_escapes_caret_sets_and_a_trailing_double_star_as_git_does() -> None:
    assert _matches(r"\*.log", "*.log", gitignore=True) and not _matches(r"\*.log", "a.log", gitignore=True)
    assert _matches("[^a].txt", "b.txt", gitignore=True) and not _matches("[^a].txt", "a.txt", gitignore=True)
    assert _matches("build/**", "build/x/y.o", gitignore=True)
    assert _matches("*.{py,pyi}", "a.{py,pyi}", gitignore=True)  # braces mean nothing to git


def test_gitignore_rules_use_the_gitignore_dialect() -> None:
    rules = IgnoreRules()
    rules.add_file("", "[^k]eep.txt\n\\#notes\n")
    assert rules.ignored("beep.txt", is_dir=False)
    assert not rules.ignored("keep.txt", is_dir=False)
    assert rules.ignored("#notes", is_dir=False)
