"""The repository map: every file the prompt does not show, by path and outline, in the room left.

Its layout (which files it lists first, and the order it prints them in) is over every listable
file of the workspace and depends only on the listing and the folder of the focus file, so it is
computed once per listing and focus folder and kept on the index (a server asks for the same map
again and again).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from kimi_lsp.context import prompt as render
from kimi_lsp.context.budget import Budget, TokenEstimator
from kimi_lsp.workspace.index import WorkspaceIndex

__all__ = ["MapLayout", "fitted_map", "listing_tokens", "map_layout"]


@dataclass(frozen=True)
class MapLayout:
    """``rows``: ``(path, folder, file line chars, folder line chars)`` nearest the focus first
    (most shared leading folders, then path order); ``printed``: paths by (folder, name, path)."""

    rows: tuple[tuple[str, str, int, int], ...]
    printed: tuple[str, ...]
    paths: frozenset[str]


def map_layout(index: WorkspaceIndex, focus: str | None) -> MapLayout:
    """The layout of ``index.listable()`` around ``focus`` (memoized on the index)."""
    focus_folder = focus.rpartition("/")[0] if focus and "/" in focus else ""
    key = (index.listing_stamp, focus_folder if focus else None)
    cached = index.caches.get("map layout")
    if cached is not None and cached[0] == key:
        return cached[1]  # type: ignore[no-any-return]
    layout = _layout(index.listable(), focus_folder.split("/") if focus_folder else [])
    index.caches["map layout"] = (key, layout)
    return layout


def _layout(paths: list[str], focus_parts: list[str]) -> MapLayout:
    shared_by_folder: dict[str, int] = {}
    dir_chars: dict[str, int] = {}
    keyed: list[tuple[int, str, str, int]] = []
    named: list[tuple[str, str, str]] = []
    for path in paths:
        folder, _, name = path.rpartition("/")
        shared = shared_by_folder.get(folder)
        if shared is None:  # per folder, not per file: a workspace has far fewer folders
            shared = 0
            for mine, theirs in zip(folder.split("/") if folder else (), focus_parts, strict=False):
                if mine != theirs:
                    break
                shared += 1
            shared_by_folder[folder] = shared
            dir_chars[folder] = render.map_dir_chars(folder)
        keyed.append((-shared, path, folder, render.map_file_chars(name)))
        named.append((folder, name, path))
    keyed.sort()
    named.sort()
    rows = tuple((path, folder, file_chars, dir_chars[folder]) for _, path, folder, file_chars in keyed)
    printed = tuple(path for _, _, path in named)
    return MapLayout(rows, printed, frozenset(paths))


def listing_tokens(index: WorkspaceIndex, estimator: TokenEstimator, included: Collection[str]) -> int:
    """About what the repository map costs with paths only (what the files section must leave)."""
    chars = sum(len(path) + 3 for path in index.files() if path not in included)
    return estimator.tokens_for_chars(chars) + 20


def fitted_map(
    index: WorkspaceIndex, budget: Budget, included: Collection[str], focus: str | None, title: str
) -> str | None:
    """The map of the files not ``included`` under ``title``, its characters taken from ``budget``;
    None when there is none or no room.

    Paths of every remaining file grouped by folder, then outlines while room is left. Files nearest
    the focus (same folder first) get listed and outlined first; the map itself is printed in path
    order. The same map for the same listing, files and budget is reused.
    """
    estimator = budget.estimator
    key = (
        index.listing_stamp,
        focus,
        frozenset(included),
        budget.chars,
        budget.limit,
        estimator.chars_per_token,
        estimator.factor,
    )
    cached = index.caches.get("map")
    if cached is not None and cached[0] == key:
        text, taken = cached[1]
        return text if text is not None and budget.take_chars(taken) else None
    start = budget.chars
    text = _build_map(index, budget, included, focus, title)
    index.caches["map"] = (key, (text, budget.chars - start))
    return text


def _build_map(
    index: WorkspaceIndex, budget: Budget, included: Collection[str], focus: str | None, title: str
) -> str | None:
    """The map's text, its characters taken from the budget; None when there is none."""
    layout = map_layout(index, focus)
    candidates = len(layout.rows) - sum(1 for path in included if path in layout.paths)
    if not candidates:
        return None
    more_note_room = 80  # "… N more files not listed" when paths alone do not fit
    reserve = budget.estimator.tokens_for_chars(more_note_room)
    if not budget.take(title, reserve):
        return None
    # Paths nearest the focus first, while they fit: the budget accepts a piece exactly when the
    # running total stays within max_chars, so the pieces are summed here and taken at once.
    cap = budget.max_chars(reserve)
    total = start = budget.chars
    listed: dict[str, tuple[str, ...]] = {}
    folders: set[str] = set()
    for path, folder, file_chars, dir_chars in layout.rows:
        if path in included:
            continue
        piece = file_chars if folder in folders else file_chars + dir_chars
        if total + piece > cap:
            break
        total += piece
        folders.add(folder)
        listed[path] = ()
    if not budget.take_chars(total - start, reserve):  # cannot fail: total <= cap
        raise AssertionError("repository map sizing disagrees with the budget")
    misses = 0
    for path in listed:  # in the order they were listed: nearest the focus first
        outline = index.outline(path, fast=True)
        if not outline:
            continue
        extra = len(render.render_map_file("", outline)) - len(render.render_map_file(""))
        if budget.take_chars(extra, reserve):
            listed[path] = outline
            misses = 0
        else:
            misses += 1
            if misses >= 20 or budget.remaining < 40:
                break
    parts = [title]
    current: str | None = None
    # Grouped by folder (each folder heading once, as counted above), files in name order.
    for path in layout.printed:
        shown = listed.get(path)
        if shown is None:
            continue
        folder, _, name = path.rpartition("/")
        if folder != current:
            parts.append(render.render_map_dir(folder))
            current = folder
        parts.append(render.render_map_file(name, shown))
    left_out = candidates - len(listed)
    if left_out:
        note = f"… {left_out} more files not listed\n"
        budget.take(note)  # the room was reserved above
        parts.append(note)
    parts.append("\n")
    budget.take("\n")
    # The characters were taken piece by piece above; this is the same text, in path order.
    return "".join(parts)
