"""The context engine's shortcuts give the same answers as the plain rules they replace: per-folder
path checks, budget sizing in sums, the listing started before the target is read, the memoized
repository map, the regex outline, the fence and long-line checks."""

from __future__ import annotations

import gc
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from kimi_lsp.context import ContextRequest, WorkspaceIndex, build_context
from kimi_lsp.context.budget import Budget, TokenEstimator
from kimi_lsp.context.outline import outline_of
from kimi_lsp.context.prompt import cut_long_lines, fence_for
from kimi_lsp.errors import ConfigError


def test_skipped_folders_hide_their_subtree_but_not_their_siblings(make_workspace: Callable[..., Path]) -> None:
    # Deep skipped folders first, then files beside and below them: decided per folder, remembered.
    root = make_workspace(
        {
            "a/b/node_modules/x/deep.py": "x = 1\n",
            "a/b/node_modules/top.py": "x = 1\n",
            "a/b/node_modules_2/kept.py": "x = 1\n",
            "a/b/c/kept.py": "x = 1\n",
            "a/b/c/.venv/lib/hidden.py": "x = 1\n",
            "a/b/c/d/tool.egg-info/hidden.py": "x = 1\n",
            "a/b/c/d/kept.py": "x = 1\n",
            "a/kept.py": "x = 1\n",
            "kept.py": "x = 1\n",
        }
    )
    index = WorkspaceIndex(root)
    index.scan()
    assert index.files() == ["a/b/c/d/kept.py", "a/b/c/kept.py", "a/b/node_modules_2/kept.py", "a/kept.py", "kept.py"]


@pytest.mark.parametrize("chars_per_token", [4.0, 3.3, 3.7])
@pytest.mark.parametrize("factor", [1.0, 0.71, 1.37, 3.9])
def test_budget_max_chars_is_exactly_where_take_chars_stops(chars_per_token: float, factor: float) -> None:
    estimator = TokenEstimator(chars_per_token)
    estimator.factor = factor
    for limit in (200, 1_001, 64_000, 220_000):
        for used in (0, 17, limit * 2):
            for reserve in (0, 20, limit + 1):
                budget = Budget(limit, estimator)
                budget.chars = used
                edge = budget.max_chars(reserve)
                for extra in {0, 1, max(0, edge - used - 1), max(0, edge - used), max(0, edge - used + 1)}:
                    fits = estimator.tokens_for_chars(used + extra) + reserve <= limit
                    assert fits == (used + extra <= edge), (limit, used, reserve, extra, edge)


def test_preloaded_file_is_kept_when_listed_and_dropped_when_not(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(
        {
            ".gitignore": "ignored.py\n",
            "ignored.py": "print('ignored')\n",
            "pkg/a.py": "A = 1\n",
            "pkg/b.py": "B = 1\n",
            ".env": "TOKEN=abc\n",
        }
    )
    index = WorkspaceIndex(root)
    index.begin_scan()
    for relpath in ("pkg/a.py", "pkg/b.py", "ignored.py", ".env"):
        index.preload(relpath)
    assert ".env" not in index  # a secret is never read, not even ahead of the scan
    (root / "pkg" / "b.py").write_text("B = 'changed after the preload'\n", encoding="utf-8")
    index.scan()
    assert index.text("pkg/a.py") == "A = 1\n"
    assert index.text("pkg/b.py") == "B = 'changed after the preload'\n"  # new (mtime, size): read again
    assert "ignored.py" not in index
    assert index.files() == [".gitignore", "pkg/a.py", "pkg/b.py"]


def test_cancelled_listing_stops_git_and_a_later_scan_still_lists(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace({"pkg/a.py": "A = 1\n"})
    index = WorkspaceIndex(root)
    index.begin_scan()
    assert len(_git_children()) == 2  # tracked and untracked listings, started in the background
    index.cancel_scan()
    assert _git_children() == []  # killed and reaped: not even a zombie is left
    index.begin_scan()
    index.begin_scan()  # a second start replaces the first
    index.scan()
    assert index.files() == ["pkg/a.py"]


def _git_children() -> list[int]:
    """This process's children that are git processes, zombies included."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == os.getpid() and (b"git" in command or "(git)" in stat):
            found.append(int(entry.name))
    return found


def _request(root: Path) -> ContextRequest:
    return ContextRequest(root=root, target="pkg/core.py", target_line=1, budget=4_000)


def test_repository_map_is_reused_and_follows_changes(make_workspace: Callable[..., Path]) -> None:
    root = make_workspace(
        {
            "pkg/__init__.py": "",
            "pkg/core.py": "def compute(x):\n    return x\n",
            "tools/helper.py": "def alpha():\n    return 1\n",
            # More source than the budget holds, so the rest is mapped rather than shown whole.
            "pkg/big.py": "".join(f"def f{n}():\n    return {n}\n" for n in range(1500)),
        }
    )
    index = WorkspaceIndex(root)
    first = build_context(_request(root), index=index)
    assert "  helper.py\n" in first.prompt and "def alpha()" in first.prompt
    assert build_context(_request(root), index=index).prompt == first.prompt

    index.set_overlay("tools/helper.py", "def beta():\n    return 2\n")
    overlaid = build_context(_request(root), index=index)
    assert "def beta()" in overlaid.prompt and "def alpha()" not in overlaid.prompt

    (root / "tools" / "extra.py").write_text("def gamma():\n    return 3\n", encoding="utf-8")
    index.update("tools/extra.py")
    updated = build_context(_request(root), index=index)
    assert "tools/extra.py" in updated.prompt and "def gamma()" in updated.prompt
    fresh = WorkspaceIndex(root, overlays={"tools/helper.py": "def beta():\n    return 2\n"})
    assert updated.prompt == build_context(_request(root), index=fresh).prompt


@pytest.mark.parametrize("collecting", [True, False])
def test_garbage_collection_is_left_as_it_was(make_workspace: Callable[..., Path], collecting: bool) -> None:
    root = make_workspace({"pkg/core.py": "def compute(x):\n    return x\n"})
    was = gc.isenabled()
    try:
        gc.enable() if collecting else gc.disable()
        build_context(_request(root))
        assert gc.isenabled() is collecting
        with pytest.raises(ConfigError):
            build_context(ContextRequest(root=root, target="missing.py"))
        assert gc.isenabled() is collecting
    finally:
        gc.enable() if was else gc.disable()


def test_fast_python_outline_reads_tabs_async_and_crlf() -> None:
    text = (
        "import os\r\n"
        "class Box :\r\n"
        "\tdef open(self, lid):\r\n"
        "\t\tpass\r\n"
        "  \tasync  def close(self) -> None:\n"
        "def   spaced( a,\n"
        "           b):\n"
        "    x = 'def not_at_line_start():'\n"
        "classic = 1\n"
        "def " + "long" * 600 + "():\n"
    )
    assert outline_of("m.py", text, fast=True) == (
        "    2 class Box",
        "    3   def open(self, lid)",
        "    5   async def close(self) -> None",
        "    6 def spaced( a,",
    )


def test_fence_grows_past_backtick_runs_and_long_lines_are_cut() -> None:
    assert fence_for("plain `code` and ``two``") == "```"
    assert fence_for("a ``` b ````` c") == "``````"
    short = "a\n" + "b" * 1000 + "\n"
    assert cut_long_lines(short) is short
    cut = cut_long_lines("a\n" + "b" * 1003 + "\nc")
    assert cut == "a\n" + "b" * 1000 + " …[line cut: 3 more characters]\nc"
